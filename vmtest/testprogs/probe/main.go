//go:build linux

// Command probe is what the vmtest harness tests run inside the guest:
//
//	probe exit N    exits with status N
//	probe output    writes Output's stdout and stderr, exits 0
//	probe panic     crashes the guest kernel (sysrq c)
//	probe hang      never returns
//	probe env       prints the marker variable and the working directory
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/vigilsec/vigil/vmtest/testprogs/probe/output"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: probe exit N | output | panic | hang | env")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "exit":
		n, err := strconv.Atoi(os.Args[2])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		os.Exit(n)
	case "output":
		_, _ = os.Stdout.Write(output.Stdout())
		_, _ = os.Stderr.Write(output.Stderr())
	case "panic":
		if err := os.WriteFile("/proc/sysrq-trigger", []byte("c"), 0); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
		time.Sleep(time.Minute)
	case "hang":
		for {
			time.Sleep(time.Hour)
		}
	case "env":
		wd, _ := os.Getwd()
		fmt.Printf("marker=%s cwd=%s uid=%d\n", os.Getenv("VIGIL_VMTEST"), wd, os.Getuid())
	default:
		fmt.Fprintln(os.Stderr, "unknown command", os.Args[1])
		os.Exit(2)
	}
}
