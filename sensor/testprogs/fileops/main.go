//go:build linux

// Command fileops makes a known sequence of file syscalls in a directory,
// for the sensor's tests to match the records against. Every step is a
// direct syscall so the arguments the kernel sees are exactly these.
//
//	fileops DIR
//
// DIR must be empty. Layout it builds: DIR/real (with sub/), DIR/link ->
// real. All relative names go through a dirfd on DIR/link.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: fileops DIR")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "fileops:", err)
		os.Exit(1)
	}
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

func run(dir string) error {
	real := filepath.Join(dir, "real")
	must(os.MkdirAll(filepath.Join(real, "sub"), 0o755))
	must(os.Symlink(real, filepath.Join(dir, "link")))

	dirfd, err := unix.Open(filepath.Join(dir, "link"), unix.O_DIRECTORY|unix.O_RDONLY, 0)
	must(err)

	// 1. Create through dirfd, a symlinked directory and "..".
	fd, err := unix.Openat(dirfd, "sub/../f1.txt", unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC, 0o640)
	must(err)
	// 2. Three writes of 5 bytes: write, writev, pwrite64.
	_, err = unix.Write(fd, []byte("hello"))
	must(err)
	_, err = unix.Writev(fd, [][]byte{[]byte("he"), []byte("llo")})
	must(err)
	_, err = unix.Pwrite(fd, []byte("hello"), 10)
	must(err)
	must(unix.Close(fd))

	// 3. A plain read of the same file by its symlinked path.
	fd, err = unix.Open(filepath.Join(dir, "link", "f1.txt"), unix.O_RDONLY, 0)
	must(err)
	must(unix.Close(fd))

	// 4. A failed open, relative to dirfd.
	if _, err := unix.Openat(dirfd, "missing/x", unix.O_RDONLY, 0); err != unix.ENOENT {
		return fmt.Errorf("open missing: %v", err)
	}

	// 5. Rename across dirfd and an absolute path.
	must(unix.Renameat(dirfd, "f1.txt", unix.AT_FDCWD, filepath.Join(dir, "link", "f2.txt")))

	// 6. ftruncate through a descriptor, then truncate by path.
	fd, err = unix.Open(filepath.Join(real, "f2.txt"), unix.O_WRONLY, 0)
	must(err)
	must(unix.Ftruncate(fd, 3))
	must(unix.Close(fd))
	must(unix.Truncate(filepath.Join(dir, "link", "f2.txt"), 1))

	// 7. creat(2) and openat2(2).
	fd, err = unix.Creat(filepath.Join(real, "c.txt"), 0o600)
	must(err)
	must(unix.Close(fd))
	fd, err = unix.Openat2(dirfd, "o2.txt", &unix.OpenHow{Flags: unix.O_CREAT | unix.O_RDWR, Mode: 0o600})
	must(err)
	// 8. copy_file_range and sendfile into o2.txt (4 + 4 bytes).
	src, err := unix.Open(filepath.Join(real, "f2.txt"), unix.O_RDWR, 0)
	must(err)
	_, err = unix.Pwrite(src, []byte("abcd"), 0)
	must(err)
	var off int64
	_, err = unix.CopyFileRange(src, &off, fd, nil, 4, 0)
	must(err)
	off = 0
	_, err = unix.Sendfile(fd, src, &off, 4)
	must(err)
	// 9. dup2 over the written descriptor closes it.
	null, err := unix.Open("/dev/null", unix.O_WRONLY, 0)
	must(err)
	must(unix.Dup2(null, fd))
	must(unix.Close(src))

	// 10. Deletions: a file, and a directory through AT_REMOVEDIR.
	must(unix.Unlinkat(dirfd, "f2.txt", 0))
	must(unix.Unlinkat(dirfd, "sub", unix.AT_REMOVEDIR))

	// 11. A read of a sensitive file.
	fd, err = unix.Open("/etc/passwd", unix.O_RDONLY, 0)
	must(err)
	must(unix.Close(fd))

	// 12. Written and left open: reported at exit.
	fd, err = unix.Open(filepath.Join(real, "left-open.log"), unix.O_CREAT|unix.O_WRONLY|unix.O_APPEND, 0o600)
	must(err)
	_, err = unix.Write(fd, []byte("1234567"))
	must(err)
	return nil
}
