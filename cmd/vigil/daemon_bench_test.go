package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/output/chain"
	"golang.org/x/sys/unix"
)

// memStatus is a process's resident memory, from /proc/PID/status:
// anonymous (heap, stacks), file-backed and shared; and, from
// /proc/PID/smaps, how much of the file-backed part is BPF maps mapped
// into the process (kernel memory: the ring buffer's data pages and the
// scope filter).
type memStatus struct{ rss, anon, file, shmem, bpfMaps uint64 }

func readMemStatus(pid int) (memStatus, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memStatus{}, err
	}
	defer f.Close()
	var m memStatus
	fields := map[string]*uint64{"VmRSS:": &m.rss, "RssAnon:": &m.anon, "RssFile:": &m.file, "RssShmem:": &m.shmem}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "\t")
		if p := fields[k]; ok && p != nil {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return memStatus{}, fmt.Errorf("%s %q: %w", k, v, err)
			}
			*p = kb << 10
		}
	}
	if err := sc.Err(); err != nil {
		return m, err
	}
	if m.rss == 0 {
		return m, errors.New("no VmRSS in /proc/PID/status")
	}
	smaps, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return m, err
	}
	inMap := false
	for line := range strings.SplitSeq(string(smaps), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 5 && strings.Contains(f[0], "-"): // a mapping's first line
			inMap = len(f) >= 6 && f[5] == "anon_inode:bpf-map"
		case inMap && len(f) == 3 && f[0] == "Rss:":
			kb, err := strconv.ParseUint(f[1], 10, 64)
			if err != nil {
				return m, fmt.Errorf("smaps %q: %w", line, err)
			}
			m.bpfMaps += kb << 10
		}
	}
	return m, nil
}

func (m memStatus) report(b *testing.B, prefix string) {
	b.Helper()
	const mib = 1 << 20
	b.ReportMetric(float64(m.rss)/mib, prefix+"rss-MiB")
	b.ReportMetric(float64(m.anon)/mib, prefix+"anon-MiB")
	b.ReportMetric(float64(m.file)/mib, prefix+"file-MiB")
	b.ReportMetric(float64(m.bpfMaps)/mib, prefix+"bpf-maps-MiB")
	b.ReportMetric(float64(m.rss-m.bpfMaps)/mib, prefix+"rss-less-bpf-maps-MiB")
	b.Logf("%s: RSS %.1f MiB = anonymous %.1f + file-backed %.1f (of which BPF maps %.1f) + shared %.1f", strings.TrimSuffix(prefix, "-"),
		float64(m.rss)/mib, float64(m.anon)/mib, float64(m.file)/mib, float64(m.bpfMaps)/mib, float64(m.shmem)/mib)
}

// cpuTime is the user and system time a process has used.
func cpuTime(pid int) (time.Duration, error) {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The fields after the command name, which ends with the last ')'.
	f := strings.Fields(string(st[strings.LastIndexByte(string(st), ')')+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	stt, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(ut+stt) * time.Second / 100, nil // USER_HZ
}

// BenchmarkMemory runs the real daemon (vigil run, built from this
// package, with the default configuration but for its agents and
// directories) and reports its resident memory idle, with 10,000 live
// processes of an agent's tree in its process table, and at its peak
// while a tracked loop opens a file as fast as it can (far beyond the
// rate the daemon takes without loss), with the daemon's CPU time per
// record written in that run. Run it with -benchtime 1x; it needs root.
func BenchmarkMemory(b *testing.B) {
	requireBPF(b)
	loop := testenv.Program(b, "github.com/vigilsec/vigil/sensor/testprogs/loop")
	dir := b.TempDir()
	bin := filepath.Join(dir, "vigil")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build vigil: %v\n%s", err, out)
	}
	// The agent: a shell under a name of its own.
	const agentName = "vigil-bench-agent"
	agent := filepath.Join(dir, agentName)
	sh, err := os.ReadFile("/bin/sh")
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(agent, sh, 0o755); err != nil {
		b.Fatal(err)
	}
	keys := filepath.Join(dir, "keys")
	if _, _, err := chain.Keygen(keys); err != nil {
		b.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "vigil.toml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, `default_agents = false
[[agent]]
name = "bench"
executables = [%q, "loop"]
[output]
dir = %q
[integrity]
key_dir = %q
[intent]
socket = %q
`, agentName, data, keys, filepath.Join(dir, "intent.sock")), 0o600); err != nil {
		b.Fatal(err)
	}
	work := shmDir(b)
	for range b.N {
		d := exec.Command(bin, "run", "--config", cfg)
		stderr, err := d.StderrPipe()
		if err != nil {
			b.Fatal(err)
		}
		if err := d.Start(); err != nil {
			b.Fatal(err)
		}
		stopped := false
		defer func() {
			if !stopped {
				_ = d.Process.Kill()
				_ = d.Wait()
			}
		}()
		sc := bufio.NewScanner(stderr)
		for sc.Scan() && !strings.Contains(sc.Text(), "vigil running") {
		}
		go func() {
			for sc.Scan() {
			}
		}()
		pid := d.Process.Pid
		mem := func() memStatus {
			b.Helper()
			m, err := readMemStatus(pid)
			if err != nil {
				b.Fatal(err)
			}
			return m
		}
		time.Sleep(2 * time.Second)
		mem().report(b, "idle-")

		// 10,000 live processes in the agent's tree.
		const n = 10000
		tree := exec.Command(agent, "-c", fmt.Sprintf(`i=0; while [ $i -lt %d ]; do sleep 600 & i=$((i+1)); done; echo ready; wait`, n))
		tree.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		out, err := tree.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		if err := tree.Start(); err != nil {
			b.Fatal(err)
		}
		if _, err := bufio.NewReader(out).ReadString('\n'); err != nil {
			b.Fatalf("agent tree: %v", err)
		}
		time.Sleep(3 * time.Second) // its 20,000 fork and exec records handled
		mem().report(b, "10k-tracked-")
		_ = syscall.Kill(-tree.Process.Pid, syscall.SIGKILL)
		_ = tree.Wait()
		time.Sleep(2 * time.Second)

		// As fast as a tracked loop goes.
		var peak memStatus
		var mu sync.Mutex
		quit := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			t := time.NewTicker(50 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-quit:
					return
				case <-t.C:
				}
				if m, err := readMemStatus(pid); err == nil {
					mu.Lock()
					if m.rss > peak.rss {
						peak = m
					}
					mu.Unlock()
				}
			}
		})
		cpu0, err := cpuTime(pid)
		if err != nil {
			b.Fatal(err)
		}
		recs0 := storedRecords(b, data)
		if out, err := exec.Command(loop, "open", work, "2000000").CombinedOutput(); err != nil {
			b.Fatalf("loop: %v\n%s", err, out)
		}
		time.Sleep(2 * time.Second) // the backlog written
		close(quit)
		wg.Wait()
		cpu1, err := cpuTime(pid)
		if err != nil {
			b.Fatal(err)
		}
		recs := storedRecords(b, data) - recs0
		peak.report(b, "max-rate-")
		b.ReportMetric(float64(recs)/(cpu1-cpu0).Seconds(), "max-rate-records/cpu-s")
		b.Logf("max rate: %d records stored, %.0f per CPU-second of the daemon", recs, float64(recs)/(cpu1-cpu0).Seconds())

		if err := d.Process.Signal(unix.SIGTERM); err != nil {
			b.Fatal(err)
		}
		if err := d.Wait(); err != nil {
			b.Fatalf("daemon: %v", err)
		}
		stopped = true
	}
}

// storedRecords counts the records in a store's segments.
func storedRecords(b *testing.B, data string) int {
	b.Helper()
	segs, err := filepath.Glob(filepath.Join(data, "*", "segment-*.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for _, s := range segs {
		f, err := os.Open(s)
		if err != nil {
			b.Fatal(err)
		}
		r := bufio.NewReaderSize(f, 1<<20)
		for {
			line, err := r.ReadSlice('\n')
			if len(line) > 0 && line[len(line)-1] == '\n' {
				n++
			}
			if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
				break
			}
		}
		f.Close()
	}
	return n
}
