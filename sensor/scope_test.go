//go:build linux

package sensor

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// total sums the scope filter's counts.
func (f *scopeFilter) total() uint64 {
	var n uint64
	for i := range uint32(len(f.mem) / 8) {
		n += f.count(i)
	}
	return n
}

// fifo makes a named pipe; release writes a line to it, which a shell's
// `read _ <FIFO` waits for.
func fifo(t *testing.T) (path string, release func()) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "go")
	if err := unix.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, func() {
		t.Helper()
		f, err := os.OpenFile(path, os.O_WRONLY, 0) // waits for the reader
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString("go\n"); err != nil {
			t.Fatal(err)
		}
	}
}

// waitFor polls cond for up to ten seconds.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// The scope filter counts exactly the tracked map's keys: a root tracked
// from user space (twice, counted once), the children its tree forks, an
// agent put in scope by a matched exec, and none of them once they exit.
func TestScopeFilterCounts(t *testing.T) {
	requireBPF(t)
	const agent = "vigil-agent-x"
	s, err := New(Config{AgentNames: map[string]uint32{agent: 3}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n := s.scope.total(); n != 0 {
		t.Fatalf("a new sensor's filter counts %d", n)
	}
	treeSize := func(tree Tree) int {
		n, err := s.TreeSize(tree)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	const children = 20
	wait, release := fifo(t)
	cmd, tree := gated(t, s, 1, "/bin/sh", "-c", fmt.Sprintf(
		`i=0; while [ $i -lt %d ]; do sleep 30 & p="$p $!"; i=$((i+1)); done; read _ <%s; kill $p; wait`, children, wait))
	if err := s.Track(tree.RootPID, tree); err != nil { // again: counted once
		t.Fatal(err)
	}
	waitUntil(t, "the children", func() bool { return treeSize(tree) == children+1 })
	if n := s.scope.total(); n != children+1 {
		t.Errorf("filter counts %d with %d processes tracked", n, children+1)
	}
	if s.scope.count(tree.RootPID) == 0 {
		t.Errorf("the root's slot is empty")
	}
	release()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the tree's exit", func() bool { return treeSize(tree) == 0 })
	if n := s.scope.total(); n != 0 {
		t.Errorf("filter counts %d after the tree exited", n)
	}

	// An agent matched at exec (a shell under the agent's name).
	bin := filepath.Join(t.TempDir(), agent)
	sh, err := os.ReadFile("/bin/sh")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, sh, 0o755); err != nil {
		t.Fatal(err)
	}
	wait, release = fifo(t)
	ag := exec.Command(bin, "-c", "read _ <"+wait)
	if err := ag.Start(); err != nil {
		t.Fatal(err)
	}
	pid := uint32(ag.Process.Pid)
	waitUntil(t, "the agent in scope", func() bool {
		_, ok, err := s.Tracked(pid)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	})
	if n, c := s.scope.total(), s.scope.count(pid); n != 1 || c != 1 {
		t.Errorf("filter counts %d in all, %d in the agent's slot; want 1 and 1", n, c)
	}
	release()
	if err := ag.Wait(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the agent's exit", func() bool {
		_, ok, err := s.Tracked(pid)
		if err != nil {
			t.Fatal(err)
		}
		return !ok
	})
	if n := s.scope.total(); n != 0 {
		t.Errorf("filter counts %d after the agent exited", n)
	}
}
