package main

import (
	"fmt"
	"os"
	"syscall"
)

// gateCommand is the hidden first argument that turns vigil into the
// launcher of a traced command. The launcher waits until the parent has
// put it in scope, then execs the command in place, so the command's
// first instruction already runs tracked and its exec is recorded.
const gateCommand = "__vigil-gate"

// gateFD is the pipe the parent writes one byte to once tracking is set;
// readyFD is the pipe the launcher writes one byte to once its own start-up
// (the Go runtime's reads of /sys and /proc) is over, so none of that is
// recorded as the command's doing.
const (
	gateFD  = 3
	readyFD = 4
)

// gate runs in the child: gate PATH ARGV0 ARGS...
func gate(args []string) int {
	if len(args) < 2 {
		fmt.Fprintln(os.Stderr, "vigil: gate: missing command")
		return 127
	}
	ready := os.NewFile(readyFD, "ready")
	_, _ = ready.Write([]byte{1})
	ready.Close()
	f := os.NewFile(gateFD, "gate")
	var b [1]byte
	n, err := f.Read(b[:])
	f.Close()
	if n != 1 {
		// The parent died or gave up before tracking was in place: never
		// run the command untraced.
		fmt.Fprintf(os.Stderr, "vigil: gate: not released (%v)\n", err)
		return 126
	}
	err = syscall.Exec(args[0], args[1:], os.Environ())
	fmt.Fprintf(os.Stderr, "vigil: exec %s: %v\n", args[0], err)
	if err == syscall.ENOENT {
		return 127
	}
	return 126
}
