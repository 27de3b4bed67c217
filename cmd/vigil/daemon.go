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
	"path/filepath"
	"sync"
	"time"

	"github.com/vigilsec/vigil/correlate"
	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/internal/fsperm"
	"github.com/vigilsec/vigil/internal/redact"
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
picked up with their descendants (from /proc on Linux, from a process
snapshot on Windows; on macOS from their next exec). Events come from
eBPF on Linux, ETW on Windows and eslogger on macOS. Stops cleanly on
SIGTERM or SIGINT. Without --config, the built-in agent list is used, records go to
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
	return runAsDaemon(cfg, log)
}

// serve runs source into the pipeline until ctx ends, with retention and
// the shippers on the store (st, nil for one file), then stops the
// source's other inputs (stopInputs), finishes the pipeline, closes the
// output and lets the shippers make their last pass.
func serve(ctx context.Context, cfg config.Config, log *slog.Logger, p *pipeline, st *store.Store, closeOut func() error,
	source func(context.Context, sensor.Handler) error, stopInputs func()) error {
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
	err := source(ctx, p)
	stopInputs()
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

// daemonPipeline is the pipeline configuration every platform's daemon
// shares; existing is what is stored, for the chain to continue from.
func daemonPipeline(cfg config.Config, out io.Writer, existing io.Reader, agentName func(uint32) string,
	redactor *redact.Redactor, log *slog.Logger) pipelineConfig {
	return pipelineConfig{
		Out:          out,
		KeyDir:       cfg.Integrity.KeyDir,
		Existing:     existing,
		EpochRecords: cfg.Integrity.EpochRecords,
		EpochPeriod:  cfg.Integrity.EpochPeriod.Duration,
		AgentName:    agentName,
		ExitGrace:    cfg.Processes.ExitGrace.Duration,
		MaxProcesses: cfg.Processes.MaxProcesses,
		FileFilter:   cfg.Files.Filter(),
		Redactor:     redactor,
		Log:          log,
		Join: correlate.JoinConfig{Grace: cfg.Intent.Grace.Duration, MaxToolCall: cfg.Intent.MaxToolCall.Duration,
			IgnorePaths: cfg.Intent.IgnorePaths},
	}
}

// outputWhere names where records go, for the log.
func outputWhere(o config.Output) string {
	if o.File != "" {
		return o.File
	}
	return o.Dir
}

// openOutput opens where records go: the segment store (Dir) or one file
// (File, which wins when set). existing reads what is already stored, in
// order, for the chain to continue from.
func openOutput(o config.Output) (out io.Writer, existing io.Reader, closeOut func() error, st *store.Store, err error) {
	if o.File != "" {
		if err := os.MkdirAll(filepath.Dir(o.File), 0o700); err != nil {
			return nil, nil, nil, nil, fmt.Errorf("create output directory: %w", err)
		}
		if err := fsperm.Private(filepath.Dir(o.File)); err != nil {
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
