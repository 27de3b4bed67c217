package correlate

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os/user"
	"path"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vigilsec/vigil/intent"
	"github.com/vigilsec/vigil/sensor"
)

// The Joiner holds what agents declared (intents) against what the
// kernel saw their process trees do, and says for each action whether it
// was declared, observed, both, or neither.
//
// Join keys, strongest first: (1) a correlation id in a process's
// environment at exec (VIGIL_CORRELATION_ID, or a TRACEPARENT's trace id)
// matching the one a tool call declared; (2) the tool-call window: a
// process started in the sending agent's tree while a tool call was open
// belongs to that call for the rest of its life, and the agent's own
// actions inside the window do too; (3) the session: anything else the
// agent's tree does while the session lives.
//
// Verdicts: corroborated (declared and observed), unwitnessed (declared,
// not observed by the time the tool call ended plus Grace), mismatched
// (declared, and an action of the same kind with another target observed
// instead), undeclared (observed in a session's tree, covered by no
// declaration). The processes a corroborated exec started are that tool
// call's effects: what they touched is listed in its verdict, not judged
// one by one.

// Verdict names.
const (
	Corroborated = "corroborated"
	Unwitnessed  = "unwitnessed"
	Undeclared   = "undeclared"
	Mismatched   = "mismatched"
)

// Join says what a kernel record was joined to.
type Join struct {
	SessionID     string
	AgentName     string
	AgentID       string
	ToolCallID    string
	ToolName      string
	CorrelationID string
	TraceID       string
	By            string // correlation_id, trace_id, tool_call_window or session
}

// IntentRecord is an intent as received, for its record.
type IntentRecord struct {
	intent.Received
	Process *Process // the process it speaks for, when the table knows it
	Refused bool     // Err is why
}

// Action is a declared or observed action.
type Action struct {
	Kind    intent.ActionKind
	Command string         // exec: the declared command, or the observed command line
	Path    string         // file actions
	OldPath string         // observed rename: the old name
	Host    string         // network: declared host, or the observed destination's name if known
	Port    int            // network
	URL     string         // network, declared
	Addr    netip.AddrPort // network, observed
}

// Target is the action's object in one line.
func (a *Action) Target() string {
	switch a.Kind {
	case intent.Exec:
		return a.Command
	case intent.Network:
		switch {
		case a.Addr.IsValid() && a.Host != "":
			return a.Host + " (" + a.Addr.String() + ")"
		case a.Addr.IsValid():
			return a.Addr.String()
		case a.URL != "":
			return a.URL
		}
		return net.JoinHostPort(a.Host, strconv.Itoa(a.Port))
	}
	return a.Path
}

// Observed is an action the kernel saw, and the record that reported it.
type Observed struct {
	Action
	Time     time.Time
	Sequence uint64  // event.sequence of its record
	Process  Process // the process that acted, as it was
	By       string  // how it was joined to its tool call or session
}

// Effects is what the processes a tool call's command started did.
type Effects struct {
	Processes  int
	Execs      []string
	Files      []string // written, created, deleted or renamed
	Reads      []string
	Dests      []string // network destinations connected to
	Sequences  []uint64 // their records
	Truncated  bool     // more than the lists hold
	maxEntries int
}

// Verdict is one judged action.
type Verdict struct {
	Name       string
	Reason     string
	SessionID  string
	AgentName  string
	AgentID    string
	ToolCallID string
	ToolName   string
	// IntentSequence is the event.sequence of the tool call's start
	// record (0 for undeclared actions outside any tool call).
	IntentSequence uint64
	CorrelationID  string // the tool call's, if it declared one
	TraceID        string
	Declared       *Action
	Observed       []Observed // the first maxObserved of them
	Count          int        // observed actions in all (undeclared ones are grouped)
	Effects        *Effects
	By             string // how the observed action was joined
}

// JoinConfig configures a Joiner.
type JoinConfig struct {
	// Grace: after a tool call ends, its actions may still be observed
	// for this long (kernel records are delivered in batches). Default 2s.
	Grace time.Duration
	// Hold: an observed action waits this long for intents received
	// before it happened that could still be on their way. Default 500ms.
	Hold time.Duration
	// MaxToolCall ends a tool call that never reports its end. Default
	// 30 minutes.
	MaxToolCall time.Duration
	// IsVigil tells Vigil's own helper processes (vigil hook, vigil
	// emit), which are never judged.
	IsVigil func(p *Process) bool
	// IgnorePaths: writes under these prefixes are the agent's own
	// housekeeping and never undeclared ("~/" is the acting user's home).
	IgnorePaths []string
	// Resolve looks up a declared host's addresses (default: the system
	// resolver, off the event path).
	Resolve func(ctx context.Context, host string) ([]netip.Addr, error)
	Now     func() time.Time
	Log     *slog.Logger
}

// Joiner correlates intents with kernel records. Not safe for concurrent
// use: the pipeline calls it from one goroutine.
type Joiner struct {
	cfg      JoinConfig
	table    *Table
	sessions map[string]*session // by agent name + session id
	calls    map[string]*toolCall
	// byEntity: processes started inside a tool call's window (and those
	// that carried its correlation id): they and their descendants
	// belong to it.
	byEntity map[string]*toolCall
	byCorr   map[string]*toolCall // correlation ids and trace ids of open calls
	// helpers: shells that run one of Vigil's helpers (an agent runs its
	// hook command through sh -c): their exec is not judged.
	helpers map[string]bool
	pending []*obsState // observed actions awaiting judgment
	last    *obsState   // the action of the record being written
	// undeclared actions outside tool calls, grouped per process and kind
	// for Grace, so a busy process makes one alert, not thousands.
	undeclared map[undeclaredKey]*undeclaredGroup
	resolved   chan resolution
	out        []*Record
	stats      JoinStats
	sweepAt    time.Time // next look for processes gone from the table
}

// JoinStats counts the joiner's work.
type JoinStats struct {
	Intents, Refused, Sessions, ToolCalls int
	Verdicts                              map[string]int
}

type session struct {
	key, id     string
	agentName   string
	agentID     string
	agent       *Process // nil while unknown to the table
	agentPID    int
	agentStart  uint64
	first       time.Time // its first intent: nothing before is its doing
	last        time.Time
	end         time.Time // its session_end; zero while it lives
	calls       []*toolCall
	corrID      string
	traceID     string
	startSeq    uint64
	housekeep   []string // IgnorePaths, ~ expanded for the agent's user
	housekeepOf uint32   // uid housekeep was expanded for
}

type toolCall struct {
	s         *session
	key       string
	id, name  string
	start     time.Time
	end       time.Time // zero while open
	declared  []*declaration
	corrID    string
	traceID   string
	startSeq  uint64
	settled   bool
	unmatched []*obsState // actions in its window no declaration covered
	effects   Effects
	roots     map[string]bool // entity ids of processes its exec declarations started
	hosts     map[string][]netip.Addr
}

type declaration struct {
	a        Action
	observed []Observed
}

type obsState struct {
	o    Observed
	join Join
	call *toolCall
	s    *session
}

type resolution struct {
	call  *toolCall
	host  string
	addrs []netip.Addr
}

// NewJoiner returns a Joiner over t's processes.
func NewJoiner(t *Table, cfg JoinConfig) *Joiner {
	if cfg.Grace <= 0 {
		cfg.Grace = 2 * time.Second
	}
	if cfg.Hold <= 0 {
		cfg.Hold = 500 * time.Millisecond
	}
	if cfg.MaxToolCall <= 0 {
		cfg.MaxToolCall = 30 * time.Minute
	}
	if cfg.IsVigil == nil {
		cfg.IsVigil = func(*Process) bool { return false }
	}
	if cfg.Resolve == nil {
		cfg.Resolve = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Joiner{
		cfg: cfg, table: t,
		sessions: map[string]*session{}, calls: map[string]*toolCall{},
		byEntity: map[string]*toolCall{}, byCorr: map[string]*toolCall{}, helpers: map[string]bool{},
		undeclared: map[undeclaredKey]*undeclaredGroup{},
		resolved:   make(chan resolution, 64),
		stats:      JoinStats{Verdicts: map[string]int{}},
	}
}

// Stats returns counters.
func (j *Joiner) Stats() JoinStats { return j.stats }

// Intent takes a received intent and returns its record. Call
// IntentWritten with the record's sequence once it is written.
func (j *Joiner) Intent(rec *intent.Received) *Record {
	j.stats.Intents++
	ir := &IntentRecord{Received: *rec, Refused: rec.Err != nil}
	ev := &sensor.Event{Kind: sensor.KindIntent}
	r := &Record{Event: ev, Time: rec.At, Intent: ir}
	if rec.Err != nil {
		j.stats.Refused++
		return r
	}
	if rec.AgentPID > 0 {
		if p := j.table.ByPID(uint32(rec.AgentPID)); p != nil && (rec.AgentStart == 0 || p.StartTicks == rec.AgentStart) {
			ir.Process = p
			r.Process, r.Parent = p, p.Parent
		}
	}
	in := &rec.Intent
	r.Join = &Join{SessionID: in.SessionID, AgentName: in.Agent.Name, AgentID: in.Agent.ID, ToolCallID: in.ToolCallID,
		ToolName: in.ToolName, CorrelationID: in.CorrelationID, TraceID: in.TraceID, By: "intent"}
	if rec.Unbound || in.Spooled {
		return r // recorded, not correlated
	}
	s := j.session(in, rec, ir.Process)
	s.last = rec.At
	switch in.Type {
	case intent.SessionEnd:
		s.end = rec.At
		for _, c := range s.calls {
			if c.end.IsZero() {
				c.end = rec.At
			}
		}
	case intent.ToolCallStart:
		c := j.call(s, in, rec.At)
		c.corrID, c.traceID = in.CorrelationID, in.TraceID
		if c.corrID != "" {
			j.byCorr["c\x00"+c.corrID] = c
		}
		if c.traceID != "" {
			j.byCorr["t\x00"+c.traceID] = c
		}
		for _, a := range in.Actions {
			d := &declaration{a: declared(a)}
			c.declared = append(c.declared, d)
			if a.Kind == intent.Network {
				j.resolve(c, a.Host)
			}
		}
	case intent.ToolCallEnd:
		c := j.calls[s.key+"\x00"+in.ToolCallID]
		if c == nil {
			// An end without its start (the start was lost or sent before
			// Vigil ran): its declarations cannot have had a window.
			c = j.call(s, in, rec.At)
			for _, a := range in.Actions {
				c.declared = append(c.declared, &declaration{a: declared(a)})
			}
		}
		if c.end.IsZero() {
			c.end = rec.At
		}
	}
	return r
}

// call returns the session's tool call in.ToolCallID, starting it at at
// if it is new.
func (j *Joiner) call(s *session, in *intent.Intent, at time.Time) *toolCall {
	key := s.key + "\x00" + in.ToolCallID
	if c := j.calls[key]; c != nil {
		return c
	}
	c := &toolCall{s: s, key: key, id: in.ToolCallID, name: in.ToolName, start: at,
		roots: map[string]bool{}, hosts: map[string][]netip.Addr{}}
	c.effects.maxEntries = 64
	j.calls[key] = c
	s.calls = append(s.calls, c)
	j.stats.ToolCalls++
	return c
}

// IntentWritten tells the joiner the sequence an intent's record was
// written with, so verdicts can point at the tool call's start.
func (j *Joiner) IntentWritten(r *Record, seq uint64) {
	if r.Intent == nil || r.Intent.Refused || r.Join == nil {
		return
	}
	in := &r.Intent.Intent
	s := j.sessions[sessionKey(in)]
	if s == nil {
		return
	}
	if in.Type == intent.SessionStart || s.startSeq == 0 {
		s.startSeq = seq
	}
	if in.Type == intent.ToolCallStart {
		if c := j.calls[s.key+"\x00"+in.ToolCallID]; c != nil && c.startSeq == 0 {
			c.startSeq = seq
		}
	}
}

func sessionKey(in *intent.Intent) string {
	name := in.Agent.Name
	if name == "" {
		name = in.Agent.ID
	}
	return name + "\x00" + in.SessionID
}

func (j *Joiner) session(in *intent.Intent, rec *intent.Received, p *Process) *session {
	key := sessionKey(in)
	s := j.sessions[key]
	if s == nil {
		s = &session{key: key, id: in.SessionID, agentName: in.Agent.Name, agentID: in.Agent.ID, first: rec.At}
		j.sessions[key] = s
		j.stats.Sessions++
	}
	if rec.AgentPID > 0 && (s.agentPID != rec.AgentPID || s.agentStart != rec.AgentStart) {
		s.agentPID, s.agentStart = rec.AgentPID, rec.AgentStart
		s.agent = p
	} else if s.agent == nil {
		s.agent = p
	}
	if in.CorrelationID != "" {
		s.corrID = in.CorrelationID
	}
	if in.TraceID != "" {
		s.traceID = in.TraceID
	}
	return s
}

func declared(a intent.Action) Action {
	return Action{Kind: a.Kind, Command: a.Command, Path: a.Path, Host: a.Host, Port: a.Port, URL: a.URL}
}

// resolve looks a declared host up off the event path; the answer is
// collected by Settle.
func (j *Joiner) resolve(c *toolCall, host string) {
	if host == "" {
		return
	}
	if a, err := netip.ParseAddr(host); err == nil {
		c.hosts[host] = []netip.Addr{a.Unmap()}
		return
	}
	if _, ok := c.hosts[host]; ok {
		return
	}
	c.hosts[host] = nil
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		addrs, err := j.cfg.Resolve(ctx, host)
		if err != nil {
			j.cfg.Log.Debug("resolve declared host", "host", host, "err", err)
		}
		unmapped := make([]netip.Addr, len(addrs))
		for i, a := range addrs {
			unmapped[i] = a.Unmap()
		}
		addrs = unmapped
		select {
		case j.resolved <- resolution{c, host, addrs}:
		default:
		}
	}()
}

// Observe joins a kernel record to a session, tool call or correlation
// id (setting r.Join) and, when it reports an action, keeps it for
// judgment. Call Written with the record's sequence once it is written.
func (j *Joiner) Observe(r *Record) {
	j.last = nil
	p := r.Process
	if p == nil || r.Event == nil || len(j.sessions) == 0 && len(j.byEntity) == 0 {
		return
	}
	if j.cfg.IsVigil(p) {
		// The shells between the agent and its hook command exist only
		// to run it.
		for a := p.Parent; a != nil && isShell(a); a = a.Parent {
			j.helpers[a.EntityID] = true
		}
		return
	}
	call, by, windowed := j.callOf(p, r)
	var s *session
	if call != nil {
		s = call.s
	} else if s = j.sessionOf(p, r.Time); s != nil {
		by = "session"
	}
	if s == nil {
		return
	}
	r.Join = &Join{SessionID: s.id, AgentName: s.agentName, AgentID: s.agentID, By: by,
		CorrelationID: p.CorrelationID, TraceID: p.TraceID}
	if call != nil {
		r.Join.ToolCallID, r.Join.ToolName = call.id, call.name
	}
	// A process started while a call is open belongs to it for life.
	if r.Event.Kind == sensor.KindFork && call != nil && windowed {
		j.byEntity[p.EntityID] = call
	}
	a, ok := observedAction(r)
	if !ok {
		return
	}
	st := &obsState{o: Observed{Action: a, Time: r.Time, Process: *p, By: by}, join: *r.Join, call: call, s: s}
	st.o.Process.Parent = nil // a snapshot: no links into the table
	j.pending = append(j.pending, st)
	j.last = st
}

// Written gives the record Observe saw last its sequence.
func (j *Joiner) Written(seq uint64) {
	if j.last != nil {
		j.last.o.Sequence = seq
		j.last = nil
	}
}

// callOf finds the tool call a process's record belongs to.
// windowed reports whether the call was found by the time window (the
// process itself was not yet anyone's).
func (j *Joiner) callOf(p *Process, r *Record) (c *toolCall, by string, windowed bool) {
	if p.CorrelationID != "" {
		if c := j.byCorr["c\x00"+p.CorrelationID]; c != nil {
			j.byEntity[p.EntityID] = c
			return c, "correlation_id", false
		}
	}
	if p.TraceID != "" {
		if c := j.byCorr["t\x00"+p.TraceID]; c != nil {
			j.byEntity[p.EntityID] = c
			return c, "trace_id", false
		}
	}
	if c := j.inherited(p); c != nil {
		return c, "tool_call_window", false
	}
	// The agent itself, inside an open call's window.
	s := j.sessionOf(p, r.Time)
	if s == nil {
		return nil, "", false
	}
	// Intents and kernel records share a clock, so the window is exact:
	// the grace period only waits for records still on their way.
	var found *toolCall
	for _, c := range s.calls {
		if !r.Time.Before(c.start) && (c.end.IsZero() || !r.Time.After(c.end)) && !c.settled {
			if found == nil || c.start.After(found.start) {
				found = c
			}
		}
	}
	if found != nil {
		return found, "tool_call_window", true
	}
	return nil, "", false
}

// inherited is the tool call the nearest of p and its ancestors belongs
// to, if any (not cached per process: a call reassigned later, see
// judge, takes its descendants with it).
func (j *Joiner) inherited(p *Process) *toolCall {
	for a, depth := p, 0; a != nil && depth < 256; a, depth = a.Parent, depth+1 {
		if c := j.byEntity[a.EntityID]; c != nil {
			return c
		}
	}
	return nil
}

// sessionOf finds the live session whose agent is p or an ancestor of p,
// begun by t (records may be read after intents that came later).
func (j *Joiner) sessionOf(p *Process, t time.Time) *session {
	for a, depth := p, 0; a != nil && depth < 256; a, depth = a.Parent, depth+1 {
		for _, s := range j.sessions {
			// Records are read in batches, after intents that came
			// later: what a record says happened is judged by its time.
			if s.agent == nil && s.agentPID == 0 || t.Before(s.first) || !s.end.IsZero() && t.After(s.end) {
				continue
			}
			if s.agent == a || (s.agentPID == int(a.PID) && s.agentStart == a.StartTicks) {
				s.agent = a
				return s
			}
		}
	}
	return nil
}

// isShell reports whether p runs a POSIX shell.
func isShell(p *Process) bool {
	switch path.Base(p.Executable) {
	case "sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "busybox":
		return true
	}
	return false
}

// observedAction says which action a record reports, if any: an exec,
// a file opened for writing or created, a file read (judged only when
// declared), deleted, renamed or truncated, or a network connection (not
// DNS, not a Unix socket).
func observedAction(r *Record) (Action, bool) {
	ev := r.Event
	switch ev.Kind {
	case sensor.KindExec:
		p := r.Process
		return Action{Kind: intent.Exec, Command: strings.Join(p.Args, " "), Path: p.Executable}, true
	case sensor.KindFile:
		f := &ev.File
		if r.File == nil || r.File.Path == "" || f.Ret < 0 && f.Op != sensor.FileWriteEnd {
			return Action{}, false
		}
		switch f.Op {
		case sensor.FileOpen:
			if f.OpenFlags&(syscall.O_WRONLY|syscall.O_RDWR|syscall.O_CREAT|syscall.O_TRUNC) != 0 {
				return Action{Kind: intent.FileWrite, Path: r.File.Path}, true
			}
			return Action{Kind: intent.FileRead, Path: r.File.Path}, true
		case sensor.FileUnlink, sensor.FileRmdir:
			return Action{Kind: intent.FileDelete, Path: r.File.Path}, true
		case sensor.FileRename:
			return Action{Kind: intent.FileWrite, Path: r.File.Path, OldPath: r.File.OldPath}, true
		case sensor.FileTruncate:
			return Action{Kind: intent.FileWrite, Path: r.File.Path}, true
		}
	case sensor.KindNet:
		n := &ev.Net
		if n.Op != sensor.NetConnect || !n.Dst.IP.IsValid() || n.Dst.Port == 53 {
			return Action{}, false
		}
		if n.Ret < 0 && n.Ret != -int64(syscall.EINPROGRESS) {
			return Action{}, false
		}
		a := Action{Kind: intent.Network, Addr: netip.AddrPortFrom(n.Dst.IP.Unmap(), n.Dst.Port), Port: int(n.Dst.Port)}
		if r.Net != nil {
			a.Host = r.Net.Domain
		}
		return a, true
	}
	return Action{}, false
}

// Settle judges what is due at now and returns the verdict records to
// write. final judges everything still open (the traced tree ended, or
// Vigil is stopping): open tool calls end now and wait no grace.
func (j *Joiner) Settle(now time.Time, final bool) []*Record {
	j.out = j.out[:0]
	for {
		select {
		case res := <-j.resolved:
			res.call.hosts[res.host] = res.addrs
			continue
		default:
		}
		break
	}
	// Actions whose covering intents have had time to arrive.
	keep := j.pending[:0]
	for _, st := range j.pending {
		if !final && now.Sub(st.o.Time) < j.cfg.Hold {
			keep = append(keep, st)
			continue
		}
		j.judge(st)
	}
	clear(j.pending[len(keep):])
	j.pending = keep
	j.flushUndeclared(now, final)
	// An agent that exited without ending its session ended it, and its
	// open tool calls.
	for _, s := range j.sessions {
		if a := s.agent; s.end.IsZero() && a != nil && a.Exited && !a.End.IsZero() {
			s.end = a.End
			for _, c := range s.calls {
				if c.end.IsZero() {
					c.end = a.End
				}
			}
		}
	}
	// Tool calls whose window and grace are over.
	for key, c := range j.calls {
		if c.settled {
			continue
		}
		switch {
		case !c.end.IsZero():
		case final:
			c.end = now
		case now.Sub(c.start) > j.cfg.MaxToolCall:
			c.end = c.start.Add(j.cfg.MaxToolCall) // it never said it ended
		}
		if c.end.IsZero() || (!final && now.Sub(c.end) < j.cfg.Grace+j.cfg.Hold) {
			continue
		}
		j.settle(c)
		c.settled = true
		delete(j.calls, key)
		if c.corrID != "" && j.byCorr["c\x00"+c.corrID] == c {
			delete(j.byCorr, "c\x00"+c.corrID)
		}
		if c.traceID != "" && j.byCorr["t\x00"+c.traceID] == c {
			delete(j.byCorr, "t\x00"+c.traceID)
		}
	}
	// Forget ended sessions and the processes of settled calls.
	for key, s := range j.sessions {
		open := false
		for _, c := range s.calls {
			open = open || !c.settled
		}
		if (final || !s.end.IsZero() && now.Sub(s.end) > j.cfg.Grace+j.cfg.Hold) && !open {
			delete(j.sessions, key)
		}
	}
	// Processes leave the table after their exit grace period: looking
	// for them once a second is often enough.
	if final || !now.Before(j.sweepAt) {
		j.sweepAt = now.Add(time.Second)
		for e := range j.helpers {
			if j.table.Get(e) == nil {
				delete(j.helpers, e)
			}
		}
		for e, c := range j.byEntity {
			if c.settled && j.table.Get(e) == nil {
				delete(j.byEntity, e)
			}
		}
	}
	out := j.out
	j.out = nil
	return out
}

// judge places an observed action: it corroborates a declaration, is an
// effect of a declared command, waits for its tool call to settle
// (mismatched or undeclared then), or is undeclared at once.
func (j *Joiner) judge(st *obsState) {
	if st.o.Kind == intent.Exec && j.helpers[st.o.Process.EntityID] {
		// The exec of a shell that ran one of Vigil's helpers (held long
		// enough to know). What else the shell does is judged.
		return
	}
	c := st.call
	if st.join.By == "tool_call_window" {
		// Its process, or an ancestor, may have been reassigned since.
		if live := j.table.Get(st.o.Process.EntityID); live != nil {
			if ic := j.inherited(live); ic != nil && ic != c {
				c, st.call = ic, ic
			}
		}
	}
	if c != nil && !c.settled {
		d := j.match(c, &st.o)
		if d == nil && st.join.By == "tool_call_window" && !j.underRoot(c, &st.o.Process) {
			// Tool calls run in parallel: the window said the latest one,
			// but another open at the time may have declared it.
			if oc, od := j.matchOther(st); od != nil {
				c, d = oc, od
				st.call = oc
				if j.byEntity[st.o.Process.EntityID] != nil {
					j.byEntity[st.o.Process.EntityID] = oc // its descendants follow
				}
			}
		}
		if d != nil {
			d.observed = append(d.observed, st.o)
			if st.o.Kind == intent.Exec && d.a.Kind == intent.Exec {
				c.roots[st.o.Process.EntityID] = true
			}
			return
		}
		if j.underRoot(c, &st.o.Process) {
			c.effects.add(&st.o)
			return
		}
		if st.o.Kind == intent.FileRead {
			return // undeclared reads are not judged
		}
		if j.housekeeping(st.s, &st.o) {
			return
		}
		c.unmatched = append(c.unmatched, st)
		return
	}
	if st.o.Kind == intent.FileRead || j.housekeeping(st.s, &st.o) {
		return
	}
	if c != nil && c.settled {
		// Its call already gave its verdicts: a straggler past the grace.
		if j.underRoot(c, &st.o.Process) {
			return
		}
	}
	k := undeclaredKey{st.o.Process.EntityID, st.o.Kind, st.join.ToolCallID}
	g := j.undeclared[k]
	if g == nil {
		g = &undeclaredGroup{first: st.o.Time, v: &Verdict{Name: Undeclared,
			SessionID: st.join.SessionID, AgentName: st.join.AgentName, AgentID: st.join.AgentID,
			ToolCallID: st.join.ToolCallID, ToolName: st.join.ToolName, By: st.join.By}}
		j.undeclared[k] = g
	}
	g.v.observe(st.o)
}

// maxObserved bounds the observed actions a verdict lists.
const maxObserved = 32

type undeclaredKey struct {
	entity   string
	kind     intent.ActionKind
	toolCall string
}

// undeclaredGroup is a process's undeclared actions of one kind, held
// for Grace from the first.
type undeclaredGroup struct {
	first time.Time
	v     *Verdict
}

// observe adds an observed action to the verdict.
func (v *Verdict) observe(o Observed) {
	v.Count++
	if len(v.Observed) < maxObserved {
		v.Observed = append(v.Observed, o)
	}
}

// undeclaredReason says what a group of undeclared actions was.
func undeclaredReason(v *Verdict, where string) string {
	o := &v.Observed[0]
	if v.Count == 1 {
		return fmt.Sprintf("%s %s%s: no declaration covers it", kindWords(o.Kind), o.Target(), where)
	}
	return fmt.Sprintf("%d actions (%s %s, ...)%s: no declaration covers them", v.Count, kindWords(o.Kind), o.Target(), where)
}

// flushUndeclared gives the verdicts of the groups held long enough.
func (j *Joiner) flushUndeclared(now time.Time, final bool) {
	for k, g := range j.undeclared {
		if !final && now.Sub(g.first) < j.cfg.Grace {
			continue
		}
		delete(j.undeclared, k)
		g.v.Reason = undeclaredReason(g.v, "")
		j.verdict(g.v, &g.v.Observed[0].Process, g.first)
	}
}

// matchOther finds another open tool call of the session, its window
// holding the action's time, with a declaration the action carries out.
func (j *Joiner) matchOther(st *obsState) (*toolCall, *declaration) {
	for _, oc := range st.s.calls {
		if oc == st.call || oc.settled || st.o.Time.Before(oc.start) || !oc.end.IsZero() && st.o.Time.After(oc.end) {
			continue
		}
		if d := j.match(oc, &st.o); d != nil {
			return oc, d
		}
	}
	return nil, nil
}

// underRoot reports whether p descends from a process the call's
// declared command started (not the command itself).
func (j *Joiner) underRoot(c *toolCall, p *Process) bool {
	if len(c.roots) == 0 {
		return false
	}
	if c.roots[p.EntityID] {
		return true
	}
	live := j.table.Get(p.EntityID)
	if live == nil {
		return false
	}
	for a := live.Parent; a != nil; a = a.Parent {
		if c.roots[a.EntityID] {
			return true
		}
	}
	return false
}

// match finds the declaration an observed action carries out.
func (j *Joiner) match(c *toolCall, o *Observed) *declaration {
	for _, d := range c.declared {
		if d.a.Kind != o.Kind {
			continue
		}
		switch o.Kind {
		case intent.Exec:
			if commandMatches(d.a.Command, o.Command) {
				return d
			}
		case intent.FileRead, intent.FileWrite, intent.FileDelete:
			if d.a.Path == o.Path || (o.OldPath != "" && d.a.Path == o.OldPath) {
				return d
			}
		case intent.Network:
			if j.destMatches(c, &d.a, o) {
				return d
			}
		}
	}
	return nil
}

// commandMatches reports whether an observed command line runs the
// declared command: it holds it verbatim, or quoted the way a shell
// wrapper quotes a command it evals ('\” for each quote).
func commandMatches(declared, observed string) bool {
	declared = strings.TrimSpace(declared)
	if declared == "" {
		return false
	}
	if strings.Contains(observed, declared) {
		return true
	}
	return strings.Contains(observed, strings.ReplaceAll(declared, `'`, `'\''`))
}

func (j *Joiner) destMatches(c *toolCall, d *Action, o *Observed) bool {
	if d.Port != 0 && d.Port != int(o.Addr.Port()) {
		return false
	}
	if o.Host != "" && strings.EqualFold(strings.TrimSuffix(o.Host, "."), d.Host) {
		return true
	}
	return slices.Contains(c.hosts[d.Host], o.Addr.Addr())
}

// housekeeping: writes under the configured prefixes are the agent's own
// state, not actions to judge.
func (j *Joiner) housekeeping(s *session, o *Observed) bool {
	if o.Kind != intent.FileWrite && o.Kind != intent.FileDelete || len(j.cfg.IgnorePaths) == 0 {
		return false
	}
	if s.housekeep == nil || s.housekeepOf != o.Process.UID {
		s.housekeep, s.housekeepOf = expandHome(j.cfg.IgnorePaths, o.Process.UID), o.Process.UID
	}
	for _, p := range s.housekeep {
		if strings.HasPrefix(o.Path, p) {
			return true
		}
	}
	return false
}

// lookupHome is a user's home directory, or "".
func lookupHome(uid uint32) string {
	u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10))
	if err != nil {
		return ""
	}
	return u.HomeDir
}

// expandHome turns "~/x" into the user's home plus "/x".
func expandHome(prefixes []string, uid uint32) []string {
	home := ""
	if rest, ok := strings.CutPrefix(lookupHome(uid), "/"); ok {
		home = "/" + rest
	}
	out := make([]string, 0, len(prefixes))
	for _, p := range prefixes {
		if rest, ok := strings.CutPrefix(p, "~/"); ok {
			if home == "" {
				continue
			}
			p = path.Join(home, rest)
			if strings.HasSuffix(rest, "/") || rest == "" {
				p += "/"
			}
		}
		out = append(out, p)
	}
	return out
}

// settle gives a tool call's verdicts: each declaration is corroborated,
// mismatched or unwitnessed; each action in its window no declaration
// covered is mismatched (paired with a declaration of its kind that saw
// nothing) or undeclared.
func (j *Joiner) settle(c *toolCall) {
	base := Verdict{SessionID: c.s.id, AgentName: c.s.agentName, AgentID: c.s.agentID,
		ToolCallID: c.id, ToolName: c.name, IntentSequence: c.startSeq, By: "tool_call_window",
		CorrelationID: c.corrID, TraceID: c.traceID}
	used := map[*obsState]bool{}
	for _, d := range c.declared {
		v := base
		a := d.a
		v.Declared = &a
		switch {
		case len(d.observed) > 0:
			v.Name = Corroborated
			v.Reason = "declared and observed"
			for _, o := range d.observed {
				v.observe(o)
			}
			if a.Kind == intent.Exec && c.effects.Processes+len(c.effects.Files)+len(c.effects.Dests)+len(c.effects.Reads) > 0 {
				e := c.effects
				v.Effects = &e
			}
			v.By = d.observed[0].By
		default:
			// Something of the same kind happened instead?
			for _, st := range c.unmatched {
				if !used[st] && st.o.Kind == a.Kind {
					used[st] = true
					v.observe(st.o)
				}
			}
			if v.Count > 0 {
				v.Name = Mismatched
				o := &v.Observed[0]
				v.Reason = fmt.Sprintf("declared %s %s, observed %s %s", kindWords(a.Kind), a.Target(), kindWords(o.Kind), o.Target())
			} else {
				v.Name = Unwitnessed
				v.Reason = fmt.Sprintf("declared %s %s, not observed before the tool call ended (+%s)", kindWords(a.Kind), a.Target(), j.cfg.Grace)
			}
		}
		var p *Process
		if len(v.Observed) > 0 {
			p = &v.Observed[0].Process
		} else if c.s.agent != nil {
			p = c.s.agent
		}
		j.verdict(&v, p, c.end)
	}
	groups := map[undeclaredKey]*Verdict{}
	var order []undeclaredKey
	for _, st := range c.unmatched {
		if used[st] {
			continue
		}
		k := undeclaredKey{st.o.Process.EntityID, st.o.Kind, c.id}
		v := groups[k]
		if v == nil {
			nv := base
			nv.Name, nv.By = Undeclared, st.join.By
			v = &nv
			groups[k] = v
			order = append(order, k)
		}
		v.observe(st.o)
	}
	for _, k := range order {
		v := groups[k]
		v.Reason = undeclaredReason(v, fmt.Sprintf(" in tool call %s (%s), which did not declare it", c.id, c.name))
		j.verdict(v, &v.Observed[0].Process, v.Observed[0].Time)
	}
}

func (e *Effects) add(o *Observed) {
	if len(e.Sequences) < e.maxEntries {
		e.Sequences = append(e.Sequences, o.Sequence)
	} else {
		e.Truncated = true
	}
	list := &e.Files
	switch o.Kind {
	case intent.Exec:
		e.Processes++
		list = &e.Execs
	case intent.FileRead:
		list = &e.Reads
	case intent.Network:
		list = &e.Dests
	}
	t := o.Target()
	if slices.Contains(*list, t) {
		return
	}
	if len(*list) >= e.maxEntries {
		e.Truncated = true
		return
	}
	*list = append(*list, t)
}

func kindWords(k intent.ActionKind) string {
	switch k {
	case intent.Exec:
		return "exec of"
	case intent.FileRead:
		return "read of"
	case intent.FileWrite:
		return "write to"
	case intent.FileDelete:
		return "deletion of"
	case intent.Network:
		return "connection to"
	}
	return string(k)
}

// verdict queues a verdict record.
func (j *Joiner) verdict(v *Verdict, p *Process, at time.Time) {
	j.stats.Verdicts[v.Name]++
	r := &Record{Event: &sensor.Event{Kind: sensor.KindVerdict}, Time: at, Verdict: v}
	if p != nil {
		cp := *p
		r.Process = &cp
		r.Parent = nil
		if live := j.table.Get(p.EntityID); live != nil {
			r.Parent = live.Parent
		}
	}
	r.Join = &Join{SessionID: v.SessionID, AgentName: v.AgentName, AgentID: v.AgentID,
		ToolCallID: v.ToolCallID, ToolName: v.ToolName, By: v.By, CorrelationID: v.CorrelationID, TraceID: v.TraceID}
	j.out = append(j.out, r)
}
