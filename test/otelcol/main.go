// Command otelcol is a minimal OpenTelemetry Collector pipeline for Vigil's
// tests: the real OTLP receiver from go.opentelemetry.io/collector, its
// logs written as OTLP/JSON lines (one ExportLogsServiceRequest per line)
// to a file. It lives in its own module so the collector's dependencies
// stay out of Vigil's.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
)

func main() {
	addr := flag.String("http", "127.0.0.1:4318", "OTLP/HTTP listen address")
	out := flag.String("out", "", "file the received logs are appended to (required)")
	flag.Parse()
	if err := run(*addr, *out); err != nil {
		fmt.Fprintln(os.Stderr, "otelcol:", err)
		os.Exit(1)
	}
}

func run(addr, out string) error {
	if out == "" {
		return fmt.Errorf("-out is required")
	}
	f, err := os.OpenFile(out, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	var mu sync.Mutex
	var m plog.JSONMarshaler
	sink, err := consumer.NewLogs(func(_ context.Context, ld plog.Logs) error {
		b, err := m.MarshalLogs(ld)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		w.Write(b)
		w.WriteByte('\n')
		return w.Flush()
	})
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	factory := otlpreceiver.NewFactory()
	cfg := factory.CreateDefaultConfig().(*otlpreceiver.Config)
	setEndpoint(cfg, addr)
	rcv, err := factory.CreateLogs(ctx, receivertest.NewNopSettings(factory.Type()), cfg, sink)
	if err != nil {
		return fmt.Errorf("create receiver: %w", err)
	}
	if err := rcv.Start(ctx, componenttest.NewNopHost()); err != nil {
		return fmt.Errorf("start receiver: %w", err)
	}
	fmt.Println("ready")
	<-ctx.Done()
	return rcv.Shutdown(context.Background())
}
