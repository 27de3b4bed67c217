package main

import (
	"context"
	"log/slog"

	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/sensor"
	"github.com/vigilsec/vigil/sensor/esf"
)

// eslogger runs Apple's eslogger (macOS 13+, root and Full Disk Access)
// for the Endpoint Security events Vigil reads. Agents already running
// are not found at start (eslogger reports events, not processes): they
// are recorded from their next exec.
type eslogger struct {
	cfg esf.Config
	log *slog.Logger
}

func openSource(_ config.Config, scope *sensor.TreeScope, _ func(sensor.Snapshot, sensor.Tree), log *slog.Logger) (eventSource, error) {
	return &eslogger{cfg: esf.Config{Scope: scope}, log: log}, nil
}

func (e *eslogger) Name() string { return "eslogger" }

func (e *eslogger) Run(ctx context.Context, h sensor.Handler) error {
	return esf.Run(ctx, e.cfg, h, e.log)
}

func (e *eslogger) Close() error { return nil }
