package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/vigilsec/vigil/intent"
	"github.com/vigilsec/vigil/internal/redact"
	"github.com/vigilsec/vigil/output/chain"
)

// BenchmarkIntents: four clients send intents as fast as the daemon
// answers them (each waits for its answer, as agents do) through the
// socket, SO_PEERCRED binding, the joiner and the sealed writer to a
// file; every intent sent must be in the file. Reports intents/s.
func BenchmarkIntents(b *testing.B) {
	dir := b.TempDir()
	keys := filepath.Join(dir, "keys")
	if _, _, err := chain.Keygen(keys); err != nil {
		b.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "records.jsonl"), os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	q := newIntentQueue(redact.Default())
	p, err := newPipeline(pipelineConfig{Out: f, KeyDir: keys, Intents: q})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sock := filepath.Join(dir, "intent.sock")
	_, wait, err := startIntents(ctx, intent.ServerConfig{Path: sock}, q)
	if err != nil {
		b.Fatal(err)
	}
	// The pipeline's goroutine: take intents as the sensor's loop does.
	done := make(chan error, 1)
	go func() {
		for {
			select {
			case rec := <-q.ch:
				if err := p.handleIntent(rec); err != nil {
					done <- err
					return
				}
			case <-ctx.Done():
				done <- p.drainIntents()
				return
			}
		}
	}()

	const clients = 4
	in := intent.Intent{Type: intent.ToolCallStart, Agent: intent.Agent{Name: "bench"}, SessionID: "s",
		ToolName: "Bash", Actions: []intent.Action{{Kind: intent.Exec, Command: "go test ./..."}}}
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	b.ResetTimer()
	for c := range clients {
		n := b.N / clients
		if c < b.N%clients {
			n++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl, err := intent.Dial(ctx, sock, intent.Format([]intent.Format{intent.JSON, intent.Msgpack}[c%2]))
			if err != nil {
				errs <- err
				return
			}
			defer cl.Close()
			m := in
			for i := range n {
				m.ToolCallID = fmt.Sprintf("c%d-%d", c, i)
				if err := cl.Send(ctx, m); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "intents/s")
	cancel()
	if err := wait(); err != nil {
		b.Fatal(err)
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	if err := p.out.Close(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	// Nothing lost: every intent is a record.
	data, err := os.ReadFile(f.Name())
	if err != nil {
		b.Fatal(err)
	}
	got := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if bytes.Contains(sc.Bytes(), []byte(`"action":"tool_call_start"`)) {
			got++
		}
	}
	if got != b.N {
		b.Fatalf("%d intents sent, %d recorded", b.N, got)
	}
	b.ReportMetric(float64(b.N-got), "lost")
}
