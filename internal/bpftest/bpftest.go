// Package bpftest holds what every test that loads BPF programs shares.
package bpftest

import (
	"os"
	"testing"
)

// Require skips a test that needs root to load BPF programs, unless the
// environment says the BPF suites must run (VIGIL_REQUIRE_BPF or CI set,
// as `make test` and CI do): then it fails, so a run can never pass by
// skipping them. -short skips them always.
func Require(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("BPF test: skipped in -short mode")
	}
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("VIGIL_REQUIRE_BPF") != "" || os.Getenv("CI") != "" {
		t.Fatal("BPF tests must run here (VIGIL_REQUIRE_BPF or CI is set) but the test is not root")
	}
	t.Skip("BPF test: needs root (set VIGIL_REQUIRE_BPF=1 to make this a failure)")
}
