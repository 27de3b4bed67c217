//go:build windows || darwin

package main

import (
	"context"
	"log/slog"
	"runtime"

	"github.com/vigilsec/vigil/correlate"
	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/sensor"
)

// runDaemon records the agents' trees from this platform's event source
// (ETW on Windows, Endpoint Security through eslogger on macOS) through
// the same pipeline as on Linux. There is no intent socket here yet (it
// binds intents to their senders through SO_PEERCRED and /proc).
func runDaemon(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	agents := cfg.AllAgents()
	names := make(map[string]uint32)
	for i, a := range agents {
		for _, e := range a.Executables {
			if _, ok := names[e]; !ok {
				names[e] = uint32(i + 1)
			}
		}
	}
	windows := runtime.GOOS == "windows"
	scope := sensor.NewTreeScope(func(exe string, args []string) (uint32, bool) {
		a := matchName(names, exe, args, windows)
		return a, a != 0
	}, cfg.Sensor.TraceAll, cfg.Sensor.MaxTracked)
	agentName := func(i uint32) string {
		if i == 0 || int(i) > len(agents) {
			return ""
		}
		return agents[i-1].Name
	}
	redactor, err := cfg.Redaction.Redactor()
	if err != nil {
		return err
	}
	// Agents found running when the source starts wait here for the
	// pipeline.
	type seeded struct {
		snap sensor.Snapshot
		tree sensor.Tree
	}
	var running []seeded
	src, err := openSource(cfg, scope, func(s sensor.Snapshot, t sensor.Tree) { running = append(running, seeded{s, t}) }, log)
	if err != nil {
		return err
	}
	defer src.Close()
	out, existing, closeOut, st, err := openOutput(cfg.Output)
	if err != nil {
		return err
	}
	defer closeOut()
	pc := daemonPipeline(cfg, out, existing, agentName, redactor, log)
	pc.Times = sensor.WallClock{}
	p, err := newPipeline(pc)
	if err != nil {
		return err
	}
	for _, r := range running {
		p.table.Seed([]sensor.Snapshot{r.snap}, r.tree)
	}
	log.Info("vigil running", "version", vigilVersion(), "agents", len(agents), "source", src.Name(),
		"running_processes", len(running), "output", outputWhere(cfg.Output), "trace_all", cfg.Sensor.TraceAll)
	return serve(ctx, cfg, log, p, st, closeOut, src.Run, func() {})
}

// eventSource is a platform's stream of events.
type eventSource interface {
	Name() string
	Run(ctx context.Context, h sensor.Handler) error
	Close() error
}

// defaultTimes: the adapters stamp events in ns since the Unix epoch.
func defaultTimes() correlate.TimeSource { return sensor.WallClock{} }
