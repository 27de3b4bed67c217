package main

import (
	"log/slog"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilsec/vigil/output/chain"
	"github.com/vigilsec/vigil/output/store"
	"github.com/vigilsec/vigil/sensor"
	"golang.org/x/sys/unix"
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

func span(xs []float64) string {
	return strconv.FormatFloat(slices.Min(xs), 'f', 0, 64) + ".." + strconv.FormatFloat(slices.Max(xs), 'f', 0, 64)
}

// BenchmarkPipeline measures the user-space path per core: decoded kernel
// events of tracked processes through the daemon's pipeline — process
// table and correlation, ECS encoding, the hash chain with its HMACs and
// checkpoints, and a real store segment (fsync once a second). Each
// iteration is one short-lived process of an agent's tree: fork, exec,
// an open that creates a file, its write totals, a read, a connect, and
// the exit: seven events, seven records.
func BenchmarkPipeline(b *testing.B) {
	dir := b.TempDir()
	keys := filepath.Join(dir, "keys")
	if _, _, err := chain.Keygen(keys); err != nil {
		b.Fatal(err)
	}
	st, err := store.Open(store.Config{Dir: filepath.Join(dir, "data")})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	p, err := newPipeline(pipelineConfig{Out: st, KeyDir: keys, ExitGrace: time.Second, Log: slog.New(slog.DiscardHandler),
		AgentName: func(uint32) string { return "claude-code" }})
	if err != nil {
		b.Fatal(err)
	}
	// The binaries exist, so the hasher hashes each once and then serves
	// it from its cache, as it does for an agent running git over and over.
	exe := func(path string) (string, uint64, uint64) {
		real, err := filepath.EvalSymlinks(path)
		if err != nil {
			b.Fatal(err)
		}
		var st unix.Stat_t
		if err := unix.Stat(real, &st); err != nil {
			b.Fatal(err)
		}
		return real, st.Ino, st.Dev
	}
	nodePath, nodeIno, nodeDev := exe("/bin/sh")
	gitPath, gitIno, gitDev := exe("/bin/true")
	now := sensor.BootNow()
	tree, agent := benchAgent(now)
	ev := sensor.Event{Kind: sensor.KindExec, KTime: tree.RootStart, Tree: tree, Task: agent,
		Executable: nodePath, ExeInode: nodeIno, ExeDevice: nodeDev, Args: []string{"node", "/usr/local/bin/claude"}, Argc: 2, Cwd: "/home/dev/project"}
	if err := p.HandleEvent(&ev); err != nil {
		b.Fatal(err)
	}
	start := p.out.Sequence()
	n := 0
	var ru0, ru1 unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &ru0)
	b.ReportAllocs()
	for b.Loop() {
		pid := uint32(5000 + n%60000)
		t := now + uint64(n)*100_000
		child := benchChild(agent, pid, t, "git")
		events := [...]sensor.Event{
			{Kind: sensor.KindFork, KTime: t, Tree: tree, Task: agent, ChildPID: pid, ChildStart: t},
			{Kind: sensor.KindExec, KTime: t + 10, Tree: tree, Task: child, Executable: gitPath, ExeInode: gitIno, ExeDevice: gitDev,
				Args: []string{"git", "commit", "-m", "fix the parser"}, Argc: 4, Cwd: "/home/dev/project"},
			{Kind: sensor.KindFile, KTime: t + 20, Tree: tree, Task: child, File: sensor.File{Op: sensor.FileOpen,
				Flags: sensor.FilePathExact | sensor.FileRegular, Ret: 3, FD: 3, Inode: 131090, Device: 0x10300, Cookie: 0xffff0001,
				OpenFlags: 0o1101, Mode: 0o644, FMode: 0x10000e, Path: "/home/dev/project/.git/COMMIT_EDITMSG"}},
			{Kind: sensor.KindFile, KTime: t + 30, Tree: tree, Task: child, File: sensor.File{Op: sensor.FileWriteEnd,
				Flags: sensor.FileRegular, Ret: 0, FD: 3, Size: 15, Ops: 1, First: t + 25, Inode: 131090, Device: 0x10300, Cookie: 0xffff0001}},
			{Kind: sensor.KindFile, KTime: t + 40, Tree: tree, Task: child, File: sensor.File{Op: sensor.FileOpen,
				Flags: sensor.FilePathExact | sensor.FileRegular, Ret: 4, FD: 4, Inode: 131091, Device: 0x10300, Cookie: 0xffff0002,
				OpenFlags: 0, FMode: 0x1d, Path: "/home/dev/project/.git/HEAD"}},
			{Kind: sensor.KindNet, KTime: t + 50, Tree: tree, Task: child, Net: sensor.Net{Op: sensor.NetConnect, FD: 5,
				Dst:      sensor.Endpoint{Family: sensor.FamilyInet, IP: netip.MustParseAddr("140.82.112.3"), Port: 443},
				Src:      sensor.Endpoint{Family: sensor.FamilyInet, IP: netip.MustParseAddr("10.0.0.7"), Port: 40000},
				SockType: 1, Protocol: 6}},
			{Kind: sensor.KindExit, KTime: t + 60, Tree: tree, Task: child},
		}
		for i := range events {
			if err := p.HandleEvent(&events[i]); err != nil {
				b.Fatal(err)
			}
		}
		n++
	}
	b.StopTimer()
	_ = unix.Getrusage(unix.RUSAGE_SELF, &ru1)
	cpu := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
	records := p.out.Sequence() - start
	if err := p.finish(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(records)/float64(n), "records/iter")
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(b.Elapsed().Seconds()*1e9/float64(records), "ns/record")
	// Per core: the CPU time of the whole process (the hasher and the
	// runtime's helpers included), not wall time.
	b.ReportMetric(float64(records)/cpu.Seconds(), "records/cpu-s")
}

// benchAgent is the tracked tree of an agent started a second before now,
// and the agent's task, for the benchmarks that feed the pipeline events.
func benchAgent(now uint64) (sensor.Tree, sensor.Task) {
	tree := sensor.Tree{RootPID: 4000, RootStart: now - 1e9, Agent: 1}
	return tree, sensor.Task{PID: 4000, TID: 4000, PPID: 1, StartTime: tree.RootStart, Comm: "claude", UID: 1000, GID: 1000, EUID: 1000, EGID: 1000}
}

// benchChild is a child of the agent's, started at start.
func benchChild(agent sensor.Task, pid uint32, start uint64, comm string) sensor.Task {
	child := agent
	child.PID, child.TID, child.PPID, child.StartTime, child.Comm = pid, pid, agent.PID, start, comm
	return child
}
