package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/sensor"
)

// countingHandler passes events to the pipeline and counts what was
// delivered and what the sensor reported lost.
type countingHandler struct {
	next      sensor.Handler
	delivered atomic.Uint64
	lost      atomic.Uint64
}

func (c *countingHandler) HandleEvent(ev *sensor.Event) error {
	if ev.Kind == sensor.KindLoss {
		if ev.Loss.Cause == sensor.CauseRingbufFull || ev.Loss.Cause == sensor.CauseAggFull {
			c.lost.Add(ev.Loss.Count)
		}
	} else {
		c.delivered.Add(1)
	}
	return c.next.HandleEvent(ev)
}

func (c *countingHandler) Flush() error { return c.next.Flush() }

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// BenchmarkOverhead measures what the sensor costs a traced workload, as
// ratios against the same workload with no sensor loaded, taken in one
// run with the three setups interleaved (none, untracked, tracked) round
// by round. Workloads (sensor/testprogs/loop): open+write+close of a
// file, and connect+send+close of a loopback TCP socket, each iteration
// giving three records when tracked. Run it with -benchtime 1x (make
// bench); it needs root.
func BenchmarkOverhead(b *testing.B) {
	requireBPF(b)
	loop := testenv.Program(b, "github.com/vigilsec/vigil/sensor/testprogs/loop")
	sink := testenv.Sink(b, "127.0.0.1:0", nil)
	// The file loop runs on tmpfs where there is one, so disk latency does
	// not drown the sensor's cost.
	dir, err := os.MkdirTemp("/dev/shm", "vigil-bench-")
	if err != nil {
		dir = b.TempDir()
	} else {
		b.Cleanup(func() { os.RemoveAll(dir) })
	}
	const iterations, rounds = 20000, 5
	log := slog.New(slog.DiscardHandler)
	for range b.N {
		for _, mode := range []string{"file", "net"} {
			target := dir
			if mode == "net" {
				target = sink.String()
			}
			args := []string{loop, mode, target, strconv.Itoa(iterations)}
			run := func(start func() (io.Reader, func() error)) float64 {
				b.Helper()
				out, wait := start()
				if err := wait(); err != nil {
					b.Fatalf("%s loop: %v", mode, err)
				}
				s, _ := io.ReadAll(out)
				ns, err := strconv.ParseFloat(strings.TrimSpace(string(s)), 64)
				if err != nil {
					b.Fatalf("%s loop printed %q", mode, s)
				}
				return ns
			}
			plain := func() (io.Reader, func() error) {
				cmd := exec.Command(loop, args[1:]...)
				var out bytes.Buffer
				cmd.Stdout = &out
				return &out, cmd.Run
			}
			var none, untracked, tracked []float64
			var delivered, lost uint64
			for range rounds {
				none = append(none, run(plain))

				s, err := sensor.New(sensor.Config{Logger: log})
				if err != nil {
					b.Fatal(err)
				}
				p, err := newPipeline(pipelineConfig{Out: io.Discard, Log: log})
				if err != nil {
					b.Fatal(err)
				}
				h := &countingHandler{next: p}
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				go func() { done <- s.Run(ctx, h) }()

				untracked = append(untracked, run(plain))
				tracked = append(tracked, run(func() (io.Reader, func() error) {
					var out bytes.Buffer
					tr := &tracer{log: log}
					cmd, _, err := tr.start(s, traceOptions{Path: loop, Args: args}, &out)
					if err != nil {
						b.Fatal(err)
					}
					return &out, cmd.Wait
				}))
				cancel()
				if err := <-done; err != nil {
					b.Fatal(err)
				}
				_ = p.finish()
				s.Close()
				delivered += h.delivered.Load()
				lost += h.lost.Load()
			}
			base := median(none)
			b.ReportMetric(base, mode+"-ns/iter")
			b.ReportMetric(median(untracked)/base, mode+"-untracked-x")
			b.ReportMetric(median(tracked)/base, mode+"-tracked-x")
			b.ReportMetric(float64(delivered), mode+"-delivered")
			b.ReportMetric(float64(lost), mode+"-lost")
			b.Logf("%s: none %v untracked %v tracked %v ns/iter (min..max over %d rounds)", mode,
				span(none), span(untracked), span(tracked), rounds)
		}
	}
}

func span(xs []float64) string {
	return strconv.FormatFloat(slices.Min(xs), 'f', 0, 64) + ".." + strconv.FormatFloat(slices.Max(xs), 'f', 0, 64)
}
