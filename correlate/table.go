package correlate

import (
	"fmt"
	"log/slog"
	"syscall"
	"time"

	"github.com/vigilsec/vigil/internal/redact"
	"github.com/vigilsec/vigil/sensor"
)

// Clock tells the table the current time; tests control it.
type Clock interface{ Now() time.Time }

// TimeSource converts kernel timestamps (ns since boot) to wall time.
type TimeSource interface{ Time(bootNS uint64) time.Time }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// Config sets up a Table.
type Config struct {
	BootID string     // /proc/sys/kernel/random/boot_id
	Times  TimeSource // kernel timestamps to wall time (required)
	Clock  Clock      // default: the system clock
	// AgentName names agent index i (sensor.Tree.Agent). Default: none.
	AgentName func(i uint32) string
	// ExitGrace is how long an exited process with no children left is
	// kept. Default 30s.
	ExitGrace time.Duration
	// MaxProcesses caps the table; beyond it exited processes are evicted
	// before their grace period ends. Default 65536.
	MaxProcesses int
	// FileFilter drops read-only opens of noise (default: none dropped).
	FileFilter FileFilter
	// Redactor removes secrets from arguments and URLs before anything
	// stores them (default: nil, nothing removed).
	Redactor *redact.Redactor
	// Hasher hashes executed binaries and written files (default: nil,
	// no hashes).
	Hasher *Hasher
	Logger *slog.Logger
}

// Source says where the table learned of a process.
type Source uint8

const (
	SourceKernel   Source = iota // a fork or exec record
	SourceProc                   // /proc at start-up
	SourceInferred               // named by a record before any of its own (fields partial)
)

func (s Source) String() string {
	switch s {
	case SourceKernel:
		return "kernel"
	case SourceProc:
		return "procfs"
	}
	return "inferred"
}

// Process is what the table knows of one process.
type Process struct {
	EntityID   string
	PID        uint32
	PPID       uint32
	StartTicks uint64
	Start      time.Time
	Name       string // thread name (comm)
	Executable string
	Args       []string
	Argc       int  // argument count the kernel saw
	ArgsCut    bool // Args is incomplete
	// CommandLine is the platform's own command line (Windows), kept
	// only when redaction left Args unchanged; else Args joined stands
	// for it.
	CommandLine string
	Cwd         string
	UID, GID    uint32
	EUID, EGID  uint32
	SID         string // the user's SID where users are named so (Windows)
	CgroupID    uint64
	ExeHash     string // SHA-256 of Executable, once known
	Source      Source
	// The strongest join key: the correlation ids in the environment at
	// exec (sensor.Event.CorrelationID, TraceID, SpanID; tracked processes
	// only), or read from /proc/PID/environ for a tracked tree found at
	// start-up. A child inherits them at fork; an exec whose environment
	// lacks one keeps it (a process that clears its environment stays
	// joined); an exec that carries one replaces it. TraceID and SpanID
	// change together.
	CorrelationID string
	TraceID       string
	SpanID        string

	Tree     sensor.Tree // zero when not in an agent tree
	Agent    string      // name of the agent owning the tree
	RootID   string      // entity id of the tree's root
	Parent   *Process    // nil when unknown
	Exited   bool
	End      time.Time
	ExitCode int64
	Signal   syscall.Signal
	CoreDump bool
	files    map[uint64]string       // open files being written: cookie -> path
	sockets  map[uint64]*socketState // sockets that sent: cookie -> first payload
	children int                     // table entries whose Parent is this
	evictAt  time.Time               // set once queued for eviction
	evicted  bool
}

// Previous is the program a process ran before an exec.
type Previous struct {
	Executable string
	Args       []string
	Argc       int
}

// Record is an event with the context the table adds. It is reused: valid
// until the next call to Handle.
type Record struct {
	Event    *sensor.Event
	Time     time.Time   // when the event happened
	Process  *Process    // fork: the child; exec, exit: the process; loss: nil
	Parent   *Process    // Process.Parent at the time, or nil
	Previous *Previous   // exec: what ran before; else nil
	File     *FileRecord // file events; else nil
	Net      *NetRecord  // network events; else nil
	Hash     *HashInfo   // exec, write totals, hash enrichment; else nil
	Join     *Join       // what the record was joined to (intents, sessions); else nil
	Intent   *IntentRecord
	Verdict  *Verdict
}

// HashInfo is what a record says about a hash: the SHA-256 if known, or
// why not (see the Hash* states), and for written files the hash Vigil
// knew of the content before the change.
type HashInfo struct {
	SHA256   string
	State    string
	Previous string
}

type key struct {
	pid   uint32
	ticks uint64
}

// Stats counts table activity.
type Stats struct {
	Live, Exited   int    // processes in the table
	Evicted        uint64 // after their grace period
	EvictedEarly   uint64 // before it, to honour MaxProcesses
	Inferred       uint64 // processes first seen only as a subject or parent
	PIDReuseClosed uint64 // entries closed because their PID was reused
	FilteredOpens  uint64 // read-only opens dropped by the file filter
	UnparsedDNS    uint64 // datagrams from port 53 that were not DNS answers
}

// Table is the process table.
type Table struct {
	cfg      Config
	byKey    map[key]*Process
	byEntity map[string]*Process
	byPID    map[uint32]*Process // newest process per PID
	queue    []*Process          // eviction queue from qhead on, ordered by evictAt
	qhead    int
	stats    Stats
	rec      Record
	prev     Previous
	hash     HashInfo
	hashEv   sensor.Event
	file     FileRecord
	net      NetRecord
	dns      dnsCache
	log      *slog.Logger
}

// NewTable returns an empty table.
func NewTable(cfg Config) (*Table, error) {
	if cfg.Times == nil {
		return nil, fmt.Errorf("correlate: config needs a TimeSource")
	}
	if cfg.Clock == nil {
		cfg.Clock = systemClock{}
	}
	if cfg.AgentName == nil {
		cfg.AgentName = func(uint32) string { return "" }
	}
	if cfg.ExitGrace <= 0 {
		cfg.ExitGrace = 30 * time.Second
	}
	if cfg.MaxProcesses <= 0 {
		cfg.MaxProcesses = 65536
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Table{
		cfg:      cfg,
		byKey:    make(map[key]*Process),
		byEntity: make(map[string]*Process),
		byPID:    make(map[uint32]*Process),
		log:      cfg.Logger,
	}, nil
}

// Len is the number of processes in the table.
func (t *Table) Len() int { return len(t.byKey) }

// Stats returns counters of table activity.
func (t *Table) Stats() Stats {
	s := t.stats
	s.Exited = 0
	for _, p := range t.byKey {
		if p.Exited {
			s.Exited++
		}
	}
	s.Live = len(t.byKey) - s.Exited
	return s
}

// Get returns the process with an entity id, or nil.
func (t *Table) Get(entityID string) *Process { return t.byEntity[entityID] }

// ByPID returns the newest process with a PID, or nil.
func (t *Table) ByPID(pid uint32) *Process { return t.byPID[pid] }

// Ancestry returns p's known ancestors, parent first.
func (t *Table) Ancestry(p *Process) []*Process {
	var out []*Process
	for a := p.Parent; a != nil && len(out) < 1024; a = a.Parent {
		out = append(out, a)
	}
	return out
}

// Seed adds processes read from /proc. Parents must come before children
// or already be in the table for links to form; tree applies to all of
// them (zero for none).
func (t *Table) Seed(snaps []sensor.Snapshot, tree sensor.Tree) {
	for i := range snaps {
		s := &snaps[i]
		k := key{s.Task.PID, sensor.NSToTicks(s.Task.StartTime)}
		p := t.byKey[k]
		if p == nil {
			p = t.insert(k, s.Task.PPID, SourceProc)
		}
		p.Name = s.Task.Comm
		p.Executable = s.Executable
		p.Args = t.cfg.Redactor.Args(s.Args)
		p.Argc = len(s.Args)
		p.Cwd = s.Cwd
		p.UID, p.GID, p.EUID, p.EGID = s.Task.UID, s.Task.GID, s.Task.EUID, s.Task.EGID
		p.Start = t.cfg.Times.Time(s.Task.StartTime)
		if !tree.IsZero() {
			t.setTree(p, tree)
			// /proc shows the environment of the last exec; one without
			// the ids keeps what the process inherited, as far as the
			// table can tell: its parent's.
			if pp := p.Parent; pp != nil {
				if p.CorrelationID == "" {
					p.CorrelationID = pp.CorrelationID
				}
				if p.TraceID == "" {
					p.TraceID, p.SpanID = pp.TraceID, pp.SpanID
				}
			}
			setIDs(p, s.CorrelationID, s.TraceID, s.SpanID)
		}
	}
}

// inheritIDs gives a new process its parent's correlation ids.
func inheritIDs(child, parent *Process) {
	child.CorrelationID, child.TraceID, child.SpanID = parent.CorrelationID, parent.TraceID, parent.SpanID
}

// setIDs applies the correlation ids an exec carried: a present id
// replaces the process's, a missing one keeps it.
func setIDs(p *Process, corr, trace, span string) {
	if corr != "" {
		p.CorrelationID = corr
	}
	if trace != "" {
		p.TraceID, p.SpanID = trace, span
	}
}

// Handle adds ev's facts to the table and returns the record for it, or
// nil when the event yields no record of its own (it only named a file
// for later totals, or the file filter dropped it).
func (t *Table) Handle(ev *sensor.Event) *Record {
	now := t.cfg.Clock.Now()
	t.sweep(now)
	t.rec = Record{Event: ev, Time: t.cfg.Times.Time(ev.KTime)}
	switch ev.Kind {
	case sensor.KindFork:
		parent := t.subject(ev)
		k := key{ev.ChildPID, sensor.NSToTicks(ev.ChildStart)}
		child := t.byKey[k]
		if child == nil {
			child = t.insert(k, parent.PID, SourceKernel)
		}
		child.Start = t.cfg.Times.Time(ev.ChildStart)
		child.Name = ev.Task.Comm // a child starts with the forking thread's name
		child.Executable, child.Args, child.Argc, child.ArgsCut = parent.Executable, parent.Args, parent.Argc, parent.ArgsCut
		child.CommandLine = parent.CommandLine
		child.Cwd = parent.Cwd
		child.ExeHash = parent.ExeHash
		inheritIDs(child, parent)
		t.setCreds(child, &ev.Task)
		t.link(child, parent)
		if !ev.Tree.IsZero() {
			t.setTree(child, ev.Tree)
		}
		t.rec.Process, t.rec.Parent = child, parent
	case sensor.KindExec:
		p := t.subject(ev)
		t.prev = Previous{Executable: p.Executable, Args: p.Args, Argc: p.Argc}
		p.Executable = ev.Executable
		p.Args = t.cfg.Redactor.Args(ev.Args)
		p.CommandLine = ""
		if ev.CommandLine != "" && sameSlice(p.Args, ev.Args) {
			p.CommandLine = ev.CommandLine
		}
		p.Argc = int(ev.Argc)
		p.ArgsCut = ev.Flags&(sensor.FlagArgsTruncated|sensor.FlagArgsUnreadable) != 0 || int(ev.Argc) > len(ev.Args)
		p.Cwd = ev.Cwd
		p.Name = ev.Task.Comm
		p.Source = SourceKernel // an exec record carries every field
		p.ExeHash = ""
		setIDs(p, ev.CorrelationID, ev.TraceID, ev.SpanID)
		t.rec.Process, t.rec.Parent = p, p.Parent
		if t.cfg.Hasher != nil {
			t.hash = HashInfo{}
			p.ExeHash, t.hash.State, _ = t.cfg.Hasher.Request(
				HashJob{Path: p.Executable, Process: *p, Exec: true, Time: t.rec.Time}, ev.ExeDevice, ev.ExeInode)
			t.hash.SHA256 = p.ExeHash
			t.rec.Hash = &t.hash
		}
		if t.prev.Executable != "" {
			t.rec.Previous = &t.prev
		}
	case sensor.KindFile:
		if !t.handleFile(ev) {
			return nil
		}
	case sensor.KindNet:
		if !t.handleNet(ev) {
			return nil
		}
	case sensor.KindExit:
		p := t.subject(ev)
		p.Exited = true
		p.End = t.rec.Time
		p.ExitCode = ev.ExitCode()
		p.Signal = ev.Signal()
		p.CoreDump = ev.CoreDumped()
		t.rec.Process, t.rec.Parent = p, p.Parent
		if p.children == 0 {
			t.enqueue(p, now)
		}
	}
	t.enforceCap(now)
	return &t.rec
}

// Sweep evicts processes whose grace period has ended. Handle sweeps too;
// call Sweep when no events arrive for a while.
func (t *Table) Sweep() { t.sweep(t.cfg.Clock.Now()) }

// subject finds or infers the process an event happened in, and refreshes
// what every header says about it.
func (t *Table) subject(ev *sensor.Event) *Process {
	k := key{ev.Task.PID, sensor.NSToTicks(ev.Task.StartTime)}
	p := t.byKey[k]
	if p == nil {
		p = t.insert(k, ev.Task.PPID, SourceInferred)
		t.stats.Inferred++
		p.Start = t.cfg.Times.Time(ev.Task.StartTime)
		p.Name = ev.Task.Comm
		if parent := t.byPID[ev.Task.PPID]; parent != nil && !parent.Exited {
			t.link(p, parent)
			inheritIDs(p, parent) // as its lost fork record would have
		}
	}
	if ev.Partial {
		return p
	}
	t.setCreds(p, &ev.Task)
	if !ev.Tree.IsZero() && p.Tree != ev.Tree {
		t.setTree(p, ev.Tree)
	}
	return p
}

func (t *Table) setCreds(p *Process, task *sensor.Task) {
	p.UID, p.GID, p.EUID, p.EGID = task.UID, task.GID, task.EUID, task.EGID
	if task.SID != "" {
		p.SID = task.SID
	}
	if task.CgroupID != 0 {
		p.CgroupID = task.CgroupID
	}
}

func (t *Table) setTree(p *Process, tree sensor.Tree) {
	p.Tree = tree
	p.Agent = t.cfg.AgentName(tree.Agent)
	p.RootID = EntityID(t.cfg.BootID, tree.RootPID, sensor.NSToTicks(tree.RootStart))
}

func (t *Table) insert(k key, ppid uint32, src Source) *Process {
	old := t.byPID[k.pid]
	newest := old == nil || k.ticks > old.StartTicks
	if old != nil && newest && !old.Exited {
		// The PID was reused, so the old process is gone even though its
		// exit record never arrived.
		old.Exited = true
		t.stats.PIDReuseClosed++
		if old.children == 0 {
			t.enqueue(old, t.cfg.Clock.Now())
		}
	}
	p := &Process{
		EntityID:   EntityID(t.cfg.BootID, k.pid, k.ticks),
		PID:        k.pid,
		PPID:       ppid,
		StartTicks: k.ticks,
		Source:     src,
	}
	t.byKey[k] = p
	t.byEntity[p.EntityID] = p
	if newest {
		// A late record of an older process must not hide the newer one.
		t.byPID[k.pid] = p
	}
	if src == SourceProc {
		if parent := t.byPID[ppid]; parent != nil {
			t.link(p, parent)
		}
	}
	return p
}

func (t *Table) link(child, parent *Process) {
	if child.Parent == parent || child == parent {
		return
	}
	if child.Parent != nil {
		t.release(child.Parent)
	}
	child.Parent = parent
	child.PPID = parent.PID
	parent.children++
}

// release drops one child reference from p.
func (t *Table) release(p *Process) {
	p.children--
	if p.children == 0 && p.Exited {
		t.enqueue(p, t.cfg.Clock.Now())
	}
}

func (t *Table) enqueue(p *Process, now time.Time) {
	if !p.evictAt.IsZero() || p.evicted {
		return
	}
	p.evictAt = now.Add(t.cfg.ExitGrace)
	t.queue = append(t.queue, p)
}

func (t *Table) sweep(now time.Time) {
	for t.qhead < len(t.queue) && !t.queue[t.qhead].evictAt.After(now) {
		if p := t.pop(); t.evictable(p) {
			t.evict(p)
			t.stats.Evicted++
		}
	}
}

// evictable re-checks a process taken off the queue: one that gained a
// child while queued (a late fork record) stays, and is queued again when
// that child is released.
func (t *Table) evictable(p *Process) bool {
	if p.children > 0 || !p.Exited {
		p.evictAt = time.Time{}
		return false
	}
	return true
}

func (t *Table) enforceCap(now time.Time) {
	if len(t.byKey) <= t.cfg.MaxProcesses {
		return
	}
	for t.qhead < len(t.queue) && len(t.byKey) > t.cfg.MaxProcesses {
		if p := t.pop(); t.evictable(p) {
			t.evict(p)
			t.stats.EvictedEarly++
		}
	}
	if len(t.byKey) > t.cfg.MaxProcesses {
		t.log.Warn("process table over its cap with only live processes", "len", len(t.byKey), "cap", t.cfg.MaxProcesses)
	}
}

// pop takes the head of the eviction queue, compacting the queue once
// most of it is consumed.
func (t *Table) pop() *Process {
	p := t.queue[t.qhead]
	t.queue[t.qhead] = nil
	t.qhead++
	if t.qhead == len(t.queue) {
		t.queue, t.qhead = t.queue[:0], 0
	} else if t.qhead >= 1024 && t.qhead*2 >= len(t.queue) {
		n := copy(t.queue, t.queue[t.qhead:])
		clear(t.queue[n:])
		t.queue, t.qhead = t.queue[:n], 0
	}
	return p
}

// evict removes p (exited, childless). Its parent may become evictable in
// turn; it then joins the end of the queue with a fresh grace period.
func (t *Table) evict(p *Process) {
	if p.evicted {
		return
	}
	p.evicted = true
	k := key{p.PID, p.StartTicks}
	if t.byKey[k] == p {
		delete(t.byKey, k)
	}
	if t.byEntity[p.EntityID] == p {
		delete(t.byEntity, p.EntityID)
	}
	if t.byPID[p.PID] == p {
		delete(t.byPID, p.PID)
	}
	if p.Parent != nil {
		t.release(p.Parent)
	}
}

// Reconcile marks live-looking processes that alive says are gone as
// exited, so they can be evicted. Their exit records were lost or never
// in scope (a tree root's untracked ancestors). It returns how many it
// closed.
func (t *Table) Reconcile(alive func(pid uint32, startTicks uint64) bool) int {
	now := t.cfg.Clock.Now()
	n := 0
	for _, p := range t.byKey {
		if p.Exited || alive(p.PID, p.StartTicks) {
			continue
		}
		p.Exited = true
		n++
		if p.children == 0 {
			t.enqueue(p, now)
		}
	}
	return n
}

// HashRecord turns a finished hash job into an enrichment record, and
// gives a still-known process its binary's hash.
func (t *Table) HashRecord(res *HashResult) *Record {
	t.rec = Record{Event: &t.hashEv, Time: res.Time, Process: &res.Process}
	t.hashEv = sensor.Event{Kind: sensor.KindHash}
	t.hash = HashInfo{SHA256: res.SHA256, State: res.State}
	t.rec.Hash = &t.hash
	if res.Exec {
		if p := t.Get(res.Process.EntityID); p != nil && res.SHA256 != "" && p.Executable == res.Path {
			p.ExeHash = res.SHA256
		}
		res.Process.ExeHash = res.SHA256
		return &t.rec
	}
	t.file = FileRecord{Path: res.Path, PathSource: "kernel"}
	t.rec.File = &t.file
	return &t.rec
}

// sameSlice reports whether a and b are the same slice (redaction returns
// its input when it changed nothing).
func sameSlice(a, b []string) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}
