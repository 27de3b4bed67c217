//go:build unix

package esf

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vigilsec/vigil/sensor"
)

// runProcess runs path with args, decodes its standard output into events
// for h until ctx is done or h fails, then stops it (SIGTERM, SIGKILL
// after stop), decodes what it had already written, and returns nil (or
// h's error). Its standard error is logged, and quoted in the error when
// it ends on its own. (Run on darwin runs eslogger with it; the tests run
// a stand-in.)
func runProcess(ctx context.Context, path string, args []string, scope *sensor.TreeScope, stop time.Duration,
	h sensor.Handler, log *slog.Logger) error {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(runCtx, path, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = stop
	// eslogger drops the events of its own process group: in the group of
	// Vigil it would hide the agents Vigil starts.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("esf: %s stdout: %w", path, err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return fmt.Errorf("esf: %s stderr: %w", path, err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("esf: start %s: %w", path, err)
	}
	log.Info("eslogger started", "pid", cmd.Process.Pid, "args", strings.Join(args, " "))

	var tail stderrTail
	var wg sync.WaitGroup
	wg.Go(func() { tail.read(stderr, log) })

	// Decode until the output ends, which cancellation brings about: the
	// lines written before the process stopped are still read.
	runErr := NewDecoder(scope).Run(context.WithoutCancel(ctx), stdout, h)
	if runErr != nil {
		cancel()
		_, _ = io.Copy(io.Discard, stdout) // until the process is gone
	}
	wg.Wait()
	waitErr := cmd.Wait()
	switch {
	case runErr != nil:
		return fmt.Errorf("esf: %w", runErr)
	case ctx.Err() != nil:
		log.Info("eslogger stopped", "status", waitErr)
		return nil
	}
	return earlyExit(path, waitErr, tail.String())
}

// earlyExit explains why eslogger ended before it was asked to.
func earlyExit(path string, waitErr error, stderr string) error {
	status := "exit status 0"
	if waitErr != nil {
		status = waitErr.Error()
	}
	msg := fmt.Sprintf("esf: %s ended on its own (%s)", path, status)
	if stderr != "" {
		msg += ": " + stderr
	}
	switch low := strings.ToLower(stderr); {
	case strings.Contains(low, "not_permitted") || strings.Contains(low, "not permitted") ||
		strings.Contains(low, "full disk access") || strings.Contains(low, "tcc"):
		msg += " (give Full Disk Access to the process responsible for Vigil: the terminal, or the daemon that starts it)"
	case strings.Contains(low, "not_privileged") || strings.Contains(low, "privilege"):
		msg += " (run as root)"
	}
	return errors.New(msg)
}

// stderrTail logs a process's standard error line by line and keeps its
// last lines for an error message.
type stderrTail struct {
	mu    sync.Mutex
	lines []string
}

const stderrKeep = 8

func (t *stderrTail) read(r io.Reader, log *slog.Logger) {
	defer func() { _, _ = io.Copy(io.Discard, r) }() // past a line too long to scan
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		log.Warn("eslogger", "stderr", line)
		t.mu.Lock()
		if t.lines = append(t.lines, line); len(t.lines) > stderrKeep {
			t.lines = t.lines[1:]
		}
		t.mu.Unlock()
	}
}

func (t *stderrTail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines, "; ")
}
