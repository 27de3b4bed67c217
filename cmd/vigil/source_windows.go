package main

import (
	"log/slog"

	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/sensor"
	"github.com/vigilsec/vigil/sensor/etw"
)

// openSource starts the ETW session (Kernel-Process, Kernel-File,
// Kernel-Network; Administrator required). Agents already running are
// found in the session's process snapshot and handed to seed.
func openSource(cfg config.Config, scope *sensor.TreeScope, seed func(sensor.Snapshot, sensor.Tree), log *slog.Logger) (eventSource, error) {
	send := cfg.Network.ReportInterval.Duration
	return etw.Open(etw.Config{Scope: scope, SendInterval: send, LossInterval: cfg.Sensor.LossInterval.Duration,
		Snapshot: seed}, log)
}
