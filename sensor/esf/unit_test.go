package esf

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigilsec/vigil/sensor"
)

// A small world for the unit tests: an agent (pid 20) started from a
// shell (pid 10), written with the session writer (see session_test.go
// for the sources of its shape).
type world struct {
	s            *session
	shell, agent *proc
	project      *fileInfo
}

func newWorld() *world {
	s := newSession(fixtureStart)
	shell := &proc{pid: 10, pidversion: 100, ppid: 1, originalPPID: 1, parentVersion: 1, pgid: 10, sid: 10,
		uid: 501, gid: 20, exe: binary("/bin/zsh", 11, 1000), signingID: "com.apple.zsh", platform: true,
		start: fixtureStart.Add(-time.Hour), responsible: [2]int{10, 100}, thread: 1000}
	w := &world{s: s, shell: shell, project: dir("/Users/dev/p", 500)}
	w.agent = s.fork(time.Millisecond, shell, 20, 200, 2000)
	s.exec(time.Millisecond, w.agent, execArgs{
		exe: binary("/opt/homebrew/bin/node", 21, 5000), args: []string{"node", "/opt/homebrew/bin/claude"},
		cwd: w.project.path, signingID: "node",
	})
	return w
}

func (w *world) child(pid int) *proc {
	c := w.s.fork(time.Millisecond, w.agent, pid, pid*10, uint64(pid)*100)
	w.s.exec(time.Millisecond, c, execArgs{exe: binary("/bin/sh", 31, 900), args: []string{"sh"}, cwd: w.project.path})
	return c
}

// dropLast removes the last message written, leaving the gap in the
// sequence numbers a kernel drop leaves.
func (w *world) dropLast() { w.s.lines = w.s.lines[:len(w.s.lines)-1] }

func (w *world) run(t *testing.T, scope *sensor.TreeScope) []string {
	t.Helper()
	if scope == nil {
		scope = agentScope()
	}
	return describeAll(decodeAll(t, scope, w.s.bytes()).evs)
}

// TestExecMessage decodes an exec written by hand in the shape of
// es_message_t (ESMessage.h: es_message_t, es_process_t,
// es_event_exec_t; eslogger(1) FORMATS), with the tolerated variations:
// numbers as strings, a boolean as 1, no event_type, no sequence numbers.
func TestExecMessage(t *testing.T) {
	line := `{"version":8,"time":"2026-03-14T09:30:00.123456789Z","mach_time":1,` +
		`"process":{"audit_token":{"pid":"77","pidversion":"1","ruid":501,"euid":501,"rgid":20,"egid":20},` +
		`"ppid":1,"original_ppid":1,"executable":{"path":"\/bin\/zsh","path_truncated":false},"start_time":"2026-03-14T09:29:59.000001Z"},` +
		`"thread":{"thread_id":"123456"},"event":{"exec":{"target":{"audit_token":{"pid":77,"pidversion":2,` +
		`"ruid":501,"euid":0,"rgid":20,"egid":0},"ppid":1,"start_time":"2026-03-14T09:29:59.000001Z",` +
		`"executable":{"path":"\/Applications\/Agent.app\/Contents\/MacOS\/agent-with-a-long-name","path_truncated":true,` +
		`"stat":{"st_ino":"42","st_dev":16777232,"st_mode":33261}}},"script":null,` +
		`"args":["agent","--flag"],"cwd":{"path":"\/tmp","path_truncated":1},` +
		`"env":["TRACEPARENT=","VIGIL_CORRELATION_ID=not valid!","VIGIL_CORRELATION_ID=second"],"unknown":{"x":[1]}}}}`
	scope := sensor.NewTreeScope(func(exe string, _ []string) (uint32, bool) {
		return 7, strings.HasSuffix(exe, "/agent-with-a-long-name")
	}, false, 0)
	var r recorder
	d := NewDecoder(scope)
	if err := d.DecodeLine([]byte(line), r.emit); err != nil {
		t.Fatal(err)
	}
	if len(r.evs) != 1 {
		t.Fatalf("%d events", len(r.evs))
	}
	ev := &r.evs[0]
	start := uint64(time.Date(2026, 3, 14, 9, 29, 59, 1000, time.UTC).UnixNano())
	if want := (sensor.Task{PID: 77, TID: 123456, PPID: 1, UID: 501, GID: 20, EUID: 0, EGID: 0,
		StartTime: start, Comm: "agent-with-a-lo"}); ev.Task != want {
		t.Errorf("task %+v, want %+v", ev.Task, want)
	}
	if ev.KTime != 1773480600123456789 {
		t.Errorf("ktime %d", ev.KTime)
	}
	if want := sensor.FlagExeTruncated | sensor.FlagCwdTruncated | sensor.FlagNewRoot | sensor.FlagCorrelationIDInvalid; ev.Flags != want {
		t.Errorf("flags %#x, want %#x", ev.Flags, want)
	}
	if ev.Tree != (sensor.Tree{RootStart: start, RootPID: 77, Agent: 7}) {
		t.Errorf("tree %+v", ev.Tree)
	}
	if ev.Cwd != "/tmp" || ev.ExeInode != 42 || ev.ExeDevice != sensor.Mkdev(1, 16) || ev.CorrelationID != "" || ev.TraceID != "" {
		t.Errorf("exec %+v", ev)
	}
}

func TestComm(t *testing.T) {
	for exe, want := range map[string]string{
		"/usr/bin/git": "git",
		"/System/Library/Frameworks/WebKit.framework/Versions/A/XPCServices/com.apple.WebKit.Networking.xpc/Contents/MacOS/com.apple.WebKit.Networking": "com.apple.WebKi",
		"/Applications/X.app/Contents/MacOS/ÄÄÄÄÄÄÄÄ": "ÄÄÄÄÄÄÄ", // 15 bytes would split the 8th "Ä"
		"noslash": "noslash",
		"/":       "",
	} {
		if got := comm(exe); got != want {
			t.Errorf("comm(%q) = %q, want %q", exe, got, want)
		}
	}
}

// TestScopeLostFork: a child whose fork message was dropped joins its
// parent's tree at its first message; the drop is reported with the
// fork class once the next fork shows the gap.
func TestScopeLostFork(t *testing.T) {
	w := newWorld()
	s := w.s
	lost := s.fork(time.Millisecond, w.agent, 21, 210, 2100)
	w.dropLast()
	s.open(time.Millisecond, lost, regular("/Users/dev/p/a", 600, 1), fRead)
	// Out of scope: the shell's own child, and a process with the parent
	// pid's number that started before the agent (pid reuse) is no parent.
	s.fork(time.Millisecond, w.shell, 30, 300, 3000)
	older := &proc{pid: 22, pidversion: 220, ppid: 20, originalPPID: 20, exe: binary("/bin/cat", 41, 10),
		start: fixtureStart.Add(-2 * time.Hour), thread: 2200}
	s.open(time.Millisecond, older, regular("/etc/hosts", 700, 10), fRead)
	c := w.child(23)
	s.exit(time.Millisecond, c, 0)
	s.exit(time.Millisecond, lost, 256)
	sameLines(t, w.run(t, nil), []string{
		"exec 20 /opt/homebrew/bin/node root",
		"open 21 /Users/dev/p/a 0",
		"fork 20>23",
		"exec 23 /bin/sh",
		"exit 23 0",
		"exit 21 1",
		"loss ringbuf_full fork 1",
	})
}

// TestScopePIDReuse: a tracked process whose exit was lost is gone once
// its pid shows up with another start time; its write totals are
// reported as stale.
func TestScopePIDReuse(t *testing.T) {
	w := newWorld()
	s := w.s
	c := w.child(21)
	f := regular("/Users/dev/p/out", 601, 0)
	s.write(time.Millisecond, c, f)
	s.exit(time.Millisecond, c, 0)
	w.dropLast()
	reuse := &proc{pid: 21, pidversion: 900, ppid: 1, originalPPID: 1, exe: binary("/usr/libexec/xpcproxy", 51, 10),
		start: s.now.Add(time.Millisecond), thread: 9000}
	s.open(2*time.Millisecond, reuse, regular("/etc/hosts", 700, 10), fRead)
	s.exit(time.Millisecond, reuse, 0)
	scope := agentScope()
	sameLines(t, w.run(t, scope), []string{
		"exec 20 /opt/homebrew/bin/node root",
		"fork 20>21",
		"exec 21 /bin/sh",
		"write_start 21 #1 /Users/dev/p/out",
		"write_end 21 #1 ops=1 stale",
		// The lost exit: the next exit is the first the decoder sees, so
		// only the global numbers show the gap.
		"loss ringbuf_full kind(0) 1",
	})
	if _, ok := scope.Of(21); ok {
		t.Error("reused pid still in scope")
	}
}

// TestScopeFull: a child the scope has no room for is left out and
// counted.
func TestScopeFull(t *testing.T) {
	w := newWorld()
	c := w.child(21)
	w.s.open(time.Millisecond, c, regular("/Users/dev/p/a", 600, 1), fRead)
	sameLines(t, w.run(t, sensor.NewTreeScope(agentMatch, false, 1)), []string{
		"exec 20 /opt/homebrew/bin/node root",
		"loss tracked_map_full kind(0) 1",
	})
}

func TestWriteTotals(t *testing.T) {
	w := newWorld()
	s, a := w.s, w.agent
	f := regular("/Users/dev/p/f", 601, 0)
	g := regular("/Users/dev/p/g", 602, 0)
	tty := &fileInfo{path: "/dev/ttys001", ino: 9, mode: 0o020620, dev: 5}
	s.write(time.Millisecond, a, f)
	s.write(time.Millisecond, a, tty) // not a regular file
	s.write(time.Millisecond, a, f)
	s.close(time.Millisecond, a, f, false) // another descriptor
	s.close(time.Millisecond, a, tty, true)
	s.write(time.Millisecond, a, f)
	s.close(time.Millisecond, a, f, true)
	s.close(time.Millisecond, a, g, true) // written before the stream began
	// Renamed between the writes and the close: one file, by inode.
	s.write(time.Millisecond, a, g)
	s.renameTo(time.Millisecond, a, g, w.project, "h")
	s.close(time.Millisecond, a, regular("/Users/dev/p/h", 602, 10), true)
	// Pending at exit, in the order of the first writes.
	s.write(time.Millisecond, a, g)
	s.write(time.Millisecond, a, f)
	s.exit(time.Millisecond, a, 0)
	// A process whose exit the stream does not hold: reported at its end.
	o := &proc{pid: 40, pidversion: 400, ppid: 1, originalPPID: 1, exe: binary("/bin/cat", 41, 10),
		start: fixtureStart, thread: 4000}
	s.write(time.Millisecond, o, f)
	sameLines(t, w.run(t, sensor.NewTreeScope(agentMatch, true, 0)), []string{
		"fork 10>20",
		"exec 20 /opt/homebrew/bin/node root",
		"write_start 20 #1 /Users/dev/p/f",
		"write_end 20 #1 ops=3",
		"write_start 20 #2 /Users/dev/p/g",
		"write_end 20 #2 ops=0",
		"write_start 20 #3 /Users/dev/p/g",
		"rename 20 /Users/dev/p/g > /Users/dev/p/h",
		"write_end 20 #3 ops=1",
		"write_start 20 #4 /Users/dev/p/g",
		"write_start 20 #5 /Users/dev/p/f",
		"write_end 20 #4 ops=1 at_exit",
		"write_end 20 #5 ops=1 at_exit",
		"exit 20 0",
		"write_start 40 #6 /Users/dev/p/f",
		"write_end 40 #6 ops=1 at_stop",
	})
}

func TestWriteTotalsFull(t *testing.T) {
	w := newWorld()
	w.s.write(time.Millisecond, w.agent, regular("/Users/dev/p/f", 601, 0))
	w.s.write(time.Millisecond, w.agent, regular("/Users/dev/p/g", 602, 0))
	w.s.write(time.Millisecond, w.agent, regular("/Users/dev/p/g", 602, 0))
	d := NewDecoder(agentScope())
	d.writes.max = 1
	var r recorder
	if err := d.Run(context.Background(), bytes.NewReader(w.s.bytes()), &r); err != nil {
		t.Fatal(err)
	}
	sameLines(t, describeAll(r.evs), []string{
		"exec 20 /opt/homebrew/bin/node root",
		"write_start 20 #1 /Users/dev/p/f",
		"loss aggregation_map_full file 2",
		"write_end 20 #1 ops=1 at_stop",
	})
}

func TestRenameDestinations(t *testing.T) {
	w := newWorld()
	s, a := w.s, w.agent
	src := regular("/Users/dev/p/a", 601, 1)
	s.renameOver(time.Millisecond, a, src, regular("/Users/dev/p/b", 602, 1))
	s.renameTo(time.Millisecond, a, src, dir("/", 2), "c")
	s.renameTo(time.Millisecond, a, src, &fileInfo{path: "/Users/dev/p/d", ino: 3, mode: 0o040755, truncated: true}, "e")
	lines := w.s.bytes()
	// Converters that name the member, or a type that names the other one.
	head := `{"time":"2026-03-14T10:00:00Z","process":{"audit_token":{"pid":20},"start_time":"` +
		esTimeval(w.agent.start) + `"},"event":{"rename":{"source":{"path":"/Users/dev/p/a"},`
	for _, tail := range []string{
		`"destination_type":"new_path","destination":{"new_path":{"dir":{"path":"/x"},"filename":"f"}}}}}`,
		`"destination_type":1,"destination":{"existing_file":{"path":"/x/g"}}}}}`,
		`"destination":{"new_path":{"dir":{"path":"/x"},"filename":"h"}}}}}`,
		`"destination_type":0,"destination":{}}}}`,
		`"destination_type":1,"destination":{"new_path":{"dir":{"path":"/x"}}}}}}`,
		`"destination_type":"sideways","destination":{}}}}`,
	} {
		lines = append(lines, head+tail+"\n"...)
	}
	sameLines(t, describeAll(decodeAll(t, agentScope(), lines).evs), []string{
		"exec 20 /opt/homebrew/bin/node root",
		"rename 20 /Users/dev/p/a > /Users/dev/p/b",
		"rename 20 /Users/dev/p/a > /c",
		"rename 20 /Users/dev/p/a > /Users/dev/p/d/e",
		"rename 20 /Users/dev/p/a > /x/f",
		"rename 20 /Users/dev/p/a > /x/g",
		"rename 20 /Users/dev/p/a > /x/h",
		"loss decode_error file 3",
	})
}

func TestRenameFlags(t *testing.T) {
	w := newWorld()
	w.s.renameTo(time.Millisecond, w.agent, regular("/Users/dev/p/a", 601, 1),
		&fileInfo{path: "/Users/dev/p/d", ino: 3, mode: 0o040755, truncated: true}, "e")
	r := decodeAll(t, agentScope(), w.s.bytes())
	if f := r.evs[1].File; f.Flags != sensor.FilePathExact|sensor.FilePathCut|sensor.FileRegular || f.Inode != 601 {
		t.Errorf("rename %+v", f)
	}
}

func TestExitStatus(t *testing.T) {
	for _, tc := range []struct {
		stat int
		code int64
		sig  syscall.Signal
		core bool
	}{
		{0, 0, 0, false},
		{1 << 8, 1, 0, false},
		{127 << 8, 127, 0, false},
		{int(syscall.SIGKILL), 137, syscall.SIGKILL, false},
		{int(syscall.SIGABRT) | 0x80, 134, syscall.SIGABRT, true},
	} {
		w := newWorld()
		w.s.exit(time.Millisecond, w.agent, tc.stat)
		r := decodeAll(t, agentScope(), w.s.bytes())
		ev := &r.evs[len(r.evs)-1]
		if ev.Kind != sensor.KindExit || ev.Status != uint32(tc.stat) || ev.ExitCode() != tc.code ||
			ev.Signal() != tc.sig || ev.CoreDumped() != tc.core {
			t.Errorf("stat %#x: %s status %#x code %d signal %v core %v", tc.stat, describe(ev), ev.Status,
				ev.ExitCode(), ev.Signal(), ev.CoreDumped())
		}
	}
}

// TestBadLines: what cannot be decoded is counted by class and reported;
// what is not read (other events, blank lines) is not; good lines
// around bad ones are decoded.
func TestBadLines(t *testing.T) {
	w := newWorld()
	good := w.s.bytes()
	w.s.open(time.Millisecond, w.agent, regular("/Users/dev/p/a", 601, 1), fRead)
	lastOpen := w.s.lines[len(w.s.lines)-1]
	proc := `"process":{"audit_token":{"pid":20}},"time":"2026-03-14T10:00:00Z"`
	bad := []string{
		`not json`,
		`[1,2]`,
		`{"event":{"exec":{"target":{"audit_token":{"pid":20}}}},` + proc + `}`, // no executable
		`{"event":{"exec":{"target":{"executable":{"path":"/x"}}}},"time":"yesterday","process":{}}`,
		`{"event":{"open":{"file":{"path":"/a"}},"exit":{"stat":0}},` + proc + `}`,
		`{"event_type":10,"event":{},` + proc + `}`,
		`{"event":{"open":{"file":{"path":"/a"},"fflag":"x"}},` + proc + `}`,
		`{"event":{"close":{"modified":"maybe","target":{"path":"/a"}}},` + proc + `}`,
		`{"event":{"write":{"target":{"path":"/a"}}},"time":"2026-03-14T10:00:00Z"}`, // no process
		`{"event":{"uipc_connect":{"domain":1}},` + proc + `}`,
		`{"event":{"fork":{"child":null}},` + proc + `}`,
		`{"event":{"unlink":{}},` + proc + `}`,
		`{"event":{"exit":{"stat":0}},"time":"1969-12-31T23:59:59Z","process":{"audit_token":{"pid":20}}}`,
		`{"process":{"audit_token":{"pid":20}}}`, // no event at all
		`{"event":null,` + proc + `}`,
		`{"event_type":9,"event":{"exce":{}},` + proc + `}`, // a member other than event_type's
		`{"event":{"open":{"file":{"path":"/a"}}},"process":{"audit_token":{"pid":20}},"time":{"tv_sec":[]}}`,
		string(lastOpen[:len(lastOpen)/2]), // cut short
	}
	ignored := []string{
		``, `   `,
		`{"event_type":20,"event":{"mmap":{"protection":1}},` + proc + `}`,
		`{"event":{"setmode":{"mode":420}},` + proc + `}`,
	}
	input := slicesConcat(good, bad, ignored, lastOpen)
	var r recorder
	d := NewDecoder(agentScope())
	for _, l := range bad {
		var de *DecodeError
		if err := d.DecodeLine([]byte(l), r.emit); !errors.As(err, &de) {
			t.Errorf("%.60s: error %v, want a *DecodeError", l, err)
		}
	}
	for _, l := range ignored {
		if err := d.DecodeLine([]byte(l), r.emit); err != nil {
			t.Errorf("%.60s: %v", l, err)
		}
	}
	sameLines(t, describeAll(decodeAll(t, agentScope(), input).evs), []string{
		"exec 20 /opt/homebrew/bin/node root",
		"open 20 /Users/dev/p/a 0",
		"loss decode_error kind(0) 5", // not JSON, not an object, two members, no event (twice)
		"loss decode_error fork 1",
		"loss decode_error exec 3",
		"loss decode_error exit 1",
		"loss decode_error file 7", // with the open cut short: its event_type is read from the raw line
		"loss decode_error network 1",
	})
}

func slicesConcat(good []byte, bad, ignored []string, last []byte) []byte {
	b := append([]byte(nil), good...)
	for _, l := range bad {
		b = append(b, l+"\n"...)
	}
	for _, l := range ignored {
		b = append(b, l+"\n"...)
	}
	return append(append(b, last...), '\n')
}

// TestSequenceGaps: a gap in one type's numbers is that type's loss; a
// drop no later message of its type reveals is reported at the end
// without a class; a second run in the same input starts afresh.
func TestSequenceGaps(t *testing.T) {
	w := newWorld()
	s, a := w.s, w.agent
	f := regular("/Users/dev/p/a", 601, 1)
	s.open(time.Millisecond, a, f, fRead)
	s.skip(typeOpen, 2)
	s.open(time.Millisecond, a, f, fRead)
	s.skip(typeUIPCConnect, 1) // never seen again
	s.exit(time.Millisecond, a, 0)
	// eslogger restarted: numbers start over.
	s.seq, s.global = map[int]uint64{}, 0
	s.open(time.Millisecond, w.shell, f, fRead)
	s.open(time.Millisecond, w.shell, f, fRead)
	sameLines(t, w.run(t, nil), []string{
		"exec 20 /opt/homebrew/bin/node root",
		"open 20 /Users/dev/p/a 0",
		"open 20 /Users/dev/p/a 0",
		"exit 20 0",
		"loss ringbuf_full file 2",
		"loss ringbuf_full kind(0) 1",
	})
}

func TestSeqTracker(t *testing.T) {
	n := func(v int) *Int { i := Int(v); return &i }
	var s seqTracker
	s.last = map[int64]uint64{}
	for _, step := range []struct {
		typ          int64
		seq, global  *Int
		wantDropped  uint64
		wantUnattrib uint64
	}{
		{typeExec, n(5), n(100), 0, 0},
		{typeOpen, n(0), n(101), 0, 0},
		{typeExec, n(6), n(104), 0, 0}, // global gap 2: types unknown yet
		{typeOpen, n(2), n(105), 1, 0}, // one of them was an open
		{typeOpen, n(3), nil, 0, 0},    // version < 4: no global number
		{typeExit, nil, n(106), 0, 0},  // version < 2: no seq number
		{typeOpen, n(1), n(3), 0, 1},   // a new run: the last one's unattributed drop
		{typeOpen, n(2), n(4), 0, 1},
	} {
		if got := s.observe(step.typ, step.seq, step.global); got != step.wantDropped {
			t.Errorf("%+v: dropped %d, want %d", step, got, step.wantDropped)
		}
		if s.unattributed != step.wantUnattrib {
			t.Errorf("%+v: unattributed %d, want %d", step, s.unattributed, step.wantUnattrib)
		}
	}
	if got := s.end(); got != 1 {
		t.Errorf("end: %d", got)
	}
}

func TestRunLongLines(t *testing.T) {
	w := newWorld()
	big := strings.Repeat("x", 3<<20)
	w.s.exec(time.Millisecond, w.agent, execArgs{exe: binary("/bin/echo", 61, 10), args: []string{"echo", big},
		cwd: "/"})
	w.s.open(time.Millisecond, w.agent, regular("/Users/dev/p/a", 601, 1), fRead)
	var r recorder
	if err := NewDecoder(agentScope()).Run(context.Background(), bytes.NewReader(w.s.bytes()), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.evs) != 3 || len(r.evs[1].Args[1]) != len(big) {
		t.Fatalf("events %q", describeAll(r.evs))
	}
	// Past the limit: skipped, counted, and the next line is read.
	d := NewDecoder(agentScope())
	d.maxLine = 1 << 20
	r = recorder{}
	if err := d.Run(context.Background(), bytes.NewReader(w.s.bytes()), &r); err != nil {
		t.Fatal(err)
	}
	sameLines(t, describeAll(r.evs), []string{
		"exec 20 /opt/homebrew/bin/node root",
		"open 20 /Users/dev/p/a 0",
		"loss decode_error kind(0) 1",
	})
}

// blockingReader returns data, then blocks until done is closed.
type blockingReader struct {
	data []byte
	done chan struct{}
}

func (b *blockingReader) Read(p []byte) (int, error) {
	if len(b.data) > 0 {
		n := copy(p, b.data)
		b.data = b.data[n:]
		return n, nil
	}
	<-b.done
	return 0, io.EOF
}

// cancelAt is a Handler that cancels a context at its nth event.
type cancelAt struct {
	recorder
	n      int
	cancel context.CancelFunc
}

func (c *cancelAt) HandleEvent(ev *sensor.Event) error {
	if len(c.evs) == c.n {
		c.cancel()
	}
	return c.recorder.HandleEvent(ev)
}

// TestRunCancelled: on cancellation Run decodes the lines it has
// buffered, and returns without reading on.
func TestRunCancelled(t *testing.T) {
	w := newWorld()
	w.s.open(time.Millisecond, w.agent, regular("/Users/dev/p/a", 601, 1), fRead)
	in := &blockingReader{data: w.s.bytes(), done: make(chan struct{})}
	defer close(in.done)
	ctx, cancel := context.WithCancel(context.Background())
	h := &cancelAt{n: 0, cancel: cancel}
	done := make(chan error, 1)
	go func() { done <- NewDecoder(agentScope()).Run(ctx, in, h) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run blocked after cancellation")
	}
	sameLines(t, describeAll(h.evs), []string{
		"exec 20 /opt/homebrew/bin/node root",
		"open 20 /Users/dev/p/a 0",
	})
	if h.flushes == 0 {
		t.Error("no Flush at the end")
	}
}

func TestRunHandlerError(t *testing.T) {
	w := newWorld()
	boom := errors.New("boom")
	r := recorder{fail: boom}
	if err := NewDecoder(agentScope()).Run(context.Background(), bytes.NewReader(w.s.bytes()), &r); !errors.Is(err, boom) {
		t.Fatalf("run: %v, want %v", err, boom)
	}
}

func TestTimeForms(t *testing.T) {
	want := time.Date(2026, 3, 14, 9, 30, 0, 123456000, time.UTC)
	for _, in := range []string{
		`"2026-03-14T09:30:00.123456Z"`,
		`"2026-03-14T09:30:00.123456000Z"`,
		`"2026-03-14T10:30:00.123456+01:00"`,
		`{"tv_sec":1773480600,"tv_nsec":123456000}`,
		`{"tv_sec":"1773480600","tv_usec":123456}`,
	} {
		var tm Time
		if err := tm.UnmarshalJSON([]byte(in)); err != nil || !tm.Equal(want) {
			t.Errorf("%s: %v %v", in, tm, err)
		}
	}
	for _, in := range []string{`"yesterday"`, `12`, `true`, `{"tv_sec":"x"}`} {
		var tm Time
		if err := tm.UnmarshalJSON([]byte(in)); err == nil {
			t.Errorf("%s: no error", in)
		}
	}
	if _, ok := (Time{time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC)}).unixNS(); ok {
		t.Error("a time before 1970 has ns since 1970")
	}
}

// TestUndecodableLinesAreNotDrops: a line that does not parse took its
// sequence numbers with it; they are read from the raw line, so the
// loss is counted once, as decode loss.
func TestUndecodableLinesAreNotDrops(t *testing.T) {
	w := newWorld()
	s, a := w.s, w.agent
	f := regular("/Users/dev/p/a", 601, 1)
	s.open(time.Millisecond, a, f, fRead)
	s.open(time.Millisecond, a, f, fRead)
	last := len(s.lines) - 1
	s.lines[last] = append(s.lines[last], '}') // not JSON any more, its numbers still there
	s.open(time.Millisecond, a, f, fRead)
	s.exit(time.Millisecond, a, 0)
	s.lines[len(s.lines)-1] = []byte("\x00\x01 garbage") // nothing to read: one global gap
	s.open(time.Millisecond, w.shell, f, fRead)          // which this shows
	sameLines(t, w.run(t, nil), []string{
		"exec 20 /opt/homebrew/bin/node root",
		"open 20 /Users/dev/p/a 0",
		"open 20 /Users/dev/p/a 0",
		"loss decode_error kind(0) 1",
		"loss decode_error file 1",
	})
}

func TestNumbers(t *testing.T) {
	for in, want := range map[string]Int{
		`42`: 42, `"42"`: 42, `null`: 0, `-1`: -1, `"-7"`: -7, `4294967295`: 4294967295,
		`18446744073709551615`: -1, `1e3`: 1000, `12.0`: 12, `000123`: 123,
	} {
		var n Int
		if err := n.UnmarshalJSON([]byte(in)); err != nil || n != want {
			t.Errorf("Int %s: %d %v, want %d", in, n, err, want)
		}
	}
	for _, in := range []string{`"x"`, `1.5`, `true`, `""`, `[]`, `"1 "`, `99999999999999999999`} {
		var n Int
		if err := n.UnmarshalJSON([]byte(in)); err == nil {
			t.Errorf("Int %s: no error (%d)", in, n)
		}
	}
	for in, want := range map[string]Bool{`true`: true, `1`: true, `"true"`: true, `false`: false, `0`: false, `null`: false} {
		var b Bool
		if err := b.UnmarshalJSON([]byte(in)); err != nil || b != want {
			t.Errorf("Bool %s: %v %v", in, b, err)
		}
	}
	var b Bool
	if err := b.UnmarshalJSON([]byte(`"yes"`)); err == nil {
		t.Error(`Bool "yes": no error`)
	}
}
