package correlate

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigilsec/vigil/intent"
	"github.com/vigilsec/vigil/sensor"
)

// joinHarness drives a table and a joiner with an agent process (pid 100)
// and lets a test send intents and kernel events at chosen boot times.
type joinHarness struct {
	t      *testing.T
	tab    *Table
	j      *Joiner
	agent  sensor.Task
	seq    uint64
	out    []*Record
	hosts  map[string][]netip.Addr
	nextID uint32
}

const agentStart = 1_000_000_000 // ns since boot

func newJoinHarness(t *testing.T, mod func(*JoinConfig)) *joinHarness {
	t.Helper()
	tab, _ := newTestTable(t, nil)
	h := &joinHarness{t: t, tab: tab, hosts: map[string][]netip.Addr{}, nextID: 200}
	cfg := JoinConfig{
		Grace: 2 * time.Second, Hold: 500 * time.Millisecond,
		IsVigil: func(p *Process) bool { return p.Executable == "/usr/local/bin/vigil" },
		Resolve: func(_ context.Context, host string) ([]netip.Addr, error) {
			if a, ok := h.hosts[host]; ok {
				return a, nil
			}
			return nil, fmt.Errorf("no such host %s", host)
		},
	}
	if mod != nil {
		mod(&cfg)
	}
	h.j = NewJoiner(tab, cfg)
	shell := task(50, 1, agentStart/2, "bash")
	h.kernel(execEv(shell, agentStart/2, "/bin/bash", "/home/u", "bash"))
	h.kernel(forkEv(shell, 100, agentStart))
	h.agent = childTask(shell, 100, agentStart)
	h.agent.Comm = "agent"
	h.kernel(execEv(h.agent, agentStart+1, "/usr/bin/agent", "/home/u/work", "agent"))
	return h
}

// wall is a boot time's wall clock, as the table converts it.
func (h *joinHarness) wall(bootNS uint64) time.Time { return fakeTimes{offset: bootWall}.Time(bootNS) }

func (h *joinHarness) kernel(ev *sensor.Event) {
	h.t.Helper()
	r := h.tab.Handle(ev)
	if r == nil {
		return
	}
	h.j.Observe(r)
	h.seq++
	h.j.Written(h.seq)
	cp := *r
	h.out = append(h.out, &cp)
}

// send delivers an intent received at boot time at, from the agent.
func (h *joinHarness) send(at uint64, in intent.Intent) *Record {
	h.t.Helper()
	in.V = 1
	if in.Agent.Name == "" {
		in.Agent.Name = "test-agent"
	}
	if in.SessionID == "" {
		in.SessionID = "s1"
	}
	if err := in.Normalize(false); err != nil {
		h.t.Fatal(err)
	}
	rec := &intent.Received{Intent: in, Sender: intent.Peer{PID: 100, UID: 1000}, AgentPID: 100,
		AgentStart: sensor.NSToTicks(agentStart), At: h.wall(at)}
	r := h.j.Intent(rec)
	h.seq++
	h.j.IntentWritten(r, h.seq)
	return r
}

// child forks a process from parent at a boot time and execs it.
func (h *joinHarness) child(parent sensor.Task, at uint64, exe string, env func(*sensor.Event), args ...string) sensor.Task {
	h.nextID++
	h.kernel(forkEv(parent, h.nextID, at))
	c := childTask(parent, h.nextID, at)
	c.Comm = exe[strings.LastIndexByte(exe, '/')+1:]
	ev := execEv(c, at+1000, exe, "/home/u/work", args...)
	if env != nil {
		env(ev)
	}
	h.kernel(ev)
	return c
}

func (h *joinHarness) open(tk sensor.Task, at uint64, path string, flags uint32) {
	h.kernel(fileEv(tk, at, exactOpen(path, flags)))
}

func (h *joinHarness) connect(tk sensor.Task, at uint64, dst string, port uint16) {
	h.kernel(netEv(tk, at, sensor.Net{Op: sensor.NetConnect, Dst: inet(dst, port), SockType: syscall.SOCK_STREAM,
		Protocol: syscall.IPPROTO_TCP, Cookie: testSocket + uint64(at)}))
}

// settle judges what is due at boot time now.
func (h *joinHarness) settle(now uint64, final bool) []*Record {
	return h.j.Settle(h.wall(now), final)
}

// verdicts lists "name tool-call target" of each verdict record.
func verdicts(recs []*Record) []string {
	var out []string
	for _, r := range recs {
		v := r.Verdict
		target := ""
		switch {
		case len(v.Observed) > 0:
			target = v.Observed[0].Target()
		case v.Declared != nil:
			target = v.Declared.Target()
		}
		out = append(out, fmt.Sprintf("%s %s %s", v.Name, v.ToolCallID, target))
	}
	sort.Strings(out)
	return out
}

const (
	wr = syscall.O_WRONLY | syscall.O_CREAT | syscall.O_TRUNC
	rd = syscall.O_RDONLY
)

func s(n float64) uint64 { return agentStart + sec(n) }

func TestJoinVerdicts(t *testing.T) {
	h := newJoinHarness(t, nil)
	h.send(s(1), intent.Intent{Type: intent.SessionStart})
	// T1: declared and done; T2 declared, not done; T3 declared one
	// file, wrote another.
	h.send(s(2), intent.Intent{Type: intent.ToolCallStart, ToolCallID: "T1", ToolName: "Write",
		Actions: []intent.Action{{Kind: intent.FileWrite, Path: "/w/a"}}})
	h.open(h.agent, s(2.1), "/w/a", wr)
	h.send(s(2.2), intent.Intent{Type: intent.ToolCallEnd, ToolCallID: "T1"})
	h.send(s(3), intent.Intent{Type: intent.ToolCallStart, ToolCallID: "T2", ToolName: "Write",
		Actions: []intent.Action{{Kind: intent.FileWrite, Path: "/w/b"}}})
	h.send(s(3.1), intent.Intent{Type: intent.ToolCallEnd, ToolCallID: "T2"})
	h.send(s(4), intent.Intent{Type: intent.ToolCallStart, ToolCallID: "T3", ToolName: "Write",
		Actions: []intent.Action{{Kind: intent.FileWrite, Path: "/w/d"}}})
	h.open(h.agent, s(4.1), "/w/e", wr)
	h.send(s(4.2), intent.Intent{Type: intent.ToolCallEnd, ToolCallID: "T3"})
	// Outside any tool call: an undeclared write, an undeclared read
	// (reads are not judged), and a write to the agent's own state.
	h.open(h.agent, s(10), "/w/c", wr)
	h.open(h.agent, s(10.1), "/etc/hosts", rd)

	// Nothing is due before the hold and the grace have passed.
	if v := h.settle(s(2.3), false); len(v) != 0 {
		t.Errorf("verdicts too early: %v", verdicts(v))
	}
	got := verdicts(h.settle(s(20), false))
	want := []string{"corroborated T1 /w/a", "mismatched T3 /w/e", "undeclared  /w/c", "unwitnessed T2 /w/b"}
	if !slices.Equal(got, want) {
		t.Errorf("verdicts\n%q\nwant\n%q", got, want)
	}
	if v := h.settle(s(40), true); len(v) != 0 {
		t.Errorf("verdicts given twice: %v", verdicts(v))
	}
	// The kernel records were joined.
	for _, r := range h.out {
		if r.File != nil && r.File.Path == "/w/a" && (r.Join == nil || r.Join.ToolCallID != "T1" || r.Join.SessionID != "s1") {
			t.Errorf("write of /w/a joined to %+v", r.Join)
		}
		if r.File != nil && r.File.Path == "/w/c" && (r.Join == nil || r.Join.ToolCallID != "" || r.Join.By != "session") {
			t.Errorf("write of /w/c joined to %+v", r.Join)
		}
	}
	st := h.j.Stats()
	if st.Intents != 7 || st.ToolCalls != 3 || st.Verdicts[Corroborated] != 1 || st.Verdicts[Undeclared] != 1 {
		t.Errorf("stats %+v", st)
	}
}

// A Bash declaration covers the exec of its command (also when a shell
// wrapper quotes it for eval); what the processes it started did are the
// call's effects, listed in its verdict and not judged one by one, even
// after the call ended.
func TestJoinCommandEffects(t *testing.T) {
	h := newJoinHarness(t, nil)
	h.send(s(1), intent.Intent{Type: intent.SessionStart})
	cmd := `grep -c 'x' notes.txt > /w/count`
	h.send(s(2), intent.Intent{Type: intent.ToolCallStart, ToolCallID: "B1", ToolName: "Bash",
		Actions: []intent.Action{{Kind: intent.Exec, Command: cmd}}})
	shell := h.child(h.agent, s(2.1), "/bin/bash", nil, "bash", "-c", `eval 'grep -c '\''x'\'' notes.txt > /w/count'`)
	grep := h.child(shell, s(2.2), "/usr/bin/grep", nil, "grep", "-c", "x", "notes.txt")
	h.open(grep, s(2.3), "/w/notes.txt", rd)
	h.open(shell, s(2.25), "/w/count", wr)
	h.send(s(2.5), intent.Intent{Type: intent.ToolCallEnd, ToolCallID: "B1"})
	// A daemon the command left behind, acting long after.
	daemon := h.child(shell, s(2.4), "/usr/bin/sleepd", nil, "sleepd")
	vs := h.settle(s(10), false)
	h.connect(daemon, s(30), "10.9.9.9", 4444)
	h.open(daemon, s(31), "/w/late", wr)
	vs = append(vs, h.settle(s(60), true)...)
	got := verdicts(vs)
	if want := []string{"corroborated B1 bash -c eval 'grep -c '\\''x'\\'' notes.txt > /w/count'"}; !slices.Equal(got, want) {
		t.Fatalf("verdicts\n%q\nwant\n%q", got, want)
	}
	e := vs[0].Verdict.Effects
	if e == nil || e.Processes != 2 || !slices.Contains(e.Files, "/w/count") || !slices.Contains(e.Reads, "/w/notes.txt") {
		t.Errorf("effects %+v", e)
	}
	// The late actions are joined to the call whose command started them.
	for _, r := range h.out {
		if r.Process != nil && r.Process.PID == daemon.PID && r.Event.Kind != sensor.KindFork && (r.Join == nil || r.Join.ToolCallID != "B1") {
			t.Errorf("%v record of the left-behind daemon joined to %+v", r.Event.Kind, r.Join)
		}
	}
}

// Tool calls run in parallel: an action goes to the open call that
// declared it, not merely the latest one, and its process's descendants
// follow it there.
func TestJoinParallelCalls(t *testing.T) {
	h := newJoinHarness(t, nil)
	h.send(s(1), intent.Intent{Type: intent.SessionStart})
	h.send(s(2), intent.Intent{Type: intent.ToolCallStart, ToolCallID: "P2", ToolName: "Bash",
		Actions: []intent.Action{{Kind: intent.Exec, Command: "make all"}}})
	h.send(s(2.1), intent.Intent{Type: intent.ToolCallStart, ToolCallID: "P1", ToolName: "Write",
		Actions: []intent.Action{{Kind: intent.FileWrite, Path: "/w/p1"}}})
	mk := h.child(h.agent, s(2.2), "/usr/bin/make", nil, "make", "all")
	cc := h.child(mk, s(2.3), "/usr/bin/cc", nil, "cc", "-o", "out", "main.c")
	h.open(cc, s(2.4), "/w/out", wr)
	h.open(h.agent, s(2.5), "/w/p1", wr)
	h.send(s(3), intent.Intent{Type: intent.ToolCallEnd, ToolCallID: "P1"})
	h.send(s(3.1), intent.Intent{Type: intent.ToolCallEnd, ToolCallID: "P2"})
	vs := h.settle(s(20), false)
	got := verdicts(vs)
	if want := []string{"corroborated P1 /w/p1", "corroborated P2 make all"}; !slices.Equal(got, want) {
		t.Fatalf("verdicts\n%q\nwant\n%q", got, want)
	}
	for _, r := range vs {
		if r.Verdict.ToolCallID == "P2" && (r.Verdict.Effects == nil || !slices.Contains(r.Verdict.Effects.Files, "/w/out")) {
			t.Errorf("P2's effects %+v lack cc's output", r.Verdict.Effects)
		}
	}
}

// Correlation ids and trace ids in the environment join a process to the
// tool call that declared them, wherever in the tree it runs and however
// late it acts.
func TestJoinCorrelationIDs(t *testing.T) {
	h := newJoinHarness(t, nil)
	h.send(s(1), intent.Intent{Type: intent.SessionStart})
	h.hosts["api.example.test"] = []netip.Addr{netip.MustParseAddr("192.0.2.7")}
	h.send(s(2), intent.Intent{Type: intent.ToolCallStart, ToolCallID: "C1", CorrelationID: "job-7",
		Actions: []intent.Action{{Kind: intent.FileWrite, Path: "/w/out"}}})
	h.send(s(2.1), intent.Intent{Type: intent.ToolCallStart, ToolCallID: "C2", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736",
		Actions: []intent.Action{{Kind: intent.Network, Host: "api.example.test", Port: 443}}})
	// Both calls are open at once: the ids, not the window, say which.
	w := h.child(h.agent, s(2.2), "/usr/bin/worker", func(ev *sensor.Event) { ev.CorrelationID = "job-7" }, "worker")
	c := h.child(h.agent, s(2.3), "/usr/bin/curl", func(ev *sensor.Event) {
		ev.TraceID, ev.SpanID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	}, "curl", "https://api.example.test/")
	gc := h.child(w, s(2.4), "/bin/cp", nil, "cp") // inherits job-7
	h.open(gc, s(2.5), "/w/out", wr)
	h.connect(c, s(2.6), "192.0.2.7", 443)
	h.send(s(3), intent.Intent{Type: intent.ToolCallEnd, ToolCallID: "C1"})
	h.send(s(3), intent.Intent{Type: intent.ToolCallEnd, ToolCallID: "C2"})
	// The resolver runs off the event path: wait for its answer.
	for deadline := time.Now().Add(5 * time.Second); len(h.j.resolved) == 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	got := verdicts(h.settle(s(20), false))
	// The execs of worker, curl and cp were in open windows without a
	// declaration of theirs: undeclared, in their calls.
	want := []string{"corroborated C1 /w/out", "corroborated C2 192.0.2.7:443",
		"undeclared C1 cp", "undeclared C1 worker", "undeclared C2 curl https://api.example.test/"}
	if !slices.Equal(got, want) {
		t.Errorf("verdicts\n%q\nwant\n%q", got, want)
	}
	for _, r := range h.out {
		if r.Process == nil || r.Join == nil {
			continue
		}
		switch r.Process.PID {
		case gc.PID:
			if r.Join.ToolCallID != "C1" || r.Join.By != "correlation_id" || r.Join.CorrelationID != "job-7" {
				t.Errorf("cp joined %+v", r.Join)
			}
		case c.PID:
			if r.Event.Kind != sensor.KindFork && (r.Join.ToolCallID != "C2" || r.Join.By != "trace_id") {
				t.Errorf("curl joined %+v", r.Join)
			}
		}
	}
}

// Vigil's own helpers are never judged; an agent's housekeeping writes
// are not undeclared; a tool call that never ends is ended by
// MaxToolCall; records read after later intents are judged by their
// time, not by when they were read.
func TestJoinEdges(t *testing.T) {
	h := newJoinHarness(t, func(c *JoinConfig) {
		c.MaxToolCall = 10 * time.Second
		c.IgnorePaths = []string{"/w/state/"}
	})
	// A write before the session began, read after it began.
	h.send(s(1), intent.Intent{Type: intent.SessionStart})
	h.open(h.agent, s(0.5), "/w/before", wr)
	// The agent runs its hook command through a shell: neither the shell
	// nor the hook is judged.
	hookShell := h.child(h.agent, s(1.4), "/bin/sh", nil, "sh", "-c", "vigil hook claude-code")
	hook := h.child(hookShell, s(1.5), "/usr/local/bin/vigil", nil, "vigil", "hook", "claude-code")
	h.open(hookShell, s(1.55), "/w/hidden", wr) // but a shell's own writes are judged
	h.open(hook, s(1.6), "/w/spool", wr)
	h.connect(hook, s(1.7), "127.0.0.1", 9)
	h.open(h.agent, s(1.8), "/w/state/transcript.jsonl", wr)
	h.send(s(2), intent.Intent{Type: intent.ToolCallStart, ToolCallID: "L1",
		Actions: []intent.Action{{Kind: intent.FileDelete, Path: "/w/x"}}})
	got := verdicts(h.settle(s(5), false))
	if want := []string{"undeclared  /w/hidden"}; !slices.Equal(got, want) {
		t.Errorf("verdicts before MaxToolCall\n%q\nwant\n%q", got, want)
	}
	got = verdicts(h.settle(s(2)+sec(13), false)) // ended at 10s, judged after the grace
	if want := []string{"unwitnessed L1 /w/x"}; !slices.Equal(got, want) {
		t.Errorf("verdicts\n%q\nwant\n%q", got, want)
	}
	// A session that ended: later actions are nobody's.
	h.send(s(20), intent.Intent{Type: intent.SessionEnd})
	h.open(h.agent, s(19), "/w/last", wr)
	h.open(h.agent, s(30), "/w/after", wr)
	got = verdicts(h.settle(s(40), true))
	if want := []string{"undeclared  /w/last"}; !slices.Equal(got, want) {
		t.Errorf("verdicts\n%q\nwant\n%q", got, want)
	}
}

// An agent that exits without ending its session or its tool call ends
// both: the session is forgotten once its verdicts are given.
func TestJoinAgentExit(t *testing.T) {
	h := newJoinHarness(t, nil)
	h.send(s(1), intent.Intent{Type: intent.SessionStart})
	h.send(s(2), intent.Intent{Type: intent.ToolCallStart, ToolCallID: "X1",
		Actions: []intent.Action{{Kind: intent.FileWrite, Path: "/w/never"}}})
	h.kernel(exitEv(h.agent, s(3), 9))
	got := verdicts(h.settle(s(10), false))
	if want := []string{"unwitnessed X1 /w/never"}; !slices.Equal(got, want) {
		t.Errorf("verdicts\n%q\nwant\n%q", got, want)
	}
	if len(h.j.sessions) != 0 || len(h.j.calls) != 0 {
		t.Errorf("%d sessions and %d calls left after the agent exited", len(h.j.sessions), len(h.j.calls))
	}
}

// A busy process's undeclared actions of one kind make one alert, with
// the count and the first of them, not one alert each.
func TestJoinUndeclaredGrouped(t *testing.T) {
	h := newJoinHarness(t, nil)
	h.send(s(1), intent.Intent{Type: intent.SessionStart})
	for i := range 100 {
		h.open(h.agent, s(2)+uint64(i)*1000, fmt.Sprintf("/w/gen/%03d", i), wr)
	}
	h.connect(h.agent, s(2.5), "192.0.2.9", 443)
	h.send(s(3), intent.Intent{Type: intent.ToolCallStart, ToolCallID: "G1", ToolName: "Bash",
		Actions: []intent.Action{{Kind: intent.FileWrite, Path: "/w/declared"}}})
	h.open(h.agent, s(3.1), "/w/declared", wr)
	h.open(h.agent, s(3.2), "/w/extra1", wr)
	h.open(h.agent, s(3.3), "/w/extra2", wr)
	h.send(s(3.5), intent.Intent{Type: intent.ToolCallEnd, ToolCallID: "G1"})
	vs := h.settle(s(20), false)
	counts := map[string]int{}
	for _, r := range vs {
		v := r.Verdict
		counts[fmt.Sprintf("%s %s %s", v.Name, v.ToolCallID, v.Observed[0].Kind)] = v.Count
		if len(v.Observed) > maxObserved {
			t.Errorf("%d observed actions listed", len(v.Observed))
		}
	}
	want := map[string]int{"undeclared  file_write": 100, "undeclared  network": 1,
		"corroborated G1 file_write": 1, "undeclared G1 file_write": 2}
	if fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Errorf("verdict counts %v, want %v", counts, want)
	}
}

// Spooled and unbound intents are recorded, not correlated; refused ones
// are recorded with why.
func TestJoinIntentRecords(t *testing.T) {
	h := newJoinHarness(t, nil)
	r := h.send(s(1), intent.Intent{Type: intent.ToolCallStart, ToolCallID: "Q", Spooled: true,
		Actions: []intent.Action{{Kind: intent.FileWrite, Path: "/w/q"}}})
	if r.Intent == nil || r.Event.Kind != sensor.KindIntent || r.Process == nil || r.Process.PID != 100 {
		t.Fatalf("intent record %+v", r)
	}
	if got := verdicts(h.settle(s(100), true)); len(got) != 0 {
		t.Errorf("a spooled intent opened a window: %q", got)
	}
	bad := h.j.Intent(&intent.Received{Err: intent.ErrNotYours, Sender: intent.Peer{PID: 7}})
	if !bad.Intent.Refused || bad.Join != nil {
		t.Errorf("refused intent record %+v", bad.Intent)
	}
}

func TestCommandMatches(t *testing.T) {
	for _, tc := range []struct {
		declared, observed string
		want               bool
	}{
		{"ls receipts/ | wc -l", "/bin/bash -c ls receipts/ | wc -l", true},
		{"echo 'hi'", `bash -c -l source x && eval 'echo '\''hi'\''' < /dev/null`, true},
		{"rm -rf /tmp/x", "rm -rf /tmp/y", false},
		{"  ", "anything", false},
	} {
		if got := commandMatches(tc.declared, tc.observed); got != tc.want {
			t.Errorf("commandMatches(%q, %q) = %v", tc.declared, tc.observed, got)
		}
	}
}
