package sink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
)

// OTLPConfig says where records go over OTLP/HTTP.
type OTLPConfig struct {
	// URL is the full logs endpoint, e.g. https://gateway:4318/v1/logs.
	URL     string
	Headers map[string]string // e.g. an Authorization header for the gateway
	Client  *http.Client      // carries the TLS settings; default: 30 s timeout
	Version string            // service.version on the resource
	// OnReject hears of records the receiver refused for good (an OTLP
	// partial success): the spec forbids resending them, so the batch
	// counts as delivered and they stay only in the local store.
	OnReject func(reason string)
}

// OTLP sends records as OpenTelemetry log records through the OTel Go SDK
// (go.opentelemetry.io/otel/sdk/log) and its OTLP/HTTP exporter, the path
// to an OpenTelemetry Collector gateway.
//
// Each log record carries:
//   - Body: the record exactly as stored, so anything downstream can
//     recompute event.hash and check the chain;
//   - Timestamp: @timestamp; ObservedTimestamp: event.created;
//   - log.record.uid: event.hash, the idempotency key for at-least-once
//     delivery (OTLP itself has none);
//   - every other ECS field as an attribute, under the OpenTelemetry
//     semantic-convention name where ECS documents one as equivalent
//     (see otelName) and under the ECS name otherwise. host.* fields
//     describe the sender and go to the resource instead.
//
// Send is synchronous: records go through the SDK's LoggerProvider into a
// processor that only collects them, and the batch is handed to the
// exporter directly so its error reaches the shipper, which keeps the
// batch on its cursor and retries. The exporter's own retries are off so
// there is one backoff policy, the shipper's.
type OTLP struct {
	cfg OTLPConfig
	exp *otlploghttp.Exporter

	// Rejected counts batches with records the receiver refused for good.
	Rejected atomic.Uint64

	mu       sync.Mutex
	provider *sdklog.LoggerProvider
	logger   log.Logger
	batch    collector
}

// NewOTLP returns an OTLP/HTTP sink.
func NewOTLP(ctx context.Context, cfg OTLPConfig) (*OTLP, error) {
	if cfg.URL == "" {
		return nil, errors.New("otlp: no endpoint URL")
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 30 * time.Second}
	}
	opts := []otlploghttp.Option{
		otlploghttp.WithEndpointURL(cfg.URL),
		otlploghttp.WithHTTPClient(cfg.Client),
		otlploghttp.WithRetry(otlploghttp.RetryConfig{Enabled: false}),
		otlploghttp.WithCompression(otlploghttp.GzipCompression),
	}
	if len(cfg.Headers) > 0 {
		opts = append(opts, otlploghttp.WithHeaders(cfg.Headers))
	}
	exp, err := otlploghttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("otlp: %w", err)
	}
	return &OTLP{cfg: cfg, exp: exp}, nil
}

// collector is a Processor that keeps what the SDK hands it.
type collector struct {
	recs []sdklog.Record
}

func (c *collector) Enabled(context.Context, sdklog.EnabledParameters) bool { return true }
func (c *collector) OnEmit(_ context.Context, r *sdklog.Record) error {
	c.recs = append(c.recs, r.Clone())
	return nil
}
func (c *collector) Shutdown(context.Context) error   { return nil }
func (c *collector) ForceFlush(context.Context) error { return nil }

// Send exports one batch and returns the exporter's error.
func (s *OTLP) Send(ctx context.Context, records [][]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batch.recs = s.batch.recs[:0]
	for i, raw := range records {
		fields, err := flattenRecord(raw)
		if err != nil {
			return fmt.Errorf("otlp: record %d of batch: %w", i, err)
		}
		if s.provider == nil {
			s.start(fields)
		}
		s.logger.Emit(ctx, logRecord(raw, fields))
	}
	if len(s.batch.recs) == 0 {
		return nil
	}
	if err := s.exp.Export(ctx, s.batch.recs); err != nil {
		if strings.HasPrefix(err.Error(), partialSuccess) {
			s.Rejected.Add(1)
			if s.cfg.OnReject != nil {
				s.cfg.OnReject(err.Error())
			}
			return nil
		}
		return fmt.Errorf("otlp: %w", err)
	}
	return nil
}

// partialSuccess starts the exporter's error for a response that
// accepted the request but rejected some records (its error type is
// internal to the exporter).
const partialSuccess = "OTLP partial success: "

// start builds the LoggerProvider; its resource describes the host the
// first record names (all records of one Vigil come from one host).
func (s *OTLP) start(fields []field) {
	attrs := []attribute.KeyValue{
		attribute.String("service.name", "vigil"),
	}
	if s.cfg.Version != "" {
		attrs = append(attrs, attribute.String("service.version", s.cfg.Version))
	}
	for _, f := range fields {
		if strings.HasPrefix(f.key, "host.") {
			attrs = append(attrs, f.attr(otelName(f.key)))
		}
	}
	s.provider = sdklog.NewLoggerProvider(
		sdklog.WithResource(resource.NewSchemaless(attrs...)),
		sdklog.WithProcessor(&s.batch),
		sdklog.WithAttributeCountLimit(-1),
		sdklog.WithAttributeValueLengthLimit(-1),
	)
	s.logger = s.provider.Logger("github.com/vigilsec/vigil")
}

// Close shuts the exporter down.
func (s *OTLP) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if s.provider != nil {
		_ = s.provider.Shutdown(ctx)
	}
	return s.exp.Shutdown(ctx)
}

// otelSemconv maps ECS fields to the OpenTelemetry semantic-convention
// attribute that ECS documents as equivalent (same meaning, other name).
// Fields whose ECS name and OTel name match need no entry.
var otelSemconv = map[string]string{
	"host.architecture":  "host.arch",
	"host.os.type":       "os.type",
	"host.os.kernel":     "os.version",
	"process.args":       "process.command_args",
	"process.executable": "process.executable.path",
	"process.parent.pid": "process.parent_pid",
	"process.user.name":  "process.owner",
	"network.protocol":   "network.protocol.name",
}

func otelName(ecs string) string {
	if n, ok := otelSemconv[ecs]; ok {
		return n
	}
	return ecs
}

// field is one leaf of a record: a dotted ECS name and its JSON value.
type field struct {
	key string
	val any // string, json.Number, bool, []any, map[string]any (inside arrays)
}

func (f field) attr(name string) attribute.KeyValue {
	switch v := f.val.(type) {
	case string:
		return attribute.String(name, v)
	case bool:
		return attribute.Bool(name, v)
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return attribute.Int64(name, i)
		}
		if x, err := v.Float64(); err == nil {
			return attribute.Float64(name, x)
		}
		return attribute.String(name, v.String())
	case []any:
		return sliceAttr(name, v)
	default:
		b, _ := json.Marshal(v)
		return attribute.String(name, string(b))
	}
}

// sliceAttr keeps homogeneous string, integer and boolean arrays typed;
// anything else (arrays of objects, mixed arrays) becomes JSON text.
func sliceAttr(name string, v []any) attribute.KeyValue {
	strs := make([]string, 0, len(v))
	ints := make([]int64, 0, len(v))
	for _, e := range v {
		switch x := e.(type) {
		case string:
			strs = append(strs, x)
		case json.Number:
			if i, err := x.Int64(); err == nil {
				ints = append(ints, i)
			}
		}
	}
	switch {
	case len(strs) == len(v):
		return attribute.StringSlice(name, strs)
	case len(ints) == len(v):
		return attribute.Int64Slice(name, ints)
	}
	b, _ := json.Marshal(v)
	return attribute.String(name, string(b))
}

// flattenRecord parses a record into its leaves, sorted by name.
func flattenRecord(raw []byte) ([]field, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	var out []field
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			name := k
			if prefix != "" {
				name = prefix + "." + k
			}
			if sub, ok := v.(map[string]any); ok {
				walk(name, sub)
				continue
			}
			if v == nil {
				continue
			}
			out = append(out, field{key: name, val: v})
		}
	}
	walk("", doc)
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out, nil
}

func logRecord(raw []byte, fields []field) log.Record {
	var r log.Record
	r.SetBody(attribute.StringValue(string(raw)))
	r.SetSeverity(log.SeverityInfo)
	r.SetSeverityText("INFO")
	attrs := make([]attribute.KeyValue, 0, len(fields))
	for _, f := range fields {
		switch {
		case f.key == "@timestamp":
			if t, err := parseTime(f.val); err == nil {
				r.SetTimestamp(t)
			}
			continue
		case f.key == "event.created":
			if t, err := parseTime(f.val); err == nil {
				r.SetObservedTimestamp(t)
			}
		case f.key == "event.kind" && f.val == "alert":
			r.SetSeverity(log.SeverityWarn)
			r.SetSeverityText("WARN")
		case f.key == "event.dataset":
			if s, ok := f.val.(string); ok {
				r.SetEventName(s)
			}
		case f.key == "event.hash":
			attrs = append(attrs, f.attr("log.record.uid"))
		case strings.HasPrefix(f.key, "host."):
			continue // on the resource
		}
		attrs = append(attrs, f.attr(otelName(f.key)))
	}
	r.AddAttributes(attrs...)
	return r
}

func parseTime(v any) (time.Time, error) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, errors.New("not a string")
	}
	return time.Parse(time.RFC3339Nano, s)
}
