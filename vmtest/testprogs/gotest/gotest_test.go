//go:build linux

// Package gotest is a test package the vmtest harness tests run through
// `go test -exec vmrun -json`. TestFail fails only when asked to.
package gotest

import (
	"os"
	"testing"
)

func TestPass(t *testing.T) {
	t.Logf("kernel %q", os.Getenv("VIGIL_VMTEST"))
}

func TestFail(t *testing.T) {
	if os.Getenv("VMTEST_PROBE_FAIL") != "1" {
		t.Skip("fails only under the vmtest harness tests (VMTEST_PROBE_FAIL=1)")
	}
	t.Fatal("deliberate failure")
}
