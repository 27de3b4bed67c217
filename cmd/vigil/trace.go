//go:build linux

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/vigilsec/vigil/correlate"
	"github.com/vigilsec/vigil/intent"
	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/internal/redact"
	"github.com/vigilsec/vigil/sensor"
)

const traceUsage = `Usage: vigil trace [-o FILE] [--all] [--name NAME] -- CMD [ARGS...]

Runs CMD as the root of a tracked agent tree and records the tree's
process events (fork, exec, exit) as ECS JSON lines: on stdout, or in FILE
with -o. While records go to stdout, CMD's own stdout is sent to stderr so
stdout holds nothing but records. Exits with CMD's exit status (128+N if a
signal N killed it) once CMD and all its descendants are gone. Ctrl-C (or
SIGINT) stops waiting for descendants once CMD exits; a second one stops
at once. SIGTERM and SIGHUP are passed on to CMD. Needs root (or CAP_BPF
and CAP_PERFMON).

The tree's agents report their intents on --intent-socket, whose path CMD
finds in VIGIL_INTENT_SOCKET (vigil hook and vigil emit use it); each
declared and each observed action gets a verdict record, and the pending
ones are given before vigil trace exits.

Options:
`

// treeSettleInterval is how often the tracked map is polled for the tree
// to empty once CMD itself has exited.
const treeSettleInterval = 20 * time.Millisecond

func traceCommand(args []string, stdout, stderr io.Writer, log *slog.Logger) int {
	fs := flag.NewFlagSet("vigil trace", flag.ContinueOnError)
	fs.SetOutput(stderr)
	outPath := fs.String("o", "", "write records to `FILE` (created or truncated, mode 0600) instead of stdout")
	all := fs.Bool("all", false, "record every process on the host, not only CMD's tree")
	name := fs.String("name", "", "agent `NAME` for gen_ai.agent.name (default: CMD's base name)")
	ring := fs.Int("ring-buffer-bytes", 0, "ring buffer size in `BYTES`, a power of two (default 16 MiB)")
	allReads := fs.Bool("all-reads", false, "record read-only opens of shared libraries, locale data and /proc/self too")
	keyDir := fs.String("key-dir", "", "seal the records into a tamper-evident chain with the keys in `DIR` (see vigil keygen; needs -o)")
	noRedact := fs.Bool("no-redact", false, "keep secrets in command lines and URLs (they are redacted by default)")
	sendEvery := fs.Duration("send-report-interval", time.Minute, "record send totals of open sockets this often (0: only at close and exit)")
	intentSocket := fs.String("intent-socket", "", "listen for the tree's intents on `PATH` (default: vigil/trace-PID.sock under $XDG_RUNTIME_DIR, or /run); exported to the tree as "+intent.SocketEnv)
	grace := fs.Duration("grace", 2*time.Second, "how long after a tool call ends its actions may still be observed")
	lsmFlag := fs.String("lsm", "auto", "BPF LSM hooks for removals, renames and connects: auto (where the kernel runs them), off, require")
	fs.Usage = func() {
		fmt.Fprint(stderr, traceUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage(err)
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "vigil trace: no command given")
		fs.Usage()
		return 2
	}
	if *keyDir != "" && *outPath == "" {
		fmt.Fprintln(stderr, "vigil trace: --key-dir needs -o FILE")
		return 2
	}
	lsm, err := sensor.ParseLSMMode(*lsmFlag)
	if err != nil {
		fmt.Fprintf(stderr, "vigil trace: %v\n", err)
		return 2
	}
	cmdArgs := fs.Args()
	path, err := exec.LookPath(cmdArgs[0])
	if err != nil {
		fmt.Fprintf(stderr, "vigil trace: %v\n", err)
		return 127
	}
	if *name == "" {
		*name = filepath.Base(cmdArgs[0])
	}

	t := &tracer{log: log, stderr: stderr}
	code, err := t.run(traceOptions{
		Path: path, Args: cmdArgs, Name: *name, All: *all,
		OutPath: *outPath, Stdout: stdout, RingBufferBytes: *ring,
		AllReads: *allReads, NoRedact: *noRedact, SendEvery: *sendEvery, KeyDir: *keyDir,
		IntentSocket: *intentSocket, Grace: *grace, LSM: lsm,
	})
	if err != nil {
		fmt.Fprintf(stderr, "vigil trace: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

type traceOptions struct {
	Path            string   // resolved executable
	Args            []string // argv
	Name            string   // agent name
	All             bool
	OutPath         string
	Stdout          io.Writer
	RingBufferBytes int
	AllReads        bool
	NoRedact        bool
	SendEvery       time.Duration
	KeyDir          string
	IntentSocket    string
	Grace           time.Duration
	LSM             sensor.LSMMode
}

// defaultTraceSocket is where vigil trace listens for intents unless told.
func defaultTraceSocket() string {
	dir := os.Getenv("XDG_RUNTIME_DIR")
	if dir == "" {
		dir = "/run"
	}
	return filepath.Join(dir, "vigil", fmt.Sprintf("trace-%d.sock", os.Getpid()))
}

type tracer struct {
	log    *slog.Logger
	stderr io.Writer
}

// traceAgent is the agent index of the traced command's tree.
const traceAgent = 1

func (t *tracer) run(o traceOptions) (int, error) {
	sendEvery := o.SendEvery
	if sendEvery <= 0 {
		sendEvery = -1
	}
	s, err := sensor.New(sensor.Config{
		SendReportInterval: sendEvery,
		TraceAll:           o.All,
		LSM:                o.LSM,
		RingBufferBytes:    o.RingBufferBytes,
		Logger:             t.log,
	})
	if err != nil {
		return 1, err
	}
	defer s.Close()
	t.log.Debug("sensor loaded", "hooks", s.Path(), "lsm_unused_because", lsmWhy(s), "kernel_offers", s.Hooks().String())

	out, cmdStdout := o.Stdout, io.Writer(os.Stdout)
	if o.OutPath != "" {
		f, err := os.OpenFile(o.OutPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return 1, fmt.Errorf("open output: %w", err)
		}
		defer f.Close()
		out = f
	} else {
		cmdStdout = os.Stderr
	}
	filter := config.DefaultFiles().Filter()
	if o.AllReads {
		filter = correlate.FileFilter{}
	}
	var redactor *redact.Redactor
	if !o.NoRedact {
		redactor = redact.Default()
	}
	if o.IntentSocket == "" {
		o.IntentSocket = defaultTraceSocket()
	}
	intents := newIntentQueue(redactor)
	ictx, stopIntents := context.WithCancel(context.Background())
	defer stopIntents()
	_, waitIntents, err := startIntents(ictx, intent.ServerConfig{Path: o.IntentSocket, Log: t.log}, intents)
	if err != nil {
		return 1, err
	}
	defer func() { stopIntents(); _ = waitIntents() }()
	p, err := newPipeline(pipelineConfig{
		Out:        out,
		FileFilter: filter,
		Redactor:   redactor,
		KeyDir:     o.KeyDir,
		Intents:    intents,
		Join:       correlate.JoinConfig{Grace: o.Grace, IgnorePaths: config.DefaultIgnorePaths},
		Track: func(snaps []sensor.Snapshot, pid uint32, tree sensor.Tree) ([]sensor.Snapshot, error) {
			return s.TrackTree(procRoot, snaps, pid, tree)
		},
		TreeOf: func(pid uint32) sensor.Tree { t, _, _ := s.Tracked(pid); return t },
		AgentName: func(i uint32) string {
			if i == traceAgent {
				return o.Name
			}
			return ""
		},
		Log: t.log,
	})
	if err != nil {
		return 1, err
	}
	// Know Vigil itself (the root's parent), or every process with --all.
	if o.All {
		snaps, err := sensor.ReadProc(procRoot)
		if err != nil {
			return 1, err
		}
		p.table.Seed(snaps, sensor.Tree{})
	} else if self, err := sensor.ReadProcess(procRoot, uint32(os.Getpid())); err == nil {
		p.table.Seed([]sensor.Snapshot{self}, sensor.Tree{})
	}

	cmd, tree, err := t.start(s, o, cmdStdout)
	if err != nil {
		return 1, err
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- s.Run(ctx, p) }()

	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)

	var (
		code       = -1 // CMD's exit code once reaped
		tickC      <-chan time.Time
		stopping   bool // stop once CMD is reaped, without waiting for descendants
		interrupts int
	)
	for code < 0 || !stopping {
		select {
		case err := <-waited:
			code = exitCode(cmd.ProcessState, err)
			tick := time.NewTicker(treeSettleInterval)
			defer tick.Stop()
			tickC = tick.C
		case <-tickC:
			n, err := s.TreeSize(tree)
			if err != nil {
				t.log.Warn("cannot read tracked processes", "err", err)
				stopping = true
			} else if n == 0 {
				stopping = true
			}
		case sig := <-sigs:
			stopping = true
			if sig == syscall.SIGINT {
				// Ctrl-C reaches CMD through the terminal's process group
				// already. Keep recording while CMD lives (it may treat
				// Ctrl-C as "cancel", not "quit"); a second one stops now.
				if interrupts++; interrupts < 2 || code >= 0 {
					continue
				}
				if code < 0 {
					code = 130
				}
				continue
			}
			// SIGTERM, SIGHUP: pass on to CMD and give it a moment.
			_ = cmd.Process.Signal(sig)
			if code < 0 {
				select {
				case err := <-waited:
					code = exitCode(cmd.ProcessState, err)
				case <-time.After(2 * time.Second):
					code = 128 + int(sig.(syscall.Signal))
				}
			}
		case err := <-runErr:
			_ = cmd.Process.Kill()
			return 1, fmt.Errorf("sensor stopped: %w", err)
		}
	}
	cancel()
	if err := <-runErr; err != nil {
		return code, fmt.Errorf("sensor: %w", err)
	}
	// No more intents: what was received is judged, with the tree's
	// kernel records all in.
	stopIntents()
	if err := waitIntents(); err != nil {
		t.log.Warn("intent socket", "err", err)
	}
	if err := p.finish(); err != nil {
		return code, err
	}
	return code, nil
}

// start launches CMD behind the gate, waits for the launcher to finish
// starting up, puts it in scope, and opens the gate.
func (t *tracer) start(s *sensor.Sensor, o traceOptions, stdout io.Writer) (*exec.Cmd, sensor.Tree, error) {
	gateR, gateW, err := os.Pipe()
	if err != nil {
		return nil, sensor.Tree{}, fmt.Errorf("gate pipe: %w", err)
	}
	defer gateW.Close()
	readyR, readyW, err := os.Pipe()
	if err != nil {
		gateR.Close()
		return nil, sensor.Tree{}, fmt.Errorf("gate pipe: %w", err)
	}
	defer readyR.Close()
	self, err := os.Executable()
	if err != nil {
		gateR.Close()
		readyW.Close()
		return nil, sensor.Tree{}, fmt.Errorf("find own executable: %w", err)
	}
	cmd := exec.Command(self, append([]string{gateCommand, o.Path}, o.Args...)...)
	cmd.Env = append(os.Environ(), intent.SocketEnv+"="+o.IntentSocket)
	cmd.Stdin = os.Stdin
	cmd.Stdout = stdout
	cmd.Stderr = os.Stderr
	cmd.ExtraFiles = []*os.File{gateR, readyW} // fds 3 and 4: gateFD, readyFD
	err = cmd.Start()
	gateR.Close()
	readyW.Close()
	if err != nil {
		return nil, sensor.Tree{}, fmt.Errorf("start %s: %w", o.Args[0], err)
	}
	fail := func(err error) (*exec.Cmd, sensor.Tree, error) {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, sensor.Tree{}, err
	}
	if _, err := readyR.Read(make([]byte, 1)); err != nil {
		return fail(fmt.Errorf("launcher did not start: %w", err))
	}
	pid := uint32(cmd.Process.Pid)
	snap, err := sensor.ReadProcess(procRoot, pid)
	if err != nil {
		return fail(err)
	}
	tree := sensor.Tree{RootPID: pid, RootStart: snap.Task.StartTime, Agent: traceAgent}
	if err := s.Track(pid, tree); err != nil {
		return fail(err)
	}
	if _, err := gateW.Write([]byte{1}); err != nil {
		return fail(fmt.Errorf("open gate: %w", err))
	}
	return cmd, tree, nil
}

// exitCode is the shell's view of how CMD ended: its status, or 128+N if
// signal N killed it.
func exitCode(ps *os.ProcessState, err error) int {
	if ps == nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			ps = ee.ProcessState
		} else {
			return 1
		}
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}
