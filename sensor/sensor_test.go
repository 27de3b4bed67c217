//go:build linux

package sensor

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
)

func realPath(t testing.TB, p string) string {
	t.Helper()
	r, err := filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// waitExit waits for the command and for the exit record of its tree's
// root, then returns the tree's events.
func waitTree(t testing.TB, r *running, cmd *exec.Cmd, tree Tree) []Event {
	t.Helper()
	_ = cmd.Wait()
	r.col.waitFor(t, "the root's exit record", func(evs []Event) bool {
		return slices.ContainsFunc(evs, func(ev Event) bool {
			return ev.Kind == KindExit && ev.Task.PID == tree.RootPID
		})
	})
	return inTree(r.col.snapshot(), tree)
}

// The basic contract: a shell that forks and execs a known tree yields
// exactly that tree's records, in order, with the right binaries,
// arguments, parents and exit codes.
func TestProcessTree(t *testing.T) {
	r := startSensor(t, Config{})
	wd, _ := os.Getwd()
	script := `sh -c "/bin/true a b"; /bin/false`
	cmd, tree := gated(t, r.Sensor, 1, "/bin/sh", "-c", script)
	root := tree.RootPID
	evs := processOnly(waitTree(t, r, cmd, tree))
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Errorf("command exit code %d, want 1", code)
	}

	sh, tru, fls := realPath(t, "/bin/sh"), realPath(t, "/bin/true"), realPath(t, "/bin/false")
	var c1, c2, c3 uint32
	checkOrdered(t, evs,
		execOf(fixedPID(root), sh, "/bin/sh", "-c", script).withCwd(realPath(t, wd)),
		forkOf(fixedPID(root), &c1),
		execOf(pidOf(&c1), sh, "sh", "-c", "/bin/true a b").withParent(fixedPID(root)),
		forkOf(pidOf(&c1), &c2),
		execOf(pidOf(&c2), tru, "/bin/true", "a", "b").withParent(pidOf(&c1)),
		exitOf(pidOf(&c2), 0),
		exitOf(pidOf(&c1), 0),
		forkOf(fixedPID(root), &c3),
		execOf(pidOf(&c3), fls, "/bin/false").withParent(fixedPID(root)),
		exitOf(pidOf(&c3), 1),
		exitOf(fixedPID(root), 1),
	)
	for _, ev := range evs {
		if ev.Task.StartTime == 0 || ev.KTime < ev.Task.StartTime {
			t.Errorf("%s: start %d, ktime %d", describe(&ev), ev.Task.StartTime, ev.KTime)
		}
		if ev.Task.UID != uint32(os.Getuid()) || ev.Task.EUID != uint32(os.Geteuid()) {
			t.Errorf("%s: uid %d euid %d", describe(&ev), ev.Task.UID, ev.Task.EUID)
		}
	}
	// Exit removes processes from scope.
	if n, err := r.TreeSize(tree); err != nil || n != 0 {
		t.Errorf("TreeSize after exit = %d, %v; want 0", n, err)
	}
}

// Processes outside the tree cost a map lookup and produce nothing, even
// while the tree is busy.
func TestUntrackedProduceNothing(t *testing.T) {
	r := startSensor(t, Config{})
	// An untracked busy loop, started before the tree.
	busy := exec.Command("/bin/sh", "-c", `i=0; while [ $i -lt 200 ]; do /bin/true untracked; i=$((i+1)); done`)
	if err := busy.Start(); err != nil {
		t.Fatal(err)
	}
	cmd, tree := gated(t, r.Sensor, 1, "/bin/sh", "-c", `i=0; while [ $i -lt 20 ]; do /bin/true tracked; i=$((i+1)); done`)
	if err := busy.Wait(); err != nil {
		t.Fatal(err)
	}
	evs := processOnly(waitTree(t, r, cmd, tree))
	all := r.col.snapshot()
	for _, ev := range all {
		if ev.Kind == KindLoss {
			t.Errorf("unexpected loss: %s", describe(&ev))
			continue
		}
		if ev.Tree != tree {
			t.Errorf("record outside the tree: %s (tree %+v)", describe(&ev), ev.Tree)
		}
		if ev.Kind == KindExec && slices.Contains(ev.Args, "untracked") {
			t.Errorf("untracked exec recorded: %s", describe(&ev))
		}
	}
	// 1 root exec + 20 × (fork, exec, exit) + root exit.
	if len(evs) != 62 {
		t.Errorf("tree has %d events, want 62:\n%s", len(evs), dump(evs))
	}
}

// Trace-all mode records untracked processes, with no tree.
func TestTraceAll(t *testing.T) {
	r := startSensor(t, Config{TraceAll: true})
	marker := "all-" + strconv.Itoa(os.Getpid())
	if err := exec.Command("/bin/sh", "-c", "/bin/true "+marker).Run(); err != nil {
		t.Fatal(err)
	}
	evs := r.col.waitFor(t, "the untracked exec", func(evs []Event) bool {
		return slices.ContainsFunc(evs, func(ev Event) bool {
			return ev.Kind == KindExec && slices.Contains(ev.Args, marker)
		})
	})
	i := slices.IndexFunc(evs, func(ev Event) bool { return ev.Kind == KindExec && slices.Contains(ev.Args, marker) })
	if !evs[i].Tree.IsZero() {
		t.Errorf("untracked exec has tree %+v", evs[i].Tree)
	}
	// Vigil never records itself.
	for _, ev := range evs {
		if ev.Task.PID == uint32(os.Getpid()) {
			t.Errorf("the sensor's own process was recorded: %s", describe(&ev))
		}
	}
}

// Executable and working directory are absolute and resolved through
// symlinked directories; a relative exec is resolved; long argument blocks
// are cut and flagged; deep paths are cut, flagged and counted.
func TestExecFields(t *testing.T) {
	dir := realPath(t, t.TempDir())
	if err := os.MkdirAll(filepath.Join(dir, "real"), 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, "/bin/true", filepath.Join(dir, "real", "prog"))
	if err := os.Symlink(filepath.Join(dir, "real"), filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	deep := dir
	for range 70 {
		deep = filepath.Join(deep, "d")
	}
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	var long []string
	for i := range 100 {
		long = append(long, fmt.Sprintf("%02d-%s", i, strings.Repeat("x", 61)))
	}
	var many []string
	for i := range 40 {
		many = append(many, "arg"+strconv.Itoa(i))
	}

	r := startSensor(t, Config{})
	script := fmt.Sprintf(`cd %s/link && ./prog rel; /bin/true "$@"; cd %s && /bin/true deep`, dir, deep)
	args := append([]string{"/bin/sh", "-c", script, "sh"}, many...)
	cmd, tree := gated(t, r.Sensor, 1, args...)
	evs := waitTree(t, r, cmd, tree)

	var execs []Event
	for _, ev := range evs {
		if ev.Kind == KindExec {
			execs = append(execs, ev)
		}
	}
	if len(execs) != 4 {
		t.Fatalf("want 4 execs, got:\n%s", dump(evs))
	}
	rel := execs[1]
	if want := filepath.Join(dir, "real", "prog"); rel.Executable != want {
		t.Errorf("relative exec through a symlinked dir: executable %q, want %q", rel.Executable, want)
	}
	if want := filepath.Join(dir, "real"); rel.Cwd != want {
		t.Errorf("cwd %q, want %q", rel.Cwd, want)
	}
	if !slices.Equal(rel.Args, []string{"./prog", "rel"}) {
		t.Errorf("args %q", rel.Args)
	}
	if got := execs[2].Args; !slices.Equal(got, append([]string{"/bin/true"}, many...)) {
		t.Errorf("40 arguments: got %q", got)
	}
	d := execs[3]
	if d.Flags&FlagCwdTruncated == 0 {
		t.Errorf("deep cwd not flagged truncated: %q flags %#x", d.Cwd, d.Flags)
	}
	if !strings.HasSuffix(d.Cwd, "/d/d/d") || len(d.Cwd) >= len(deep) {
		t.Errorf("deep cwd %q should keep the innermost components of %q", d.Cwd, deep)
	}

	// An argument block larger than the limit.
	cmd, tree = gated(t, r.Sensor, 2, append([]string{"/bin/true"}, long...)...)
	evs = processOnly(waitTree(t, r, cmd, tree))
	x := evs[0]
	if x.Kind != KindExec || x.Flags&FlagArgsTruncated == 0 {
		t.Fatalf("long args not flagged: %s", describe(&x))
	}
	if x.Argc != 101 || len(x.Args) >= 101 || len(x.Args) < 32 {
		t.Errorf("argc %d, kept %d args; want argc 101 and at least 32 kept", x.Argc, len(x.Args))
	}
	if !slices.Equal(x.Args[1:len(x.Args)-1], long[:len(x.Args)-2]) {
		t.Errorf("kept arguments differ from the originals")
	}

	// Truncations are counted and reported as loss records.
	r.col.waitFor(t, "truncation loss records", func(evs []Event) bool {
		var n uint64
		for _, ev := range evs {
			if ev.Kind == KindLoss && ev.Loss.Cause == CauseTruncated && ev.Loss.Class == KindExec {
				n += ev.Loss.Count
			}
		}
		return n >= 2
	})
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// An exec matching a configured agent (by invoked name, by binary name, or
// by file) starts a new tree that its children inherit.
func TestAgentMatch(t *testing.T) {
	dir := realPath(t, t.TempDir())
	script := filepath.Join(dir, "vigil-test-agent")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n/bin/true child-of-agent\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, "/bin/true", filepath.Join(dir, "agentbin"))
	if err := os.Symlink(filepath.Join(dir, "agentbin"), filepath.Join(dir, "alias")); err != nil {
		t.Fatal(err)
	}
	byFile := filepath.Join(dir, "by-file")
	copyFile(t, "/bin/true", byFile)
	var st syscall.Stat_t
	if err := syscall.Stat(byFile, &st); err != nil {
		t.Fatal(err)
	}

	r := startSensor(t, Config{
		AgentNames: map[string]uint32{"vigil-test-agent": 7, "agentbin": 8},
		AgentFiles: map[FileID]uint32{{Dev: st.Dev, Ino: st.Ino}: 9},
	})
	for _, c := range []struct {
		argv  []string
		agent uint32
	}{
		{[]string{script}, 7},
		{[]string{filepath.Join(dir, "alias"), "x"}, 8},
		{[]string{byFile}, 9},
	} {
		cmd := exec.Command(c.argv[0], c.argv[1:]...)
		if err := cmd.Run(); err != nil {
			t.Fatal(err)
		}
		pid := uint32(cmd.Process.Pid)
		evs := r.col.waitFor(t, "exit of "+c.argv[0], func(evs []Event) bool {
			return slices.ContainsFunc(evs, func(ev Event) bool { return ev.Kind == KindExit && ev.Task.PID == pid })
		})
		i := slices.IndexFunc(evs, func(ev Event) bool { return ev.Kind == KindExec && ev.Task.PID == pid })
		if i < 0 {
			t.Fatalf("%s: no exec record:\n%s", c.argv[0], dump(evs))
		}
		ev := evs[i]
		if ev.Flags&FlagNewRoot == 0 || ev.Tree.Agent != c.agent || ev.Tree.RootPID != pid || ev.Tree.RootStart != ev.Task.StartTime {
			t.Errorf("%s: flags %#x tree %+v; want a new root of agent %d", c.argv[0], ev.Flags, ev.Tree, c.agent)
		}
		if c.agent == 7 {
			tree := inTree(evs, ev.Tree)
			if !slices.ContainsFunc(tree, func(ev Event) bool {
				return ev.Kind == KindExec && slices.Contains(ev.Args, "child-of-agent")
			}) {
				t.Errorf("the agent's child is not in its tree:\n%s", dump(tree))
			}
		}
	}
	// An unrelated exec does not start a tree.
	if err := exec.Command("/bin/true", "not-an-agent").Run(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	for _, ev := range r.col.snapshot() {
		if slices.Contains(ev.Args, "not-an-agent") {
			t.Errorf("unrelated exec recorded: %s", describe(&ev))
		}
	}
}

// A tree that started before the sensor is found in /proc and tracked
// with its descendants; their later events carry the tree.
func TestBootstrapTrackTree(t *testing.T) {
	requireBPF(t)
	dir := t.TempDir()
	fifo := filepath.Join(dir, "go")
	pidFile := filepath.Join(dir, "pid")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sh", "-c", fmt.Sprintf(
		`sleep 60 & echo $! > %[1]s.tmp; mv %[1]s.tmp %[1]s; read x < %[2]s; kill $!; wait; /bin/true after`, pidFile, fifo))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var sleepPID uint32
	for deadline := time.Now().Add(5 * time.Second); ; {
		b, err := os.ReadFile(pidFile)
		if err == nil {
			n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			sleepPID = uint32(n)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the pre-existing tree did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}

	r := startSensor(t, Config{})
	root := uint32(cmd.Process.Pid)
	snaps, err := ReadProc("/proc")
	if err != nil {
		t.Fatal(err)
	}
	self := Descendants(snaps, root)
	if len(self) == 0 {
		t.Fatal("root not in /proc")
	}
	tree := Tree{RootPID: root, RootStart: self[0].Task.StartTime, Agent: 3}
	members, err := r.TrackTree("/proc", snaps, root, tree)
	if err != nil {
		t.Fatal(err)
	}
	var pids []uint32
	for _, m := range members {
		pids = append(pids, m.Task.PID)
	}
	if !slices.Contains(pids, root) || !slices.Contains(pids, sleepPID) {
		t.Fatalf("tracked %v; want root %d and child %d", pids, root, sleepPID)
	}
	if m := members[slices.Index(pids, sleepPID)]; m.Executable != realPath(t, "/bin/sleep") || !slices.Equal(m.Args, []string{"sleep", "60"}) || m.Task.PPID != root {
		t.Errorf("child snapshot: %+v", m)
	}

	if err := os.WriteFile(fifo, []byte("go\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	evs := waitTree(t, r, cmd, tree)
	var sawSleepExit, sawAfter bool
	for _, ev := range evs {
		if ev.Kind == KindExit && ev.Task.PID == sleepPID {
			sawSleepExit = ev.ExitCode() == 128+int64(syscall.SIGTERM) && ev.Signal() == syscall.SIGTERM
		}
		if ev.Kind == KindExec && slices.Equal(ev.Args, []string{"/bin/true", "after"}) {
			sawAfter = ev.Task.PPID == root
		}
	}
	if !sawSleepExit || !sawAfter {
		t.Errorf("bootstrapped tree: sleep killed by SIGTERM seen=%v, later exec seen=%v:\n%s", sawSleepExit, sawAfter, dump(evs))
	}
}

// With a tiny ring buffer and a reader that is not reading, a burst loses
// records, and the loss records account for every one of them.
func TestLossAccounting(t *testing.T) {
	requireBPF(t)
	s, err := New(Config{RingBufferBytes: os.Getpagesize()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = 200
	cmd, tree := gated(t, s, 1, "/bin/sh", "-c", fmt.Sprintf(`i=0; while [ $i -lt %d ]; do /bin/true; i=$((i+1)); done`, n))
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	waitTreeGone(t, s, tree)
	delivered := map[Kind]uint64{}
	lost := map[Kind]uint64{}
	for _, ev := range drainBuffered(t, s) {
		switch {
		case ev.Kind == KindLoss && ev.Loss.Cause == CauseRingbufFull:
			lost[ev.Loss.Class] += ev.Loss.Count
		case ev.Kind == KindLoss && ev.Loss.Class == KindFile:
		case ev.Kind == KindLoss:
			t.Errorf("unexpected loss cause: %s", describe(&ev))
		case ev.Tree == tree:
			delivered[ev.Kind]++
		}
	}
	want := map[Kind]uint64{KindFork: n, KindExec: n + 1, KindExit: n + 1}
	var totalLost uint64
	for k, w := range want {
		if got := delivered[k] + lost[k]; got != w {
			t.Errorf("%s: delivered %d + lost %d = %d, want %d", k, delivered[k], lost[k], got, w)
		}
		totalLost += lost[k]
	}
	if totalLost == 0 {
		t.Errorf("a %d-byte ring buffer lost nothing in a burst of %d processes", os.Getpagesize(), n)
	}
	t.Logf("delivered %v, lost %v", delivered, lost)
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []Config{
		{RingBufferBytes: 3 << 12},
		{RingBufferBytes: 1024},
		{MaxTracked: -1},
		{AgentNames: map[string]uint32{strings.Repeat("n", 32): 1}},
	} {
		if _, err := New(c); err == nil || !strings.Contains(err.Error(), "sensor config") {
			t.Errorf("New(%+v) = %v, want a config error", c, err)
		}
	}
}

func TestFeatureErrorWording(t *testing.T) {
	err := error(&FeatureError{Missing: "privileges to load BPF programs", Hint: "run as root", Err: ErrNotPermitted})
	if !errors.Is(err, ErrNotPermitted) {
		t.Error("FeatureError does not unwrap")
	}
	if got := err.Error(); got != "sensor: missing privileges to load BPF programs: operation not permitted (run as root)" {
		t.Errorf("message %q", got)
	}
}

// The programs stay far from the verifier's 1M-instruction limit, so a
// kernel whose verifier prunes less still accepts them.
func TestVerifierComplexity(t *testing.T) {
	requireBPF(t)
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, p := range []*ebpf.Program{s.objs.VigilFork, s.objs.VigilExec, s.objs.VigilExit} {
		info, err := p.Info()
		if err != nil {
			t.Fatal(err)
		}
		n, ok := info.VerifiedInstructions()
		if !ok {
			t.Fatalf("%s: kernel does not report verified instructions", info.Name)
		}
		t.Logf("%s: %d instructions verified", info.Name, n)
		if n > 250_000 {
			t.Errorf("%s: %d instructions verified; keep it under 250k", info.Name, n)
		}
	}
}
