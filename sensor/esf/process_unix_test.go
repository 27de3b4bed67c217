//go:build unix

package esf

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// standIn writes a shell script that plays eslogger and returns its path.
func standIn(t *testing.T, body string) string {
	t.Helper()
	fixture, err := filepath.Abs(fixturePath)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "eslogger")
	script := "#!/bin/sh\nFIXTURE='" + fixture + "'\n" + body + "\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func runStandIn(t *testing.T, ctx context.Context, path string, h *cancelAt) error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		done <- runProcess(ctx, path, DefaultEvents(), agentScope(), 300*time.Millisecond, h, slog.New(slog.DiscardHandler))
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("runProcess did not return")
	}
	return nil
}

// TestProcessEndsOnItsOwn: an eslogger that quits (here naming the
// es_new_client result of a client without TCC approval) is an error
// quoting its standard error, after the events it wrote.
func TestProcessEndsOnItsOwn(t *testing.T) {
	path := standIn(t, `head -n 3 "$FIXTURE"; echo 'stand-in: ES_NEW_CLIENT_RESULT_ERR_NOT_PERMITTED' >&2; exit 1`)
	h := &cancelAt{n: -1}
	err := runStandIn(t, context.Background(), path, h)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"ended on its own (exit status 1)", "stand-in: ES_NEW_CLIENT_RESULT_ERR_NOT_PERMITTED", "Full Disk Access"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	sameLines(t, describeAll(h.evs), []string{"exec 4242 /usr/bin/env root"})
}

// TestProcessStopped: cancellation stops eslogger with SIGTERM and every
// line it wrote is still decoded.
func TestProcessStopped(t *testing.T) {
	path := standIn(t, `cat "$FIXTURE"; exec sleep 60`)
	ctx, cancel := context.WithCancel(context.Background())
	h := &cancelAt{n: 36, cancel: cancel} // at the agent's exit
	if err := runStandIn(t, ctx, path, h); err != nil {
		t.Fatal(err)
	}
	if len(h.evs) != 37 || describe(&h.evs[36]) != "exit 4242 0" {
		t.Fatalf("events:\n%s", strings.Join(describeAll(h.evs), "\n"))
	}
}

// TestProcessKilled: one that ignores SIGTERM is killed after the stop
// timeout.
func TestProcessKilled(t *testing.T) {
	path := standIn(t, `trap '' TERM; head -n 3 "$FIXTURE"; while :; do sleep 1; done`)
	ctx, cancel := context.WithCancel(context.Background())
	h := &cancelAt{n: 0, cancel: cancel}
	if err := runStandIn(t, ctx, path, h); err != nil {
		t.Fatal(err)
	}
	if len(h.evs) != 1 {
		t.Fatalf("events %q", describeAll(h.evs))
	}
}

// TestProcessHandlerError: a failing handler stops eslogger and its
// error is returned.
func TestProcessHandlerError(t *testing.T) {
	path := standIn(t, `cat "$FIXTURE"; exec sleep 60`)
	boom := errors.New("boom")
	h := &cancelAt{n: -1}
	h.fail = boom
	if err := runStandIn(t, context.Background(), path, h); !errors.Is(err, boom) {
		t.Fatalf("error %v, want %v", err, boom)
	}
}
