package main

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"syscall"

	"github.com/vigilsec/vigil/correlate"
	"github.com/vigilsec/vigil/intent"
	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/sensor"
)

// agentRules turns the configured agents into the sensor's match maps.
// Agent i (1-based) is agents[i-1]; the first agent to claim a name wins.
func agentRules(agents []config.Agent, log *slog.Logger) (map[string]uint32, map[sensor.FileID]uint32, error) {
	names := make(map[string]uint32)
	files := make(map[sensor.FileID]uint32)
	for i, a := range agents {
		idx := uint32(i + 1)
		for _, e := range a.Executables {
			if _, ok := names[e]; !ok {
				names[e] = idx
			}
		}
		ids, missing, err := config.ResolvePaths(a.Paths)
		if err != nil {
			return nil, nil, err
		}
		for _, m := range missing {
			log.Warn("agent path does not exist; it will match once it does and Vigil restarts", "agent", a.Name, "path", m)
		}
		for _, id := range ids {
			if _, ok := files[sensor.FileID(id)]; !ok {
				files[sensor.FileID(id)] = idx
			}
		}
	}
	return names, files, nil
}

func runDaemon(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	agents := cfg.AllAgents()
	names, files, err := agentRules(agents, log)
	if err != nil {
		return err
	}
	agentName := func(i uint32) string {
		if i == 0 || int(i) > len(agents) {
			return ""
		}
		return agents[i-1].Name
	}
	redactor, err := cfg.Redaction.Redactor()
	if err != nil {
		return err
	}
	sendEvery := cfg.Network.ReportInterval.Duration
	if sendEvery == 0 {
		sendEvery = -1 // only at close and exit
	}
	lsm, err := sensor.ParseLSMMode(cfg.Sensor.LSM)
	if err != nil {
		return err
	}
	s, err := sensor.New(sensor.Config{
		SendReportInterval: sendEvery,
		LSM:                lsm,
		TraceAll:           cfg.Sensor.TraceAll,
		RingBufferBytes:    cfg.Sensor.RingBufferBytes,
		MaxTracked:         cfg.Sensor.MaxTracked,
		LossInterval:       cfg.Sensor.LossInterval.Duration,
		AgentNames:         names,
		AgentFiles:         files,
		Logger:             log,
	})
	if err != nil {
		return err
	}
	defer s.Close()

	out, existing, closeOut, st, err := openOutput(cfg.Output)
	if err != nil {
		return err
	}
	defer closeOut()
	intents := newIntentQueue(redactor)
	pc := daemonPipeline(cfg, out, existing, agentName, redactor, log)
	pc.Intents = intents
	pc.Track = func(snaps []sensor.Snapshot, pid uint32, tree sensor.Tree) ([]sensor.Snapshot, error) {
		return s.TrackTree(procRoot, snaps, pid, tree)
	}
	pc.TreeOf = func(pid uint32) sensor.Tree { t, _, _ := s.Tracked(pid); return t }
	p, err := newPipeline(pc)
	if err != nil {
		return err
	}
	ictx, stopIntents := context.WithCancel(ctx)
	defer stopIntents()
	_, waitIntents, err := startIntents(ictx, intent.ServerConfig{Path: cfg.Intent.Socket, Group: cfg.Intent.Group,
		KeepPromptText: cfg.Intent.KeepPromptText, Log: log}, intents)
	if err != nil {
		return err
	}
	defer func() { stopIntents(); _ = waitIntents() }()

	roots, err := bootstrap(s, p, names, files, cfg.Sensor.TraceAll)
	if err != nil {
		return fmt.Errorf("bootstrap from /proc: %w", err)
	}
	// Loading the programs parsed the kernel's BTF (megabytes, garbage
	// now) and bootstrap read /proc: give that memory back before the
	// steady state rather than keep it resident.
	debug.FreeOSMemory()
	log.Info("vigil running", "version", vigilVersion(), "agents", len(agents), "intent_socket", cfg.Intent.Socket,
		"hooks", s.Path(), "lsm_unused_because", lsmWhy(s), "kernel_offers", s.Hooks().String(),
		"running_agents", roots, "output", outputWhere(cfg.Output), "trace_all", cfg.Sensor.TraceAll)
	return serve(ctx, cfg, log, p, st, closeOut, s.Run, func() {
		stopIntents()
		if werr := waitIntents(); werr != nil {
			log.Warn("intent socket", "err", werr)
		}
	})
}

// bootstrap finds agents that are already running, puts each with its
// descendants in scope, and seeds the process table with them and their
// ancestors (or with every process in trace-all mode). It returns the
// number of agent trees found.
func bootstrap(s *sensor.Sensor, p *pipeline, names map[string]uint32, files map[sensor.FileID]uint32, all bool) (int, error) {
	snaps, err := sensor.ReadProc(procRoot)
	if err != nil {
		return 0, err
	}
	byPID := make(map[uint32]*sensor.Snapshot, len(snaps))
	for i := range snaps {
		byPID[snaps[i].Task.PID] = &snaps[i]
	}
	if all {
		p.table.Seed(snaps, sensor.Tree{})
	}
	matched := make(map[uint32]uint32) // pid -> agent
	for i := range snaps {
		if a := matchSnapshot(&snaps[i], names, files); a != 0 {
			matched[snaps[i].Task.PID] = a
		}
	}
	roots := 0
	for pid, agent := range matched {
		if hasMatchedAncestor(byPID, matched, pid) {
			continue // inside another agent's tree
		}
		tree := sensor.Tree{RootPID: pid, RootStart: byPID[pid].Task.StartTime, Agent: agent}
		members, err := s.TrackTree(procRoot, snaps, pid, tree)
		if err != nil {
			continue // exited meanwhile
		}
		p.table.Seed(ancestors(byPID, pid), sensor.Tree{})
		p.table.Seed(members, tree)
		roots++
	}
	return roots, nil
}

func matchSnapshot(s *sensor.Snapshot, names map[string]uint32, files map[sensor.FileID]uint32) uint32 {
	if s.Kernel {
		return 0
	}
	if len(files) > 0 && s.Executable != "" {
		var st syscall.Stat_t
		if syscall.Stat(s.Executable, &st) == nil {
			if a, ok := files[sensor.FileID{Dev: st.Dev, Ino: st.Ino}]; ok {
				return a
			}
		}
	}
	return matchName(names, s.Executable, s.Args, false)
}

func hasMatchedAncestor(byPID map[uint32]*sensor.Snapshot, matched map[uint32]uint32, pid uint32) bool {
	seen := 0
	for p := byPID[pid]; p != nil && p.Task.PPID != 0 && seen < 4096; p = byPID[p.Task.PPID] {
		if _, ok := matched[p.Task.PPID]; ok {
			return true
		}
		seen++
	}
	return false
}

// ancestors lists pid's ancestors, oldest first.
func ancestors(byPID map[uint32]*sensor.Snapshot, pid uint32) []sensor.Snapshot {
	var out []sensor.Snapshot
	for p := byPID[pid]; p != nil && p.Task.PPID != 0 && len(out) < 4096; {
		parent := byPID[p.Task.PPID]
		if parent == nil {
			break
		}
		out = append(out, *parent)
		p = parent
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// lsmWhy says why the sensor runs without its LSM programs ("" when it
// runs them).
func lsmWhy(s *sensor.Sensor) string {
	if _, why := s.LSM(); why != nil {
		return why.Error()
	}
	return ""
}

// defaultTimes is the clock of this platform's sensor: the kernel's boot
// clock.
func defaultTimes() correlate.TimeSource { return sensor.NewBootClock() }
