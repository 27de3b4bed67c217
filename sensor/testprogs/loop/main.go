// Command loop runs a syscall loop and prints how long it took, for the
// overhead benchmark: each iteration is open+write+close of a file,
// connect+send+close of a TCP socket, or fork+exec of a program and the
// wait for its exit.
//
//	loop file DIR N     -> ns per iteration on stdout
//	loop net ADDR N
//	loop exec PROG N
package main

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: loop file|net DIR|ADDR N")
		os.Exit(2)
	}
	n, err := strconv.Atoi(os.Args[3])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	payload := make([]byte, 64)
	var run func() error
	switch os.Args[1] {
	case "file":
		path := filepath.Join(os.Args[2], "loop.dat")
		run = func() error {
			fd, err := unix.Open(path, unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC, 0o600)
			if err != nil {
				return err
			}
			if _, err := unix.Write(fd, payload); err != nil {
				return err
			}
			return unix.Close(fd)
		}
	case "net":
		ap, err := netip.ParseAddrPort(os.Args[2])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		sa := &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
		run = func() error {
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
			if err != nil {
				return err
			}
			if err := unix.Connect(fd, sa); err != nil {
				unix.Close(fd)
				return err
			}
			if _, err := unix.Write(fd, payload); err != nil {
				unix.Close(fd)
				return err
			}
			return unix.Close(fd)
		}
	case "exec":
		argv := []string{os.Args[2]}
		attr := &syscall.ProcAttr{Env: []string{}}
		run = func() error {
			pid, err := syscall.ForkExec(argv[0], argv, attr)
			if err != nil {
				return err
			}
			var ws syscall.WaitStatus
			if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil {
				return err
			}
			if ws.ExitStatus() != 0 {
				return fmt.Errorf("%s: %v", argv[0], ws)
			}
			return nil
		}
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", os.Args[1])
		os.Exit(2)
	}
	start := time.Now()
	for range n {
		if err := run(); err != nil {
			fmt.Fprintln(os.Stderr, "loop:", err)
			os.Exit(1)
		}
	}
	fmt.Println(time.Since(start).Nanoseconds() / int64(n))
}
