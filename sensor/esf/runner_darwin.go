//go:build darwin

package esf

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"time"

	"github.com/vigilsec/vigil/sensor"
)

// Eslogger is where macOS 13 and later ship eslogger(1).
const Eslogger = "/usr/bin/eslogger"

// Config sets up Run.
type Config struct {
	// Scope decides which processes' events are wanted (required; the
	// caller keeps it to match agents and Track running ones).
	Scope *sensor.TreeScope
	// Path of eslogger; default Eslogger.
	Path string
	// Events to subscribe to; default DefaultEvents. Events the Decoder
	// does not read only cost time.
	Events []string
	// StopTimeout is how long eslogger gets to exit after SIGTERM before
	// it is killed; default 5s.
	StopTimeout time.Duration
}

// Run starts eslogger, decodes its output into events for h until ctx is
// done or h fails, then stops eslogger (SIGTERM, then SIGKILL after
// StopTimeout), handles what it had already written, and returns nil (or
// h's error). eslogger's standard error is logged. Run fails with an
// error that says why when eslogger is missing (macOS before 13), Vigil
// is not root, or eslogger ends on its own; then the error quotes what it
// wrote to standard error ("not permitted" without Full Disk Access, for
// one).
func Run(ctx context.Context, cfg Config, h sensor.Handler, log *slog.Logger) error {
	if cfg.Scope == nil {
		return errors.New("esf: config needs a Scope")
	}
	if cfg.Path == "" {
		cfg.Path = Eslogger
	}
	if len(cfg.Events) == 0 {
		cfg.Events = DefaultEvents()
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = 5 * time.Second
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if _, err := os.Stat(cfg.Path); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("esf: %s not found: eslogger ships with macOS 13 (Ventura) and later", cfg.Path)
	} else if err != nil {
		return fmt.Errorf("esf: %w", err)
	}
	if uid := os.Geteuid(); uid != 0 {
		return fmt.Errorf("esf: eslogger (Endpoint Security) needs root; running as uid %d", uid)
	}
	// Options first, then event names (eslogger(1) SYNOPSIS); json is the
	// default and only format, named so a change fails loudly.
	args := append([]string{"--format", "json"}, cfg.Events...)
	return runProcess(ctx, cfg.Path, args, cfg.Scope, cfg.StopTimeout, h, log)
}
