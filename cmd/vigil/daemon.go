package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vigilsec/vigil/correlate"
	"github.com/vigilsec/vigil/intent"
	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/output/ship"
	"github.com/vigilsec/vigil/output/sink"
	"github.com/vigilsec/vigil/output/store"
	"github.com/vigilsec/vigil/sensor"
)

const daemonUsage = `Usage: vigil run [--config FILE]

Runs as a daemon: every process whose executable matches a configured
agent (by the name it was invoked by, its binary's name, or its path)
starts a tracked tree, and the trees' process events are appended as ECS
JSON lines to the segment store (output.dir) or to output.file, sealed
into a tamper-evident chain with the keys in integrity.key_dir (create
them with vigil keygen). Agents already running at start-up are
picked up from /proc with their descendants. Stops cleanly on SIGTERM or
SIGINT. Without --config, the built-in agent list is used, records go to
the segment store in ` + config.DefaultOutputDir + `, and keys are read from
` + config.DefaultKeyDir + `.

Options:
`

func daemonCommand(args []string, stderr io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("vigil run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "read the configuration from `FILE` (TOML)")
	fs.Usage = func() {
		fmt.Fprint(stderr, daemonUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("run: unexpected arguments %q", fs.Args())}
	}
	cfg := config.Default()
	if *cfgPath != "" {
		var err error
		if cfg, err = config.Load(*cfgPath); err != nil {
			return err
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return runDaemon(ctx, cfg, log)
}

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
	p, err := newPipeline(pipelineConfig{
		Out:          out,
		KeyDir:       cfg.Integrity.KeyDir,
		Existing:     existing, // the chain continues from what is stored
		EpochRecords: cfg.Integrity.EpochRecords,
		EpochPeriod:  cfg.Integrity.EpochPeriod.Duration,
		AgentName:    agentName,
		ExitGrace:    cfg.Processes.ExitGrace.Duration,
		MaxProcesses: cfg.Processes.MaxProcesses,
		FileFilter:   cfg.Files.Filter(),
		Redactor:     redactor,
		Log:          log,
		Intents:      intents,
		Join: correlate.JoinConfig{Grace: cfg.Intent.Grace.Duration, MaxToolCall: cfg.Intent.MaxToolCall.Duration,
			IgnorePaths: cfg.Intent.IgnorePaths},
		Track: func(snaps []sensor.Snapshot, pid uint32, tree sensor.Tree) ([]sensor.Snapshot, error) {
			return s.TrackTree(procRoot, snaps, pid, tree)
		},
		TreeOf: func(pid uint32) sensor.Tree { t, _, _ := s.Tracked(pid); return t },
	})
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
	where := cfg.Output.File
	if where == "" {
		where = cfg.Output.Dir
	}
	// Loading the programs parsed the kernel's BTF (megabytes, garbage
	// now) and bootstrap read /proc: give that memory back before the
	// steady state rather than keep it resident.
	debug.FreeOSMemory()
	log.Info("vigil running", "version", vigilVersion(), "agents", len(agents), "intent_socket", cfg.Intent.Socket,
		"hooks", s.Path(), "lsm_unused_because", lsmWhy(s), "kernel_offers", s.Hooks().String(),
		"running_agents", roots, "output", where, "trace_all", cfg.Sensor.TraceAll)
	stopShippers := func() {}
	if st != nil {
		go enforceRetention(ctx, st, log)
		// The shippers outlive ctx: they stop after the seal record is
		// stored, with a last pass that takes it and the final
		// checkpoint to every sink.
		shipCtx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		stopShippers = func() { cancel(); wg.Wait() }
		defer stopShippers()
		if err := startShippers(shipCtx, &wg, cfg, log, p.sinkLost); err != nil {
			return err
		}
	}
	err = s.Run(ctx, p)
	stopIntents()
	if werr := waitIntents(); werr != nil {
		log.Warn("intent socket", "err", werr)
	}
	if ferr := p.finish(); err == nil {
		err = ferr
	}
	if cerr := closeOut(); err == nil {
		err = cerr
	}
	stopShippers()
	log.Info("vigil stopped", "err", err)
	return err
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

// interpreters run scripts: for them, the script named in argv[1] is what
// was invoked (a shebang exec turns "claude ..." into "node /path/claude ...").
var interpreters = map[string]bool{
	"node": true, "bun": true, "deno": true, "python": true, "python3": true,
	"ruby": true, "perl": true, "sh": true, "bash": true, "dash": true, "env": true,
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
	exe := filepath.Base(s.Executable)
	if a, ok := names[exe]; ok {
		return a
	}
	if len(s.Args) > 0 {
		if a, ok := names[filepath.Base(s.Args[0])]; ok {
			return a
		}
		if len(s.Args) > 1 && (interpreters[exe] || strings.HasPrefix(exe, "python3.")) && strings.Contains(s.Args[1], "/") {
			if a, ok := names[filepath.Base(s.Args[1])]; ok {
				return a
			}
		}
	}
	return 0
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

// openOutput opens where records go: the segment store (Dir) or one file
// (File, which wins when set). existing reads what is already stored, in
// order, for the chain to continue from.
func openOutput(o config.Output) (out io.Writer, existing io.Reader, closeOut func() error, st *store.Store, err error) {
	if o.File != "" {
		if err := os.MkdirAll(filepath.Dir(o.File), 0o700); err != nil {
			return nil, nil, nil, nil, fmt.Errorf("create output directory: %w", err)
		}
		f, err := os.OpenFile(o.File, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return nil, nil, nil, nil, fmt.Errorf("open output: %w", err)
		}
		var once sync.Once
		closeFile := func() (err error) {
			once.Do(func() {
				if err = f.Sync(); err == nil {
					err = f.Close()
				}
			})
			return err
		}
		return f, f, closeFile, nil, nil
	}
	syncEvery := o.SyncInterval.Duration
	if syncEvery == 0 {
		syncEvery = -1 // never: the store's zero is its default
	}
	st, err = store.Open(store.Config{Dir: o.Dir, MaxBytes: o.MaxSegmentBytes,
		MaxAge: o.MaxSegmentAge.Duration, Retention: o.Retention.Duration, SyncEvery: syncEvery})
	if err != nil {
		return nil, nil, nil, nil, err
	}
	segs, err := st.Segments()
	if err != nil {
		return nil, nil, nil, nil, err
	}
	var readers []io.Reader
	var files []*os.File
	for _, seg := range segs {
		f, err := os.Open(seg)
		if err != nil {
			return nil, nil, nil, nil, fmt.Errorf("read stored records: %w", err)
		}
		files = append(files, f)
		readers = append(readers, f)
	}
	var once sync.Once
	closeStore := func() (err error) {
		once.Do(func() {
			for _, f := range files {
				f.Close()
			}
			err = st.Close()
		})
		return err
	}
	return st, io.MultiReader(readers...), closeStore, st, nil
}

// enforceRetention applies the retention policy hourly (and at start).
func enforceRetention(ctx context.Context, st *store.Store, log *slog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		res, err := st.Enforce()
		if err != nil {
			log.Warn("retention", "err", err)
		} else if len(res.Deleted)+len(res.Held) > 0 {
			log.Info("retention", "deleted_segments", len(res.Deleted), "held_segments", len(res.Held))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// startShippers ships the store to every configured sink.
func startShippers(ctx context.Context, wg *sync.WaitGroup, cfg config.Config, log *slog.Logger, onLost func(string, uint64)) error {
	for i, sk := range cfg.Sinks {
		name := sk.Name
		if name == "" {
			name = fmt.Sprintf("%s-%d", sk.Type, i+1)
		}
		var tlsCfg *tls.Config
		if sk.TLS {
			tlsCfg = &tls.Config{ServerName: sk.ServerName, MinVersion: tls.VersionTLS12}
			if sk.CAFile != "" {
				pem, err := os.ReadFile(sk.CAFile)
				if err != nil {
					return fmt.Errorf("sink %s: %w", name, err)
				}
				pool := x509.NewCertPool()
				if !pool.AppendCertsFromPEM(pem) {
					return fmt.Errorf("sink %s: no certificates in %s", name, sk.CAFile)
				}
				tlsCfg.RootCAs = pool
			}
		}
		var out ship.Sink
		switch sk.Type {
		case "syslog":
			out = sink.NewSyslog(sink.SyslogConfig{Addr: sk.Addr, TLS: tlsCfg, Version: vigilVersion()})
		case "elasticsearch":
			var transport http.RoundTripper
			if tlsCfg != nil {
				transport = &http.Transport{TLSClientConfig: tlsCfg}
			}
			es, err := sink.NewElastic(sink.ElasticConfig{Addresses: []string{sk.Addr}, APIKey: sk.APIKey,
				Namespace: sk.Namespace, Transport: transport,
				OnReject: func(reason string) {
					log.Warn("elasticsearch refused records for good", "sink", name, "reason", reason)
				}})
			if err != nil {
				return err
			}
			out = es
		case "splunk":
			client := &http.Client{Timeout: 30 * time.Second}
			if tlsCfg != nil {
				client.Transport = &http.Transport{TLSClientConfig: tlsCfg}
			}
			out = sink.NewSplunk(sink.SplunkConfig{URL: sk.Addr, Token: sk.Token, Index: sk.Index, Client: client})
		case "otlp":
			client := &http.Client{Timeout: 30 * time.Second}
			if tlsCfg != nil {
				client.Transport = &http.Transport{TLSClientConfig: tlsCfg}
			}
			otlp, err := sink.NewOTLP(ctx, sink.OTLPConfig{URL: sk.Addr, Headers: sk.Headers, Client: client, Version: vigilVersion(),
				OnReject: func(reason string) {
					log.Warn("otlp receiver refused records for good", "sink", name, "reason", reason)
				}})
			if err != nil {
				return fmt.Errorf("sink %s: %w", name, err)
			}
			out = otlp
		}
		sh, err := ship.New(ship.Config{Name: name, Dir: cfg.Output.Dir, Logger: log, Sink: out, OnLost: onLost})
		if err != nil {
			return err
		}
		wg.Go(func() { _ = sh.Run(ctx) })
	}
	return nil
}

// lsmWhy says why the sensor runs without its LSM programs ("" when it
// runs them).
func lsmWhy(s *sensor.Sensor) string {
	if _, why := s.LSM(); why != nil {
		return why.Error()
	}
	return ""
}
