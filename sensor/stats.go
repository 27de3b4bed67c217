//go:build linux

package sensor

import (
	"fmt"
	"io"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// ProgramStats is what the kernel counted for one attached program since
// it was loaded, while run-time statistics were enabled (EnableStats):
// how often it ran and for how long in total. Programs reached by a tail
// call are counted in the program that made the call, so the sys_exit
// dispatcher's figures include every syscall handler's.
type ProgramStats struct {
	Name    string
	Runs    uint64
	Runtime time.Duration
}

// PerRun is the mean run time, or 0 before the first run.
func (p ProgramStats) PerRun() time.Duration {
	if p.Runs == 0 {
		return 0
	}
	return p.Runtime / time.Duration(p.Runs)
}

// EnableStats switches on the kernel's run-time accounting of BPF
// programs (what the kernel.bpf_stats_enabled sysctl does) until the
// returned Closer is closed. Accounting costs every program run two
// clock reads; the sensor does not turn it on by itself.
func EnableStats() (io.Closer, error) {
	c, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		return nil, fmt.Errorf("enable BPF run-time statistics: %w", err)
	}
	return c, nil
}

// ProgramStats reports the kernel's counters for every attached program:
// the process hooks, the sys_exit dispatcher, and the LSM hooks when they
// run.
func (s *Sensor) ProgramStats() ([]ProgramStats, error) {
	progs := []*ebpf.Program{s.objs.VigilFork, s.objs.VigilExec, s.objs.VigilExit, s.objs.VigilSysExit}
	if s.usingLSM {
		progs = append(progs, s.lsm.VigilLsmUnlink, s.lsm.VigilLsmRmdir, s.lsm.VigilLsmRename, s.lsm.VigilLsmConnect)
	}
	out := make([]ProgramStats, 0, len(progs))
	for _, p := range progs {
		st, err := p.Stats()
		if err != nil {
			return nil, fmt.Errorf("stats of %s: %w", p, err)
		}
		info, err := p.Info()
		if err != nil {
			return nil, fmt.Errorf("info of %s: %w", p, err)
		}
		out = append(out, ProgramStats{Name: info.Name, Runs: st.RunCount, Runtime: st.Runtime})
	}
	return out, nil
}
