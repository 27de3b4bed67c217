//go:build !windows

package main

import (
	"context"
	"log/slog"
	"os/signal"
	"syscall"

	"github.com/vigilsec/vigil/internal/config"
)

// runAsDaemon runs the daemon until SIGTERM or SIGINT (systemd, launchd,
// or Ctrl-C).
func runAsDaemon(cfg config.Config, log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return runDaemon(ctx, cfg, log)
}
