//go:build linux

package sensor

import (
	"fmt"
	"os"
	"testing"
)

// TestMain fails the run when tests leak file descriptors: every sensor,
// map, link and reader must be closed.
func TestMain(m *testing.M) {
	// Start the runtime's poller first so its descriptor is not counted.
	if r, w, err := os.Pipe(); err == nil {
		r.Close()
		w.Close()
	}
	before := openFDs()
	code := m.Run()
	if after := openFDs(); code == 0 && after > before {
		fmt.Fprintf(os.Stderr, "FAIL: tests leaked %d file descriptors (%d before, %d after)\n", after-before, before, after)
		code = 1
	}
	os.Exit(code)
}

func openFDs() int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0
	}
	return len(entries)
}
