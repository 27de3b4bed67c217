package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/vigilsec/vigil/correlate"
	"github.com/vigilsec/vigil/internal/redact"
	"github.com/vigilsec/vigil/output"
	"github.com/vigilsec/vigil/output/chain"
	"github.com/vigilsec/vigil/sensor"
)

// procRoot is where procfs is mounted.
const procRoot = "/proc"

// pipeline carries events from the sensor through the process table to
// the record writer, on the sensor's goroutine.
type pipeline struct {
	table     *correlate.Table
	hasher    *correlate.Hasher
	joiner    *correlate.Joiner
	clock     correlate.TimeSource // event timestamps to wall time, for intents too
	out       *output.Writer
	log       *slog.Logger
	reconcile time.Time // next time to check the table against /proc
	nextJudge time.Time // next time to give due verdicts
	events    int

	intents *intentQueue // nil: no intent socket
	track   func(snaps []sensor.Snapshot, pid uint32, tree sensor.Tree) ([]sensor.Snapshot, error)
	treeOf  func(pid uint32) sensor.Tree

	agentsMu      sync.Mutex
	registered    []string // agents that registered through intents
	baseAgentName func(uint32) string

	alive func(pid uint32, startTicks uint64) bool

	lostMu sync.Mutex
	lost   []sensor.Loss // reported from other goroutines (the shippers)
}

var _ sensor.Handler = (*pipeline)(nil)

type pipelineConfig struct {
	Out          io.Writer
	AgentName    func(uint32) string
	ExitGrace    time.Duration
	MaxProcesses int
	FileFilter   correlate.FileFilter
	Redactor     *redact.Redactor
	Hash         correlate.HashConfig
	// KeyDir, when set, seals every record into a tamper-evident chain
	// (output/chain); Existing is the log written so far, to continue.
	KeyDir       string
	Existing     io.Reader
	EpochRecords int
	EpochPeriod  time.Duration
	Log          *slog.Logger
	// Intents, when set, brings intents from the intent socket; Join
	// configures how they are judged against kernel records, and Track
	// puts agents that register through intents in scope.
	Intents *intentQueue
	Join    correlate.JoinConfig
	Track   func(snaps []sensor.Snapshot, pid uint32, tree sensor.Tree) ([]sensor.Snapshot, error)
	TreeOf  func(pid uint32) sensor.Tree // the tree the sensor has pid in, if any
	// Times converts the events' timestamps (default: the Linux sensor's
	// boot clock); Identity, when set, replaces the host's own (replays).
	Times    correlate.TimeSource
	Identity *output.Identity
	// Alive tells whether a process the table holds still runs, for
	// exits never seen (default: /proc).
	Alive func(pid uint32, startTicks uint64) bool
}

func newPipeline(c pipelineConfig) (*pipeline, error) {
	var id output.Identity
	if c.Identity != nil {
		id = *c.Identity
	} else {
		var err error
		if id, err = output.HostIdentity(vigilVersion()); err != nil {
			return nil, fmt.Errorf("host identity: %w", err)
		}
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	p := &pipeline{log: c.Log, intents: c.Intents, track: c.Track, treeOf: c.TreeOf, baseAgentName: c.AgentName}
	hasher := correlate.NewHasher(c.Hash)
	p.clock = c.Times
	if p.clock == nil {
		p.clock = defaultTimes()
	}
	table, err := correlate.NewTable(correlate.Config{
		Hasher:       hasher,
		BootID:       id.BootID,
		Times:        p.clock,
		AgentName:    p.agentName,
		ExitGrace:    c.ExitGrace,
		MaxProcesses: c.MaxProcesses,
		FileFilter:   c.FileFilter,
		Redactor:     c.Redactor,
		Logger:       c.Log,
	})
	if err != nil {
		return nil, err
	}
	enc := output.NewEncoder(id, nil)
	out := output.NewWriter(c.Out, enc)
	if c.KeyDir != "" {
		keys, err := chain.OpenKeys(c.KeyDir)
		if err != nil {
			return nil, fmt.Errorf("%w (create keys with: vigil keygen --dir %s)", err, c.KeyDir)
		}
		cfg := chain.Config{
			Keys: keys, EpochRecords: c.EpochRecords, EpochPeriod: c.EpochPeriod,
			ID: chain.Identity{HostName: id.HostName, HostID: id.HostID, BootID: id.BootID, OSType: id.OS.Type, OSPlatform: id.OS.Platform,
				AgentID: id.AgentID, AgentVersion: id.AgentVersion},
		}
		var (
			ch    *chain.Chain
			start []byte
		)
		if c.Existing != nil {
			ch, start, err = chain.Resume(cfg, c.Existing)
		} else {
			ch, start, err = chain.New(cfg)
		}
		if err != nil {
			return nil, err
		}
		// Sealing and writing run on a goroutine of their own: with a
		// core to spare, the daemon takes about twice the records a second.
		out = output.NewPipelinedWriter(c.Out, enc, ch, start)
		// The run's start is on record at once, so even a run killed at
		// once shows in the chain.
		if err := out.Flush(); err != nil {
			_ = out.Close()
			return nil, err
		}
	}
	p.table, p.hasher, p.out = table, hasher, out
	p.alive = c.Alive
	if p.alive == nil {
		p.alive = func(pid uint32, ticks uint64) bool { return sensor.Alive(procRoot, pid, ticks) }
	}
	p.reconcile = time.Now().Add(reconcileEvery)
	if c.Join.IsVigil == nil {
		c.Join.IsVigil = isVigilProcess(selfExecutable())
	}
	if c.Join.Log == nil {
		c.Join.Log = c.Log
	}
	p.joiner = correlate.NewJoiner(table, c.Join)
	return p, nil
}

// judgeEvery is how often due verdicts are given while events stream.
const judgeEvery = 100 * time.Millisecond

// reconcileEvery is how often the table is checked against /proc for
// processes whose exit was never seen.
const reconcileEvery = 30 * time.Second

func (p *pipeline) HandleEvent(ev *sensor.Event) error {
	if err := p.drainIntents(); err != nil {
		return err
	}
	if err := p.writeHashes(p.hasher.Results()); err != nil {
		return err
	}
	if r := p.table.Handle(ev); r != nil {
		p.joiner.Observe(r)
		if err := p.out.Write(r); err != nil {
			return err
		}
		p.joiner.Written(p.out.Sequence())
	}
	// Under a steady stream Flush is not called: give due verdicts here.
	if p.events++; p.events%256 == 0 {
		if now := time.Now(); now.After(p.nextJudge) {
			p.nextJudge = now.Add(judgeEvery)
			return p.settle(false)
		}
	}
	return nil
}

// writeHashes records finished hashes as enrichment records.
func (p *pipeline) writeHashes(results []correlate.HashResult) error {
	for i := range results {
		r := p.table.HashRecord(&results[i])
		p.joiner.Observe(r) // joined like the record it enriches; no action of its own
		if err := p.out.Write(r); err != nil {
			return err
		}
	}
	return nil
}

// finish waits (up to a bound) for the hashes still being computed,
// records them, and flushes. Call it after the sensor stopped.
func (p *pipeline) finish() error {
	ctx, cancel := context.WithTimeout(context.Background(), hashDrainTimeout)
	defer cancel()
	if err := p.drainIntents(); err != nil {
		return err
	}
	if err := p.settle(true); err != nil {
		return err
	}
	results, err := p.hasher.Close(ctx)
	if werr := p.writeHashes(results); werr != nil {
		return werr
	}
	if werr := p.writeLost(); werr != nil {
		return werr
	}
	if cerr := p.out.Close(); cerr != nil {
		return cerr
	}
	return err
}

// hashDrainTimeout bounds how long a stop waits for hashes.
const hashDrainTimeout = 10 * time.Second

func (p *pipeline) Flush() error {
	if now := time.Now(); now.After(p.reconcile) {
		p.reconcile = now.Add(reconcileEvery)
		p.table.Reconcile(p.alive)
	}
	p.table.Sweep()
	if err := p.drainIntents(); err != nil {
		return err
	}
	if err := p.settle(false); err != nil {
		return err
	}
	if err := p.writeHashes(p.hasher.Results()); err != nil {
		return err
	}
	if err := p.writeLost(); err != nil {
		return err
	}
	return p.out.Flush()
}

// sinkLost notes records a sink will never get (retention deleted them
// before they were shipped); the next flush writes a loss record. Safe to
// call from any goroutine.
func (p *pipeline) sinkLost(sink string, records uint64) {
	p.lostMu.Lock()
	defer p.lostMu.Unlock()
	p.lost = append(p.lost, sensor.Loss{Cause: sensor.CauseSinkBehind, Count: records, Sink: sink})
}

func (p *pipeline) writeLost() error {
	p.lostMu.Lock()
	lost := p.lost
	p.lost = nil
	p.lostMu.Unlock()
	for _, l := range lost {
		ev := &sensor.Event{Kind: sensor.KindLoss, Loss: l}
		if err := p.out.Write(&correlate.Record{Event: ev, Time: time.Now()}); err != nil {
			return err
		}
	}
	return nil
}
