package esf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vigilsec/vigil/sensor"
)

// es_event_type_t values (<EndpointSecurity/ESTypes.h>) of the events the
// Decoder reads, for messages whose payload is missing and for the
// per-type sequence numbers.
const (
	typeExec        = 9
	typeOpen        = 10
	typeFork        = 11
	typeClose       = 12
	typeExit        = 15
	typeRename      = 25
	typeUnlink      = 32
	typeWrite       = 33
	typeUIPCConnect = 78
)

// DefaultEvents returns the eslogger event names the Decoder turns into
// events, in the form eslogger takes them as arguments.
func DefaultEvents() []string {
	return []string{"exec", "fork", "exit", "open", "close", "write", "unlink", "rename", "uipc_connect"}
}

// classOf is the record kind an event type yields, for loss records; 0
// for types the Decoder does not read.
func classOf(typ int64) sensor.Kind {
	switch typ {
	case typeExec:
		return sensor.KindExec
	case typeFork:
		return sensor.KindFork
	case typeExit:
		return sensor.KindExit
	case typeOpen, typeClose, typeWrite, typeUnlink, typeRename:
		return sensor.KindFile
	case typeUIPCConnect:
		return sensor.KindNet
	}
	return 0
}

// MaxPendingFiles bounds the (process, file) write totals kept between a
// file's first write and its close or the process's exit; past it,
// writes are counted as CauseAggFull loss.
const MaxPendingFiles = 65536

// A DecodeError is a line that could not be turned into events. The
// Decoder has counted it: its next loss report includes it.
type DecodeError struct {
	Event string // the event's name, when known
	Err   error
}

func (e *DecodeError) Error() string {
	if e.Event == "" {
		return fmt.Sprintf("decode eslogger line: %v", e.Err)
	}
	return fmt.Sprintf("decode eslogger %s message: %v", e.Event, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// A Decoder turns eslogger's JSON lines into Events, scoped to the agent
// trees of a TreeScope. It keeps state across lines (process identities,
// write totals, sequence numbers), so one Decoder reads one stream in
// order. A Decoder is not safe for concurrent use.
type Decoder struct {
	scope *sensor.TreeScope
	msg   Message
	ev    sensor.Event // the event being emitted, reused

	// starts holds the start time (ns) of every process the scope tracks
	// that the Decoder has seen: a message whose process has the same pid
	// but another start time means the pid was reused and the old
	// process's exit was lost.
	starts map[uint32]uint64
	// escaped holds the start times of processes a full scope left out
	// of their parent's tree, so each is counted once (not again at each
	// of its messages, as a lost fork to make up for).
	escaped map[uint32]uint64
	writes  writeTable
	seq     seqTracker
	loss    lossCounts
	last    uint64 // KTime of the latest message
	maxLine int    // MaxLine; tests lower it
}

// lossCounts is loss not yet reported, by record class (Kind 0..5).
type lossCounts struct {
	decode  [sensor.KindNet + 1]uint64 // lines that could not be decoded
	dropped [sensor.KindNet + 1]uint64 // messages ES dropped (sequence gaps)
	aggFull uint64                     // writes past MaxPendingFiles
}

// NewDecoder returns a Decoder for one stream. scope decides which
// processes' events are wanted; nil puts every process in scope
// (trace-all, no trees).
func NewDecoder(scope *sensor.TreeScope) *Decoder {
	if scope == nil {
		scope = sensor.NewTreeScope(nil, true, 0)
	}
	return &Decoder{
		scope:   scope,
		starts:  make(map[uint32]uint64),
		escaped: make(map[uint32]uint64),
		writes:  writeTable{procs: make(map[uint32]*procWrites), max: MaxPendingFiles},
		seq:     seqTracker{last: make(map[int64]uint64)},
		maxLine: MaxLine,
	}
}

// event returns the message's event member: its name and es_event_type_t;
// name is "" for an event the Decoder does not read.
func (m *Message) event() (name string, typ int64, err error) {
	e := &m.Event
	n := 0
	set := func(present bool, nm string, t int64) {
		if present {
			n++
			name, typ = nm, t
		}
	}
	set(e.Exec != nil, "exec", typeExec)
	set(e.Fork != nil, "fork", typeFork)
	set(e.Exit != nil, "exit", typeExit)
	set(e.Open != nil, "open", typeOpen)
	set(e.Close != nil, "close", typeClose)
	set(e.Write != nil, "write", typeWrite)
	set(e.Unlink != nil, "unlink", typeUnlink)
	set(e.Rename != nil, "rename", typeRename)
	set(e.UIPCConnect != nil, "uipc_connect", typeUIPCConnect)
	switch {
	case n > 1:
		return "", 0, errors.New("event holds more than one member")
	case n == 1:
		return name, typ, nil
	case m.EventType != nil:
		typ = int64(*m.EventType)
		if classOf(typ) != 0 {
			return "", typ, fmt.Errorf("event_type %d without its event", typ)
		}
		return "", typ, nil
	case e.other:
		return "", 0, nil
	}
	return "", 0, errors.New("no event")
}

// DecodeLine decodes one line of eslogger output and passes the events it
// yields, if any, to emit; an *Event is valid until emit returns. Lines
// of events the Decoder does not read, and events of processes out of
// scope, yield nothing. A line that cannot be decoded yields a
// *DecodeError and is counted as loss (see [Decoder.ReportLoss]); an
// error from emit is returned as it is.
func (d *Decoder) DecodeLine(line []byte, emit func(*sensor.Event) error) error {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return nil
	}
	m := &d.msg
	*m = Message{}
	if err := json.Unmarshal(line, m); err != nil {
		return d.unparsed(m, line, err)
	}
	name, typ, err := m.event()
	d.observeSeq(m, name, typ)
	if err != nil {
		return d.decodeError(m, err)
	}
	if name == "" {
		return nil // an event Vigil does not read
	}
	ktime, ok := m.Time.unixNS()
	if !ok {
		return d.decodeError(m, errors.New("no valid time"))
	}
	if m.Process == nil {
		return d.decodeError(m, errors.New("no process"))
	}
	d.last = ktime
	e := &m.Event
	switch {
	case e.Exec != nil:
		err = d.exec(m, ktime, emit)
	case e.Fork != nil:
		err = d.fork(m, ktime, emit)
	case e.Exit != nil:
		err = d.exit(m, ktime, emit)
	case e.UIPCConnect != nil:
		err = d.connect(m, ktime, emit)
	default:
		err = d.file(m, ktime, emit)
	}
	var bad badMessage
	if errors.As(err, &bad) {
		return d.decodeError(m, err)
	}
	return err
}

// badMessage is a message that parsed but lacks what its event needs.
type badMessage string

func (b badMessage) Error() string { return string(b) }

// unparsed counts a line that is not a message (or one cut short, or
// too long to read whole): what it says of its place in the stream is
// salvaged, so the sequence numbers it took do not also count as drops.
func (d *Decoder) unparsed(m *Message, line []byte, err error) error {
	if m.EventType == nil {
		m.EventType = findInt(line, "event_type")
	}
	if m.SeqNum == nil {
		m.SeqNum = findInt(line, "seq_num")
	}
	if m.GlobalSeqNum == nil {
		m.GlobalSeqNum = findInt(line, "global_seq_num")
		if m.GlobalSeqNum == nil {
			d.seq.undecoded++
		}
	}
	name, typ, _ := m.event()
	d.observeSeq(m, name, typ)
	return d.decodeError(m, err)
}

// findInt finds "key": followed by a whole integer in a line that did not
// parse. (Inside a JSON string the quotes would be escaped.)
func findInt(line []byte, key string) *Int {
	i := bytes.Index(line, []byte(`"`+key+`":`))
	if i < 0 {
		return nil
	}
	rest := bytes.TrimLeft(line[i+len(key)+3:], " \t\"")
	n := 0
	for n < len(rest) && '0' <= rest[n] && rest[n] <= '9' {
		n++
	}
	if n == 0 || n == len(rest) || n > 19 {
		return nil // cut off within the number
	}
	var v Int
	if err := v.UnmarshalJSON(rest[:n]); err != nil {
		return nil
	}
	return &v
}

// decodeError counts a line that could not be decoded, by the class of
// the event it held as far as it could be read.
func (d *Decoder) decodeError(m *Message, err error) error {
	name, typ, _ := m.event()
	if name == "" && m.EventType != nil {
		typ = int64(*m.EventType)
	}
	d.loss.decode[classOf(typ)]++
	return &DecodeError{Event: name, Err: err}
}

// observeSeq follows the message's sequence numbers and counts the
// messages ES dropped before it. The type is event_type, or the member's
// when event_type is missing.
func (d *Decoder) observeSeq(m *Message, name string, typ int64) {
	seq := m.SeqNum
	switch {
	case m.EventType != nil:
		typ = int64(*m.EventType)
	case name == "":
		seq = nil // no type to count it under
	}
	if n := d.seq.observe(typ, seq, m.GlobalSeqNum); n > 0 {
		d.loss.dropped[classOf(typ)] += n
	}
}

// begin resets the scratch event for a record of kind.
func (d *Decoder) begin(kind sensor.Kind, ktime uint64, tree sensor.Tree, task sensor.Task) *sensor.Event {
	d.ev = sensor.Event{Kind: kind, KTime: ktime, Tree: tree, Task: task}
	return &d.ev
}

// startOf is a process's start time in ns since the Unix epoch, 0 if
// unknown.
func startOf(p *Process) uint64 {
	ns, _ := p.StartTime.unixNS()
	return ns
}

// identify settles which process p is and returns its tree and whether
// its records are wanted. Processes are identified by (pid, start time),
// as the correlator keys them: start_time is the fork's and survives
// exec, while audit_token.pidversion changes with every exec. So a
// tracked pid seen with another start time was reused, its exit lost: it
// leaves the scope (and its write totals are reported). A process not in
// a tree whose parent is joins it, as its lost fork would have made it.
func (d *Decoder) identify(p *Process, emit func(*sensor.Event) error) (sensor.Tree, bool, error) {
	pid, start := uint32(p.AuditToken.PID), startOf(p)
	if err := d.settlePID(pid, start, emit); err != nil {
		return sensor.Tree{}, false, err
	}
	tree, wanted := d.scope.Of(pid)
	if !tree.IsZero() {
		if _, ok := d.starts[pid]; !ok && start != 0 {
			d.starts[pid] = start // tracked from outside (TreeScope.Track)
		}
		return tree, wanted, nil
	}
	parent := uint32(p.OriginalPPID)
	if parent == 0 {
		parent = uint32(p.PPID)
	}
	if parent == 0 || parent == pid {
		return tree, wanted, nil
	}
	if ptree, _ := d.scope.Of(parent); ptree.IsZero() {
		return tree, wanted, nil
	}
	if ps, ok := d.starts[parent]; ok && start != 0 && start < ps {
		// Born before the tracked parent: an older process with the
		// parent's pid forked it.
		return tree, wanted, nil
	}
	if s, ok := d.escaped[pid]; ok && s == start {
		return tree, wanted, nil
	}
	tree, wanted = d.join(parent, pid, start)
	return tree, wanted, nil
}

// join puts pid (started at start) in parent's tree, if parent is in
// one, and returns pid's tree and whether its records are wanted.
func (d *Decoder) join(parent, pid uint32, start uint64) (sensor.Tree, bool) {
	d.scope.Fork(parent, pid)
	tree, wanted := d.scope.Of(pid)
	if !tree.IsZero() {
		if start != 0 {
			d.starts[pid] = start
		}
		return tree, wanted
	}
	if pt, _ := d.scope.Of(parent); !pt.IsZero() {
		// The scope is full: the child escaped, and the scope counted it.
		if len(d.escaped) >= maxEscaped {
			clear(d.escaped)
		}
		d.escaped[pid] = start
	}
	return tree, wanted
}

// maxEscaped bounds Decoder.escaped; when full it starts over (and a
// process may be counted twice).
const maxEscaped = 4096

// settlePID ends what the Decoder holds for an earlier process with pid
// when the process now seen with it started at another time.
func (d *Decoder) settlePID(pid uint32, start uint64, emit func(*sensor.Event) error) error {
	if start == 0 {
		return nil
	}
	if s, ok := d.starts[pid]; ok && s != start {
		d.scope.Exit(pid)
		delete(d.starts, pid)
	}
	if w := d.writes.procs[pid]; w != nil && w.start != start {
		return d.flushWrites(pid, w, sensor.FileStale, d.last, nil, emit)
	}
	return nil
}

// task is the sensor's view of an es_process_t: UID, GID are the real
// ids, EUID, EGID the effective ones; TID is the thread's id when it
// fits, else the pid.
func task(p *Process, th *Thread) sensor.Task {
	tok := &p.AuditToken
	t := sensor.Task{
		PID:       uint32(tok.PID),
		PPID:      uint32(p.PPID),
		UID:       uint32(tok.RUID),
		GID:       uint32(tok.RGID),
		EUID:      uint32(tok.EUID),
		EGID:      uint32(tok.EGID),
		StartTime: startOf(p),
	}
	t.TID = t.PID
	if th != nil && th.ThreadID > 0 && th.ThreadID <= math.MaxUint32 {
		t.TID = uint32(th.ThreadID)
	}
	if p.Executable != nil {
		t.Comm = comm(p.Executable.Path)
	}
	return t
}

// comm is the executable's base name cut to 15 bytes, as a thread name,
// on a UTF-8 boundary.
func comm(exe string) string {
	name := exe[strings.LastIndexByte(exe, '/')+1:]
	if len(name) <= 15 {
		return name
	}
	i := 15
	for i > 0 && !utf8.RuneStart(name[i]) {
		i--
	}
	return name[:i]
}

func (d *Decoder) exec(m *Message, ktime uint64, emit func(*sensor.Event) error) error {
	x := m.Event.Exec
	if x.Target == nil || x.Target.Executable == nil {
		return badMessage("exec without target executable")
	}
	// The message's process is the same process before the exec.
	if _, _, err := d.identify(m.Process, emit); err != nil {
		return err
	}
	t := x.Target
	pid, start := uint32(t.AuditToken.PID), startOf(t)
	if start == 0 {
		start = startOf(m.Process)
	}
	exe := t.Executable.Path
	tree, wanted, root := d.scope.Exec(pid, start, exe, x.Args)
	if !tree.IsZero() && start != 0 {
		d.starts[pid] = start
	}
	if !wanted {
		return nil
	}
	ev := d.begin(sensor.KindExec, ktime, tree, task(t, m.Thread))
	ev.Executable = exe
	ev.Args = x.Args
	ev.Argc = uint32(len(x.Args))
	if bool(t.Executable.PathTruncated) {
		ev.Flags |= sensor.FlagExeTruncated
	}
	if x.Cwd != nil {
		ev.Cwd = x.Cwd.Path
		if bool(x.Cwd.PathTruncated) {
			ev.Flags |= sensor.FlagCwdTruncated
		}
	}
	if st := t.Executable.Stat; st != nil {
		ev.ExeInode, ev.ExeDevice = uint64(st.Ino), darwinDev(int64(st.Dev))
	}
	if root {
		ev.Flags |= sensor.FlagNewRoot
	}
	if !tree.IsZero() {
		correlationIDs(ev, x.Env)
	}
	return emit(ev)
}

// correlationIDs reads the ids a launcher put in the environment, as the
// kernel does for tracked processes on Linux: the first occurrence of
// each variable counts, an empty value is no value.
func correlationIDs(ev *sensor.Event, env []string) {
	var corr, tp bool
	for _, kv := range env {
		if !corr {
			if v, ok := strings.CutPrefix(kv, sensor.EnvCorrelationID+"="); ok {
				corr = true
				if id, ok := sensor.ParseCorrelationID(v); ok {
					ev.CorrelationID = id
				} else if v != "" {
					ev.Flags |= sensor.FlagCorrelationIDInvalid
				}
			}
		}
		if !tp {
			if v, ok := strings.CutPrefix(kv, sensor.EnvTraceparent+"="); ok {
				tp = true
				if trace, span, ok := sensor.ParseTraceparent(v); ok {
					ev.TraceID, ev.SpanID = trace, span
				} else if v != "" {
					ev.Flags |= sensor.FlagTraceparentInvalid
				}
			}
		}
		if corr && tp {
			return
		}
	}
}

func (d *Decoder) fork(m *Message, ktime uint64, emit func(*sensor.Event) error) error {
	c := m.Event.Fork.Child
	if c == nil {
		return badMessage("fork without child")
	}
	if _, _, err := d.identify(m.Process, emit); err != nil {
		return err
	}
	ppid := uint32(m.Process.AuditToken.PID)
	cpid, cstart := uint32(c.AuditToken.PID), startOf(c)
	if err := d.settlePID(cpid, cstart, emit); err != nil {
		return err
	}
	tree, wanted := d.join(ppid, cpid, cstart)
	if !wanted {
		return nil
	}
	ev := d.begin(sensor.KindFork, ktime, tree, task(m.Process, m.Thread))
	ev.ChildPID, ev.ChildStart = cpid, cstart
	return emit(ev)
}

func (d *Decoder) exit(m *Message, ktime uint64, emit func(*sensor.Event) error) error {
	tree, wanted, err := d.identify(m.Process, emit)
	if err != nil {
		return err
	}
	tk := task(m.Process, m.Thread)
	// Write totals first, so they precede the exit record (as on Linux).
	if w := d.writes.procs[tk.PID]; w != nil {
		if err := d.flushWrites(tk.PID, w, sensor.FileAtExit, ktime, &tk, emit); err != nil {
			return err
		}
	}
	if wanted {
		ev := d.begin(sensor.KindExit, ktime, tree, tk)
		ev.Status = uint32(m.Event.Exit.Stat)
		if err := emit(ev); err != nil {
			return err
		}
	}
	d.scope.Exit(tk.PID)
	delete(d.starts, tk.PID)
	delete(d.escaped, tk.PID)
	return nil
}

func (d *Decoder) connect(m *Message, ktime uint64, emit func(*sensor.Event) error) error {
	c := m.Event.UIPCConnect
	if c.File == nil {
		return badMessage("uipc_connect without file")
	}
	tree, wanted, err := d.identify(m.Process, emit)
	if err != nil || !wanted {
		return err
	}
	ev := d.begin(sensor.KindNet, ktime, tree, task(m.Process, m.Thread))
	ev.Net = sensor.Net{
		Op:       sensor.NetConnect,
		Dst:      sensor.Endpoint{Family: sensor.FamilyUnix, Path: c.File.Path},
		FD:       -1,
		SockType: uint16(c.Type),
		Protocol: uint16(c.Protocol),
	}
	return emit(ev)
}

// fileFlags are the flags every file record of f carries: its path is
// whole and absolute (from the kernel's vnode), perhaps cut short.
func fileFlags(f *File) sensor.FileFlags {
	fl := sensor.FilePathExact
	if bool(f.PathTruncated) {
		fl |= sensor.FilePathCut
	}
	if f.isRegular() {
		fl |= sensor.FileRegular
	}
	return fl
}

// devIno is f's device (macOS's dev_t, as stat(2) gives it, which is what
// the correlator compares on macOS) and inode; zero without stat.
func devIno(f *File) (dev, ino uint64) {
	if f.Stat == nil {
		return 0, 0
	}
	return darwinDev(int64(f.Stat.Dev)), uint64(f.Stat.Ino)
}

// darwinDev converts a macOS dev_t (major in the top byte, minor in the
// low 24 bits) to the events' layout (sensor.Mkdev).
func darwinDev(dev int64) uint64 {
	d := uint32(dev)
	return sensor.Mkdev(d>>24, d&0xffffff)
}

func (d *Decoder) file(m *Message, ktime uint64, emit func(*sensor.Event) error) error {
	e := &m.Event
	var f *File
	switch {
	case e.Open != nil:
		f = e.Open.File
	case e.Close != nil:
		f = e.Close.Target
	case e.Write != nil:
		f = e.Write.Target
	case e.Unlink != nil:
		f = e.Unlink.Target
	case e.Rename != nil:
		f = e.Rename.Source
	}
	if f == nil {
		return badMessage("no file")
	}
	var dst string
	if e.Rename != nil {
		var err error
		if dst, err = e.Rename.destination(); err != nil {
			return err
		}
	}
	tree, wanted, err := d.identify(m.Process, emit)
	if err != nil || !wanted {
		return err
	}
	tk := task(m.Process, m.Thread)
	switch {
	case e.Write != nil:
		return d.write(tk, tree, ktime, f, emit)
	case e.Close != nil:
		if !bool(e.Close.Modified) {
			return nil
		}
		return d.closeModified(tk, tree, ktime, f, emit)
	}
	ev := d.begin(sensor.KindFile, ktime, tree, tk)
	dev, ino := devIno(f)
	ev.File = sensor.File{Flags: fileFlags(f), Inode: ino, Device: dev, FD: -1, Path: f.Path}
	switch {
	case e.Open != nil:
		ev.File.Op = sensor.FileOpen
		ev.File.OpenFlags = openFlags(int64(e.Open.FFlag))
		ev.File.Flags |= sensor.FileModeUnknown // ES's open carries no creation mode
	case e.Unlink != nil:
		ev.File.Op = sensor.FileUnlink
		if f.isDir() {
			ev.File.Op = sensor.FileRmdir
		}
	case e.Rename != nil:
		ev.File.Op = sensor.FileRename
		ev.File.Path2 = dst
		if r := e.Rename.Destination; r.NewPath != nil && r.NewPath.Dir != nil && bool(r.NewPath.Dir.PathTruncated) ||
			r.ExistingFile != nil && bool(r.ExistingFile.PathTruncated) {
			ev.File.Flags |= sensor.FilePathCut
		}
	}
	return emit(ev)
}

// destination is the rename's new path: the file it replaces, or a new
// name in a directory, as destination_type says. A message whose
// destination_type names a member it lacks is read by the member it has.
func (r *RenameEvent) destination() (string, error) {
	ex, np := r.Destination.ExistingFile, r.Destination.NewPath
	if np != nil && np.Dir == nil {
		np = nil
	}
	switch {
	case r.DestinationType == DestinationNewPath && np != nil, ex == nil && np != nil:
		if np.Filename == "" {
			return "", badMessage("rename to a new path without a file name")
		}
		if strings.HasSuffix(np.Dir.Path, "/") {
			return np.Dir.Path + np.Filename, nil
		}
		return np.Dir.Path + "/" + np.Filename, nil
	case ex != nil:
		return ex.Path, nil
	}
	return "", badMessage("rename without destination")
}

// FFLAG bits and O_ flags (<sys/fcntl.h>) in the fflag of an open: the
// kernel's mask (FFLAGS(oflag) = oflag + 1, so O_RDONLY is FREAD, O_RDWR
// FREAD|FWRITE), with the other O_ flags in place.
const (
	fRead   = 0x1
	fWrite  = 0x2
	oAppend = 0x8
	oCreat  = 0x200
	oTrunc  = 0x400
	oExcl   = 0x800
)

// openFlags maps an open's fflag to the Linux O_ numbers records carry,
// for the flags whose meaning is the same: the access mode, O_CREAT,
// O_EXCL, O_TRUNC and O_APPEND. Other bits are left out.
func openFlags(fflag int64) uint32 {
	const (
		linuxWronly = 0o1
		linuxRdwr   = 0o2
		linuxCreat  = 0o100
		linuxExcl   = 0o200
		linuxTrunc  = 0o1000
		linuxAppend = 0o2000
	)
	var o uint32
	switch fflag & (fRead | fWrite) {
	case fWrite:
		o = linuxWronly
	case fRead | fWrite:
		o = linuxRdwr
	}
	for _, m := range [...]struct {
		mac   int64
		linux uint32
	}{{oCreat, linuxCreat}, {oExcl, linuxExcl}, {oTrunc, linuxTrunc}, {oAppend, linuxAppend}} {
		if fflag&m.mac != 0 {
			o |= m.linux
		}
	}
	return o
}

// ReportLoss passes what was lost since the last report to emit, as
// KindLoss events: messages ES dropped (seen as gaps in the per-type
// sequence numbers; CauseRingbufFull, the kernel's queue to the client
// overflowed), lines that could not be decoded (CauseDecode), write
// totals not kept (CauseAggFull) and processes left out of a full scope
// (CauseTrackFull).
func (d *Decoder) ReportLoss(emit func(*sensor.Event) error) error {
	report := func(cause sensor.Cause, class sensor.Kind, n *uint64) error {
		if *n == 0 {
			return nil
		}
		c := *n
		*n = 0
		d.ev = sensor.Event{Kind: sensor.KindLoss, KTime: d.lossTime(), Loss: sensor.Loss{Cause: cause, Class: class, Count: c}}
		return emit(&d.ev)
	}
	for class := range d.loss.dropped {
		if err := report(sensor.CauseRingbufFull, sensor.Kind(class), &d.loss.dropped[class]); err != nil {
			return err
		}
	}
	for class := range d.loss.decode {
		if err := report(sensor.CauseDecode, sensor.Kind(class), &d.loss.decode[class]); err != nil {
			return err
		}
	}
	if err := report(sensor.CauseAggFull, sensor.KindFile, &d.loss.aggFull); err != nil {
		return err
	}
	n := d.scope.Dropped()
	return report(sensor.CauseTrackFull, 0, &n)
}

// lossTime stamps loss records: the time of the latest message, which is
// "now" in the stream's own clock (and repeatable in a replay).
func (d *Decoder) lossTime() uint64 {
	if d.last != 0 {
		return d.last
	}
	return uint64(time.Now().UnixNano())
}

// Close ends the stream: write totals still pending are reported
// (FileWriteEnd with FileAtStop: the sensor stops watching their
// processes), messages ES dropped that no later message of their type
// attributed are reported without a class, and then all other loss. The
// Decoder may then read a new stream.
func (d *Decoder) Close(emit func(*sensor.Event) error) error {
	for _, pid := range slices.Sorted(maps.Keys(d.writes.procs)) {
		if err := d.flushWrites(pid, d.writes.procs[pid], sensor.FileAtStop, d.last, nil, emit); err != nil {
			return err
		}
	}
	d.loss.dropped[0] += d.seq.end()
	return d.ReportLoss(emit)
}
