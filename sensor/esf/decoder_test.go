package esf

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigilsec/vigil/sensor"
)

// recorder is a Handler that keeps copies of the events.
type recorder struct {
	evs     []sensor.Event
	flushes int
	fail    error // returned by HandleEvent once set
}

func (r *recorder) HandleEvent(ev *sensor.Event) error {
	if r.fail != nil {
		return r.fail
	}
	r.evs = append(r.evs, *ev)
	return nil
}

func (r *recorder) Flush() error { r.flushes++; return nil }

func (r *recorder) emit(ev *sensor.Event) error { return r.HandleEvent(ev) }

// describe is a one-line summary of an event for comparing sequences.
func describe(ev *sensor.Event) string {
	pid := ev.Task.PID
	switch ev.Kind {
	case sensor.KindExec:
		s := fmt.Sprintf("exec %d %s", pid, ev.Executable)
		if ev.Flags&sensor.FlagNewRoot != 0 {
			s += " root"
		}
		return s
	case sensor.KindFork:
		return fmt.Sprintf("fork %d>%d", pid, ev.ChildPID)
	case sensor.KindExit:
		return fmt.Sprintf("exit %d %d", pid, ev.ExitCode())
	case sensor.KindNet:
		return fmt.Sprintf("connect %d %s", pid, ev.Net.Dst.Path)
	case sensor.KindLoss:
		return fmt.Sprintf("loss %s %s %d", ev.Loss.Cause, ev.Loss.Class, ev.Loss.Count)
	}
	f := &ev.File
	switch f.Op {
	case sensor.FileOpen:
		return fmt.Sprintf("open %d %s %#o", pid, f.Path, f.OpenFlags)
	case sensor.FileWriteStart:
		return fmt.Sprintf("write_start %d #%d %s", pid, f.Cookie, f.Path)
	case sensor.FileWriteEnd:
		s := fmt.Sprintf("write_end %d #%d ops=%d", pid, f.Cookie, f.Ops)
		switch {
		case f.Flags&sensor.FileAtExit != 0:
			s += " at_exit"
		case f.Flags&sensor.FileAtStop != 0:
			s += " at_stop"
		case f.Flags&sensor.FileStale != 0:
			s += " stale"
		}
		return s
	case sensor.FileRename:
		return fmt.Sprintf("rename %d %s > %s", pid, f.Path, f.Path2)
	}
	return fmt.Sprintf("%s %d %s", f.Op, pid, f.Path)
}

func describeAll(evs []sensor.Event) []string {
	out := make([]string, len(evs))
	for i := range evs {
		out[i] = describe(&evs[i])
	}
	return out
}

func sameLines(t *testing.T, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("events:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// decodeAll runs a new Decoder over input with the agent matcher.
func decodeAll(t *testing.T, scope *sensor.TreeScope, input []byte) *recorder {
	t.Helper()
	var r recorder
	if err := NewDecoder(scope).Run(context.Background(), bytes.NewReader(input), &r); err != nil {
		t.Fatalf("run: %v", err)
	}
	return &r
}

func agentScope() *sensor.TreeScope { return sensor.NewTreeScope(agentMatch, false, 0) }

func TestFixtureUpToDate(t *testing.T) {
	got, want, err := readFixture()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: go test ./sensor/esf -run TestFixtureUpToDate -update", fixturePath)
	}
}

// TestAgentSession decodes testdata/agent-session.jsonl: the agent's tree
// and nothing else, in order.
func TestAgentSession(t *testing.T) {
	input, err := os.ReadFile(fixturePath)
	if err != nil {
		t.Fatal(err)
	}
	scope := agentScope()
	r := decodeAll(t, scope, input)
	const p = "/Users/dev/project"
	sameLines(t, describeAll(r.evs), []string{
		"exec 4242 /usr/bin/env root",
		"exec 4242 /opt/homebrew/Cellar/node/24.4.0/bin/node",
		"open 4242 " + p + "/package.json 0",
		"open 4242 " + p + "/src/app.ts 0",
		"connect 4242 /private/var/run/mDNSResponder",
		"open 4242 " + p + "/.claude/todo.json.tmp 01101",
		"write_start 4242 #1 " + p + "/.claude/todo.json.tmp",
		"write_end 4242 #1 ops=3",
		"rename 4242 " + p + "/.claude/todo.json.tmp > " + p + "/.claude/todo.json",
		"open 4242 " + p + "/.claude/history.jsonl 02001",
		"write_start 4242 #2 " + p + "/.claude/history.jsonl",
		"fork 4242>4250",
		"exec 4250 /bin/zsh",
		"fork 4250>4251",
		"exec 4251 /usr/bin/git",
		"exec 4251 /Library/Developer/CommandLineTools/usr/bin/git",
		"open 4251 " + p + "/.git/index 0",
		"open 4251 " + p + "/.git/index.lock 0302",
		"write_start 4251 #3 " + p + "/.git/index.lock",
		"write_end 4251 #3 ops=2",
		"rename 4251 " + p + "/.git/index.lock > " + p + "/.git/index",
		"exit 4251 0",
		"exec 4250 /usr/bin/sed",
		"open 4250 " + p + "/src/app.ts 0",
		"open 4250 " + p + "/src/.!4250!app.ts 01101",
		"write_start 4250 #4 " + p + "/src/.!4250!app.ts",
		"write_end 4250 #4 ops=2",
		"rename 4250 " + p + "/src/.!4250!app.ts > " + p + "/src/app.ts",
		"exit 4250 0",
		"rename 4242 " + p + "/notes.md > " + p + "/docs/notes.md",
		"unlink 4242 " + p + "/.claude/session.lock",
		"rmdir 4242 " + p + "/.claude/tmp-4242",
		"fork 4242>4253",
		"exec 4253 /bin/sleep",
		"exit 4253 143",
		"write_end 4242 #2 ops=2 at_exit",
		"exit 4242 0",
	})
	if r.flushes == 0 {
		t.Error("Flush never called")
	}
	if n := scope.Len(); n != 0 {
		t.Errorf("%d processes left in scope after every exit", n)
	}

	agentStart := uint64(fixtureStart.Add(43 * time.Millisecond).UnixNano())
	tree := sensor.Tree{RootStart: agentStart, RootPID: pidAgent, Agent: 1}
	for i := range r.evs {
		if ev := &r.evs[i]; ev.Tree != tree {
			t.Errorf("%s: tree %+v, want %+v", describe(ev), ev.Tree, tree)
		}
	}

	root := &r.evs[0]
	if want := (sensor.Task{PID: pidAgent, TID: 70101, PPID: 4100, UID: 501, GID: 20, EUID: 501, EGID: 20,
		StartTime: agentStart, Comm: "env"}); root.Task != want {
		t.Errorf("root exec task %+v, want %+v", root.Task, want)
	}
	if want := uint64(fixtureStart.Add(45 * time.Millisecond).UnixNano()); root.KTime != want {
		t.Errorf("root exec at %d, want %d", root.KTime, want)
	}
	if !slices.Equal(root.Args, []string{"/usr/bin/env", "node", "/opt/homebrew/bin/claude", "-p", "fix the failing test in src/app.ts"}) ||
		root.Argc != 5 || root.Cwd != p {
		t.Errorf("root exec args %q (%d) cwd %q", root.Args, root.Argc, root.Cwd)
	}
	if root.ExeInode != 1152921500312522081 || root.ExeDevice != sensor.Mkdev(1, 14) {
		t.Errorf("root exec inode %d device %d", root.ExeInode, root.ExeDevice)
	}
	if root.CorrelationID != "run-20260314-0930-7f3a" || root.TraceID != "4bf92f3577b34da6a3ce929d0e0e4736" ||
		root.SpanID != "00f067aa0ba902b7" {
		t.Errorf("root exec ids %q %q %q", root.CorrelationID, root.TraceID, root.SpanID)
	}
	if node := &r.evs[1]; node.Task.Comm != "node" || node.Flags&sensor.FlagNewRoot != 0 {
		t.Errorf("second exec: comm %q flags %#x", node.Task.Comm, node.Flags)
	}

	fork := &r.evs[11]
	shellStart := uint64(fixtureStart.Add(2389 * time.Millisecond).UnixNano())
	if fork.ChildStart != shellStart || fork.Task.Comm != "node" {
		t.Errorf("fork: child start %d (want %d), parent comm %q", fork.ChildStart, shellStart, fork.Task.Comm)
	}
	if sh := &r.evs[12]; sh.Task.StartTime != shellStart || sh.Task.PPID != pidAgent {
		t.Errorf("shell exec: start %d ppid %d", sh.Task.StartTime, sh.Task.PPID)
	}

	open := &r.evs[2]
	if f := open.File; f.Flags != sensor.FilePathExact|sensor.FileRegular|sensor.FileModeUnknown || f.Inode != 884401 ||
		f.Device != sensor.Mkdev(1, 16) || f.FD != -1 || f.Ret != 0 {
		t.Errorf("open: %+v", f)
	}
	conn := &r.evs[4]
	if n := conn.Net; n.Op != sensor.NetConnect || n.Dst.Family != sensor.FamilyUnix ||
		n.SockType != syscall.SOCK_STREAM || n.Protocol != 0 || n.Ret != 0 {
		t.Errorf("connect: %+v", n)
	}

	ws, we := &r.evs[6], &r.evs[7]
	if ws.File.Flags != sensor.FilePathExact|sensor.FileRegular || ws.File.Inode != 884502 {
		t.Errorf("write start: %+v", ws.File)
	}
	if we.File.First != ws.KTime || we.File.Size != 0 || we.File.Inode != 884502 ||
		we.File.Flags != sensor.FileRegular|sensor.FileSizeUnknown || we.KTime-we.File.First != uint64(3*time.Millisecond) {
		t.Errorf("write end: %+v (start at %d)", we.File, ws.KTime)
	}
	if mv := &r.evs[29]; mv.File.Flags != sensor.FilePathExact|sensor.FileRegular {
		t.Errorf("rename flags %#x", mv.File.Flags)
	}
	if rm := &r.evs[31]; rm.File.Flags != sensor.FilePathExact {
		t.Errorf("rmdir flags %#x", rm.File.Flags)
	}
	sleep := &r.evs[34]
	if sleep.Status != 15 || sleep.Signal() != syscall.SIGTERM || sleep.Task.Comm != "sleep" {
		t.Errorf("sleep exit: status %d signal %v comm %q", sleep.Status, sleep.Signal(), sleep.Task.Comm)
	}
	if hist := &r.evs[35]; hist.KTime != r.evs[36].KTime || hist.Task.Comm != "node" {
		t.Errorf("history totals at %d, exit at %d, comm %q", hist.KTime, r.evs[36].KTime, hist.Task.Comm)
	}
}

// TestAgentSessionTraceAll: every process in scope, none in a tree but
// the agent's.
func TestAgentSessionTraceAll(t *testing.T) {
	input, err := os.ReadFile(fixturePath)
	if err != nil {
		t.Fatal(err)
	}
	r := decodeAll(t, sensor.NewTreeScope(agentMatch, true, 0), input)
	kinds := map[string]int{}
	for i := range r.evs {
		ev := &r.evs[i]
		kinds[strings.Fields(describe(ev))[0]]++
		inTree := ev.Task.PID >= pidAgent && ev.Task.PID <= pidSleep && !(ev.Kind == sensor.KindFork && ev.ChildPID == pidAgent)
		if ev.Tree.IsZero() == inTree {
			t.Errorf("%s: tree %+v", describe(ev), ev.Tree)
		}
	}
	// The agent's 37 events, and: mdworker's two opens, zsh's fork of the
	// agent and its history (open, write totals), Safari's connect, the
	// XPC service's fork, exec and exit, and mds_stores' write, never
	// closed, reported at the end of the stream.
	want := map[string]int{"exec": 8, "fork": 5, "exit": 5, "open": 11, "write_start": 6, "write_end": 6,
		"rename": 4, "unlink": 1, "rmdir": 1, "connect": 2}
	if fmt.Sprint(kinds) != fmt.Sprint(want) {
		t.Errorf("kinds %v, want %v", kinds, want)
	}
}

func TestOpenFlags(t *testing.T) {
	// Linux's numbers (the syscall package's are the host's).
	const (
		wronly = 0o1
		rdwr   = 0o2
		creat  = 0o100
		excl   = 0o200
		trunc  = 0o1000
		append = 0o2000
	)
	for _, tc := range []struct {
		fflag int64
		want  uint32
	}{
		{fRead, 0},
		{fWrite, wronly},
		{fRead | fWrite, rdwr},
		{fWrite | oCreat | oTrunc, wronly | creat | trunc},
		{fWrite | oAppend, wronly | append},
		{fRead | fWrite | oCreat | oExcl, rdwr | creat | excl},
		{0, 0},
		// O_NONBLOCK, O_NOFOLLOW, O_CLOEXEC and kernel-only bits are left out.
		{fRead | 0x4 | 0x100 | 0x1000000 | 0x4000, 0},
	} {
		if got := openFlags(tc.fflag); got != tc.want {
			t.Errorf("openFlags(%#x) = %#o, want %#o", tc.fflag, got, tc.want)
		}
	}
}
