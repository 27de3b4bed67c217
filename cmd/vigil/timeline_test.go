package main

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/correlate"
	"github.com/vigilsec/vigil/intent"
	"github.com/vigilsec/vigil/output"
	"github.com/vigilsec/vigil/output/store"
	"github.com/vigilsec/vigil/sensor"
)

// tlBase is when the fixture's session starts.
var tlBase = time.Date(2026, 5, 6, 6, 1, 0, 0, time.UTC)

const (
	tlSession = "s-timeline-1"
	tlCorr    = "corr-7"
	tlTrace   = "4bf92f3577b34da6a3ce929d0e0e4736"
	tlSHA     = "6f0c1bd5e5b4f4a1c4ad0f3de2d2e7b2b2a8f1f0a7c6e3d9b1a2c3d4e5f60718"
)

// tlFixture is a store and a plain file holding the same records, as
// the encoder wrote them.
type tlFixture struct {
	dir, file string
	lines     []string          // every record line, in write order
	idx       map[string]int    // line index by record name
	at        map[string]string // local HH:MM:SS.mmm by record name
}

// newTimelineFixture writes one agent session — prompt, model call, a
// tool call with its kernel actions, a second tool call, verdicts,
// decisions — plus a second session and a record outside any session,
// through the real encoder into a two-segment store and a plain file.
func newTimelineFixture(t *testing.T) *tlFixture {
	t.Helper()
	const boot = "5f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
	enc := output.NewEncoder(output.Identity{HostName: "build-host", HostID: "0123456789abcdef0123456789abcdef",
		BootID: boot, AgentID: "9b2f4c1e-7a3d-4e5f-8a6b-1c2d3e4f5a6b", AgentVersion: "0.1.0-test",
		EphemeralID: "c4d5e6f7-0819-4a2b-9c3d-4e5f60718293"}, func() time.Time { return tlBase.Add(time.Hour) })
	ms := func(n int) time.Time { return tlBase.Add(time.Duration(n) * time.Millisecond) }

	tree := sensor.Tree{RootStart: 1_000_000_000, RootPID: 4000, Agent: 1}
	rootID := correlate.EntityID(boot, 4000, sensor.NSToTicks(1_000_000_000))
	agentProc := &correlate.Process{EntityID: rootID, PID: 4000, PPID: 1, StartTicks: sensor.NSToTicks(1_000_000_000),
		Start: tlBase.Add(-time.Minute), Name: "agent", Executable: "/usr/bin/agent", Args: []string{"agent"}, Argc: 1,
		Cwd: "/home/dev", UID: 1000, GID: 1000, EUID: 1000, EGID: 1000, Tree: tree, Agent: "test-agent", RootID: rootID}
	shID := correlate.EntityID(boot, 4242, sensor.NSToTicks(2_000_000_000))
	sh := &correlate.Process{EntityID: shID, PID: 4242, PPID: 4000, StartTicks: sensor.NSToTicks(2_000_000_000),
		Start: ms(290), Name: "sh", Executable: "/usr/bin/dash", Args: []string{"sh", "-c", "ls /tmp"}, Argc: 3,
		Cwd: "/home/dev", UID: 1000, GID: 1000, EUID: 1000, EGID: 1000, Tree: tree, Agent: "test-agent", RootID: rootID,
		Parent: agentProc, CorrelationID: tlCorr, TraceID: tlTrace}
	shTask := sensor.Task{PID: 4242, TID: 4242, PPID: 4000, UID: 1000, GID: 1000, EUID: 1000, EGID: 1000,
		StartTime: 2_000_000_000, Comm: "sh"}
	agentTask := sensor.Task{PID: 4000, TID: 4000, PPID: 1, UID: 1000, GID: 1000, EUID: 1000, EGID: 1000,
		StartTime: 1_000_000_000, Comm: "agent"}

	peer := intent.Peer{PID: 4000, UID: 1000, GID: 1000}
	agent := intent.Agent{Name: "test-agent", ID: "ta-1"}
	in := func(typ intent.Type, at time.Time, f func(*intent.Intent)) *correlate.Record {
		i := intent.Intent{V: 1, Type: typ, Agent: agent, SessionID: tlSession}
		if f != nil {
			f(&i)
		}
		ir := &correlate.IntentRecord{Received: intent.Received{Intent: i, Format: intent.JSON, Sender: peer, AgentPID: 4000, At: at},
			Process: agentProc}
		return &correlate.Record{Event: &sensor.Event{Kind: sensor.KindIntent}, Time: at, Intent: ir, Process: agentProc,
			Join: &correlate.Join{SessionID: i.SessionID, AgentName: agent.Name, AgentID: agent.ID, ToolCallID: i.ToolCallID,
				ToolName: i.ToolName, CorrelationID: i.CorrelationID, TraceID: i.TraceID, By: "intent"}}
	}
	t1 := &correlate.Join{SessionID: tlSession, AgentName: agent.Name, AgentID: agent.ID, ToolCallID: "T1", ToolName: "Bash",
		CorrelationID: tlCorr, TraceID: tlTrace, By: "correlation_id"}
	bySession := &correlate.Join{SessionID: tlSession, AgentName: agent.Name, AgentID: agent.ID, By: "session"}
	file := func(at time.Time, p *correlate.Process, task sensor.Task, path string, j *correlate.Join) *correlate.Record {
		ev := &sensor.Event{Kind: sensor.KindFile, KTime: 3_000_000_000, Tree: tree, Task: task, File: sensor.File{
			Op: sensor.FileOpen, Flags: sensor.FilePathExact | sensor.FileRegular, Ret: 3, FD: 3,
			OpenFlags: 0o1101, Mode: 0o644, FMode: 0x14801e, Inode: 77, Device: 0x10303, Path: path}}
		return &correlate.Record{Event: ev, Time: at, Process: p, Parent: p.Parent,
			File: &correlate.FileRecord{Path: path, PathSource: "kernel"}, Join: j}
	}
	verdict := func(at time.Time, v correlate.Verdict, p *correlate.Process) *correlate.Record {
		v.SessionID, v.AgentName, v.AgentID = tlSession, agent.Name, agent.ID
		cp := *p
		return &correlate.Record{Event: &sensor.Event{Kind: sensor.KindVerdict}, Time: at, Verdict: &v, Process: &cp,
			Join: &correlate.Join{SessionID: v.SessionID, AgentName: v.AgentName, AgentID: v.AgentID,
				ToolCallID: v.ToolCallID, ToolName: v.ToolName, By: v.By}}
	}
	declExec := correlate.Action{Kind: intent.Exec, Command: "ls /tmp"}
	declWrite := correlate.Action{Kind: intent.FileWrite, Path: "/tmp/x/b.txt"}
	in1, out1, cost := int64(1200), int64(310), 0.0125
	yes := true

	type named struct {
		name string
		rec  *correlate.Record
	}
	recs := []named{
		{"session_start", in(intent.SessionStart, ms(0), nil)},
		{"prompt", in(intent.Prompt, ms(100), func(i *intent.Intent) {
			i.Prompt = &intent.PromptRef{SHA256: tlSHA, TemplateID: "tpl-receipts"}
		})},
		{"model_call", in(intent.ModelCall, ms(200), func(i *intent.Intent) {
			i.Model = &intent.Model{Provider: "anthropic", Name: "claude-sonnet", InputTokens: &in1, OutputTokens: &out1, CostUSD: &cost}
		})},
		{"T1 start", in(intent.ToolCallStart, ms(250), func(i *intent.Intent) {
			i.ToolCallID, i.ToolName, i.CorrelationID, i.TraceID = "T1", "Bash", tlCorr, tlTrace
			i.Consent = &intent.Consent{UserApproved: &yes}
			i.Actions = []intent.Action{{Kind: intent.Exec, Command: "ls /tmp"}, {Kind: intent.FileWrite, Path: "/tmp/x/out.txt"}}
		})},
		{"T1 exec", &correlate.Record{Event: &sensor.Event{Kind: sensor.KindExec, KTime: 2_000_000_100, Tree: tree, Task: shTask,
			Executable: sh.Executable, Args: sh.Args, Argc: 3, Cwd: sh.Cwd, CorrelationID: tlCorr},
			Time: ms(300), Process: sh, Parent: agentProc, Previous: &correlate.Previous{Executable: "/usr/bin/agent", Args: []string{"agent"}, Argc: 1},
			Join: t1}},
		{"T1 file", file(ms(310), sh, shTask, "/tmp/x/out.txt", t1)},
		{"T1 connect", &correlate.Record{Event: &sensor.Event{Kind: sensor.KindNet, KTime: 3_000_000_100, Tree: tree, Task: shTask,
			Net: sensor.Net{Op: sensor.NetConnect, Dst: sensor.Endpoint{Family: sensor.FamilyInet, IP: netip.MustParseAddr("192.0.2.10"), Port: 443},
				Src: sensor.Endpoint{Family: sensor.FamilyInet, IP: netip.MustParseAddr("10.0.0.5"), Port: 51514}, Cookie: 9, FD: 5,
				SockType: 1, Protocol: 6}},
			Time: ms(320), Process: sh, Parent: agentProc, Net: &correlate.NetRecord{Domain: "api.example.test"}, Join: t1}},
		{"T1 end", in(intent.ToolCallEnd, ms(400), func(i *intent.Intent) {
			i.ToolCallID, i.ToolName, i.Outcome = "T1", "Bash", "success"
		})},
		{"stray write", file(ms(500), agentProc, agentTask, "/tmp/x/stray.txt", bySession)},
		{"T2 start", in(intent.ToolCallStart, ms(600), func(i *intent.Intent) {
			i.ToolCallID, i.ToolName = "T2", "Write"
			i.Actions = []intent.Action{{Kind: intent.FileWrite, Path: "/tmp/x/b.txt"}}
		})},
		{"T2 end", in(intent.ToolCallEnd, ms(700), func(i *intent.Intent) {
			i.ToolCallID, i.ToolName, i.Outcome, i.Error = "T2", "Write", "failure", "disk full"
		})},
		{"T1 verdict", verdict(ms(2400), correlate.Verdict{Name: correlate.Corroborated, Reason: "declared and observed",
			ToolCallID: "T1", ToolName: "Bash", IntentSequence: 4, Declared: &declExec, By: "correlation_id",
			Observed: []correlate.Observed{{Action: correlate.Action{Kind: intent.Exec, Command: "sh -c ls /tmp"},
				Time: ms(300), Sequence: 5, Process: *sh, By: "correlation_id"}},
			Effects: &correlate.Effects{Processes: 1, Files: []string{"/tmp/x/out.txt"}, Sequences: []uint64{6}}}, sh)},
		{"stray verdict", verdict(ms(2500), correlate.Verdict{Name: correlate.Undeclared,
			Reason: "write to /tmp/x/stray.txt: no declaration covers it", By: "session",
			Observed: []correlate.Observed{{Action: correlate.Action{Kind: intent.FileWrite, Path: "/tmp/x/stray.txt"},
				Time: ms(500), Sequence: 9, Process: *agentProc, By: "session"}}}, agentProc)},
		{"T2 verdict", verdict(ms(2700), correlate.Verdict{Name: correlate.Unwitnessed, ToolCallID: "T2", ToolName: "Write",
			IntentSequence: 10, Declared: &declWrite, By: "tool_call_window",
			Reason: "declared write to /tmp/x/b.txt, not observed before the tool call ended (+2s)"}, agentProc)},
		{"policy", in(intent.PolicyDecision, ms(2800), func(i *intent.Intent) {
			i.Decision = &intent.Decision{Outcome: "deny", Policy: "no-network", Rule: "egress", Reason: "uploads need approval"}
		})},
		{"refused", &correlate.Record{Event: &sensor.Event{Kind: sensor.KindIntent}, Time: ms(2900),
			Intent: &correlate.IntentRecord{Received: intent.Received{Intent: intent.Intent{V: 1, Type: intent.ToolCallStart,
				Agent: agent, SessionID: tlSession, ToolCallID: "T3", ToolName: "Bash", CorrelationID: tlCorr, TraceID: tlTrace},
				Format: intent.JSON, Sender: peer, At: ms(2900),
				Err: fmt.Errorf("%w: pid 1 is neither the sender (pid 4000) nor its ancestor or descendant", intent.ErrNotYours)},
				Refused: true}}},
		{"turn_end", in(intent.TurnEnd, ms(3000), nil)},
		{"session_end", in(intent.SessionEnd, ms(3100), nil)},
		// Another session, and a record outside any.
		{"other session", in(intent.ToolCallStart, ms(3200), func(i *intent.Intent) {
			i.SessionID, i.ToolCallID, i.ToolName = "s-other", "T1", "Read"
		})},
		{"outside", file(ms(3300), agentProc, agentTask, "/tmp/x/outside.txt", nil)},
	}

	f := &tlFixture{idx: map[string]int{}, at: map[string]string{}}
	dir := t.TempDir()
	f.dir = filepath.Join(dir, "data")
	f.file = filepath.Join(dir, "records.jsonl")
	now := tlBase
	st, err := store.Open(store.Config{Dir: f.dir, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	var all []byte
	for i, r := range recs {
		if i == len(recs)/2 {
			// The records span two segments.
			now = now.Add(time.Minute)
			if err := st.Rotate(); err != nil {
				t.Fatal(err)
			}
		}
		line := enc.Append(nil, r.rec)
		if _, err := st.Write(line); err != nil {
			t.Fatal(err)
		}
		f.idx[r.name] = len(f.lines)
		f.at[r.name] = r.rec.Time.Local().Format("15:04:05.000")
		f.lines = append(f.lines, string(line))
		all = append(all, line...)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if segs, err := store.List(f.dir); err != nil || len(segs) != 2 {
		t.Fatalf("store segments %q, %v; want 2", segs, err)
	}
	if err := os.WriteFile(f.file, all, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// timeline runs vigil timeline in process.
func runTimeline(t *testing.T, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(append([]string{"timeline"}, args...), &out, &errb)
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// lines picks the fixture's lines by name, concatenated.
func (f *tlFixture) pick(names ...string) string {
	var b strings.Builder
	for _, n := range names {
		i, ok := f.idx[n]
		if !ok {
			panic("no fixture record " + n)
		}
		b.WriteString(f.lines[i])
	}
	return b.String()
}

// The text view: everything of the session in order, each tool call's
// kernel actions, end and verdicts under it, alerts marked.
func TestTimelineText(t *testing.T) {
	f := newTimelineFixture(t)
	res := runTimeline(t, "--session", tlSession, "--data", f.dir)
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	if res.stderr != "" {
		t.Errorf("stderr: %s", res.stderr)
	}
	day := tlBase.Local().Format("2006-01-02")
	type line struct{ name, text string }
	want := []line{
		{"", "-- " + day + " --"},
		{"session_start", "  %s  session  start " + tlSession + " agent test-agent"},
		{"prompt", "  %s  prompt   sha256 " + tlSHA + " template tpl-receipts"},
		{"model_call", "  %s  model    claude-sonnet tokens in 1200 out 310 cost $0.0125"},
		{"T1 start", "  %s  tool     T1 Bash declares: exec ls /tmp; write /tmp/x/out.txt"},
		{"T1 exec", "  %s    exec     sh -c ls /tmp [pid 4242 sh]"},
		{"T1 file", "  %s    file     creation /tmp/x/out.txt [pid 4242 sh]"},
		{"T1 connect", "  %s    net      connect api.example.test 192.0.2.10:443 [pid 4242 sh]"},
		{"T1 end", "  %s    tool-end T1 Bash success"},
		{"T1 verdict", "  %s    verdict  corroborated: declared and observed (effects: 1 process; files /tmp/x/out.txt)"},
		{"stray write", "  %s  file     creation /tmp/x/stray.txt [pid 4000 agent]"},
		{"T2 start", "  %s  tool     T2 Write declares: write /tmp/x/b.txt"},
		{"T2 end", "  %s    tool-end T2 Write failure disk full"},
		{"T2 verdict", "  %s    verdict  unwitnessed: declared write to /tmp/x/b.txt, not observed before the tool call ended (+2s)"},
		{"stray verdict", "! %s  verdict  undeclared: write to /tmp/x/stray.txt: no declaration covers it"},
		{"policy", "  %s  policy   deny policy no-network rule egress - uploads need approval"},
		{"turn_end", "  %s  turn     end"},
		{"session_end", "  %s  session  end " + tlSession + " agent test-agent"},
	}
	var wantText strings.Builder
	for _, l := range want {
		if l.name == "" {
			wantText.WriteString(l.text + "\n")
			continue
		}
		fmt.Fprintf(&wantText, l.text+"\n", f.at[l.name])
	}
	if res.stdout != wantText.String() {
		t.Errorf("timeline:\n%s\nwant:\n%s", res.stdout, wantText.String())
	}

	// The same from the plain file, and from the configuration's store.
	if r := runTimeline(t, "--session", tlSession, f.file); r.code != 0 || r.stdout != res.stdout {
		t.Errorf("from the file: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	cfg := filepath.Join(t.TempDir(), "vigil.toml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, "[output]\ndir = %q\n", f.dir), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := runTimeline(t, "--session", tlSession, "--config", cfg); r.code != 0 || r.stdout != res.stdout {
		t.Errorf("from the configuration: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

// Selections, checked on --json: exactly the selected lines, byte for
// byte, in write order.
func TestTimelineSelectJSON(t *testing.T) {
	f := newTimelineFixture(t)
	session := []string{"session_start", "prompt", "model_call", "T1 start", "T1 exec", "T1 file", "T1 connect", "T1 end",
		"stray write", "T2 start", "T2 end", "T1 verdict", "stray verdict", "T2 verdict", "policy", "turn_end", "session_end"}
	at := func(ms int) string { return tlBase.Add(time.Duration(ms) * time.Millisecond).Format(time.RFC3339Nano) }
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"session", []string{"--session", tlSession}, session},
		{"other session", []string{"--session", "s-other"}, []string{"other session"}},
		// The tool call that carries the correlation id, its kernel
		// actions and, though they do not carry it, its end and verdict.
		// A refused intent's record keeps its trace id (trace.id) but
		// not its correlation id.
		{"correlation id", []string{"--correlation-id", tlCorr}, []string{"T1 start", "T1 exec", "T1 file", "T1 connect", "T1 end", "T1 verdict"}},
		{"trace id", []string{"--correlation-id", tlTrace}, []string{"T1 start", "T1 exec", "T1 file", "T1 connect", "T1 end", "T1 verdict", "refused"}},
		{"since", []string{"--since", at(2500)}, []string{"stray verdict", "T2 verdict", "policy", "refused", "turn_end", "session_end", "other session"}},
		{"since until", []string{"--since", at(310), "--until", at(500)}, []string{"T1 file", "T1 connect", "T1 end", "stray write"}},
		{"session and until", []string{"--session", tlSession, "--until", at(200)}, []string{"session_start", "prompt", "model_call"}},
		{"correlation id and since", []string{"--correlation-id", tlCorr, "--since", at(2000)}, []string{"T1 verdict"}},
		// Between session_end and the other session, as a duration
		// before now (made just before each run).
		{"since a duration ago", []string{"--since", "AGO"}, []string{"other session"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, src := range [][]string{{"--data", f.dir}, {f.file}} {
				args := slices.Clone(tc.args)
				if i := slices.Index(args, "AGO"); i >= 0 {
					args[i] = time.Since(tlBase.Add(3150 * time.Millisecond)).Truncate(time.Millisecond).String()
				}
				res := runTimeline(t, append(append(args, "--json"), src...)...)
				if res.code != 0 {
					t.Fatalf("%q: exit %d: %s", src, res.code, res.stderr)
				}
				if want := f.pick(tc.want...); res.stdout != want {
					t.Errorf("%q: selected\n%s\nwant\n%s", src, names(f, res.stdout), names(f, want))
				}
			}
		})
	}
}

// names turns selected lines back into fixture record names.
func names(f *tlFixture, out string) string {
	var got []string
	for l := range strings.SplitAfterSeq(out, "\n") {
		if l == "" {
			continue
		}
		i := slices.Index(f.lines, l)
		name := "?"
		for n, j := range f.idx {
			if j == i {
				name = n
			}
		}
		got = append(got, name)
	}
	return strings.Join(got, ", ")
}

// A damaged line is skipped and counted; an over-long one too; the rest
// still reads.
func TestTimelineDamaged(t *testing.T) {
	f := newTimelineFixture(t)
	var b strings.Builder
	for i, l := range f.lines {
		b.WriteString(l)
		switch i {
		case 1:
			b.WriteString(`{"@timestamp":"2026-05-06T06:01:00Z","Vigil":{"session":{"id":"` + tlSession + "\n") // cut short
		case 2:
			b.WriteString("\x00\x00\x00 garbage\n")
		case 3:
			b.WriteString("\n") // empty: not damage
		}
	}
	b.WriteString(`{"Vigil":{"session":{"id":"` + tlSession + `"}},"x":"` + strings.Repeat("y", maxRecordLine) + `"}` + "\n")
	b.WriteString(f.lines[len(f.lines)-1][:40]) // a tail cut without its newline
	damaged := filepath.Join(t.TempDir(), "damaged.jsonl")
	if err := os.WriteFile(damaged, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	clean := runTimeline(t, "--session", tlSession, f.file)
	for _, args := range [][]string{{"--session", tlSession}, {"--session", tlSession, "--json"}} {
		res := runTimeline(t, append(args, damaged)...)
		if res.code != 0 {
			t.Fatalf("%q: exit %d: %s", args, res.code, res.stderr)
		}
		if want := fmt.Sprintf("vigil timeline: skipped 4 damaged lines (first: %s:3)\n", damaged); res.stderr != want {
			t.Errorf("%q: stderr %q, want %q", args, res.stderr, want)
		}
		if args[len(args)-1] == "--json" {
			want := runTimeline(t, "--session", tlSession, "--json", f.file).stdout
			if res.stdout != want {
				t.Errorf("--json with damaged lines:\n%s\nwant\n%s", res.stdout, want)
			}
		} else if res.stdout != clean.stdout {
			t.Errorf("text with damaged lines:\n%s\nwant\n%s", res.stdout, clean.stdout)
		}
	}
}

func TestTimelineExitStatus(t *testing.T) {
	f := newTimelineFixture(t)
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string // a regular expression
	}{
		{"no match", []string{"--session", "nobody", f.file}, 1, `^vigil timeline: no records match \(read 1 files\)\n$`},
		{"no match in time", []string{"--since", "2h", "--data", f.dir}, 1, `no records match \(read 2 files\)`},
		{"no selection", []string{f.file}, 2, `one of --session, --correlation-id or --since is required`},
		{"until alone", []string{"--until", "1h", f.file}, 2, `one of --session`},
		{"bad time", []string{"--since", "yesterday", f.file}, 2, `--since: "yesterday": want an RFC 3339 time`},
		{"negative duration", []string{"--since", "-2h", f.file}, 2, `--since`},
		{"two sources", []string{"--session", "x", "--data", f.dir, f.file}, 2, `exclude each other`},
		{"unknown flag", []string{"--sesion", "x", f.file}, 2, `flag provided but not defined`},
		{"missing file", []string{"--session", "x", filepath.Join(f.dir, "nope.jsonl")}, 1, `no such file`},
		{"help", []string{"--help"}, 0, `Usage: vigil timeline`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := runTimeline(t, tc.args...)
			if res.code != tc.code || !regexp.MustCompile(tc.stderr).MatchString(res.stderr) {
				t.Errorf("exit %d, stderr %q; want %d and %s", res.code, res.stderr, tc.code, tc.stderr)
			}
			if tc.code != 0 && res.stdout != "" {
				t.Errorf("stdout: %q", res.stdout)
			}
		})
	}
}

// vigil timeline on what vigil trace recorded of the scripted agent:
// its tool calls in order, each with its verdict, and the commands T4
// ran under T4.
func TestTimelineTrace(t *testing.T) {
	requireBPF(t)
	dir, out, _ := traceScriptedAgent(t)
	res := runVigil(t, "timeline", "--session", "e2e-session-1", out)
	if res.code != 0 {
		t.Fatalf("timeline: exit %d: %s", res.code, res.stderr)
	}
	t.Logf("timeline:\n%s", res.stdout)
	path := func(name string) string { return filepath.Join(dir, name) }
	lines := strings.Split(strings.TrimSuffix(res.stdout, "\n"), "\n")
	// Each line's kind and text, and whether it is indented under a
	// tool call.
	lineRE := regexp.MustCompile(`^([ !]) \d\d:\d\d:\d\d\.\d{3}  (  )?(\S+)\s+(.*)$`)
	type entry struct {
		alert, under bool
		kind, text   string
	}
	var entries []entry
	for _, l := range lines {
		if strings.HasPrefix(l, "-- ") {
			continue
		}
		m := lineRE.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("line %q has not the timeline's form", l)
		}
		entries = append(entries, entry{alert: m[1] == "!", under: m[2] != "", kind: m[3], text: m[4]})
	}
	// The tool calls, in order, and what is under each.
	var calls []string
	under := map[string][]entry{}
	cur := ""
	for _, e := range entries {
		if !e.under {
			cur = ""
			if e.kind == "tool" {
				cur = strings.Fields(e.text)[0]
				calls = append(calls, cur)
			}
			continue
		}
		if cur == "" {
			t.Errorf("indented line outside a tool call: %+v", e)
			continue
		}
		under[cur] = append(under[cur], e)
	}
	if want := []string{"T1", "T2", "T3", "T4"}; !slices.Equal(calls, want) {
		t.Fatalf("tool calls %q, want %q", calls, want)
	}
	verdictOf := func(call string) (string, bool) {
		for _, e := range under[call] {
			if e.kind == "verdict" {
				return strings.TrimSuffix(strings.Fields(e.text)[0], ":"), e.alert
			}
		}
		return "", false
	}
	for call, want := range map[string]string{"T1": "corroborated", "T2": "unwitnessed", "T3": "mismatched", "T4": "corroborated"} {
		v, alert := verdictOf(call)
		if v != want || alert != (want == "mismatched") {
			t.Errorf("%s: verdict %q (alert %v), want %q", call, v, alert, want)
		}
	}
	// T4's commands ran under T4: its sh, the nested sh, and the write
	// of f.txt; no kernel action of T4 is outside it.
	var execs, files []string
	for _, e := range under["T4"] {
		switch e.kind {
		case "exec":
			execs = append(execs, e.text)
		case "file":
			files = append(files, e.text)
		}
	}
	script := fmt.Sprintf("sh -c 'echo x > %s'", path("f.txt"))
	if !slices.ContainsFunc(execs, func(s string) bool { return strings.Contains(s, "/bin/sh -c "+script) }) {
		t.Errorf("T4's command is not under T4: execs %q", execs)
	}
	if !slices.ContainsFunc(files, func(s string) bool { return strings.HasPrefix(s, "creation "+path("f.txt")+" ") }) {
		t.Errorf("the creation of f.txt is not under T4: files %q", files)
	}
	// What no tool call declared is an alert outside the tool calls.
	var undeclared int
	for _, e := range entries {
		if e.kind == "verdict" && strings.HasPrefix(e.text, "undeclared:") {
			undeclared++
			if !e.alert || e.under {
				t.Errorf("undeclared verdict: %+v", e)
			}
		}
	}
	if undeclared != 2 {
		t.Errorf("%d undeclared verdicts, want 2 (c.txt and the connection)", undeclared)
	}
}
