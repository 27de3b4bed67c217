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

// Append appends r as one JSON line (with its newline) to dst.
func (e *Encoder) Append(dst []byte, r *correlate.Record) []byte {
	e.seq++
	j := &e.j
	j.b, j.more = append(dst, '{'), false

	ev := r.Event
	j.time("@timestamp", r.Time)
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

	j.open("host")
	j.strNonEmpty("name", e.id.HostName)
	j.strNonEmpty("id", e.id.HostID)
	j.open("boot")
	j.str("id", e.id.BootID)
	j.close()
	j.close()

	j.open("agent")
	j.str("type", "vigil")
	j.strNonEmpty("version", e.id.AgentVersion)
	j.strNonEmpty("id", e.id.AgentID)
	j.strNonEmpty("ephemeral_id", e.id.EphemeralID)
	j.close()

	if p := r.Process; p != nil {
		j.open("user")
		j.uintStr("id", uint64(p.EUID))
		j.close()
		e.process(r, p)
		if r.File != nil {
			e.file(r)
		}
		if r.Net != nil {
			e.network(r)
		}
		if p.Agent != "" {
			j.open("gen_ai")
			j.open("agent")
			j.str("name", p.Agent)
			j.close()
			j.close()
		}
	}
	e.vigil(r)

	j.b = append(j.b, '}', '\n')
	return j.b
}

func (e *Encoder) eventHead(kind, category, typ, action, dataset string) {
	j := &e.j
	j.str("kind", kind)
	if category != "" {
		j.strs("category", category)
		j.strs("type", typ)
	}
	j.str("action", action)
	j.str("module", "vigil")
	j.str("dataset", dataset)
}

func (e *Encoder) process(r *correlate.Record, p *correlate.Process) {
	j := &e.j
	j.open("process")
	j.str("entity_id", p.EntityID)
	j.uint("pid", uint64(p.PID))
	j.strNonEmpty("name", p.Name)
	e.command(p.Executable, p.Args, p.Argc)
	j.strNonEmpty("working_directory", p.Cwd)
	if !p.Start.IsZero() {
		j.time("start", p.Start)
	}
	if p.ExeHash != "" {
		j.open("hash")
		j.str("sha256", p.ExeHash)
		j.close()
	}
	if r.Event.Kind == sensor.KindExit {
		j.time("end", p.End)
		j.int("exit_code", int64(p.ExitCode))
	}
	if k := r.Event.Kind; k != sensor.KindFork && k != sensor.KindHash {
		j.open("thread")
		j.uint("id", uint64(r.Event.Task.TID))
		j.close()
	}
	j.open("user")
	j.uintStr("id", uint64(p.EUID))
	j.close()
	j.open("real_user")
	j.uintStr("id", uint64(p.UID))
	j.close()
	j.open("group")
	j.uintStr("id", uint64(p.EGID))
	j.close()
	j.open("real_group")
	j.uintStr("id", uint64(p.GID))
	j.close()
	if par := r.Parent; par != nil {
		j.open("parent")
		j.str("entity_id", par.EntityID)
		j.uint("pid", uint64(par.PID))
		j.strNonEmpty("name", par.Name)
		j.strNonEmpty("executable", par.Executable)
		if !par.Start.IsZero() {
			j.time("start", par.Start)
		}
		j.close()
	} else if p.PPID != 0 {
		j.open("parent")
		j.uint("pid", uint64(p.PPID))
		j.close()
	}
	if prev := r.Previous; prev != nil {
		j.open("previous")
		j.strNonEmpty("executable", prev.Executable)
		if len(prev.Args) > 0 {
			j.strs("args", prev.Args...)
			j.uint("args_count", uint64(max(prev.Argc, len(prev.Args))))
		}
		j.close()
	}
	j.close()
}

// command writes executable, args, args_count and command_line.
func (e *Encoder) command(exe string, args []string, argc int) {
	j := &e.j
	j.strNonEmpty("executable", exe)
	if len(args) == 0 {
		return
	}
	j.strs("args", args...)
	j.uint("args_count", uint64(max(argc, len(args))))
	j.key("command_line")
	j.b = append(j.b, '"')
	for i, a := range args {
		if i > 0 {
			j.b = append(j.b, ' ')
		}
		j.b = appendEscaped(j.b, a)
	}
	j.b = append(j.b, '"')
	j.more = true
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
	if p.RootID != "" {
		j.open("tree")
		j.open("root")
		j.str("entity_id", p.RootID)
		j.uint("pid", uint64(p.Tree.RootPID))
		j.close()
		j.close()
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
	j.close()
}
