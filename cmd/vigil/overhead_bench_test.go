package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/output/chain"
	"github.com/vigilsec/vigil/output/store"
	"github.com/vigilsec/vigil/sensor"
	"golang.org/x/sys/unix"
)

// benchDaemon is what vigil run holds, for the benchmarks that trace real
// processes: the loaded sensor, and the pipeline sealing every record into
// the hash chain (HMACs, checkpoints) and a store segment on disk, with
// the store's default durability (background fsync every second).
type benchDaemon struct {
	s      *sensor.Sensor
	st     *store.Store
	p      *pipeline
	h      *countingHandler
	lat    *latencyRecorder
	cancel context.CancelFunc
	done   chan error
}

// benchKeys creates chain keys once per benchmark.
func benchKeys(b *testing.B) string {
	b.Helper()
	dir := filepath.Join(b.TempDir(), "keys")
	if _, _, err := chain.Keygen(dir); err != nil {
		b.Fatal(err)
	}
	return dir
}

// startBenchDaemon loads the sensor and starts reading into a fresh store.
// With latency, every record's delay from its kernel timestamp to being
// written, and to being on disk, is recorded (it costs the pipeline a
// little, so the overhead rounds run without it).
func startBenchDaemon(b *testing.B, keys string, latency bool) *benchDaemon {
	b.Helper()
	log := slog.New(slog.DiscardHandler)
	s, err := sensor.New(sensor.Config{Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	st, err := store.Open(store.Config{Dir: filepath.Join(b.TempDir(), "data"), SyncEvery: config.DefaultSyncInterval})
	if err != nil {
		s.Close()
		b.Fatal(err)
	}
	d := &benchDaemon{s: s, st: st, done: make(chan error, 1)}
	var out io.Writer = st
	if latency {
		d.lat = newLatencyRecorder(st)
		out = d.lat
	}
	d.p, err = newPipeline(pipelineConfig{Out: out, KeyDir: keys, FileFilter: config.DefaultFiles().Filter(), Log: log})
	if err != nil {
		st.Close()
		s.Close()
		b.Fatal(err)
	}
	d.h = &countingHandler{next: d.p}
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	go func() { d.done <- s.Run(ctx, d.h) }()
	return d
}

// stop drains the ring buffer, seals the chain, closes the store and
// unloads the sensor.
func (d *benchDaemon) stop(b *testing.B) {
	b.Helper()
	d.cancel()
	if err := <-d.done; err != nil {
		b.Fatal(err)
	}
	if err := d.p.finish(); err != nil {
		b.Fatal(err)
	}
	if d.lat != nil {
		d.lat.stop()
	}
	if err := d.st.Close(); err != nil {
		b.Fatal(err)
	}
	if err := d.s.Close(); err != nil {
		b.Fatal(err)
	}
}

// settle waits until the pipeline has caught up: nothing delivered for a
// poll interval's worth of time, several times over.
func (d *benchDaemon) settle() {
	last, quiet := d.h.delivered.Load(), 0
	for quiet < 5 {
		time.Sleep(25 * time.Millisecond)
		if n := d.h.delivered.Load(); n != last {
			last, quiet = n, 0
		} else {
			quiet++
		}
	}
}

// bpfRuntime is the total run time the kernel accounted to the sensor's
// programs so far (stats must be enabled).
func (d *benchDaemon) bpfRuntime(b *testing.B) time.Duration {
	b.Helper()
	st, err := d.s.ProgramStats()
	if err != nil {
		b.Fatal(err)
	}
	var t time.Duration
	for _, p := range st {
		t += p.Runtime
	}
	return t
}

// latencyRecorder passes records to the store, noting for each line its
// kernel timestamp, when it was written, and where it ends in the store;
// a poller marks lines durable as the store's fsyncs cover them. The
// delays go into histograms, so recording millions of them costs the
// daemon's memory nothing worth measuring.
type latencyRecorder struct {
	st      *store.Store
	mu      sync.Mutex
	off     uint64
	lines   uint64
	pending []latencySample // written, not yet known durable
	head    int
	written latencyHist // kernel event -> write(2) returned
	durable latencyHist // kernel event -> fsync returned
	quit    chan struct{}
	wg      sync.WaitGroup
}

type latencySample struct {
	at  time.Time
	end uint64
}

// latencyEvery: one line in this many is timed.
const latencyEvery = 16

func newLatencyRecorder(st *store.Store) *latencyRecorder {
	r := &latencyRecorder{st: st, quit: make(chan struct{})}
	r.wg.Go(r.poll)
	return r
}

func (r *latencyRecorder) Write(p []byte) (int, error) {
	n, err := r.st.Write(p)
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	off := r.off
	for line := range bytes.SplitSeq(p, []byte("\n")) {
		off += uint64(len(line)) + 1
		// One record in latencyEvery: enough for percentiles, and
		// cheap enough not to slow the writer it measures.
		if r.lines++; r.lines%latencyEvery != 0 {
			continue
		}
		rest, ok := bytes.CutPrefix(line, []byte(`{"@timestamp":"`))
		if !ok {
			continue
		}
		if i := bytes.IndexByte(rest, '"'); i > 0 {
			if t, err := time.Parse(time.RFC3339Nano, string(rest[:i])); err == nil {
				r.written.add(now.Sub(t))
				r.pending = append(r.pending, latencySample{at: t, end: off})
			}
		}
	}
	r.off += uint64(len(p))
	return n, err
}

// poll looks at what the store has on disk every millisecond.
func (r *latencyRecorder) poll() {
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-r.quit:
			return
		case <-t.C:
		}
		_, durable := r.st.Durable()
		now := time.Now()
		r.mu.Lock()
		for ; r.head < len(r.pending) && r.pending[r.head].end <= durable; r.head++ {
			r.durable.add(now.Sub(r.pending[r.head].at))
		}
		if r.head > len(r.pending)/2 { // keep the array to what is pending
			r.pending = r.pending[:copy(r.pending, r.pending[r.head:])]
			r.head = 0
		}
		r.mu.Unlock()
	}
}

func (r *latencyRecorder) stop() {
	close(r.quit)
	r.wg.Wait()
}

// latencyHist counts delays in 100 µs buckets up to 10 s (longer ones in
// the last).
type latencyHist struct {
	n       uint64
	buckets [100_000]uint32
}

const latencyBucket = 100 * time.Microsecond

func (h *latencyHist) add(d time.Duration) {
	i := max(0, min(int(d/latencyBucket), len(h.buckets)-1))
	h.buckets[i]++
	h.n++
}

// quantile is the upper bound of the bucket holding the q-th delay.
func (h *latencyHist) quantile(q float64) time.Duration {
	want := uint64(q * float64(h.n))
	var seen uint64
	for i, c := range h.buckets {
		if seen += uint64(c); seen > want {
			return time.Duration(i+1) * latencyBucket
		}
	}
	return time.Duration(len(h.buckets)) * latencyBucket
}

// loopResult is what one run of the loop program printed.
type loopResult struct {
	nsPerIter float64
	rate      float64 // iterations per second achieved (paced runs)
}

func parseLoop(b *testing.B, out []byte) loopResult {
	b.Helper()
	f := strings.Fields(string(out))
	if len(f) == 0 {
		b.Fatalf("loop printed %q", out)
	}
	var r loopResult
	var err error
	if r.nsPerIter, err = strconv.ParseFloat(f[0], 64); err != nil {
		b.Fatalf("loop printed %q", out)
	}
	if len(f) > 1 {
		if r.rate, err = strconv.ParseFloat(f[1], 64); err != nil {
			b.Fatalf("loop printed %q", out)
		}
	}
	return r
}

// runPlain runs the loop with no tracking and returns what it printed.
func runPlain(b *testing.B, args ...string) loopResult {
	b.Helper()
	out, err := exec.Command(args[0], args[1:]...).Output()
	if err != nil {
		b.Fatalf("%v: %v", args, err)
	}
	return parseLoop(b, out)
}

// traceRun runs args as the root of a tracked tree, as vigil trace does,
// and returns what it printed.
func traceRun(b *testing.B, d *benchDaemon, args ...string) []byte {
	b.Helper()
	var out bytes.Buffer
	tr := &tracer{log: slog.New(slog.DiscardHandler)}
	cmd, _, err := tr.start(d.s, traceOptions{Path: args[0], Args: args}, &out)
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		b.Fatalf("%v: %v", args, err)
	}
	return out.Bytes()
}

// runTraced runs the loop tracked and returns what it printed.
func runTraced(b *testing.B, d *benchDaemon, args ...string) loopResult {
	b.Helper()
	return parseLoop(b, traceRun(b, d, args...))
}

// BenchmarkOverhead measures what the sensor costs a workload, as ratios
// against the same workload with no sensor loaded, in one run with the
// three setups interleaved round by round: none, untracked (sensor and
// pipeline running, the workload not in scope), and tracked (every event
// taken end to end: kernel, pipeline, chain, a store segment on disk; a
// loop that outruns the pipeline has the rest counted lost, and the
// benchmark reports how many). Workloads (sensor/testprogs/loop): open+close of a file on tmpfs, a
// 64-byte pwrite to an open file, connect+send+close of a loopback TCP
// socket (the peer a process of its own), and fork+exec of /bin/true and
// the wait for it. A pass of its
// own per workload, with the kernel's BPF run-time statistics on, gives
// the latency from event to record and the BPF time per iteration. Run
// it with -benchtime 1x (make bench); it needs root.
func BenchmarkOverhead(b *testing.B) {
	requireBPF(b)
	loop := testenv.Program(b, "github.com/vigilsec/vigil/sensor/testprogs/loop")
	sink := loopSink(b, loop)
	keys := benchKeys(b)
	dir := shmDir(b)
	const rounds = 5
	for _, w := range []struct {
		mode, target string
		iterations   int
		records      int // per iteration, tracked
	}{
		{"open", dir, 200000, 1},
		{"write", dir, 200000, 0},
		{"net", sink, 20000, 2},
		{"exec", "/bin/true", 2000, 3},
	} {
		b.Run(w.mode, func(b *testing.B) {
			args := []string{loop, w.mode, w.target, strconv.Itoa(w.iterations)}
			for range b.N {
				var none, untracked, tracked []float64
				var delivered, lost uint64
				for range rounds {
					none = append(none, runPlain(b, args...).nsPerIter)
					d := startBenchDaemon(b, keys, false)
					untracked = append(untracked, runPlain(b, args...).nsPerIter)
					tracked = append(tracked, runTraced(b, d, args...).nsPerIter)
					d.stop(b)
					delivered += d.h.delivered.Load()
					lost += d.h.lost.Load()
				}
				// Every event is accounted for: recorded, or counted lost
				// when the workload outruns the pipeline.
				if want := uint64(rounds * w.iterations * w.records); delivered+lost < want {
					b.Errorf("%d records delivered and %d lost, want at least %d", delivered, lost, want)
				}
				base := median(none)
				b.ReportMetric(base, "base-ns/iter")
				b.ReportMetric(median(untracked)/base, "untracked-x")
				b.ReportMetric(median(tracked)/base, "tracked-x")
				b.ReportMetric(float64(delivered), "delivered")
				b.ReportMetric(float64(lost), "lost")
				b.ReportMetric(float64(lost)/float64(delivered+lost)*100, "lost-%")
				b.Logf("none %v untracked %v tracked %v ns/iter (min..max over %d rounds)",
					span(none), span(untracked), span(tracked), rounds)
				profilePass(b, keys, w.mode, args, w.iterations)
			}
		})
	}
}

// profilePass runs the workload untracked and tracked once more, with
// latency recording and the kernel's BPF statistics on, and reports the
// latency percentiles and the BPF run time per iteration.
func profilePass(b *testing.B, keys, mode string, args []string, iterations int) {
	b.Helper()
	stats, err := sensor.EnableStats()
	if err != nil {
		b.Fatal(err)
	}
	defer stats.Close()
	d := startBenchDaemon(b, keys, true)
	t0 := d.bpfRuntime(b)
	runPlain(b, args...)
	t1 := d.bpfRuntime(b)
	runTraced(b, d, args...)
	d.settle()
	t2 := d.bpfRuntime(b)
	time.Sleep(2 * config.DefaultSyncInterval) // the last records' fsync
	d.stop(b)
	b.ReportMetric(float64(t1-t0)/float64(iterations), "untracked-bpf-ns/iter")
	b.ReportMetric(float64(t2-t1)/float64(iterations), "tracked-bpf-ns/iter")
	if mode != "write" { // one record per run: no latency to speak of
		d.lat.report(b, "")
	}
}

// report gives the latency percentiles, to the write(2) of the sealed
// record and to the fsync that covered it, as metrics named with prefix.
func (r *latencyRecorder) report(b *testing.B, prefix string) {
	b.Helper()
	for _, l := range []struct {
		name string
		h    *latencyHist
	}{{"written", &r.written}, {"durable", &r.durable}} {
		if l.h.n == 0 {
			b.Fatalf("%sno %s records to take latencies from", prefix, l.name)
		}
		b.ReportMetric(l.h.quantile(0.50).Seconds()*1e3, prefix+l.name+"-p50-ms")
		b.ReportMetric(l.h.quantile(0.99).Seconds()*1e3, prefix+l.name+"-p99-ms")
	}
}

// loopSink starts the loop program's TCP sink in a process of its own
// (so the benchmark process's scheduling is not part of the net loop's
// round trips) and returns its address.
func loopSink(b *testing.B, loop string) string {
	b.Helper()
	cmd := exec.Command(loop, "sink", "127.0.0.1:0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b.Fatalf("loop sink: %v", err)
	}
	return strings.TrimSpace(addr)
}

// shmDir is a directory on tmpfs where there is one, so disk latency
// does not drown the sensor's cost in the file loops.
func shmDir(b *testing.B) string {
	b.Helper()
	dir, err := os.MkdirTemp("/dev/shm", "vigil-bench-")
	if err != nil {
		return b.TempDir()
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// BenchmarkThroughput offers the daemon's whole path (kernel, ring
// buffer, decode, process table, ECS, chain, a store segment on disk)
// a known event rate and counts what arrived and what the sensor
// reported lost: the open+close loop, tracked, paced at rising rates and
// then unpaced (as fast as it goes), each step long enough that the ring
// buffer cannot hide a reader that falls behind. Per step it reports the
// rate achieved, the records lost, the daemon process's CPU time per
// record (its reader and pipeline: what one core sustains), and the
// latency from each event to its record's write(2) and fsync. Run it with -benchtime 1x (make bench); it needs root.
func BenchmarkThroughput(b *testing.B) {
	requireBPF(b)
	loop := testenv.Program(b, "github.com/vigilsec/vigil/sensor/testprogs/loop")
	keys := benchKeys(b)
	dir := shmDir(b)
	// Each step runs this long at its rate: the 16 MiB ring buffer holds
	// about 70,000 open records, a quarter of a second at 300 k/s, so a
	// deficit of a few percent overflows it well within a step.
	const seconds = 4
	for range b.N {
		best := 0.0
		for _, rate := range []int{100_000, 200_000, 250_000, 300_000, 350_000, 0} {
			n := seconds * rate
			if rate == 0 {
				n = seconds * 400_000 // unpaced: about as long
			}
			d := startBenchDaemon(b, keys, true)
			var ru0, ru1 unix.Rusage
			_ = unix.Getrusage(unix.RUSAGE_SELF, &ru0)
			res := runTraced(b, d, loop, "open", dir, strconv.Itoa(n), strconv.Itoa(rate))
			if rate == 0 {
				res.rate = 1e9 / res.nsPerIter
			}
			d.settle()
			_ = unix.Getrusage(unix.RUSAGE_SELF, &ru1)
			time.Sleep(2 * config.DefaultSyncInterval) // the last records' fsync
			d.stop(b)
			delivered, lost := d.h.delivered.Load(), d.h.lost.Load()
			cpu := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
			name := "unpaced"
			if rate > 0 {
				name = strconv.Itoa(rate/1000) + "k"
			}
			if delivered+lost < uint64(n) {
				b.Errorf("%s: %d records delivered and %d lost of %d opens", name, delivered, lost, n)
			}
			b.ReportMetric(res.rate, name+"-offered/s")
			b.ReportMetric(float64(lost), name+"-lost")
			b.ReportMetric(float64(lost)/float64(n)*100, name+"-lost-%")
			b.ReportMetric(float64(delivered)/cpu.Seconds(), name+"-records/cpu-s")
			d.lat.report(b, name+"-")
			b.Logf("%s: offered %.0f opens/s, %d delivered, %d lost, %.0f records per CPU-second",
				name, res.rate, delivered, lost, float64(delivered)/cpu.Seconds())
			if lost == 0 && res.rate > best {
				best = res.rate
			}
		}
		b.ReportMetric(best, "zero-loss-max/s")
	}
}

// BenchmarkAgentJob measures what the sensor costs a realistic job: the
// steps a coding agent takes in a repository (testdata/agentjob.sh:
// files written and edited with printf, sed and echo, grep over the
// tree, curl to a local HTTP API, git add and commit; about 15 processes
// a step) run as a tracked tree, as a ratio of its wall time against
// the same job with no sensor, interleaved round by round like
// BenchmarkOverhead. Run it with -benchtime 1x (make bench); it needs
// root, bash, git and curl.
func BenchmarkAgentJob(b *testing.B) {
	requireBPF(b)
	for _, tool := range []string{"bash", "git", "curl", "sed", "grep"} {
		if _, err := exec.LookPath(tool); err != nil {
			b.Fatalf("the agent job needs %s: %v", tool, err)
		}
	}
	script, err := filepath.Abs("testdata/agentjob.sh")
	if err != nil {
		b.Fatal(err)
	}
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, "{\"path\":%q,\"ok\":true}\n", r.URL.Path)
	}))
	defer api.Close()
	keys := benchKeys(b)
	work := b.TempDir()
	const (
		rounds = 9
		steps  = 40
	)
	args := []string{"/bin/bash", script, work, api.URL, strconv.Itoa(steps)}
	// timed runs the job and returns its wall time; the job prints the
	// commits it made, which must be all of them.
	timed := func(run func() []byte) float64 {
		b.Helper()
		start := time.Now()
		out := run()
		took := time.Since(start)
		if got := strings.TrimSpace(string(out)); got != strconv.Itoa(steps) {
			b.Fatalf("agent job printed %q, want %d commits", got, steps)
		}
		return took.Seconds() * 1e3
	}
	plain := func() []byte {
		out, err := exec.Command(args[0], args[1:]...).Output()
		if err != nil {
			b.Fatalf("agent job: %v", err)
		}
		return out
	}
	for range b.N {
		var none, untracked, tracked []float64
		var delivered, lost uint64
		for range rounds {
			none = append(none, timed(plain))
			d := startBenchDaemon(b, keys, false)
			untracked = append(untracked, timed(plain))
			tracked = append(tracked, timed(func() []byte { return traceRun(b, d, args...) }))
			d.settle()
			d.stop(b)
			delivered += d.h.delivered.Load()
			lost += d.h.lost.Load()
		}
		// Every step runs at least its dozen programs: each one's fork,
		// exec and exit are records, and so are the files they write.
		if want := uint64(rounds * steps * 12 * 3); delivered < want {
			b.Errorf("%d records delivered, want at least %d", delivered, want)
		}
		base := median(none)
		b.ReportMetric(base, "job-ms")
		b.ReportMetric(median(untracked)/base, "job-untracked-x")
		b.ReportMetric(median(tracked)/base, "job-tracked-x")
		b.ReportMetric(float64(delivered)/rounds, "job-records")
		b.ReportMetric(float64(lost), "job-lost")
		b.Logf("agent job (%d steps): none %v untracked %v tracked %v ms (min..max over %d rounds); %d records a run",
			steps, span(none), span(untracked), span(tracked), rounds, delivered/rounds)
	}
}
