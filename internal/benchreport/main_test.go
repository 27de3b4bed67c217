//go:build linux

package main

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	in := `goos: linux
pkg: github.com/vigilsec/vigil/output
BenchmarkSealedWrite/file_open-2    	  294226	      4371 ns/op	      1748 bytes/record	    228759 records/s	      66 B/op	       2 allocs/op
PASS
pkg: github.com/vigilsec/vigil/cmd/vigil
BenchmarkOverhead-2   	       1	77 file-ns/iter	  1.05 file-untracked-x	 1.31 file-tracked-x
--- FAIL: something
`
	r, err := parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Benchmarks) != 2 {
		t.Fatalf("%+v", r.Benchmarks)
	}
	b := r.Benchmarks[0]
	if b.Package != "github.com/vigilsec/vigil/output" || b.Name != "BenchmarkSealedWrite/file_open" || b.Iterations != 294226 ||
		b.Metrics["ns/op"] != 4371 || b.Metrics["records/s"] != 228759 || b.Metrics["allocs/op"] != 2 {
		t.Errorf("%+v", b)
	}
	if b := r.Benchmarks[1]; b.Package != "github.com/vigilsec/vigil/cmd/vigil" || b.Metrics["file-tracked-x"] != 1.31 {
		t.Errorf("%+v", b)
	}
	if _, err := parse(strings.NewReader("PASS\n")); err == nil {
		t.Error("no results: no error")
	}
	if _, err := parse(strings.NewReader("BenchmarkX-2 10 abc ns/op\n")); err == nil {
		t.Error("bad metric: no error")
	}
}
