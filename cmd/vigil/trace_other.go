//go:build !linux

package main

import (
	"fmt"
	"io"
	"log/slog"
)

// traceCommand: vigil trace starts its command as a tracked root in the
// Linux kernel sensor; elsewhere the daemon (vigil run) records agents.
func traceCommand(_ []string, _, stderr io.Writer, _ *slog.Logger) int {
	fmt.Fprintln(stderr, "vigil trace: needs Linux (eBPF); on this system run the daemon, vigil run")
	return 2
}
