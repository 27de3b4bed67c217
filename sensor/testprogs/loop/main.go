//go:build linux

// Command loop runs a syscall loop and prints how long an iteration took,
// for the overhead and throughput benchmarks. Modes, one iteration each:
//
//	open DIR     open(DIR/loop.dat, O_RDONLY) + close (the file is made first)
//	write DIR    one 64-byte pwrite to a file opened once in DIR
//	file DIR     open(O_CREAT|O_TRUNC) + 64-byte write + close
//	net ADDR     TCP socket + connect + 64-byte send + close (a reset)
//	exec PROG    fork + exec of PROG + wait for its exit
//
//	loop MODE TARGET N [RATE]  -> ns per iteration on stdout
//	loop sink ADDR             -> the address it listens on, then serves
//
// A sink accepts TCP connections on ADDR and reads each to its end, until
// killed: the net loop's peer, in a process of its own.
//
// With RATE (iterations per second, 0 for none) the loop is paced: it
// sleeps whenever it is ahead of RATE, so a run offers the sensor a known
// event rate; it then prints the rate it achieved as a second line.
package main

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) == 3 && os.Args[1] == "sink" {
		sink(os.Args[2])
		return
	}
	if len(os.Args) != 4 && len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: loop open|write|file|net|exec DIR|ADDR|PROG N [RATE]")
		os.Exit(2)
	}
	n, err := strconv.Atoi(os.Args[3])
	if err != nil || n <= 0 {
		fmt.Fprintln(os.Stderr, "loop: bad iteration count", os.Args[3])
		os.Exit(2)
	}
	rate := 0.0
	if len(os.Args) == 5 {
		if rate, err = strconv.ParseFloat(os.Args[4], 64); err != nil || rate < 0 {
			fmt.Fprintln(os.Stderr, "loop: bad rate", os.Args[4])
			os.Exit(2)
		}
	}
	run, err := workload(os.Args[1], os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, "loop:", err)
		os.Exit(2)
	}
	// Pacing looks at the clock every batch iterations, so it costs the
	// loop nothing measurable.
	const batch = 64
	start := time.Now()
	for i := range n {
		if err := run(); err != nil {
			fmt.Fprintln(os.Stderr, "loop:", err)
			os.Exit(1)
		}
		if rate > 0 && i%batch == batch-1 {
			due := start.Add(time.Duration(float64(i+1) / rate * 1e9))
			if d := time.Until(due); d > 0 {
				time.Sleep(d)
			}
		}
	}
	took := time.Since(start)
	fmt.Println(took.Nanoseconds() / int64(n))
	if rate > 0 {
		fmt.Println(int64(float64(n) / took.Seconds()))
	}
}

func workload(mode, target string) (func() error, error) {
	payload := make([]byte, 64)
	switch mode {
	case "open":
		path := filepath.Join(target, "loop.dat")
		if err := os.WriteFile(path, payload, 0o600); err != nil {
			return nil, err
		}
		return func() error {
			fd, err := unix.Open(path, unix.O_RDONLY, 0)
			if err != nil {
				return err
			}
			return unix.Close(fd)
		}, nil
	case "write":
		fd, err := unix.Open(filepath.Join(target, "loop.dat"), unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC, 0o600)
		if err != nil {
			return nil, err
		}
		return func() error {
			_, err := unix.Pwrite(fd, payload, 0)
			return err
		}, nil
	case "file":
		path := filepath.Join(target, "loop.dat")
		return func() error {
			fd, err := unix.Open(path, unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC, 0o600)
			if err != nil {
				return err
			}
			if _, err := unix.Write(fd, payload); err != nil {
				return err
			}
			return unix.Close(fd)
		}, nil
	case "net":
		ap, err := netip.ParseAddrPort(target)
		if err != nil {
			return nil, err
		}
		sa := &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
		// Closing with a reset leaves no TIME_WAIT socket behind: tens of
		// thousands of those would make later runs hunt for a free port.
		linger := &unix.Linger{Onoff: 1, Linger: 0}
		return func() error {
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
			if err != nil {
				return err
			}
			if err := unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, linger); err != nil {
				unix.Close(fd)
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
		}, nil
	case "exec":
		argv := []string{target}
		attr := &syscall.ProcAttr{Env: []string{}}
		return func() error {
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
		}, nil
	}
	return nil, fmt.Errorf("unknown mode %q", mode)
}

func sink(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loop:", err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, "loop:", err)
			os.Exit(1)
		}
		go func() {
			defer c.Close()
			_, _ = io.Copy(io.Discard, c)
		}()
	}
}
