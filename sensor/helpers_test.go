//go:build linux

package sensor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/bpftest"
)

func requireBPF(t testing.TB) { bpftest.Require(t) }

// collector gathers events from a running sensor.
type collector struct {
	mu     sync.Mutex
	events []Event
	notify chan struct{}
}

func (c *collector) HandleEvent(ev *Event) error {
	c.mu.Lock()
	c.events = append(c.events, *ev)
	// Payload points into the reader's buffer: keep a copy.
	c.events[len(c.events)-1].Net.Payload = slices.Clone(ev.Net.Payload)
	c.mu.Unlock()
	select {
	case c.notify <- struct{}{}:
	default:
	}
	return nil
}

func (c *collector) Flush() error { return nil }

func (c *collector) snapshot() []Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.events)
}

// waitFor waits until cond holds over the events so far.
func (c *collector) waitFor(t testing.TB, what string, cond func([]Event) bool) []Event {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		evs := c.snapshot()
		if cond(evs) {
			return evs
		}
		select {
		case <-c.notify:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("timed out waiting for %s; got %d events:\n%s", what, len(evs), dump(evs))
		}
	}
}

// running is a sensor whose Run loop feeds a collector.
type running struct {
	*Sensor
	col    *collector
	cancel context.CancelFunc
	done   chan error
}

func startSensor(t testing.TB, cfg Config) *running {
	t.Helper()
	requireBPF(t)
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	r := &running{Sensor: s, col: &collector{notify: make(chan struct{}, 1)}, done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- s.Run(ctx, r.col) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels Run, waits for it to drain, and closes the sensor.
func (r *running) stop(t testing.TB) {
	t.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	if err := <-r.done; err != nil {
		t.Errorf("Run: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// gated starts argv behind a shell gate, puts it in scope as the root of a
// new tree, and releases it: the command's exec and everything after is
// tracked. It returns the running command and its tree.
func gated(t testing.TB, s *Sensor, agent uint32, argv ...string) (*exec.Cmd, Tree) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ready, readyW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer ready.Close()
	// The shell says it is ready once it runs: its own exec is over, so
	// tracking starts with the command's exec, never the gate's.
	cmd := exec.Command("/bin/sh", append([]string{"-c", `echo >&4; exec 4>&-; read _ <&3; exec 3<&-; exec "$@"`, "gate"}, argv...)...)
	cmd.ExtraFiles = []*os.File{r, readyW}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.Close()
	readyW.Close()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	if _, err := ready.Read(make([]byte, 1)); err != nil {
		t.Fatalf("gate shell did not start: %v", err)
	}
	pid := uint32(cmd.Process.Pid)
	snap, err := ReadProcess("/proc", pid)
	if err != nil {
		t.Fatal(err)
	}
	tree := Tree{RootPID: pid, RootStart: snap.Task.StartTime, Agent: agent}
	if err := s.Track(pid, tree); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	return cmd, tree
}

// waitTreeGone waits until no process of tree is tracked any more: every
// record of the tree is then in the ring buffer.
func waitTreeGone(t testing.TB, s *Sensor, tree Tree) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		n, err := s.TreeSize(tree)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d processes of the tree still tracked", n)
		}
	}
}

// inTree keeps the events of one tree.
func inTree(evs []Event, tree Tree) []Event {
	var out []Event
	for _, ev := range evs {
		if ev.Kind != KindLoss && ev.Tree == tree {
			out = append(out, ev)
		}
	}
	return out
}

// processOnly keeps fork, exec and exit events.
func processOnly(evs []Event) []Event {
	var out []Event
	for _, ev := range evs {
		if ev.Kind == KindFork || ev.Kind == KindExec || ev.Kind == KindExit {
			out = append(out, ev)
		}
	}
	return out
}

func dump(evs []Event) string {
	var b strings.Builder
	for _, ev := range evs {
		b.WriteString(describe(&ev))
		b.WriteByte('\n')
	}
	return b.String()
}

func describe(ev *Event) string {
	switch ev.Kind {
	case KindFork:
		return fmt.Sprintf("fork pid=%d comm=%s child=%d", ev.Task.PID, ev.Task.Comm, ev.ChildPID)
	case KindExec:
		return fmt.Sprintf("exec pid=%d ppid=%d exe=%s args=%q cwd=%s argc=%d flags=%#x", ev.Task.PID, ev.Task.PPID, ev.Executable, ev.Args, ev.Cwd, ev.Argc, ev.Flags)
	case KindExit:
		return fmt.Sprintf("exit pid=%d comm=%s code=%d", ev.Task.PID, ev.Task.Comm, ev.ExitCode())
	case KindFile:
		f := ev.File
		return fmt.Sprintf("file %s pid=%d ret=%d dir=%q path=%q path2=%q size=%d ops=%d flags=%#x", f.Op, ev.Task.PID, f.Ret, f.Dir, f.Path, f.Path2, f.Size, f.Ops, f.Flags)
	case KindLoss:
		return fmt.Sprintf("loss cause=%s class=%s count=%d", ev.Loss.Cause, ev.Loss.Class, ev.Loss.Count)
	}
	return fmt.Sprintf("kind %d", ev.Kind)
}

// checker matches one event; unset fields match anything. Build one with
// forkOf, execOf or exitOf and refine it with the with* methods.
type checker struct {
	kind   Kind
	pid    func() uint32 // resolved at match time (children's pids are learned as we go)
	child  *uint32       // fork: captures the child's pid
	exe    string
	args   []string
	cwd    string
	code   *int64
	parent func() uint32
}

func forkOf(pid func() uint32, child *uint32) *checker {
	return &checker{kind: KindFork, pid: pid, child: child}
}
func execOf(pid func() uint32, exe string, args ...string) *checker {
	return &checker{kind: KindExec, pid: pid, exe: exe, args: args}
}
func exitOf(pid func() uint32, code int64) *checker {
	return &checker{kind: KindExit, pid: pid, code: &code}
}
func (c *checker) withCwd(cwd string) *checker           { c.cwd = cwd; return c }
func (c *checker) withParent(pid func() uint32) *checker { c.parent = pid; return c }

func pidOf(p *uint32) func() uint32   { return func() uint32 { return *p } }
func fixedPID(p uint32) func() uint32 { return func() uint32 { return p } }

func (c *checker) check(ev *Event) error {
	var errs []error
	if ev.Kind != c.kind {
		return fmt.Errorf("kind %s, want %s", ev.Kind, c.kind)
	}
	if c.pid != nil && ev.Task.PID != c.pid() {
		errs = append(errs, fmt.Errorf("pid %d, want %d", ev.Task.PID, c.pid()))
	}
	if c.parent != nil && ev.Task.PPID != c.parent() {
		errs = append(errs, fmt.Errorf("ppid %d, want %d", ev.Task.PPID, c.parent()))
	}
	if c.exe != "" && ev.Executable != c.exe {
		errs = append(errs, fmt.Errorf("executable %q, want %q", ev.Executable, c.exe))
	}
	if c.args != nil && !slices.Equal(ev.Args, c.args) {
		errs = append(errs, fmt.Errorf("args %q, want %q", ev.Args, c.args))
	}
	if c.cwd != "" && ev.Cwd != c.cwd {
		errs = append(errs, fmt.Errorf("cwd %q, want %q", ev.Cwd, c.cwd))
	}
	if c.code != nil && ev.ExitCode() != *c.code {
		errs = append(errs, fmt.Errorf("exit code %d, want %d", ev.ExitCode(), *c.code))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if c.child != nil {
		*c.child = ev.ChildPID
	}
	return nil
}

// checkOrdered requires evs to be exactly the checkers' events, in order.
func checkOrdered(t testing.TB, evs []Event, want ...*checker) {
	t.Helper()
	if len(evs) != len(want) {
		t.Fatalf("got %d events, want %d:\n%s", len(evs), len(want), dump(evs))
	}
	for i, c := range want {
		if err := c.check(&evs[i]); err != nil {
			t.Fatalf("event %d (%s): %v\nall events:\n%s", i, describe(&evs[i]), err, dump(evs))
		}
	}
}

func contextWithCancel() (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
}

// drainBuffered runs s with a context already cancelled: Run reads what
// the ring buffer holds, reports loss and returns. It gives the events.
func drainBuffered(t testing.TB, s *Sensor) []Event {
	t.Helper()
	col := &collector{notify: make(chan struct{}, 1)}
	ctx, cancel := contextWithCancel()
	cancel()
	if err := s.Run(ctx, col); err != nil {
		t.Fatal(err)
	}
	return col.snapshot()
}
