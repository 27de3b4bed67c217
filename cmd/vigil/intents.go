package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/vigilsec/vigil/correlate"
	"github.com/vigilsec/vigil/intent"
	"github.com/vigilsec/vigil/internal/redact"
	"github.com/vigilsec/vigil/sensor"
)

// intentQueue carries received intents from the socket's connection
// goroutines to the pipeline's goroutine. It is bounded: when the
// pipeline falls behind, senders wait (their answer is delayed), and no
// intent is dropped.
type intentQueue struct {
	ch       chan *intent.Received
	redactor *redact.Redactor
	done     chan struct{}
	once     sync.Once
}

// intentQueueLen bounds the intents waiting for the pipeline.
const intentQueueLen = 4096

func newIntentQueue(r *redact.Redactor) *intentQueue {
	return &intentQueue{ch: make(chan *intent.Received, intentQueueLen), redactor: r, done: make(chan struct{})}
}

var errStopping = errors.New("vigil is stopping")

// deliver is the server's intent.Deliver: secrets are redacted before
// the intent goes anywhere.
func (q *intentQueue) deliver(rec *intent.Received) error {
	redactIntent(q.redactor, &rec.Intent)
	if rec.Err != nil {
		if msg := q.redactor.String(rec.Err.Error()); msg != rec.Err.Error() {
			rec.Err = redactedError{msg, rec.Err}
		}
	}
	select {
	case q.ch <- rec:
		return nil
	case <-q.done:
		return errStopping
	}
}

// redactedError says what err says, secrets removed, and still is err
// (errors.Is), so a refusal keeps its kind.
type redactedError struct {
	msg string
	err error
}

func (e redactedError) Error() string { return e.msg }
func (e redactedError) Unwrap() error { return e.err }

// close makes later deliveries fail instead of waiting.
func (q *intentQueue) close() { q.once.Do(func() { close(q.done) }) }

// redactIntent removes secrets from what an intent quotes: declared
// commands and URLs (the same rules as command lines, so a declaration
// still matches the redacted command line), prompt text, reasons, errors.
func redactIntent(r *redact.Redactor, in *intent.Intent) {
	if r == nil {
		return
	}
	for i := range in.Actions {
		a := &in.Actions[i]
		a.Command = r.String(a.Command)
		a.URL = r.String(a.URL)
	}
	if p := in.Prompt; p != nil {
		p.Text = r.String(p.Text)
	}
	in.Reasoning = r.String(in.Reasoning)
	in.Error = r.String(in.Error)
	if d := in.Decision; d != nil {
		d.Reason = r.String(d.Reason)
	}
}

// startIntents listens on the intent socket and serves it until ctx is
// done. The returned function waits for the server to stop.
func startIntents(ctx context.Context, cfg intent.ServerConfig, q *intentQueue) (*intent.Server, func() error, error) {
	srv, err := intent.Listen(cfg)
	if err != nil {
		return nil, nil, err
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, q.deliver) }()
	var (
		once sync.Once
		err2 error
	)
	// The wait can be called more than once; only the first waits.
	return srv, func() error {
		once.Do(func() { q.close(); err2 = <-done })
		return err2
	}, nil
}

// selfExecutable is Vigil's own binary, to recognise its helpers (vigil
// hook, vigil emit) inside agent trees.
func selfExecutable() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	if r, err := filepath.EvalSymlinks(exe); err == nil {
		exe = r
	}
	return exe
}

// drainIntents hands the queued intents to the joiner and writes their
// records. Agents not yet in scope are put in scope (an intent registers
// its sender's agent process as an agent root).
func (p *pipeline) drainIntents() error {
	if p.intents == nil {
		return nil
	}
	for {
		select {
		case rec := <-p.intents.ch:
			if err := p.handleIntent(rec); err != nil {
				return err
			}
		default:
			return nil
		}
	}
}

func (p *pipeline) handleIntent(rec *intent.Received) error {
	if rec.BootNS != 0 {
		// The kernel's clock, converted as kernel records are: intents
		// and the actions around them order exactly.
		rec.At = p.clock.Time(rec.BootNS)
	}
	if rec.Err == nil && !rec.Unbound && !rec.Intent.Spooled && rec.AgentPID > 0 {
		p.register(rec)
		p.know(rec)
	}
	r := p.joiner.Intent(rec)
	if err := p.out.Write(r); err != nil {
		return err
	}
	p.joiner.IntentWritten(r, p.out.Sequence())
	return nil
}

// register puts an intent's agent process in scope when it is not yet:
// a process that reports intents is an agent root.
func (p *pipeline) register(rec *intent.Received) {
	if p.track == nil {
		return
	}
	pid := uint32(rec.AgentPID)
	if q := p.table.ByPID(pid); q != nil && q.StartTicks == rec.AgentStart && !q.Tree.IsZero() {
		return
	}
	if p.treeOf != nil && !p.treeOf(pid).IsZero() {
		return // in scope already (its records may not have been read yet)
	}
	snaps, err := sensor.ReadProc(procRoot)
	if err != nil {
		p.log.Warn("register agent from intent", "pid", pid, "err", err)
		return
	}
	var start uint64
	for i := range snaps {
		if snaps[i].Task.PID == pid {
			start = snaps[i].Task.StartTime
		}
	}
	if start == 0 || sensor.NSToTicks(start) != rec.AgentStart {
		return // gone, or the PID was reused
	}
	name := rec.Intent.Agent.Name
	if name == "" {
		name = rec.Intent.Agent.ID
	}
	idx := p.registeredAgent(name)
	tree := sensor.Tree{RootPID: pid, RootStart: start, Agent: idx}
	members, err := p.track(snaps, pid, tree)
	if err != nil {
		p.log.Warn("register agent from intent", "pid", pid, "err", err)
		return
	}
	p.table.Seed(members, tree)
	p.log.Info("agent registered by its intents", "agent", name, "pid", pid, "processes", len(members))
}

// know adds the agent process to the table from /proc when its records
// have not been read yet (an agent reports intents at once after its
// exec), so its intent records name it.
func (p *pipeline) know(rec *intent.Received) {
	pid := uint32(rec.AgentPID)
	if q := p.table.ByPID(pid); q != nil && q.StartTicks == rec.AgentStart {
		return
	}
	snap, err := sensor.ReadProcess(procRoot, pid)
	if err != nil || sensor.NSToTicks(snap.Task.StartTime) != rec.AgentStart {
		return
	}
	var tree sensor.Tree
	if p.treeOf != nil {
		tree = p.treeOf(pid)
	}
	p.table.Seed([]sensor.Snapshot{snap}, tree)
}

// registeredBase is the first agent index given to agents that register
// through intents (configured agents count from 1).
const registeredBase = 1 << 16

func (p *pipeline) registeredAgent(name string) uint32 {
	p.agentsMu.Lock()
	defer p.agentsMu.Unlock()
	for i, n := range p.registered {
		if n == name {
			return registeredBase + uint32(i)
		}
	}
	p.registered = append(p.registered, name)
	return registeredBase + uint32(len(p.registered)-1)
}

func (p *pipeline) agentName(i uint32) string {
	if i >= registeredBase {
		p.agentsMu.Lock()
		defer p.agentsMu.Unlock()
		if k := int(i - registeredBase); k < len(p.registered) {
			return p.registered[k]
		}
		return ""
	}
	if p.baseAgentName != nil {
		return p.baseAgentName(i)
	}
	return ""
}

// settle writes the verdicts that are due (all of them when final).
func (p *pipeline) settle(final bool) error {
	if p.joiner == nil {
		return nil
	}
	for _, r := range p.joiner.Settle(time.Now(), final) {
		if err := p.out.Write(r); err != nil {
			return fmt.Errorf("write verdict: %w", err)
		}
	}
	return nil
}

// isVigil reports whether a process runs Vigil's own binary.
func isVigilProcess(self string) func(*correlate.Process) bool {
	return func(q *correlate.Process) bool { return self != "" && q.Executable == self }
}
