package output

import (
	"time"

	"github.com/vigilsec/vigil/correlate"
	"github.com/vigilsec/vigil/sensor"
)

// ECSVersion is the ECS version records conform to.
const ECSVersion = "9.4.0"

// Identity is the host and the Vigil instance every record names.
type Identity struct {
	HostName     string // host.name
	HostID       string // host.id (machine id)
	BootID       string // host.boot.id
	AgentID      string // agent.id: this Vigil installation
	AgentVersion string // agent.version
	EphemeralID  string // agent.ephemeral_id: this run
}

// Encoder turns records into ECS JSON lines, numbering them.
type Encoder struct {
	id  Identity
	seq uint64
	now func() time.Time
	j   jsonBuf
}

// NewEncoder returns an encoder; now stamps event.created (default
// time.Now).
func NewEncoder(id Identity, now func() time.Time) *Encoder {
	if now == nil {
		now = time.Now
	}
	return &Encoder{id: id, now: now}
}

// Sequence is the event.sequence of the last record encoded.
func (e *Encoder) Sequence() uint64 { return e.seq }

// SetSequence makes the next record's event.sequence n+1.
func (e *Encoder) SetSequence(n uint64) { e.seq = n }

// Append appends r as one JSON line (with its newline) to dst.
func (e *Encoder) Append(dst []byte, r *correlate.Record) []byte {
	e.seq++
	j := &e.j
	j.b, j.more, j.depth = append(dst, '{'), false, 0
	j.begin()

	ev := r.Event
	// Top-level members in key order where it is cheap to keep (so the
	// object usually needs no sorting): @timestamp, Vigil, agent, ...
	j.time("@timestamp", r.Time)
	e.vigil(r)

	j.open("agent")
	j.strNonEmpty("ephemeral_id", e.id.EphemeralID)
	j.strNonEmpty("id", e.id.AgentID)
	j.str("type", "vigil")
	j.strNonEmpty("version", e.id.AgentVersion)
	j.close()

	if p := r.Process; p != nil {
		if r.File != nil {
			e.file(r)
		}
		if r.Net != nil {
			e.network(r)
		}
	}

	j.open("ecs")
	j.str("version", ECSVersion)
	j.close()

	j.open("event")
	switch ev.Kind {
	case sensor.KindFork:
		e.eventHead("event", "process", "start", "fork", "vigil.process")
	case sensor.KindExec:
		e.eventHead("event", "process", "start", "exec", "vigil.process")
	case sensor.KindExit:
		e.eventHead("event", "process", "end", "end", "vigil.process")
	case sensor.KindFile:
		e.fileEventHead(r)
	case sensor.KindNet:
		e.netEventHead(r)
	case sensor.KindLoss:
		e.eventHead("metric", "", "", "loss", "vigil.loss")
	case sensor.KindHash:
		if r.File != nil {
			e.eventHead("enrichment", "file", "info", "file_hash", "vigil.file")
		} else {
			e.eventHead("enrichment", "process", "info", "process_hash", "vigil.process")
		}
	}
	j.uint("sequence", e.seq)
	j.time("created", e.now())
	j.close()

	p := r.Process
	if p != nil && p.Agent != "" {
		j.open("gen_ai")
		j.open("agent")
		j.str("name", p.Agent)
		j.close()
		j.close()
	}

	j.open("host")
	j.open("boot")
	j.str("id", e.id.BootID)
	j.close()
	j.strNonEmpty("id", e.id.HostID)
	j.strNonEmpty("name", e.id.HostName)
	j.close()

	if p != nil {
		e.process(r, p)
		j.open("user")
		j.uintStr("id", uint64(p.EUID))
		j.close()
	}

	j.end()
	j.b = append(j.b, '\n')
	return j.b
}

func (e *Encoder) eventHead(kind, category, typ, action, dataset string) {
	j := &e.j
	j.str("action", action)
	if category != "" {
		j.strs("category", category)
	}
	j.str("dataset", dataset)
	j.str("kind", kind)
	j.str("module", "vigil")
	if category != "" {
		j.strs("type", typ)
	}
}

// process writes the process object, its members in key order (the
// canonical order, so the object needs no sorting).
func (e *Encoder) process(r *correlate.Record, p *correlate.Process) {
	j := &e.j
	k := r.Event.Kind
	j.open("process")
	if len(p.Args) > 0 {
		j.strs("args", p.Args...)
		j.uint("args_count", uint64(max(p.Argc, len(p.Args))))
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
	if k == sensor.KindExit {
		j.time("end", p.End)
	}
	j.str("entity_id", p.EntityID)
	j.strNonEmpty("executable", p.Executable)
	if k == sensor.KindExit {
		j.int("exit_code", int64(p.ExitCode))
	}
	j.open("group")
	j.uintStr("id", uint64(p.EGID))
	j.close()
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
	j.open("real_group")
	j.uintStr("id", uint64(p.GID))
	j.close()
	j.open("real_user")
	j.uintStr("id", uint64(p.UID))
	j.close()
	if !p.Start.IsZero() {
		j.time("start", p.Start)
	}
	if k != sensor.KindFork && k != sensor.KindHash {
		j.open("thread")
		j.uint("id", uint64(r.Event.Task.TID))
		j.close()
	}
	j.open("user")
	j.uintStr("id", uint64(p.EUID))
	j.close()
	j.strNonEmpty("working_directory", p.Cwd)
	j.close()
}

func (e *Encoder) vigil(r *correlate.Record) {
	j := &e.j
	ev := r.Event
	j.open("Vigil")
	if ev.Kind == sensor.KindLoss {
		j.open("loss")
		j.str("cause", ev.Loss.Cause.String())
		if ev.Loss.Class != 0 {
			j.str("event_class", ev.Loss.Class.String())
		}
		j.uint("count", ev.Loss.Count)
		j.strNonEmpty("sink", ev.Loss.Sink)
		j.close()
		j.close()
		return
	}
	p := r.Process
	if r.File != nil {
		e.vigilFile(r)
	}
	if r.Net != nil {
		e.vigilNet(r)
	}
	j.open("process")
	j.str("source", p.Source.String())
	if h := r.Hash; h != nil && r.File == nil && h.State != correlate.HashDone {
		j.str("hash_state", h.State)
	}
	if p.CgroupID != 0 {
		j.uint("cgroup_id", p.CgroupID)
	}
	if ev.Kind == sensor.KindExec {
		if p.ArgsCut {
			j.bool("args_truncated", true)
		}
		if ev.Flags&sensor.FlagExeTruncated != 0 {
			j.bool("executable_truncated", true)
		}
		if ev.Flags&sensor.FlagCwdTruncated != 0 {
			j.bool("working_directory_truncated", true)
		}
		if ev.Flags&sensor.FlagNewRoot != 0 {
			j.bool("tree_root", true)
		}
	}
	if ev.Kind == sensor.KindExit {
		if p.Signal != 0 {
			j.str("exit_signal", signalName(p.Signal))
		}
		if p.CoreDump {
			j.bool("core_dumped", true)
		}
	}
	j.close()
	if p.RootID != "" {
		j.open("tree")
		j.open("root")
		j.str("entity_id", p.RootID)
		j.uint("pid", uint64(p.Tree.RootPID))
		j.close()
		j.close()
	}
	j.close()
}
