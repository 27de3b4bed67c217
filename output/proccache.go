package output

import (
	"slices"
	"strconv"
	"time"

	"github.com/vigilsec/vigil/correlate"
	"github.com/vigilsec/vigil/sensor"
)

// A process's file and network records repeat its process object (all
// but thread.id) record after record, and at high rates they are most of
// what Vigil writes. The encoder keeps the encoding of recent processes'
// objects and reuses one only while every value it was made of is
// unchanged: the cache can make encoding faster, never different.

// procCacheSize entries, direct-mapped by PID.
const procCacheSize = 64

type procCache [procCacheSize]procEntry

type procEntry struct {
	in     procInputs
	valid  bool
	prefix []byte // from '{' to the member before "thread"
	suffix []byte // from the member after "thread" to '}'
}

// procInputs is every value a file or network record's process object is
// made of, thread.id aside.
type procInputs struct {
	v    procValues
	args []string
}

type procValues struct {
	p                                 *correlate.Process
	entityID, name, exe, cwd, exeHash string
	cmdline, sid                      string
	argc                              int
	pid, ppid, uid, gid, euid, egid   uint32
	start                             timeValue
	parent                            *correlate.Process
	parentID, parentExe, parentName   string
	parentPID                         uint32
	parentStart                       timeValue
}

func (in *procInputs) set(r *correlate.Record, p *correlate.Process) {
	in.args = p.Args
	in.v = procValues{
		p: p, entityID: p.EntityID, name: p.Name, exe: p.Executable, cwd: p.Cwd, exeHash: p.ExeHash,
		cmdline: p.CommandLine, sid: p.SID,
		argc: p.Argc,
		pid:  p.PID, ppid: p.PPID, uid: p.UID, gid: p.GID, euid: p.EUID, egid: p.EGID,
		start: timeOf(p.Start),
	}
	if par := r.Parent; par != nil {
		in.v.parent, in.v.parentID, in.v.parentExe, in.v.parentName, in.v.parentPID = par, par.EntityID, par.Executable, par.Name, par.PID
		in.v.parentStart = timeOf(par.Start)
	}
}

// timeValue is an instant, comparable with ==.
type timeValue struct {
	sec  int64
	nsec int
}

func timeOf(t time.Time) timeValue { return timeValue{t.Unix(), t.Nanosecond()} }

func (in *procInputs) equal(o *procInputs) bool {
	return in.v == o.v && slices.Equal(in.args, o.args)
}

// cachedProcess writes the process object from the cache if it holds it
// for r, and reports whether it did.
func (e *Encoder) cachedProcess(r *correlate.Record, in *procInputs) bool {
	c := &e.procs[in.v.pid%procCacheSize]
	if !c.valid || !c.in.equal(in) {
		return false
	}
	j := &e.j
	j.key("process")
	j.b = append(j.b, c.prefix...)
	j.b = append(j.b, `,"thread":{"id":`...)
	j.b = strconv.AppendUint(j.b, uint64(r.Event.Task.TID), 10)
	j.b = append(j.b, '}', ',')
	j.b = append(j.b, c.suffix...)
	j.more = true
	return true
}

// fillProcess keeps the process object just written, b[start:end] with
// its thread member at b[threadAt:threadEnd] (comma before it included).
func (e *Encoder) fillProcess(in *procInputs, b []byte, start, threadAt, threadEnd, end int) {
	c := &e.procs[in.v.pid%procCacheSize]
	c.in.v = in.v
	c.in.args = append(c.in.args[:0:0], in.args...) // a copy: the cache must not share what it compares
	c.prefix = append(c.prefix[:0], b[start:threadAt]...)
	c.suffix = append(c.suffix[:0], b[threadEnd+1:end]...) // past the comma after thread
	c.valid = true
}

// cacheable: the process object of file and network records has a
// thread member and no previous member.
func cacheable(r *correlate.Record) bool {
	k := r.Event.Kind
	return (k == sensor.KindFile || k == sensor.KindNet) && r.Previous == nil
}
