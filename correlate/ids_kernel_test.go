package correlate

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/bpftest"
	"github.com/vigilsec/vigil/sensor"
)

// tableHandler feeds a sensor's events to a table.
type tableHandler struct {
	mu  sync.Mutex
	tab *Table
}

func (h *tableHandler) HandleEvent(ev *sensor.Event) error {
	h.mu.Lock()
	h.tab.Handle(ev)
	h.mu.Unlock()
	return nil
}

func (h *tableHandler) Flush() error { return nil }

const kernelTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// Real processes through the real sensor into the table: a tracked
// shell starts one child with VIGIL_CORRELATION_ID and one with
// TRACEPARENT; their children, exec'd with the environment cleared and
// with it inherited, carry the ids in the table, and so does a process
// that clears its own environment by exec'ing again.
func TestCorrelationIDsFromKernel(t *testing.T) {
	bpftest.Require(t)
	s, err := sensor.New(sensor.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tab, _ := newTestTable(t, nil)
	h := &tableHandler{tab: tab}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, h) }()

	script := `read _ <&3; exec 3<&-
VIGIL_CORRELATION_ID=abc-123 /bin/sh -c 'env -i /bin/true cleared-corr; /bin/true inherited-corr; exec env -i /bin/true self-cleared-corr'
TRACEPARENT=` + kernelTraceparent + ` /bin/sh -c 'env -i /bin/true cleared-tp; /bin/true inherited-tp'
/bin/true plain`
	gate, release, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	cmd.ExtraFiles = []*os.File{gate}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	gate.Close()
	root := uint32(cmd.Process.Pid)
	snap, err := sensor.ReadProcess("/proc", root)
	if err != nil {
		t.Fatal(err)
	}
	tree := sensor.Tree{RootPID: root, RootStart: snap.Task.StartTime, Agent: 1}
	if err := s.Track(root, tree); err != nil {
		t.Fatal(err)
	}
	if _, err := release.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	release.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	// Once the tree has left the tracked map, all its records are buffered.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		n, err := s.TreeSize(tree)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d processes of the tree still tracked", n)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	byArgs := func(args ...string) *Process {
		t.Helper()
		for _, p := range tab.byKey {
			if slices.Equal(p.Args, args) {
				return p
			}
		}
		t.Fatalf("no process ran %q", args)
		return nil
	}
	corr := ids{corr: "abc-123"}
	tp := ids{trace: "4bf92f3577b34da6a3ce929d0e0e4736", span: "00f067aa0ba902b7"}
	for _, c := range []struct {
		args []string
		want ids
	}{
		{[]string{"/bin/true", "cleared-corr"}, corr},
		{[]string{"/bin/true", "inherited-corr"}, corr},
		{[]string{"/bin/true", "self-cleared-corr"}, corr},
		{[]string{"/bin/true", "cleared-tp"}, tp},
		{[]string{"/bin/true", "inherited-tp"}, tp},
		{[]string{"/bin/true", "plain"}, ids{}},
	} {
		p := byArgs(c.args...)
		if got := idsOf(p); got != c.want {
			t.Errorf("%q: %+v, want %+v", c.args, got, c.want)
		}
		if p.Tree != tree {
			t.Errorf("%q: tree %+v, want %+v", c.args, p.Tree, tree)
		}
	}
	if got := idsOf(tab.ByPID(root)); got != (ids{}) {
		t.Errorf("root: %+v", got)
	}
	checkInvariants(t, tab)
}
