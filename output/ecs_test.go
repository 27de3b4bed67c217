package output

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigilsec/vigil/correlate"
	"github.com/vigilsec/vigil/internal/ecstest"
	"github.com/vigilsec/vigil/sensor"
)

var update = flag.Bool("update", false, "rewrite testdata/records.golden")

const testBootID = "5f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"

var testIdentity = Identity{
	HostName:     "build-host",
	HostID:       "0123456789abcdef0123456789abcdef",
	BootID:       testBootID,
	AgentID:      "9b2f4c1e-7a3d-4e5f-8a6b-1c2d3e4f5a6b",
	AgentVersion: "0.1.0-test",
	EphemeralID:  "c4d5e6f7-0819-4a2b-9c3d-4e5f60718293",
}

// testNow is the fixed clock that stamps event.created.
func testNow() time.Time { return time.Date(2026, 5, 6, 7, 8, 9, 123456789, time.UTC) }

// t0 is the wall time of boot in the test records.
var t0 = time.Date(2026, 5, 6, 6, 0, 0, 0, time.UTC)

func at(ns uint64) time.Time { return t0.Add(time.Duration(ns)) }

func entity(pid uint32, startNS uint64) string {
	return correlate.EntityID(testBootID, pid, sensor.NSToTicks(startNS))
}

// want is what a record's encoded line must say.
type want struct {
	action, kind, dataset string
	category, typ         string // "" for none
	entityID              string // process.entity_id, "" for no process
	parentEntityID        string // process.parent.entity_id, "" for none
	parentPID             uint32 // process.parent.pid, 0 for none
	exitCode              *int   // process.exit_code, nil for none
	commandLine           string // process.command_line, "" for none
	args                  []string
	lossCause, lossClass  string // Vigil.loss.*
	lossCount             uint64
	signal                string    // Vigil.process.exit_signal
	rootID                string    // Vigil.tree.root.entity_id
	agent                 string    // gen_ai.agent.name
	file                  *wantFile // file records: file.*, error.*, Vigil.file.*; nil for others
	net                   *wantNet  // network records: source.*, destination.*, network.*, ...; nil for others
}

type testRecord struct {
	name string
	rec  *correlate.Record
	want want
}

func intp(i int) *int { return &i }

// testRecords is a fixed history: a tracked agent root forks a child,
// the child execs a shell, it dies of SIGSEGV, plus an untracked process
// with no known parent and some losses.
func testRecords() []testRecord {
	const (
		rootStart  = 50_000_000_000
		childStart = 60_000_000_000
		loneStart  = 70_000_000_000
	)
	tree := sensor.Tree{RootStart: rootStart, RootPID: 4000, Agent: 1}
	rootID := entity(4000, rootStart)
	root := &correlate.Process{
		EntityID: rootID, PID: 4000, PPID: 1, StartTicks: sensor.NSToTicks(rootStart), Start: at(rootStart),
		Name: "claude", Executable: "/usr/bin/node", Args: []string{"node", "/opt/claude/cli.js"}, Argc: 2,
		Cwd: "/home/dev/project", UID: 1000, GID: 1000, EUID: 1000, EGID: 1000, CgroupID: 7777,
		Source: correlate.SourceProc, Tree: tree, Agent: "claude-code", RootID: rootID,
	}
	rootTask := sensor.Task{PID: 4000, TID: 4001, PPID: 1, UID: 1000, GID: 1000, EUID: 1000, EGID: 1000,
		CgroupID: 7777, StartTime: rootStart, Comm: "claude"}

	childID := entity(4242, childStart)
	forked := &correlate.Process{
		EntityID: childID, PID: 4242, PPID: 4000, StartTicks: sensor.NSToTicks(childStart), Start: at(childStart),
		Name: "claude", Executable: root.Executable, Args: root.Args, Argc: root.Argc, Cwd: root.Cwd,
		UID: 1000, GID: 1000, EUID: 1000, EGID: 1000, CgroupID: 7777,
		Source: correlate.SourceKernel, Tree: tree, Agent: "claude-code", RootID: rootID, Parent: root,
	}
	forkEv := &sensor.Event{Kind: sensor.KindFork, KTime: childStart, Tree: tree, Task: rootTask,
		ChildPID: 4242, ChildStart: childStart}

	shArgs := []string{"sh", "-c", `echo "quoted" \back\slash 'single' é 🙂` + "\ttab"}
	execed := *forked
	execed.Name, execed.Executable, execed.Args, execed.Argc, execed.ArgsCut = "sh", "/usr/bin/dash", shArgs, 4, true
	execed.Cwd = "/home/dev/project/sub dir"
	execed.EUID = 0
	execTask := sensor.Task{PID: 4242, TID: 4242, PPID: 4000, UID: 1000, GID: 1000, EUID: 0, EGID: 1000,
		CgroupID: 7777, StartTime: childStart, Comm: "sh"}
	execEv := &sensor.Event{Kind: sensor.KindExec, KTime: childStart + 1_500_000,
		Flags: sensor.FlagArgsTruncated | sensor.FlagExeTruncated | sensor.FlagCwdTruncated,
		Tree:  tree, Task: execTask, Executable: execed.Executable, Args: shArgs, Argc: 4, Cwd: execed.Cwd,
		ExeInode: 1234, ExeDevice: 0x10303}
	prev := &correlate.Previous{Executable: root.Executable, Args: root.Args, Argc: root.Argc}

	exited := execed
	exited.Exited, exited.End, exited.ExitCode, exited.Signal, exited.CoreDump = true, at(childStart+9_000_000_000), 139, syscall.SIGSEGV, true
	exitEv := &sensor.Event{Kind: sensor.KindExit, KTime: childStart + 9_000_000_000, Tree: tree, Task: execTask,
		Status: uint32(syscall.SIGSEGV) | 0x80}

	// A process outside any tree, first seen at its exec; its parent is
	// known only by PID. It becomes a tree root at this exec.
	lone := &correlate.Process{
		EntityID: entity(5000, loneStart), PID: 5000, PPID: 300, StartTicks: sensor.NSToTicks(loneStart), Start: at(loneStart),
		Name: "python3", Executable: "/usr/bin/python3.12", Args: []string{"python3", "-m", "agent"}, Argc: 3, Cwd: "/",
		UID: 0, GID: 0, EUID: 0, EGID: 0, Source: correlate.SourceInferred,
		Tree: sensor.Tree{RootStart: loneStart, RootPID: 5000, Agent: 2}, Agent: "py-agent", RootID: entity(5000, loneStart),
	}
	loneTask := sensor.Task{PID: 5000, TID: 5003, PPID: 300, StartTime: loneStart, Comm: "python3"}
	loneExec := &sensor.Event{Kind: sensor.KindExec, KTime: loneStart + 10, Flags: sensor.FlagNewRoot, Tree: lone.Tree,
		Task: loneTask, Executable: lone.Executable, Args: lone.Args, Argc: 3, Cwd: "/"}
	loneExited := *lone
	loneExited.Exited, loneExited.End, loneExited.ExitCode = true, at(loneStart+20), 0
	loneExit := &sensor.Event{Kind: sensor.KindExit, KTime: loneStart + 20, Tree: lone.Tree, Task: loneTask}

	// An inferred process with nothing known: no args, no tree, no parent,
	// killed by a real-time signal.
	bare := &correlate.Process{EntityID: entity(6000, 0), PID: 6000, Source: correlate.SourceInferred,
		Exited: true, End: at(80_000_000_000), ExitCode: 128 + 40, Signal: syscall.Signal(40)}
	bareExit := &sensor.Event{Kind: sensor.KindExit, KTime: 80_000_000_000, Task: sensor.Task{PID: 6000, TID: 6000},
		Status: 40}
	bareExecP := *bare
	bareExecP.Exited, bareExecP.End, bareExecP.ExitCode, bareExecP.Signal = false, time.Time{}, 0, 0
	bareExec := &sensor.Event{Kind: sensor.KindExec, KTime: 79_000_000_000, Task: sensor.Task{PID: 6000, TID: 6000}}

	lossRing := &sensor.Event{Kind: sensor.KindLoss, Loss: sensor.Loss{Cause: sensor.CauseRingbufFull, Class: sensor.KindExec, Count: 17}}
	lossTrack := &sensor.Event{Kind: sensor.KindLoss, Loss: sensor.Loss{Cause: sensor.CauseTrackFull, Count: 1}}
	lossDecode := &sensor.Event{Kind: sensor.KindLoss, Loss: sensor.Loss{Cause: sensor.CauseDecode, Class: sensor.KindFork, Count: 18446744073709551615}}
	lossSink := &sensor.Event{Kind: sensor.KindLoss, Loss: sensor.Loss{Cause: sensor.CauseSinkBehind, Count: 1200, Sink: "siem"}}

	recs := []testRecord{
		{"fork", &correlate.Record{Event: forkEv, Time: at(childStart), Process: forked, Parent: root}, want{
			action: "fork", kind: "event", dataset: "vigil.process", category: "process", typ: "start",
			entityID: childID, parentEntityID: rootID, parentPID: 4000,
			commandLine: "node /opt/claude/cli.js", args: root.Args, rootID: rootID, agent: "claude-code",
		}},
		{"exec", &correlate.Record{Event: execEv, Time: at(execEv.KTime), Process: &execed, Parent: root, Previous: prev}, want{
			action: "exec", kind: "event", dataset: "vigil.process", category: "process", typ: "start",
			entityID: childID, parentEntityID: rootID, parentPID: 4000,
			commandLine: strings.Join(shArgs, " "), args: shArgs, rootID: rootID, agent: "claude-code",
		}},
		{"exit signal", &correlate.Record{Event: exitEv, Time: at(exitEv.KTime), Process: &exited, Parent: root}, want{
			action: "end", kind: "event", dataset: "vigil.process", category: "process", typ: "end",
			entityID: childID, parentEntityID: rootID, parentPID: 4000, exitCode: intp(139),
			commandLine: strings.Join(shArgs, " "), args: shArgs, signal: "SIGSEGV", rootID: rootID, agent: "claude-code",
		}},
		{"exec new root, parent unknown", &correlate.Record{Event: loneExec, Time: at(loneExec.KTime), Process: lone}, want{
			action: "exec", kind: "event", dataset: "vigil.process", category: "process", typ: "start",
			entityID: lone.EntityID, parentPID: 300,
			commandLine: "python3 -m agent", args: lone.Args, rootID: lone.RootID, agent: "py-agent",
		}},
		{"exit code zero", &correlate.Record{Event: loneExit, Time: at(loneExit.KTime), Process: &loneExited}, want{
			action: "end", kind: "event", dataset: "vigil.process", category: "process", typ: "end",
			entityID: lone.EntityID, parentPID: 300, exitCode: intp(0),
			commandLine: "python3 -m agent", args: lone.Args, rootID: lone.RootID, agent: "py-agent",
		}},
		{"exec bare", &correlate.Record{Event: bareExec, Time: at(bareExec.KTime), Process: &bareExecP}, want{
			action: "exec", kind: "event", dataset: "vigil.process", category: "process", typ: "start",
			entityID: bare.EntityID,
		}},
		{"exit bare, unnamed signal", &correlate.Record{Event: bareExit, Time: at(bareExit.KTime), Process: bare}, want{
			action: "end", kind: "event", dataset: "vigil.process", category: "process", typ: "end",
			entityID: bare.EntityID, exitCode: intp(168), signal: "SIG40",
		}},
		{"loss ring buffer", &correlate.Record{Event: lossRing, Time: at(90_000_000_000)}, want{
			action: "loss", kind: "metric", dataset: "vigil.loss",
			lossCause: "ringbuf_full", lossClass: "exec", lossCount: 17,
		}},
		{"loss tracked map, no class", &correlate.Record{Event: lossTrack, Time: at(90_000_000_001)}, want{
			action: "loss", kind: "metric", dataset: "vigil.loss",
			lossCause: "tracked_map_full", lossCount: 1,
		}},
		{"loss decode, max count", &correlate.Record{Event: lossDecode, Time: at(90_000_000_002)}, want{
			action: "loss", kind: "metric", dataset: "vigil.loss",
			lossCause: "decode_error", lossClass: "fork", lossCount: 18446744073709551615,
		}},
		{"loss sink behind retention", &correlate.Record{Event: lossSink, Time: at(90_000_000_003)}, want{
			action: "loss", kind: "metric", dataset: "vigil.loss",
			lossCause: "sink_behind_retention", lossCount: 1200,
		}},
	}
	// File actions by the agent's shell and by the bare process.
	shell := fileActor{proc: &execed, parent: root, task: execTask, want: want{
		entityID: childID, parentEntityID: rootID, parentPID: 4000,
		commandLine: strings.Join(shArgs, " "), args: shArgs, rootID: rootID, agent: "claude-code",
	}}
	bareActor := fileActor{proc: &bareExecP, task: bareExec.Task, want: want{entityID: bare.EntityID}}
	recs = append(recs, fileTestRecords(shell, bareActor)...)
	return append(recs, netTestRecords(shell)...)
}

// lookup walks a dotted path through nested objects.
func lookup(doc map[string]any, path string) (any, bool) {
	var v any = doc
	for part := range strings.SplitSeq(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[part]; !ok {
			return nil, false
		}
	}
	return v, true
}

func loadSchema(t testing.TB) *ecstest.Schema {
	t.Helper()
	schema, err := ecstest.Load()
	if err != nil {
		t.Fatalf("ECS schema: %v", err)
	}
	return schema
}

func decodeLine(t *testing.T, line []byte) map[string]any {
	t.Helper()
	if !json.Valid(line) {
		t.Fatalf("not valid JSON: %s", line)
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("decode %s: %v", line, err)
	}
	return doc
}

func TestEncoder(t *testing.T) {
	schema := loadSchema(t)
	enc := NewEncoder(testIdentity, testNow)
	if enc.Sequence() != 0 {
		t.Fatalf("new encoder Sequence() = %d", enc.Sequence())
	}
	var buf []byte
	for i, tr := range testRecords() {
		seq := uint64(i + 1)
		t.Run(tr.name, func(t *testing.T) {
			buf = enc.Append(buf[:0], tr.rec)
			line := buf
			if enc.Sequence() != seq {
				t.Errorf("Sequence() = %d, want %d", enc.Sequence(), seq)
			}
			if !bytes.HasSuffix(line, []byte("}\n")) || bytes.Count(line, []byte("\n")) != 1 {
				t.Fatalf("line must end in exactly one newline: %q", line)
			}
			schema.Check(t, line)
			doc := decodeLine(t, line)
			checkRecord(t, doc, tr, seq)
		})
	}
}

func checkRecord(t *testing.T, doc map[string]any, tr testRecord, seq uint64) {
	t.Helper()
	w := tr.want
	str := func(path string) string {
		t.Helper()
		v, ok := lookup(doc, path)
		if !ok {
			t.Errorf("%s missing", path)
			return ""
		}
		s, ok := v.(string)
		if !ok {
			t.Errorf("%s = %v (%T), want a string", path, v, v)
		}
		return s
	}
	num := func(path string) string {
		t.Helper()
		v, ok := lookup(doc, path)
		if !ok {
			t.Errorf("%s missing", path)
			return ""
		}
		n, ok := v.(json.Number)
		if !ok {
			t.Errorf("%s = %v (%T), want a number", path, v, v)
		}
		return n.String()
	}
	eq := func(path, got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
	absent := func(path string) {
		t.Helper()
		if v, ok := lookup(doc, path); ok {
			t.Errorf("%s = %v, want it absent", path, v)
		}
	}
	oneOf := func(path, want string) {
		t.Helper()
		if want == "" {
			absent(path)
			return
		}
		v, _ := lookup(doc, path)
		a, ok := v.([]any)
		if !ok || len(a) != 1 || a[0] != want {
			t.Errorf("%s = %v, want [%q]", path, v, want)
		}
	}

	eq("@timestamp", str("@timestamp"), tr.rec.Time.UTC().Format(time.RFC3339Nano))
	eq("ecs.version", str("ecs.version"), ECSVersion)
	eq("event.kind", str("event.kind"), w.kind)
	eq("event.action", str("event.action"), w.action)
	eq("event.module", str("event.module"), "vigil")
	eq("event.dataset", str("event.dataset"), w.dataset)
	oneOf("event.category", w.category)
	if w.net == nil { // network records: checkNet
		oneOf("event.type", w.typ)
	}
	eq("event.sequence", num("event.sequence"), strconvU(seq))
	eq("event.created", str("event.created"), testNow().Format(time.RFC3339Nano))
	eq("host.name", str("host.name"), testIdentity.HostName)
	eq("host.id", str("host.id"), testIdentity.HostID)
	eq("host.boot.id", str("host.boot.id"), testIdentity.BootID)
	eq("agent.type", str("agent.type"), "vigil")
	eq("agent.id", str("agent.id"), testIdentity.AgentID)
	eq("agent.version", str("agent.version"), testIdentity.AgentVersion)
	eq("agent.ephemeral_id", str("agent.ephemeral_id"), testIdentity.EphemeralID)

	if w.entityID == "" {
		absent("process")
		absent("user")
	} else {
		p := tr.rec.Process
		eq("process.entity_id", str("process.entity_id"), w.entityID)
		eq("process.pid", num("process.pid"), strconvU(uint64(p.PID)))
		eq("user.id", str("user.id"), strconvU(uint64(p.EUID)))
		eq("process.user.id", str("process.user.id"), strconvU(uint64(p.EUID)))
		eq("process.real_user.id", str("process.real_user.id"), strconvU(uint64(p.UID)))
		eq("process.group.id", str("process.group.id"), strconvU(uint64(p.EGID)))
		eq("process.real_group.id", str("process.real_group.id"), strconvU(uint64(p.GID)))
		eq("Vigil.process.source", str("Vigil.process.source"), p.Source.String())
		if tr.rec.Event.Kind == sensor.KindFork {
			absent("process.thread.id")
		} else {
			eq("process.thread.id", num("process.thread.id"), strconvU(uint64(tr.rec.Event.Task.TID)))
		}
	}
	if w.parentEntityID != "" {
		eq("process.parent.entity_id", str("process.parent.entity_id"), w.parentEntityID)
	} else {
		absent("process.parent.entity_id")
	}
	if w.parentPID != 0 {
		eq("process.parent.pid", num("process.parent.pid"), strconvU(uint64(w.parentPID)))
	} else {
		absent("process.parent")
	}
	if w.exitCode != nil {
		eq("process.exit_code", num("process.exit_code"), strconvI(*w.exitCode))
		eq("process.end", str("process.end"), tr.rec.Process.End.UTC().Format(time.RFC3339Nano))
	} else {
		absent("process.exit_code")
		absent("process.end")
	}
	if w.commandLine != "" {
		eq("process.command_line", str("process.command_line"), w.commandLine)
		v, _ := lookup(doc, "process.args")
		a, _ := v.([]any)
		if len(a) != len(w.args) {
			t.Errorf("process.args = %v, want %q", v, w.args)
		}
		for i := range min(len(a), len(w.args)) {
			if a[i] != w.args[i] {
				t.Errorf("process.args[%d] = %v, want %q", i, a[i], w.args[i])
			}
		}
		eq("process.args_count", num("process.args_count"), strconvI(max(tr.rec.Process.Argc, len(w.args))))
	} else {
		absent("process.command_line")
		absent("process.args")
		absent("process.args_count")
	}
	if prev := tr.rec.Previous; prev != nil {
		eq("process.previous.executable", str("process.previous.executable"), prev.Executable)
		eq("process.previous.args_count", num("process.previous.args_count"), strconvI(max(prev.Argc, len(prev.Args))))
	} else {
		absent("process.previous")
	}
	if w.lossCause != "" {
		eq("Vigil.loss.cause", str("Vigil.loss.cause"), w.lossCause)
		eq("Vigil.loss.count", num("Vigil.loss.count"), strconvU(w.lossCount))
		if w.lossClass != "" {
			eq("Vigil.loss.event_class", str("Vigil.loss.event_class"), w.lossClass)
		} else {
			absent("Vigil.loss.event_class")
		}
		absent("Vigil.process")
	} else {
		absent("Vigil.loss")
	}
	if w.signal != "" {
		eq("Vigil.process.exit_signal", str("Vigil.process.exit_signal"), w.signal)
	} else {
		absent("Vigil.process.exit_signal")
	}
	if w.rootID != "" {
		eq("Vigil.tree.root.entity_id", str("Vigil.tree.root.entity_id"), w.rootID)
	} else {
		absent("Vigil.tree")
	}
	if w.agent != "" {
		eq("gen_ai.agent.name", str("gen_ai.agent.name"), w.agent)
	} else {
		absent("gen_ai")
	}
	if ev := tr.rec.Event; ev.Kind == sensor.KindExec {
		flagged := func(path string, on bool) {
			t.Helper()
			if on {
				if v, _ := lookup(doc, path); v != true {
					t.Errorf("%s = %v, want true", path, v)
				}
			} else {
				absent(path)
			}
		}
		flagged("Vigil.process.args_truncated", tr.rec.Process.ArgsCut)
		flagged("Vigil.process.executable_truncated", ev.Flags&sensor.FlagExeTruncated != 0)
		flagged("Vigil.process.working_directory_truncated", ev.Flags&sensor.FlagCwdTruncated != 0)
		flagged("Vigil.process.tree_root", ev.Flags&sensor.FlagNewRoot != 0)
	}
	if w.net == nil { // checkNet checks event.outcome, event.start, event.end and error
		checkFile(t, doc, tr)
	}
	checkNet(t, doc, tr)
}

func strconvU(u uint64) string { b, _ := json.Marshal(u); return string(b) }
func strconvI(i int) string    { b, _ := json.Marshal(i); return string(b) }

// TestEncoderAppendKeepsPrefix checks that Append appends: the caller's
// bytes stay, and consecutive lines form valid JSON lines.
func TestEncoderAppendKeepsPrefix(t *testing.T) {
	schema := loadSchema(t)
	enc := NewEncoder(testIdentity, testNow)
	out := []byte("prefix\n")
	var ends []int
	for _, tr := range testRecords() {
		out = enc.Append(out, tr.rec)
		ends = append(ends, len(out))
	}
	if !bytes.HasPrefix(out, []byte("prefix\n")) {
		t.Fatalf("prefix lost: %q", out[:20])
	}
	lines := out[len("prefix\n"):]
	if errs := schema.ValidateLines(bytes.NewReader(lines)); len(errs) > 0 {
		t.Errorf("ValidateLines: %v", errors.Join(errs...))
	}
	if n := bytes.Count(lines, []byte("\n")); n != len(ends) {
		t.Errorf("%d lines, want %d", n, len(ends))
	}
	sc := bufio.NewScanner(bytes.NewReader(lines))
	sc.Buffer(nil, 1<<20)
	for i := 1; sc.Scan(); i++ {
		var doc struct {
			Event struct{ Sequence uint64 } `json:"event"`
		}
		if err := json.Unmarshal(sc.Bytes(), &doc); err != nil {
			t.Fatal(err)
		}
		if doc.Event.Sequence != uint64(i) {
			t.Errorf("line %d: event.sequence %d", i, doc.Event.Sequence)
		}
	}
}

// TestEncoderDefaultNow checks that a nil now stamps event.created with
// the current time.
func TestEncoderDefaultNow(t *testing.T) {
	enc := NewEncoder(Identity{BootID: testBootID}, nil)
	before := time.Now()
	line := enc.Append(nil, testRecords()[0].rec)
	after := time.Now()
	loadSchema(t).Check(t, line)
	var doc struct {
		Event struct{ Created time.Time } `json:"event"`
		Host  map[string]any              `json:"host"`
		Agent map[string]any              `json:"agent"`
	}
	if err := json.Unmarshal(line, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Event.Created.Before(before) || doc.Event.Created.After(after) {
		t.Errorf("event.created %v not within [%v, %v]", doc.Event.Created, before, after)
	}
	// Empty identity fields are left out, not written as "".
	if _, ok := doc.Host["name"]; ok {
		t.Error("empty host.name written")
	}
	if _, ok := doc.Agent["id"]; ok {
		t.Error("empty agent.id written")
	}
}

// TestEncoderCommandLineEscaping feeds arguments that need escaping and
// checks command_line decodes to the arguments joined with spaces.
func TestEncoderCommandLineEscaping(t *testing.T) {
	schema := loadSchema(t)
	for _, args := range [][]string{
		{`"`},
		{`\`},
		{"a", `b"c`, `d\e`, "f\ng", "\x00", "\u2028", "🙂"},
		{`"\"`, `\\`, ""},
		{"", ""},
		{"bad\xffutf8"},
	} {
		tr := testRecords()[1]
		p := *tr.rec.Process
		p.Args = args
		rec := *tr.rec
		rec.Process = &p
		line := NewEncoder(testIdentity, testNow).Append(nil, &rec)
		schema.Check(t, line)
		doc := decodeLine(t, line)
		got, _ := lookup(doc, "process.command_line")
		if want := replaceInvalid(strings.Join(args, " ")); got != want {
			t.Errorf("args %q: command_line %q, want %q", args, got, want)
		}
	}
}

func TestEncoderGolden(t *testing.T) {
	enc := NewEncoder(testIdentity, testNow)
	var got []byte
	for _, tr := range testRecords() {
		got = enc.Append(got, tr.rec)
	}
	path := filepath.Join("testdata", "records.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	wantB, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run Golden -update ./output/ to create it)", err)
	}
	if errs := loadSchema(t).ValidateLines(bytes.NewReader(wantB)); len(errs) > 0 {
		t.Errorf("golden file fails ECS validation: %v", errors.Join(errs...))
	}
	if !bytes.Equal(got, wantB) {
		gl, wl := bytes.Split(got, []byte("\n")), bytes.Split(wantB, []byte("\n"))
		for i := range max(len(gl), len(wl)) {
			var g, w []byte
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if !bytes.Equal(g, w) {
				t.Errorf("line %d differs:\n got %s\nwant %s", i+1, g, w)
			}
		}
		t.Error("encoded records differ from testdata/records.golden (run with -update if the change is intended)")
	}
}

// TestEncodeAllocs checks that encoding allocates nothing once the
// destination buffer has grown, except where a network record's wantNet
// allows some (dns.id, url.domain, abstract socket names).
func TestEncodeAllocs(t *testing.T) {
	enc := NewEncoder(testIdentity, testNow)
	buf := make([]byte, 0, 8<<10)
	for _, tr := range testRecords() {
		t.Run(tr.name, func(t *testing.T) {
			var limit float64
			if tr.want.net != nil {
				limit = tr.want.net.allocs
			}
			buf = enc.Append(buf[:0], tr.rec)
			if n := testing.AllocsPerRun(50, func() { buf = enc.Append(buf[:0], tr.rec) }); n > limit {
				t.Errorf("%v allocs/op, want at most %v", n, limit)
			}
		})
	}
}

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }

func TestWriter(t *testing.T) {
	var out bytes.Buffer
	w := NewWriter(&out, NewEncoder(testIdentity, testNow))
	recs := testRecords()
	for _, tr := range recs {
		if err := w.Write(tr.rec); err != nil {
			t.Fatal(err)
		}
	}
	if out.Len() != 0 {
		t.Errorf("%d bytes written before Flush", out.Len())
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	golden, err := os.ReadFile(filepath.Join("testdata", "records.golden"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), golden) {
		t.Errorf("Writer output differs from the Encoder's golden lines")
	}

	boom := errors.New("boom")
	w = NewWriter(failWriter{boom}, NewEncoder(testIdentity, testNow))
	if err := w.Write(recs[0].rec); err != nil {
		t.Fatalf("buffered Write failed early: %v", err)
	}
	if err := w.Flush(); !errors.Is(err, boom) {
		t.Errorf("Flush error %v, want it to wrap %v", err, boom)
	}
	// Enough records to overflow the buffer make Write itself fail.
	var werr error
	for i := 0; werr == nil && i < 1000; i++ {
		werr = w.Write(recs[1].rec)
	}
	if !errors.Is(werr, boom) || !strings.Contains(werr.Error(), "write record") {
		t.Errorf("Write error %v, want a wrapped %v", werr, boom)
	}
}

func TestSignalName(t *testing.T) {
	for _, tc := range []struct {
		sig  syscall.Signal
		want string
	}{
		{syscall.SIGKILL, "SIGKILL"},
		{syscall.SIGSEGV, "SIGSEGV"},
		{syscall.SIGTERM, "SIGTERM"},
		{40, "SIG40"},
		{0, "SIG0"},
	} {
		if got := signalName(tc.sig); got != tc.want {
			t.Errorf("signalName(%d) = %q, want %q", tc.sig, got, tc.want)
		}
	}
}

func BenchmarkEncodeExec(b *testing.B) {
	rec := testRecords()[1].rec
	enc := NewEncoder(testIdentity, testNow)
	buf := enc.Append(make([]byte, 0, 4<<10), rec)
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		buf = enc.Append(buf[:0], rec)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
