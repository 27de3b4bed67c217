//go:build linux

// Command hookops makes the removals, renames and connects the BPF LSM
// programs see, each as one direct syscall, for the tests that compare
// the records of the LSM and the tracepoint paths.
//
//	hookops DIR TCP REFUSED UDP6 UNIX
//
// DIR must be empty; TCP a listening TCP address, REFUSED a bound TCP
// address that does not listen, UDP6 a UDP address on ::1, UNIX a
// listening unix socket path.
package main

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) != 6 {
		fmt.Fprintln(os.Stderr, "usage: hookops DIR TCP REFUSED UDP6 UNIX")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2], os.Args[3], os.Args[4], os.Args[5]); err != nil {
		fmt.Fprintln(os.Stderr, "hookops:", err)
		os.Exit(1)
	}
}

// expect checks that a step failed with want (0: succeeded).
func expect(step string, err error, want unix.Errno) error {
	if err == nil && want == 0 || err == want {
		return nil
	}
	return fmt.Errorf("%s: %v, want %v", step, err, want)
}

func run(dir, tcp, refused, udp6, unixPath string) error {
	if err := os.Chdir(dir); err != nil {
		return err
	}
	dirfd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY, 0)
	if err != nil {
		return err
	}
	steps := []struct {
		name string
		do   func() error
		want unix.Errno
	}{
		{"mkdir d", func() error { return unix.Mkdir("d", 0o755) }, 0},
		{"create d/a.txt", func() error {
			fd, err := unix.Open("d/a.txt", unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC, 0o644)
			if err != nil {
				return err
			}
			if _, err := unix.Write(fd, []byte("abc")); err != nil {
				return err
			}
			return unix.Close(fd)
		}, 0},
		{"rename d/a.txt d/b.txt", func() error { return unix.Renameat(unix.AT_FDCWD, "d/a.txt", unix.AT_FDCWD, "d/b.txt") }, 0},
		{"renameat2 d/b.txt c.txt", func() error { return unix.Renameat2(dirfd, "d/b.txt", dirfd, "c.txt", unix.RENAME_NOREPLACE) }, 0},
		{"rename over a non-empty directory", func() error {
			if err := unix.Mkdir("full", 0o755); err != nil {
				return err
			}
			if err := os.WriteFile("full/x", nil, 0o644); err != nil {
				return err
			}
			return unix.Renameat(unix.AT_FDCWD, "d", unix.AT_FDCWD, "full")
		}, unix.ENOTEMPTY},
		{"unlink c.txt", func() error { return unix.Unlinkat(unix.AT_FDCWD, "c.txt", 0) }, 0},
		{"unlink full/x by absolute path", func() error { return unix.Unlink(filepath.Join(dir, "full", "x")) }, 0},
		{"unlink a missing name", func() error { return unix.Unlinkat(dirfd, "nope", 0) }, unix.ENOENT},
		{"unlink a directory", func() error { return unix.Unlinkat(unix.AT_FDCWD, "d", 0) }, unix.EISDIR},
		{"rmdir full", func() error { return unix.Rmdir("full") }, 0},
		{"unlinkat AT_REMOVEDIR d", func() error { return unix.Unlinkat(dirfd, "d", unix.AT_REMOVEDIR) }, 0},
		{"connect tcp", func() error { return connect(unix.AF_INET, unix.SOCK_STREAM, tcp, true) }, 0},
		{"connect refused", func() error { return connect(unix.AF_INET, unix.SOCK_STREAM, refused, false) }, unix.ECONNREFUSED},
		{"connect udp6", func() error { return connect(unix.AF_INET6, unix.SOCK_DGRAM, udp6, true) }, 0},
		{"connect unix", func() error {
			fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			return unix.Connect(fd, &unix.SockaddrUnix{Name: unixPath})
		}, 0},
	}
	for _, s := range steps {
		if err := expect(s.name, s.do(), s.want); err != nil {
			return err
		}
	}
	return nil
}

// connect connects a new socket to addr, sends 4 bytes when send, and
// closes it.
func connect(family, typ int, addr string, send bool) error {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return err
	}
	fd, err := unix.Socket(family, typ, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var sa unix.Sockaddr
	if family == unix.AF_INET {
		sa = &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	} else {
		sa = &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	}
	if err := unix.Connect(fd, sa); err != nil {
		return err
	}
	if send {
		_, err = unix.Write(fd, []byte("ping"))
	}
	return err
}
