package output

import (
	"github.com/vigilsec/vigil/intent"
	"github.com/vigilsec/vigil/output/chain"
	"syscall"
	"time"

	"github.com/vigilsec/vigil/correlate"
	"github.com/vigilsec/vigil/sensor"
)

// ECSVersion is the ECS version records conform to.
const ECSVersion = "9.4.0"

var ecsObject = []byte(`{"version":"` + ECSVersion + `"}`)

// Identity is the host and the Vigil instance every record names.
type Identity struct {
	HostName     string // host.name
	HostID       string // host.id (machine id)
	BootID       string // host.boot.id
	AgentID      string // agent.id: this Vigil installation
	AgentVersion string // agent.version
	EphemeralID  string // agent.ephemeral_id: this run
	OS           OS     // host.os
}

// OS is the host's operating system (host.os.*). Type is one of ECS's
// expected values: linux, macos, windows.
type OS struct {
	Type, Platform, Family, Kernel, Version string
}

// Encoder turns records into ECS JSON lines, numbering them.
type Encoder struct {
	id     Identity
	seq    uint64
	now    func() time.Time
	j      jsonBuf
	agent  []byte // the agent object, the same in every record
	host   []byte // the host object
	procs  procCache
	procIn procInputs
	splice chain.Splice // of the last record, from its start
}

// NewEncoder returns an encoder; now stamps event.created (default
// time.Now).
func NewEncoder(id Identity, now func() time.Time) *Encoder {
	if now == nil {
		now = time.Now
	}
	e := &Encoder{id: id, now: now}
	j := &e.j
	j.b, j.more, j.depth, j.frames = append(j.b[:0], '{'), false, 0, j.frames[:0]
	j.begin()
	j.strNonEmpty("ephemeral_id", id.EphemeralID)
	j.strNonEmpty("id", id.AgentID)
	j.str("type", "vigil")
	j.strNonEmpty("version", id.AgentVersion)
	j.end()
	e.agent = append([]byte(nil), j.b...)
	j.b, j.more, j.depth, j.frames = append(j.b[:0], '{'), false, 0, j.frames[:0]
	j.begin()
	j.open("boot")
	j.str("id", id.BootID)
	j.close()
	j.strNonEmpty("id", id.HostID)
	j.strNonEmpty("name", id.HostName)
	if o := id.OS; o != (OS{}) {
		j.open("os")
		j.strNonEmpty("family", o.Family)
		j.strNonEmpty("kernel", o.Kernel)
		j.strNonEmpty("platform", o.Platform)
		j.strNonEmpty("type", o.Type)
		j.strNonEmpty("version", o.Version)
		j.close()
	}
	j.end()
	e.host = append([]byte(nil), j.b...)
	return e
}

// Splice is where the last record's integrity fields go, for sealing it
// in place (output/chain.Chain.AppendCanonicalAt).
func (e *Encoder) Splice() chain.Splice { return e.splice }

// Sequence is the event.sequence of the last record encoded.
func (e *Encoder) Sequence() uint64 { return e.seq }

// SetSequence makes the next record's event.sequence n+1.
func (e *Encoder) SetSequence(n uint64) { e.seq = n }

// Append appends r as one JSON line (with its newline) to dst.
func (e *Encoder) Append(dst []byte, r *correlate.Record) []byte {
	e.seq++
	j := &e.j
	e.splice = chain.Splice{Sequence: e.seq}
	lineStart := len(dst)
	j.b, j.more, j.depth, j.frames = append(dst, '{'), false, 0, j.frames[:0]
	j.begin()

	ev := r.Event
	// Top-level members in key order: @timestamp, Vigil, agent, ...
	at := r.Time
	if r.Intent != nil {
		at = intentTime(r.Intent)
	}
	j.time("@timestamp", at)
	e.vigil(r)

	j.raw("agent", e.agent)

	p := r.Process
	kernel := ev.Kind != sensor.KindIntent && ev.Kind != sensor.KindVerdict
	file := kernel && p != nil && r.File != nil
	net := kernel && p != nil && r.Net != nil
	target := verdictTarget(r)
	if net {
		e.destination(r)
		if m := r.Net.DNS; m != nil && (ev.Net.Op == sensor.NetSendStart || ev.Net.Op == sensor.NetDNSAnswer) {
			e.dns(m)
		}
	} else if target != nil && target.Kind == intent.Network {
		e.verdictDestination(target)
	}

	j.raw("ecs", ecsObject)

	switch {
	case file && ev.File.Ret < 0 && ev.File.Op != sensor.FileWriteEnd:
		e.errorObject(syscall.Errno(-ev.File.Ret))
	case net && ev.Net.Op == sensor.NetConnect && ev.Net.Ret < 0 && ev.Net.Ret != -int64(syscall.EINPROGRESS):
		e.errorObject(syscall.Errno(-ev.Net.Ret))
	case r.Intent != nil && r.Intent.Err != nil:
		j.open("error")
		j.str("code", "intent_refused")
		j.str("message", r.Intent.Err.Error())
		j.close()
	case r.Intent != nil && r.Intent.Intent.Error != "":
		j.open("error")
		j.str("message", r.Intent.Intent.Error)
		j.close()
	}

	e.event(r)

	if file {
		e.file(r)
	} else if target != nil && target.Path != "" && target.Kind != intent.Exec && target.Kind != intent.Network {
		e.verdictFile(target)
	}
	e.genAI(r)

	j.raw("host", e.host)

	if net && r.Net.HTTP != nil && ev.Net.Op == sensor.NetSendStart {
		e.httpObject(r.Net.HTTP)
	}
	if v := r.Verdict; v != nil {
		j.str("message", v.Reason)
	}
	if net {
		e.networkObject(r)
	}
	if p != nil {
		e.process(r, p)
	}
	if net {
		e.source(r)
		if c := r.Net.TLS; c != nil && ev.Net.Op == sensor.NetSendStart && c.ServerName != "" {
			j.open("tls")
			j.open("client")
			j.str("server_name", c.ServerName)
			j.close()
			j.close()
		}
	}
	traceID := ""
	if r.Join != nil {
		traceID = r.Join.TraceID
	}
	if r.Intent != nil && r.Intent.Intent.TraceID != "" {
		traceID = r.Intent.Intent.TraceID
	}
	if traceID != "" {
		j.open("trace")
		j.str("id", traceID)
		j.close()
	}
	if net {
		if h := r.Net.HTTP; h != nil && ev.Net.Op == sensor.NetSendStart {
			e.url(h, ev.Net.Dst.Port)
		}
	}
	if p != nil {
		e.userID(p)
	} else if ir := r.Intent; ir != nil {
		j.open("user")
		j.uintStr("id", uint64(ir.Sender.UID))
		j.close()
	}

	j.end()
	j.b = append(j.b, '\n')
	e.splice.VigilAt -= lineStart
	e.splice.HashAt -= lineStart
	return j.b
}

// eventFields are the event.* members that depend on the record.
type eventFields struct {
	kind, category, action, dataset, outcome string
	types                                    []string
	span                                     bool // start and end: a total over a descriptor's life
	start                                    time.Time
}

var (
	typeStart = []string{"start"}
	typeEnd   = []string{"end"}
	typeInfo  = []string{"info"}
)

// event writes the event object, its members in key order.
func (e *Encoder) event(r *correlate.Record) {
	j := &e.j
	ev := r.Event
	var f eventFields
	switch ev.Kind {
	case sensor.KindFork:
		f = eventFields{kind: "event", category: "process", types: typeStart, action: "fork", dataset: "vigil.process"}
	case sensor.KindExec:
		f = eventFields{kind: "event", category: "process", types: typeStart, action: "exec", dataset: "vigil.process"}
	case sensor.KindExit:
		f = eventFields{kind: "event", category: "process", types: typeEnd, action: "end", dataset: "vigil.process"}
	case sensor.KindFile:
		f = fileEvent(r)
	case sensor.KindNet:
		f = netEvent(r)
	case sensor.KindLoss:
		f = eventFields{kind: "metric", action: "loss", dataset: "vigil.loss"}
	case sensor.KindIntent:
		f = intentEvent(r)
	case sensor.KindVerdict:
		f = verdictEvent(r)
	case sensor.KindHash:
		if r.File != nil {
			f = eventFields{kind: "enrichment", category: "file", types: typeInfo, action: "file_hash", dataset: "vigil.file"}
		} else {
			f = eventFields{kind: "enrichment", category: "process", types: typeInfo, action: "process_hash", dataset: "vigil.process"}
		}
	}
	j.open("event")
	j.str("action", f.action)
	if f.category != "" {
		j.strs("category", f.category)
	}
	j.time("created", e.now())
	j.str("dataset", f.dataset)
	if f.span {
		j.time("end", r.Time)
	}
	e.splice.HashAt = len(j.b) // the comma before "kind"
	j.str("kind", f.kind)
	j.str("module", "vigil")
	j.strNonEmpty("outcome", f.outcome)
	j.uint("sequence", e.seq)
	if f.span {
		j.time("start", f.start)
	}
	if len(f.types) > 0 {
		j.strs("type", f.types...)
	}
	j.close()
}

// errorObject writes error.* for a failed syscall.
func (e *Encoder) errorObject(errno syscall.Errno) {
	j := &e.j
	j.open("error")
	j.str("code", errnoName(errno))
	j.str("message", errno.Error())
	j.close()
}

// process writes the process object, its members in key order (the
// canonical order, so the object needs no sorting).
func (e *Encoder) process(r *correlate.Record, p *correlate.Process) {
	j := &e.j
	k := r.Event.Kind
	var in *procInputs
	if cacheable(r) {
		in = &e.procIn
		in.set(r, p)
		if e.cachedProcess(r, in) {
			return
		}
	}
	j.open("process")
	start := len(j.b) - 1
	threadAt, threadEnd := -1, -1
	if len(p.Args) > 0 {
		j.strs("args", p.Args...)
		j.uint("args_count", uint64(max(p.Argc, len(p.Args))))
		if p.CommandLine != "" {
			j.str("command_line", p.CommandLine)
		} else {
			j.key("command_line")
			j.b = append(j.b, '"')
			for i, a := range p.Args {
				if i > 0 {
					j.b = append(j.b, ' ')
				}
				j.b = appendEscaped(j.b, a)
			}
			j.b = append(j.b, '"')
			j.more = true
		}
	}
	if k == sensor.KindExit {
		j.time("end", p.End)
	}
	j.str("entity_id", p.EntityID)
	j.strNonEmpty("executable", p.Executable)
	if k == sensor.KindExit {
		j.int("exit_code", p.ExitCode)
	}
	if p.SID == "" { // Windows names users by SID and has no groups of this kind
		j.open("group")
		j.uintStr("id", uint64(p.EGID))
		j.close()
	}
	if p.ExeHash != "" {
		j.open("hash")
		j.str("sha256", p.ExeHash)
		j.close()
	}
	j.strNonEmpty("name", p.Name)
	if par := r.Parent; par != nil {
		j.open("parent")
		j.str("entity_id", par.EntityID)
		j.strNonEmpty("executable", par.Executable)
		j.strNonEmpty("name", par.Name)
		j.uint("pid", uint64(par.PID))
		if !par.Start.IsZero() {
			j.time("start", par.Start)
		}
		j.close()
	} else if p.PPID != 0 {
		j.open("parent")
		j.uint("pid", uint64(p.PPID))
		j.close()
	}
	j.uint("pid", uint64(p.PID))
	if prev := r.Previous; prev != nil {
		j.open("previous")
		if len(prev.Args) > 0 {
			j.strs("args", prev.Args...)
			j.uint("args_count", uint64(max(prev.Argc, len(prev.Args))))
		}
		j.strNonEmpty("executable", prev.Executable)
		j.close()
	}
	if p.SID == "" {
		j.open("real_group")
		j.uintStr("id", uint64(p.GID))
		j.close()
		j.open("real_user")
		j.uintStr("id", uint64(p.UID))
		j.close()
	}
	if !p.Start.IsZero() {
		j.time("start", p.Start)
	}
	if k != sensor.KindFork && k != sensor.KindHash && k != sensor.KindIntent && k != sensor.KindVerdict {
		threadAt = len(j.b)
		j.open("thread")
		j.uint("id", uint64(r.Event.Task.TID))
		j.close()
		threadEnd = len(j.b)
	}
	e.userID(p)
	j.strNonEmpty("working_directory", p.Cwd)
	j.close()
	if in != nil && threadAt > start {
		e.fillProcess(in, j.b, start, threadAt, threadEnd, len(j.b))
	}
}

func (e *Encoder) vigil(r *correlate.Record) {
	j := &e.j
	ev := r.Event
	j.open("Vigil")
	e.splice.VigilAt = len(j.b)
	if ev.Kind == sensor.KindLoss {
		j.open("loss")
		j.str("cause", ev.Loss.Cause.String())
		j.uint("count", ev.Loss.Count)
		if ev.Loss.Class != 0 {
			j.str("event_class", ev.Loss.Class.String())
		}
		j.strNonEmpty("sink", ev.Loss.Sink)
		j.close()
		j.close()
		return
	}
	p := r.Process
	jn := r.Join
	kernel := ev.Kind != sensor.KindIntent && ev.Kind != sensor.KindVerdict
	// Members in key order: chain (spliced in when sealed), correlation,
	// file, intent, join, network, process, session, tree, verdict.
	if jn != nil && jn.CorrelationID != "" {
		j.open("correlation")
		j.str("id", jn.CorrelationID)
		j.close()
	}
	if r.File != nil && kernel {
		e.vigilFile(r)
	}
	if r.Intent != nil {
		e.vigilIntent(r)
	}
	if jn != nil && jn.By != "" {
		j.open("join")
		j.str("by", jn.By)
		j.close()
	}
	if r.Net != nil && kernel {
		e.vigilNet(r)
	}
	if p == nil || !kernel {
		e.vigilTail(r)
		return
	}
	j.open("process")
	exec, exit := ev.Kind == sensor.KindExec, ev.Kind == sensor.KindExit
	if exec && p.ArgsCut {
		j.bool("args_truncated", true)
	}
	if p.CgroupID != 0 {
		j.uint("cgroup_id", p.CgroupID)
	}
	if exit && p.CoreDump {
		j.bool("core_dumped", true)
	}
	if exec && ev.Flags&sensor.FlagExeTruncated != 0 {
		j.bool("executable_truncated", true)
	}
	if exit && p.Signal != 0 {
		j.str("exit_signal", signalName(p.Signal))
	}
	if h := r.Hash; h != nil && r.File == nil && h.State != correlate.HashDone {
		j.str("hash_state", h.State)
	}
	j.str("source", p.Source.String())
	if exec && ev.Flags&sensor.FlagNewRoot != 0 {
		j.bool("tree_root", true)
	}
	if exec && ev.Flags&sensor.FlagCwdTruncated != 0 {
		j.bool("working_directory_truncated", true)
	}
	j.close()
	e.vigilTail(r)
}

// vigilTail writes the Vigil members after process (session, tree,
// verdict) and closes the object.
func (e *Encoder) vigilTail(r *correlate.Record) {
	j := &e.j
	if jn := r.Join; jn != nil && jn.SessionID != "" {
		j.open("session")
		j.str("id", jn.SessionID)
		j.close()
	}
	if p := r.Process; p != nil && p.RootID != "" {
		j.open("tree")
		j.open("root")
		j.str("entity_id", p.RootID)
		j.uint("pid", uint64(p.Tree.RootPID))
		j.close()
		j.close()
	}
	if r.Verdict != nil {
		e.vigilVerdict(r)
	}
	j.close()
}

// userID writes user.id: the effective uid, or the SID where the
// platform names users so.
func (e *Encoder) userID(p *correlate.Process) {
	j := &e.j
	j.open("user")
	if p.SID != "" {
		j.str("id", p.SID)
	} else {
		j.uintStr("id", uint64(p.EUID))
	}
	j.close()
}
