package etw

import (
	"cmp"
	"errors"
	"fmt"
	"hash/fnv"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vigilsec/vigil/sensor"
)

// Event ids the decoder maps, by provider. The templates are in
// decode_test.go, with their sources.
const (
	// Microsoft-Windows-Kernel-Process
	evProcessStart   = 1
	evProcessStop    = 2
	evProcessRundown = 15

	// Microsoft-Windows-Kernel-File
	evFileCreate     = 12
	evFileCleanup    = 13
	evFileClose      = 14
	evFileWrite      = 16
	evFileDeletePath = 26
	evFileRenamePath = 27

	// Microsoft-Windows-Kernel-Network
	evTCPSend4       = 10
	evTCPConnect4    = 12
	evTCPDisconnect4 = 13
	evTCPSend6       = 26
	evTCPConnect6    = 28
	evTCPDisconnect6 = 29
	evUDPSend4       = 42
	evUDPSend6       = 58
)

// EventIDs are the event ids of provider the decoder maps (nil for
// other providers): a session needs no others.
func EventIDs(provider string) []uint16 {
	switch provider {
	case KernelProcess:
		return []uint16{evProcessStart, evProcessStop, evProcessRundown}
	case KernelFile:
		return []uint16{evFileCreate, evFileCleanup, evFileClose, evFileWrite, evFileDeletePath, evFileRenamePath}
	case KernelNetwork:
		return []uint16{evTCPSend4, evTCPConnect4, evTCPDisconnect4, evTCPSend6, evTCPConnect6, evTCPDisconnect6, evUDPSend4, evUDPSend6}
	}
	return nil
}

// Linux's numbers, which sensor.Event fields hold on every platform (as
// Endpoint.Family holds AF_INET's).
const (
	oWronly      = 0o1
	oCreat       = 0o100
	oExcl        = 0o200
	oTrunc       = 0o1000
	oDirectory   = 0o200000
	fmodeCreated = 0x100000 // FMODE_CREATED (see output/file.go)
	sockStream   = 1
	sockDgram    = 2
	ipprotoTCP   = 6
	ipprotoUDP   = 17
)

// NtCreateFile dispositions and options (wdm.h), and IRP flags. Kernel-
// File's CreateOptions holds the disposition in its high 8 bits and the
// options in the low 24 (IRP_MJ_CREATE's Parameters.Create.Options).
const (
	fileSupersede     = 0
	fileOpen          = 1
	fileCreate        = 2
	fileOpenIf        = 3
	fileOverwrite     = 4
	fileOverwriteIf   = 5
	fileDirectoryFile = 0x1
	fileDeleteOnClose = 0x1000
	irpPagingIO       = 0x2 // IOFlags: the cache or memory manager writing pages back
)

// Errors Decode fails with (wrapped in a *DecodeError).
var (
	ErrUnknownProvider = errors.New("unknown provider")
	ErrNoTimestamp     = errors.New("record has no timestamp")
)

// DecodeError says which record failed to decode and why: a property
// missing or of the wrong type, or a provider the decoder does not know.
// The Decoder has counted it: its next loss report includes it.
type DecodeError struct {
	Provider string
	EventID  uint16
	Version  uint8
	Err      error
}

func (e *DecodeError) Error() string {
	name := ProviderName(e.Provider)
	if name == "" {
		name = "provider " + e.Provider
	}
	return fmt.Sprintf("decode %s event %d v%d: %v", name, e.EventID, e.Version, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// ProcessInfo is what a consumer reads from a live process because
// Kernel-Process does not log it.
type ProcessInfo struct {
	CommandLine string
	Cwd         string
	SID         string // the token's user
	// The environment's correlation ids (read only when env is true):
	// the variables' raw values, "" when unset.
	CorrelationID string
	Traceparent   string
	EnvTruncated  bool // the environment was longer than the part read
}

// ProcessReader reads what Kernel-Process leaves out of ProcessStart from
// the live process pid, created at created (so a reused pid is not read).
// The decoder calls it for every process start or rundown without a
// CommandLine property, before the scope decides (agents are matched by
// their arguments too); env asks for the correlation ids as well, which
// only processes in an agent's tree are read for: a child of a tracked
// process at once, a new root in a second call. The process may have
// exited already (see the package doc).
type ProcessReader func(pid uint32, created time.Time, env bool) (ProcessInfo, error)

// Limits bound the decoder's tables; zero fields take the defaults.
type Limits struct {
	Processes  int // processes known at once (default 65536)
	Files      int // file objects whose path is known (default 65536)
	Aggregates int // write and send totals kept at once, each (default 16384, as the Linux maps)
}

// Option configures a Decoder.
type Option func(*Decoder)

// WithDevices converts kernel paths to DOS paths with a map of NT device
// names to drives ("\Device\HarddiskVolume3" -> "C:"). Without it paths
// keep their kernel form; UNC paths are converted regardless.
func WithDevices(m map[string]string) Option {
	return func(d *Decoder) { d.devs = newDevices(m) }
}

// WithProcessReader has the decoder read each new process with r (see
// ProcessReader); without it, starts without a CommandLine property have
// FlagArgsUnreadable.
func WithProcessReader(r ProcessReader) Option {
	return func(d *Decoder) { d.reader = r }
}

// WithSnapshots receives the processes ProcessRundown (15) records name
// that are in scope: processes that were running before the stream
// began, for seeding a process table.
func WithSnapshots(fn func(sensor.Snapshot, sensor.Tree)) Option {
	return func(d *Decoder) { d.snapshot = fn }
}

// WithLimits bounds the decoder's tables.
func WithLimits(l Limits) Option {
	return func(d *Decoder) { d.limits = l }
}

// Stats count what the decoder saw and left out.
type Stats struct {
	Records        uint64 // records given to Decode
	Ignored        uint64 // records of the three providers the decoder does not map
	OutOfScope     uint64 // records of processes outside every tree
	PagingWrites   uint64 // writes of the cache or memory manager (IOFlags paging I/O): not attributable
	UntrackedFiles uint64 // writes through file objects not seen opened in scope, or to no file
	AggDropped     uint64 // write or send totals not kept: the table was full
	ArgsUnreadable uint64 // process starts whose command line could not be read
}

type counters struct {
	records, ignored, outOfScope, paging, untracked, aggDropped, unreadable atomic.Uint64
}

// lossCounts is loss not yet reported.
type lossCounts struct {
	decode          [sensor.KindNet + 1]uint64 // records that failed to decode, by class
	aggFile, aggNet uint64                     // totals not kept: table full
	session         Counters                   // the session's counters at the last report
}

// A Decoder turns Records of the three kernel providers into sensor
// events, scoped by a TreeScope, with the state ETW needs: paths by file
// object, write and send totals, and what it knows of each process.
// A Decoder is not safe for concurrent use, except for Stats.
type Decoder struct {
	scope    *sensor.TreeScope
	devs     devices
	reader   ProcessReader
	snapshot func(sensor.Snapshot, sensor.Tree)
	limits   Limits

	procs   map[uint32]*proc
	files   fileTable
	writes  map[uint64][]*writeAgg // by file object
	nWrites int
	sends   map[netKey]*sendAgg
	last    time.Time // newest record time: the time of reports not tied to a record
	ev      sensor.Event
	stats   counters
	loss    lossCounts
}

// proc is what the decoder knows of a process in scope.
type proc struct {
	start uint64 // CreateTime, ns since the Unix epoch
	ppid  uint32
	comm  string
	sid   string
}

// fileObj is a file object opened in scope: its path at open (or after
// a rename through it).
type fileObj struct {
	path       string
	dir        bool
	delOnClose bool // FILE_DELETE_ON_CLOSE: the name goes at cleanup
}

type writeAgg struct {
	pid, tid uint32
	fo       uint64
	path     string
	bytes    int64
	ops      uint64
	first    uint64
}

type netKey struct {
	pid      uint32
	proto    uint16
	src, dst netip.AddrPort
}

type sendAgg struct {
	key     netKey
	family  uint16
	tid     uint32
	bytes   uint64
	packets uint64
	first   uint64
}

// NewDecoder returns a decoder that keeps the records of processes in
// scope (nil: none).
func NewDecoder(scope *sensor.TreeScope, opts ...Option) *Decoder {
	if scope == nil {
		scope = sensor.NewTreeScope(nil, false, 0)
	}
	d := &Decoder{scope: scope, devs: devices{}}
	for _, o := range opts {
		o(d)
	}
	d.limits.Processes = cmp.Or(d.limits.Processes, 65536)
	d.limits.Files = cmp.Or(d.limits.Files, 65536)
	d.limits.Aggregates = cmp.Or(d.limits.Aggregates, 16384)
	d.procs = make(map[uint32]*proc)
	d.files = fileTable{max: max(1, d.limits.Files/2)}
	d.writes = make(map[uint64][]*writeAgg)
	d.sends = make(map[netKey]*sendAgg)
	return d
}

// Stats returns the decoder's counters. It is safe to call while another
// goroutine decodes.
func (d *Decoder) Stats() Stats {
	c := &d.stats
	return Stats{
		Records:        c.records.Load(),
		Ignored:        c.ignored.Load(),
		OutOfScope:     c.outOfScope.Load(),
		PagingWrites:   c.paging.Load(),
		UntrackedFiles: c.untracked.Load(),
		AggDropped:     c.aggDropped.Load(),
		ArgsUnreadable: c.unreadable.Load(),
	}
}

// Decode turns one record into zero or more events, passed to emit in
// order; an *Event is valid until emit returns. Records that fail to
// decode (a property missing or of the wrong type, an unknown provider)
// return a *DecodeError and leave the decoder's tables as they were; records of the
// three providers that the decoder does not map are counted in
// Stats.Ignored. An error from emit is returned as it is.
func (d *Decoder) Decode(r *Record, emit func(*sensor.Event) error) error {
	d.stats.records.Add(1)
	if r.Timestamp.IsZero() {
		return d.bad(r, ErrNoTimestamp)
	}
	if r.Timestamp.After(d.last) {
		d.last = r.Timestamp
	}
	switch r.Provider {
	case KernelProcess:
		switch r.EventID {
		case evProcessStart:
			return d.processStart(r, false, emit)
		case evProcessRundown:
			return d.processStart(r, true, emit)
		case evProcessStop:
			return d.processStop(r, emit)
		}
	case KernelFile:
		switch r.EventID {
		case evFileCreate:
			return d.fileCreate(r, emit)
		case evFileCleanup, evFileClose:
			return d.fileClose(r, emit)
		case evFileWrite:
			return d.fileWrite(r, emit)
		case evFileDeletePath:
			return d.fileDelete(r, emit)
		case evFileRenamePath:
			return d.fileRename(r, emit)
		}
	case KernelNetwork:
		switch r.EventID {
		case evTCPSend4, evTCPConnect4, evTCPDisconnect4, evTCPSend6, evTCPConnect6, evTCPDisconnect6, evUDPSend4, evUDPSend6:
			return d.network(r, emit)
		}
	default:
		return d.bad(r, ErrUnknownProvider)
	}
	d.stats.ignored.Add(1)
	return nil
}

// bad counts a record that failed to decode (its loss report includes
// it) and says why.
func (d *Decoder) bad(r *Record, err error) error {
	d.loss.decode[classOf(r)]++
	return &DecodeError{Provider: r.Provider, EventID: r.EventID, Version: r.Version, Err: err}
}

// classOf is the kind of record r would have made, for loss reports.
func classOf(r *Record) sensor.Kind {
	switch r.Provider {
	case KernelProcess:
		if r.EventID == evProcessStop {
			return sensor.KindExit
		}
		return sensor.KindExec
	case KernelFile:
		return sensor.KindFile
	case KernelNetwork:
		return sensor.KindNet
	}
	return 0
}

// task is what the decoder knows of pid, for an event's header.
func (d *Decoder) task(pid, tid uint32) sensor.Task {
	t := sensor.Task{PID: pid, TID: tid}
	if p := d.procs[pid]; p != nil {
		t.PPID, t.StartTime, t.Comm, t.SID = p.ppid, p.start, p.comm, p.sid
	}
	return t
}

// threadOf is the thread a record's action was issued by: IssuingThreadId
// (Kernel-File version 1) where the template has it, else the header's.
func threadOf(r *Record) uint32 {
	if tid, err := r.Props.Uint32("IssuingThreadId"); err == nil {
		return tid
	}
	return r.ThreadID
}

// headerThread is the header's thread if the record was logged in pid's
// context, else 0 (unknown).
func headerThread(r *Record, pid uint32) uint32 {
	if r.ProcessID == pid {
		return r.ThreadID
	}
	return 0
}

func (d *Decoder) tracked(pid uint32) bool {
	tree, _ := d.scope.Of(pid)
	return !tree.IsZero()
}

func (d *Decoder) putProc(pid uint32, p *proc) {
	if _, ok := d.procs[pid]; ok || len(d.procs) < d.limits.Processes {
		d.procs[pid] = p
	}
}

// processStart maps ProcessStart (and, with rundown, ProcessRundown).
// Windows creates a process with its program in one step: one record
// yields a fork (parent -> child) and an exec of the child, both at the
// record's time.
func (d *Decoder) processStart(r *Record, rundown bool, emit func(*sensor.Event) error) error {
	p := r.Props
	pid, err := p.Uint32("ProcessID")
	if err != nil {
		return d.bad(r, err)
	}
	ppid, err := p.Uint32("ParentProcessID")
	if err != nil {
		return d.bad(r, err)
	}
	created, err := p.Time("CreateTime")
	if err != nil {
		return d.bad(r, err)
	}
	image, err := p.String("ImageName")
	if err != nil {
		return d.bad(r, err)
	}
	var info ProcessInfo
	_, haveCmd := p[PropCommandLine]
	for _, s := range []struct {
		name string
		dst  *string
	}{{PropCommandLine, &info.CommandLine}, {PropCwd, &info.Cwd}, {PropUserSID, &info.SID},
		{PropCorrelationID, &info.CorrelationID}, {PropTraceparent, &info.Traceparent}} {
		if *s.dst, err = p.OptString(s.name); err != nil {
			return d.bad(r, err)
		}
	}
	start := unixNS(created)
	exe := d.devs.dosPath(image)
	ktime := unixNS(r.Timestamp)

	if old := d.procs[pid]; old != nil {
		if old.start == start && rundown {
			return nil // known already
		}
		if old.start != start {
			// The pid was reused: the old process's stop record was lost.
			if err := d.endProcess(pid, ktime, sensor.FileStale, sensor.NetStale, emit); err != nil {
				return err
			}
			d.scope.Exit(pid)
			delete(d.procs, pid)
		}
	}

	// The header names the creating process. A process started with
	// PROC_THREAD_ATTRIBUTE_PARENT_PROCESS names another parent in
	// ParentProcessID; if the creator is in a tree and the named parent is
	// not, the child stays in the creator's tree: a reparented child must
	// not escape it (MITRE ATT&CK DET0489 compares the same two fields).
	parent := ppid
	if creator := r.ProcessID; !rundown && creator != ppid && creator != 0 && !d.tracked(ppid) && d.tracked(creator) {
		parent = creator
	}
	var forkTree sensor.Tree
	forkWanted := false
	if pp := d.procs[parent]; !rundown || pp == nil || pp.start <= start {
		// A rundown's ParentProcessID may name a younger process that
		// took the dead parent's pid: only an older one is the parent.
		forkTree, forkWanted = d.scope.Fork(parent, pid)
	}
	// The scope matches agents by their arguments too (an agent can be
	// node.exe running a script): the command line is read before the
	// scope decides, for every new process, and dropped if out of scope.
	// The environment is read only for processes in a tree.
	var flags sensor.Flags
	read := func(env bool) {
		got, err := d.reader(pid, created, env)
		if err != nil {
			flags |= sensor.FlagArgsUnreadable
			return
		}
		info = got
	}
	if !haveCmd {
		if d.reader == nil {
			flags |= sensor.FlagArgsUnreadable
		} else {
			read(!forkTree.IsZero())
		}
	}
	args := SplitCommandLine(info.CommandLine)
	tree, wanted, newRoot := d.scope.Exec(pid, start, exe, args)
	if !wanted {
		d.stats.outOfScope.Add(1)
		return nil
	}
	if newRoot && !haveCmd && d.reader != nil && flags&sensor.FlagArgsUnreadable == 0 {
		read(true) // a new root: its environment too
		args = SplitCommandLine(info.CommandLine)
	}
	if flags&sensor.FlagArgsUnreadable != 0 {
		d.stats.unreadable.Add(1)
	}
	sid := info.SID
	if sid == "" && !rundown {
		sid = r.SID // the creating thread's user: the child's unless it was started as another
	}
	d.putProc(pid, &proc{start: start, ppid: parent, comm: comm(image), sid: sid})
	var corr, trace, span string
	if !tree.IsZero() {
		var ok bool
		if info.CorrelationID != "" {
			if corr, ok = sensor.ParseCorrelationID(info.CorrelationID); !ok {
				flags |= sensor.FlagCorrelationIDInvalid
			}
		}
		if info.Traceparent != "" {
			if trace, span, ok = sensor.ParseTraceparent(info.Traceparent); !ok {
				flags |= sensor.FlagTraceparentInvalid
			}
		}
		if info.EnvTruncated && (info.CorrelationID == "" || info.Traceparent == "") {
			flags |= sensor.FlagEnvTruncated
		}
	}

	if rundown {
		if d.snapshot != nil {
			task := d.task(pid, pid)
			task.PPID = ppid
			d.snapshot(sensor.Snapshot{Task: task, Executable: exe, Args: args, Cwd: info.Cwd,
				CorrelationID: corr, TraceID: trace, SpanID: span}, tree)
		}
		return nil
	}
	if forkWanted {
		d.ev = sensor.Event{Kind: sensor.KindFork, KTime: ktime, Tree: forkTree,
			Task: d.task(parent, headerThread(r, parent)), ChildPID: pid, ChildStart: start}
		if err := emit(&d.ev); err != nil {
			return err
		}
	}
	if newRoot {
		flags |= sensor.FlagNewRoot
	}
	d.ev = sensor.Event{Kind: sensor.KindExec, Flags: flags, KTime: ktime, Tree: tree,
		// The new process's first thread is in no record: TID 0.
		Task:       d.task(pid, 0),
		Executable: exe, Args: args, Argc: uint32(len(args)), Cwd: info.Cwd, CommandLine: info.CommandLine,
		CorrelationID: corr, TraceID: trace, SpanID: span}
	return emit(&d.ev)
}

// processStop maps ProcessStop: the process's open totals, then its exit.
func (d *Decoder) processStop(r *Record, emit func(*sensor.Event) error) error {
	p := r.Props
	pid, err := p.Uint32("ProcessID")
	if err != nil {
		return d.bad(r, err)
	}
	code, err := p.Uint32("ExitCode")
	if err != nil {
		return d.bad(r, err)
	}
	created, err := p.Time("CreateTime")
	if err != nil {
		return d.bad(r, err)
	}
	tree, wanted := d.scope.Of(pid)
	if !wanted {
		d.stats.outOfScope.Add(1)
		d.forget(pid)
		return nil
	}
	ktime := unixNS(r.Timestamp)
	if err := d.endProcess(pid, ktime, sensor.FileAtExit, sensor.NetAtExit, emit); err != nil {
		return err
	}
	task := d.task(pid, headerThread(r, pid))
	if task.StartTime == 0 {
		// A process in scope the stream never named (tracked by the
		// caller): its stop says when it started.
		task.StartTime = unixNS(created)
		if img, err := p.OptString("ImageName"); err == nil {
			task.Comm = comm(img)
		}
	}
	d.ev = sensor.Event{Kind: sensor.KindExit, Flags: sensor.FlagNativeExit, KTime: ktime, Tree: tree,
		Task: task, NativeExit: int64(code)} // an NTSTATUS or exit code: 0xC0000005 stays positive
	err = emit(&d.ev)
	d.forget(pid)
	return err
}

// forget drops pid from the scope and the process table. Its totals
// are gone already: endProcess reported them, and a process out of scope
// has none.
func (d *Decoder) forget(pid uint32) {
	d.scope.Exit(pid)
	delete(d.procs, pid)
}

// endProcess reports pid's open write and send totals, oldest first.
func (d *Decoder) endProcess(pid uint32, ktime uint64, ff sensor.FileFlags, nf sensor.NetFlags, emit func(*sensor.Event) error) error {
	var ws []*writeAgg
	for _, aggs := range d.writes {
		for _, a := range aggs {
			if a.pid == pid {
				ws = append(ws, a)
			}
		}
	}
	slices.SortFunc(ws, func(a, b *writeAgg) int { return cmp.Or(cmp.Compare(a.first, b.first), cmp.Compare(a.fo, b.fo)) })
	for _, a := range ws {
		d.dropWrite(a)
		if err := d.endWrite(a, ff, ktime, false, emit); err != nil {
			return err
		}
	}
	for _, s := range d.sortedSends(func(k netKey) bool { return k.pid == pid }) {
		delete(d.sends, s.key)
		if err := d.endSend(s, nf, ktime, false, emit); err != nil {
			return err
		}
	}
	return nil
}

func (d *Decoder) sortedSends(keep func(netKey) bool) []*sendAgg {
	var ss []*sendAgg
	for k, s := range d.sends {
		if keep(k) {
			ss = append(ss, s)
		}
	}
	slices.SortFunc(ss, func(a, b *sendAgg) int {
		return cmp.Or(cmp.Compare(a.first, b.first), cmp.Compare(a.key.pid, b.key.pid), cmp.Compare(a.key.cookie(), b.key.cookie()))
	})
	return ss
}

// openFlags maps a create disposition to the O_* flags of an open that
// does the same. Kernel-File logs no access mask: an open that creates
// or truncates a file is taken to write it (overwriting takes write
// access), any other to read it.
func openFlags(disposition uint32, dir bool) uint32 {
	var f uint32
	switch disposition {
	case fileSupersede, fileOverwriteIf:
		f = oCreat | oTrunc
	case fileCreate:
		f = oCreat | oExcl
	case fileOpenIf:
		f = oCreat
	case fileOverwrite:
		f = oTrunc
	}
	if dir {
		return f | oDirectory
	}
	if f != 0 {
		f |= oWronly
	}
	return f
}

// onVolume says whether p names a file on a volume: a drive's, a UNC
// share's, or a volume's without a drive letter; not a pipe, the
// console, a socket or another device.
func onVolume(p string) bool {
	switch {
	case len(p) >= 3 && p[1] == ':' && absolute(p):
		return true
	case strings.HasPrefix(p, `\\`):
		return !strings.HasPrefix(p, `\\.\`) && !strings.HasPrefix(p, `\\?\`)
	}
	_, ok := cutPrefixFold(p, `\Device\HarddiskVolume`)
	return ok
}

func (d *Decoder) fileCreate(r *Record, emit func(*sensor.Event) error) error {
	p := r.Props
	fo, err := p.Uint("FileObject")
	if err != nil {
		return d.bad(r, err)
	}
	opts, err := p.Uint32("CreateOptions")
	if err != nil {
		return d.bad(r, err)
	}
	name, err := p.String("FileName")
	if err != nil {
		return d.bad(r, err)
	}
	ktime := unixNS(r.Timestamp)
	// A file object in use again: totals kept under it were not closed
	// (its Close record was lost).
	for _, a := range slices.Clone(d.writes[fo]) {
		d.dropWrite(a)
		if err := d.endWrite(a, sensor.FileStale, ktime, false, emit); err != nil {
			return err
		}
	}
	pid := r.ProcessID
	tree, wanted := d.scope.Of(pid)
	if !wanted {
		d.files.del(fo)
		d.stats.outOfScope.Add(1)
		return nil
	}
	disp, options := opts>>24, opts&0xffffff
	path := d.devs.dosPath(name)
	dir := options&fileDirectoryFile != 0
	d.files.put(fo, fileObj{path: path, dir: dir, delOnClose: options&fileDeleteOnClose != 0})
	var ff sensor.FileFlags
	if absolute(path) {
		ff |= sensor.FilePathExact
	}
	if !dir && onVolume(path) {
		ff |= sensor.FileRegular
	}
	var fmode uint32
	if disp == fileCreate {
		fmode = fmodeCreated // FILE_CREATE only succeeds by creating
	}
	d.ev = sensor.Event{Kind: sensor.KindFile, KTime: ktime, Tree: tree, Task: d.task(pid, threadOf(r)),
		File: sensor.File{Op: sensor.FileOpen, Flags: ff, Cookie: fo, OpenFlags: openFlags(disp, dir),
			FMode: fmode, FD: -1, Path: path}}
	return emit(&d.ev)
}

// fileClose maps Cleanup (the last handle closed) and Close (the file
// object freed): write totals through the file object end.
func (d *Decoder) fileClose(r *Record, emit func(*sensor.Event) error) error {
	fo, err := r.Props.Uint("FileObject")
	if err != nil {
		return d.bad(r, err)
	}
	ktime := unixNS(r.Timestamp)
	for _, a := range slices.Clone(d.writes[fo]) {
		d.dropWrite(a)
		if err := d.endWrite(a, 0, ktime, false, emit); err != nil {
			return err
		}
	}
	if r.EventID == evFileClose {
		d.files.del(fo)
		return nil
	}
	f, ok := d.files.get(fo)
	if !ok || !f.delOnClose {
		return nil
	}
	// FILE_DELETE_ON_CLOSE: no DeletePath record comes; the name goes now.
	f.delOnClose = false
	d.files.put(fo, f)
	pid := r.ProcessID
	tree, wanted := d.scope.Of(pid)
	if !wanted {
		return nil
	}
	return d.emitRemove(r, tree, pid, fo, f.path, f.dir, emit)
}

func (d *Decoder) emitRemove(r *Record, tree sensor.Tree, pid uint32, fo uint64, path string, dir bool, emit func(*sensor.Event) error) error {
	op := sensor.FileUnlink
	if dir {
		op = sensor.FileRmdir
	}
	var ff sensor.FileFlags
	if absolute(path) {
		ff |= sensor.FilePathExact
	}
	d.ev = sensor.Event{Kind: sensor.KindFile, KTime: unixNS(r.Timestamp), Tree: tree, Task: d.task(pid, threadOf(r)),
		File: sensor.File{Op: op, Flags: ff, Cookie: fo, FD: -1, Path: path}}
	return emit(&d.ev)
}

func (d *Decoder) fileWrite(r *Record, emit func(*sensor.Event) error) error {
	p := r.Props
	fo, err := p.Uint("FileObject")
	if err != nil {
		return d.bad(r, err)
	}
	size, err := p.Uint32("IOSize")
	if err != nil {
		return d.bad(r, err)
	}
	ioflags, err := p.Uint32("IOFlags")
	if err != nil {
		return d.bad(r, err)
	}
	if ioflags&irpPagingIO != 0 {
		// The lazy writer or the memory manager writing pages back, in
		// the System process: the bytes were counted when a process wrote
		// them, or (a mapped view) cannot be told apart from its owner.
		d.stats.paging.Add(1)
		return nil
	}
	pid := r.ProcessID
	if _, wanted := d.scope.Of(pid); !wanted {
		d.stats.outOfScope.Add(1)
		return nil
	}
	f, ok := d.files.get(fo)
	if !ok || f.dir || !onVolume(f.path) {
		d.stats.untracked.Add(1)
		return nil
	}
	tid := threadOf(r)
	aggs := d.writes[fo]
	if i := slices.IndexFunc(aggs, func(a *writeAgg) bool { return a.pid == pid }); i >= 0 {
		a := aggs[i]
		a.bytes += int64(size)
		a.ops++
		a.tid = tid
		return nil
	}
	if d.nWrites >= d.limits.Aggregates {
		d.stats.aggDropped.Add(1)
		d.loss.aggFile++
		return nil
	}
	a := &writeAgg{pid: pid, tid: tid, fo: fo, path: f.path, bytes: int64(size), ops: 1, first: unixNS(r.Timestamp)}
	d.writes[fo] = append(aggs, a)
	d.nWrites++
	return d.emitWriteStart(a, tid, emit)
}

// emitWriteStart names the file a write total is kept for, under its
// cookie (the file object), as the Linux sensor's first write does.
func (d *Decoder) emitWriteStart(a *writeAgg, tid uint32, emit func(*sensor.Event) error) error {
	tree, _ := d.scope.Of(a.pid)
	d.ev = sensor.Event{Kind: sensor.KindFile, KTime: d.lastNS(), Tree: tree, Task: d.task(a.pid, tid),
		File: sensor.File{Op: sensor.FileWriteStart, Flags: pathFlags(a.path) | sensor.FileRegular,
			Cookie: a.fo, FD: -1, Path: a.path}}
	return emit(&d.ev)
}

func pathFlags(p string) sensor.FileFlags {
	if absolute(p) {
		return sensor.FilePathExact
	}
	return 0
}

func (d *Decoder) lastNS() uint64 { return unixNS(d.last) }

func (d *Decoder) setWrites(fo uint64, aggs []*writeAgg) {
	if len(aggs) == 0 {
		delete(d.writes, fo)
		return
	}
	d.writes[fo] = aggs
}

// dropWrite removes a from the table (and recounts the table).
func (d *Decoder) dropWrite(a *writeAgg) {
	aggs := d.writes[a.fo]
	if i := slices.Index(aggs, a); i >= 0 {
		d.setWrites(a.fo, slices.Delete(aggs, i, i+1))
		d.nWrites--
	}
}

func (d *Decoder) endWrite(a *writeAgg, ff sensor.FileFlags, ktime uint64, partial bool, emit func(*sensor.Event) error) error {
	tree, _ := d.scope.Of(a.pid)
	d.ev = sensor.Event{Kind: sensor.KindFile, Partial: partial, KTime: ktime, Tree: tree, Task: d.task(a.pid, a.tid),
		File: sensor.File{Op: sensor.FileWriteEnd, Flags: ff | pathFlags(a.path) | sensor.FileRegular,
			Size: a.bytes, Ops: a.ops, First: a.first, Cookie: a.fo, FD: -1, Path: a.path}}
	return emit(&d.ev)
}

// pathRecord reads what DeletePath and RenamePath share: the file object
// and FilePath; ok is false when the record is bad (err) or its process
// is out of scope.
func (d *Decoder) pathRecord(r *Record) (fo uint64, fp string, pid uint32, tree sensor.Tree, ok bool, err error) {
	p := r.Props
	if fo, err = p.Uint("FileObject"); err != nil {
		return 0, "", 0, tree, false, d.bad(r, err)
	}
	if fp, err = p.String("FilePath"); err != nil {
		return 0, "", 0, tree, false, d.bad(r, err)
	}
	pid = r.ProcessID
	if tree, ok = d.scope.Of(pid); !ok {
		d.stats.outOfScope.Add(1)
	}
	return fo, fp, pid, tree, ok, nil
}

func (d *Decoder) fileDelete(r *Record, emit func(*sensor.Event) error) error {
	fo, fp, pid, tree, ok, err := d.pathRecord(r)
	if !ok {
		return err
	}
	f, known := d.files.get(fo)
	path := d.devs.dosPath(fp)
	if path == "" {
		path = f.path
	}
	return d.emitRemove(r, tree, pid, fo, path, known && f.dir, emit)
}

func (d *Decoder) fileRename(r *Record, emit func(*sensor.Event) error) error {
	fo, fp, pid, tree, ok, err := d.pathRecord(r)
	if !ok {
		return err
	}
	// FilePath is the new name; the old one is the file object's.
	newPath := d.devs.dosPath(fp)
	f, known := d.files.get(fo)
	d.ev = sensor.Event{Kind: sensor.KindFile, KTime: unixNS(r.Timestamp), Tree: tree, Task: d.task(pid, threadOf(r)),
		File: sensor.File{Op: sensor.FileRename, Flags: pathFlags(newPath), Cookie: fo, FD: -1, Path: f.path, Path2: newPath}}
	if err := emit(&d.ev); err != nil {
		return err
	}
	if !known {
		return nil
	}
	f.path = newPath
	d.files.put(fo, f)
	// Writes through the file object go on under the new name: name it
	// again, so the totals at close are the new name's.
	for _, a := range d.writes[fo] {
		a.path = newPath
		if err := d.emitWriteStart(a, a.tid, emit); err != nil {
			return err
		}
	}
	return nil
}

// network maps Kernel-Network's TCP and UDP events. Their PID property
// names the process; the header does not (they are logged wherever the
// stack runs).
func (d *Decoder) network(r *Record, emit func(*sensor.Event) error) error {
	p := r.Props
	pid, err := p.Uint32("PID")
	if err != nil {
		return d.bad(r, err)
	}
	size, err := p.Uint32("size")
	if err != nil {
		return d.bad(r, err)
	}
	daddr, err := p.Addr("daddr")
	if err != nil {
		return d.bad(r, err)
	}
	saddr, err := p.Addr("saddr")
	if err != nil {
		return d.bad(r, err)
	}
	dport, err := p.Port("dport")
	if err != nil {
		return d.bad(r, err)
	}
	sport, err := p.Port("sport")
	if err != nil {
		return d.bad(r, err)
	}
	family := uint16(sensor.FamilyInet)
	proto := uint16(ipprotoTCP)
	switch r.EventID {
	case evTCPSend6, evTCPConnect6, evTCPDisconnect6, evUDPSend6:
		// Linux's endpoint: AF_INET6 with a mapped IPv4 address unmapped.
		family = sensor.FamilyInet6
		daddr, saddr = daddr.Unmap(), saddr.Unmap()
	}
	if r.EventID == evUDPSend4 || r.EventID == evUDPSend6 {
		proto = ipprotoUDP
	}
	tree, wanted := d.scope.Of(pid)
	if !wanted {
		d.stats.outOfScope.Add(1)
		return nil
	}
	key := netKey{pid: pid, proto: proto, src: netip.AddrPortFrom(saddr, sport), dst: netip.AddrPortFrom(daddr, dport)}
	ktime := unixNS(r.Timestamp)
	tid := headerThread(r, pid)
	switch r.EventID {
	case evTCPConnect4, evTCPConnect6:
		if s := d.sends[key]; s != nil {
			// The same four-tuple again: the last connection's close was lost.
			delete(d.sends, key)
			if err := d.endSend(s, sensor.NetStale, ktime, false, emit); err != nil {
				return err
			}
		}
		d.ev = sensor.Event{Kind: sensor.KindNet, KTime: ktime, Tree: tree, Task: d.task(pid, tid),
			Net: sensor.Net{Op: sensor.NetConnect, Dst: endpoint(family, key.dst), Src: endpoint(family, key.src),
				Cookie: key.cookie(), FD: -1, SockType: sockStream, Protocol: ipprotoTCP}}
		return emit(&d.ev)
	case evTCPDisconnect4, evTCPDisconnect6:
		if s := d.sends[key]; s != nil {
			delete(d.sends, key)
			return d.endSend(s, 0, ktime, false, emit)
		}
		return nil
	}
	s := d.sends[key]
	if s == nil {
		if len(d.sends) >= d.limits.Aggregates {
			d.stats.aggDropped.Add(1)
			d.loss.aggNet++
			return nil
		}
		s = &sendAgg{key: key, family: family, first: ktime}
		d.sends[key] = s
	}
	s.bytes += uint64(size)
	s.packets++
	if tid != 0 {
		s.tid = tid
	}
	return nil
}

func endpoint(family uint16, ap netip.AddrPort) sensor.Endpoint {
	return sensor.Endpoint{Family: family, IP: ap.Addr(), Port: ap.Port()}
}

// cookie stands for the socket, which Kernel-Network does not name: a
// hash of the process and the four-tuple, the same for a connection's
// connect and its send totals.
func (k netKey) cookie() uint64 {
	h := fnv.New64a()
	var b [4 + 2 + 2*(16+2)]byte
	b[0], b[1], b[2], b[3] = byte(k.pid), byte(k.pid>>8), byte(k.pid>>16), byte(k.pid>>24)
	b[4], b[5] = byte(k.proto), byte(k.proto>>8)
	for i, ap := range []netip.AddrPort{k.src, k.dst} {
		o := 6 + i*18
		a := ap.Addr().As16()
		copy(b[o:], a[:])
		b[o+16], b[o+17] = byte(ap.Port()>>8), byte(ap.Port())
	}
	h.Write(b[:])
	return h.Sum64()
}

func (d *Decoder) endSend(s *sendAgg, nf sensor.NetFlags, ktime uint64, partial bool, emit func(*sensor.Event) error) error {
	k := s.key
	tree, _ := d.scope.Of(k.pid)
	sockType := uint16(sockStream)
	if k.proto == ipprotoUDP {
		sockType = sockDgram
	}
	task := d.task(k.pid, s.tid)
	if partial {
		task = sensor.Task{PID: k.pid, TID: k.pid, StartTime: task.StartTime}
	}
	d.ev = sensor.Event{Kind: sensor.KindNet, Partial: partial, KTime: ktime, Tree: tree, Task: task,
		Net: sensor.Net{Op: sensor.NetSendEnd, Flags: nf, Dst: endpoint(s.family, k.dst), Src: endpoint(s.family, k.src),
			Cookie: k.cookie(), Bytes: s.bytes, Packets: s.packets, First: s.first, FD: -1,
			SockType: sockType, Protocol: k.proto}}
	return emit(&d.ev)
}

// Interim reports the send totals of every flow still open, as
// NetSendEnd with NetInterim (totals so far; the flow is kept), as the
// Linux sensor does at an interval: UDP flows have no close to report
// them at. The reports carry the newest record's time.
func (d *Decoder) Interim(emit func(*sensor.Event) error) error {
	for _, s := range d.sortedSends(func(netKey) bool { return true }) {
		if err := d.endSend(s, sensor.NetInterim, d.lastNS(), true, emit); err != nil {
			return err
		}
	}
	return nil
}

// Close ends the stream (a replay's end, a session's stop): totals still
// open are reported as at the stream's end (FileWriteEnd with
// FileAtStop, NetSendEnd with NetAtStop: the decoder stops watching
// their processes), oldest first, at the newest record's time; then what
// was lost since the last report (see ReportLoss), with the session's
// counters as last reported. The tables are left empty.
func (d *Decoder) Close(emit func(*sensor.Event) error) error {
	var ws []*writeAgg
	for _, aggs := range d.writes {
		ws = append(ws, aggs...)
	}
	slices.SortFunc(ws, func(a, b *writeAgg) int {
		return cmp.Or(cmp.Compare(a.first, b.first), cmp.Compare(a.fo, b.fo), cmp.Compare(a.pid, b.pid))
	})
	for _, a := range ws {
		d.dropWrite(a)
		if err := d.endWrite(a, sensor.FileAtStop, d.lastNS(), false, emit); err != nil {
			return err
		}
	}
	for _, s := range d.sortedSends(func(netKey) bool { return true }) {
		delete(d.sends, s.key)
		if err := d.endSend(s, sensor.NetAtStop, d.lastNS(), false, emit); err != nil {
			return err
		}
	}
	return d.ReportLoss(d.loss.session, emit)
}

// fileTable maps file objects to what their open said, forgetting the
// least recently used half when full: a failed open's file object gets
// no Close record, so entries would otherwise pile up.
type fileTable struct {
	cur, old map[uint64]fileObj
	max      int // entries per generation
}

func (t *fileTable) get(fo uint64) (fileObj, bool) {
	if f, ok := t.cur[fo]; ok {
		return f, true
	}
	f, ok := t.old[fo]
	if ok {
		t.put(fo, f)
	}
	return f, ok
}

func (t *fileTable) put(fo uint64, f fileObj) {
	if t.cur == nil {
		t.cur = make(map[uint64]fileObj)
	}
	if _, ok := t.cur[fo]; !ok && len(t.cur) >= t.max {
		t.old, t.cur = t.cur, make(map[uint64]fileObj)
	}
	t.cur[fo] = f
	delete(t.old, fo)
}

func (t *fileTable) del(fo uint64) {
	delete(t.cur, fo)
	delete(t.old, fo)
}
