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
	out       *output.Writer
	reconcile time.Time // next time to check the table against /proc

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
}

func newPipeline(c pipelineConfig) (*pipeline, error) {
	id, err := output.HostIdentity(vigilVersion())
	if err != nil {
		return nil, fmt.Errorf("host identity: %w", err)
	}
	hasher := correlate.NewHasher(c.Hash)
	table, err := correlate.NewTable(correlate.Config{
		Hasher:       hasher,
		BootID:       id.BootID,
		Times:        sensor.NewBootClock(),
		AgentName:    c.AgentName,
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
			ID: chain.Identity{HostName: id.HostName, HostID: id.HostID, BootID: id.BootID,
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
		out = output.NewSealedWriter(c.Out, enc, ch, start)
		// The run's start is on record at once, so even a run killed at
		// once shows in the chain.
		if err := out.Flush(); err != nil {
			return nil, err
		}
	}
	return &pipeline{
		table:     table,
		hasher:    hasher,
		out:       out,
		reconcile: time.Now().Add(reconcileEvery),
	}, nil
}

// reconcileEvery is how often the table is checked against /proc for
// processes whose exit was never seen.
const reconcileEvery = 30 * time.Second

func (p *pipeline) HandleEvent(ev *sensor.Event) error {
	if err := p.writeHashes(p.hasher.Results()); err != nil {
		return err
	}
	if r := p.table.Handle(ev); r != nil {
		return p.out.Write(r)
	}
	return nil
}

// writeHashes records finished hashes as enrichment records.
func (p *pipeline) writeHashes(results []correlate.HashResult) error {
	for i := range results {
		if err := p.out.Write(p.table.HashRecord(&results[i])); err != nil {
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
		p.table.Reconcile(func(pid uint32, ticks uint64) bool { return sensor.Alive(procRoot, pid, ticks) })
	}
	p.table.Sweep()
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
