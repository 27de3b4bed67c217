//go:build linux

// Command connectrace connects to one unix socket path while another
// thread rewrites the sockaddr in its memory to name a decoy: the kernel
// has copied the real path, so the connection goes there, but a reader of
// the process's memory at the syscall's exit sees the decoy.
//
//	connectrace REAL DECOY
//
// It listens on REAL with a backlog of zero and fills it with one
// connection, so its second connect blocks until the other thread, having
// seen it blocked in connect (/proc/self/task/TID/syscall) and rewritten
// the sockaddr, accepts the first.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: connectrace REAL DECOY")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "connectrace:", err)
		os.Exit(1)
	}
}

func run(real, decoy string) error {
	if len(real) != len(decoy) || len(real) >= 108 {
		return fmt.Errorf("paths must have the same length, under 108 bytes")
	}
	l, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		return err
	}
	if err := unix.Bind(l, &unix.SockaddrUnix{Name: real}); err != nil {
		return err
	}
	if err := unix.Listen(l, 0); err != nil {
		return err
	}
	first, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		return err
	}
	if err := unix.Connect(first, &unix.SockaddrUnix{Name: real}); err != nil {
		return fmt.Errorf("first connect: %w", err)
	}

	var sa unix.RawSockaddrUnix
	sa.Family = unix.AF_UNIX
	for i := range len(real) {
		sa.Path[i] = int8(real[i])
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		return err
	}
	tid := make(chan int)
	done := make(chan error)
	go func() {
		runtime.LockOSThread()
		tid <- unix.Gettid()
		_, _, errno := unix.Syscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&sa)), unsafe.Sizeof(sa))
		if errno != 0 {
			done <- fmt.Errorf("second connect: %w", errno)
			return
		}
		done <- nil
	}()
	t := <-tid
	if err := waitInConnect(t); err != nil {
		return err
	}
	for i := range len(decoy) {
		sa.Path[i] = int8(decoy[i])
	}
	if _, _, err := unix.Accept(l); err != nil {
		return err
	}
	return <-done
}

// waitInConnect waits until thread tid is blocked in connect(2).
func waitInConnect(tid int) error {
	file := fmt.Sprintf("/proc/self/task/%d/syscall", tid)
	for range 3000 {
		b, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		if strings.HasPrefix(string(b), fmt.Sprint(unix.SYS_CONNECT, " ")) {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("thread %d never blocked in connect", tid)
}
