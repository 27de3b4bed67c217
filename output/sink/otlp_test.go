package sink

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	collogpb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	"google.golang.org/protobuf/proto"

	"github.com/vigilsec/vigil/internal/testenv"
)

const otlpRecord = `{"@timestamp":"2026-11-27T10:00:00.25Z","event":{"action":"exec","category":["process"],"created":"2026-11-27T10:00:00.5Z","dataset":"vigil.process","hash":"aa11","kind":"event","sequence":7},"host":{"architecture":"x86_64","hostname":"ws1","name":"ws1","os":{"kernel":"6.18.44","type":"linux"}},"process":{"args":["sh","-c","echo a=b | c\\d"],"executable":"/bin/sh","parent":{"pid":41},"pid":42}}`

// readOTLP waits (up to 10 s) for want log records at the collector.
func readOTLP(t *testing.T, path string, want int) []testenv.OTLPLog {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if out := testenv.ReadOTLP(t, path); len(out) >= want || time.Now().After(deadline) {
			return out
		}
	}
}

// A real OpenTelemetry Collector OTLP receiver gets the records, mapped
// along ECS's OTel equivalents, with the record itself as the body.
func TestOTLPCollector(t *testing.T) {
	addr := testenv.FreeAddr(t)
	out, _ := testenv.OTelCollector(t, addr)
	s, err := NewOTLP(context.Background(), OTLPConfig{URL: "http://" + addr + "/v1/logs", Version: "test",
		Headers: map[string]string{"X-Vigil-Test": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	second := strings.Replace(strings.Replace(otlpRecord, `"sequence":7`, `"sequence":8`, 1), `"kind":"event"`, `"kind":"alert"`, 1)
	if err := s.Send(context.Background(), [][]byte{[]byte(otlpRecord), []byte(second)}); err != nil {
		t.Fatal(err)
	}
	got := readOTLP(t, out, 2)
	if len(got) != 2 {
		t.Fatalf("collector got %d log records, want 2", len(got))
	}
	r := got[0]
	if r.Body != otlpRecord || got[1].Body != second {
		t.Errorf("body is not the stored record:\n%s", r.Body)
	}
	if r.Time != "1795773600250000000" || r.Observed != "1795773600500000000" {
		t.Errorf("timestamps: %s observed %s", r.Time, r.Observed)
	}
	if r.Severity != "INFO" || got[1].Severity != "WARN" || r.Event != "vigil.process" {
		t.Errorf("severity %q/%q event name %q", r.Severity, got[1].Severity, r.Event)
	}
	for k, want := range map[string]any{
		"service.name": "vigil", "service.version": "test", "host.name": "ws1",
		"host.arch": "x86_64", "os.type": "linux", "os.version": "6.18.44",
	} {
		if r.Resource[k] != want {
			t.Errorf("resource %s = %v, want %v", k, r.Resource[k], want)
		}
	}
	for k, want := range map[string]any{
		"log.record.uid": "aa11", "event.hash": "aa11", "event.action": "exec",
		"process.pid": "42", "process.parent_pid": "41", "process.executable.path": "/bin/sh",
		"event.sequence": "7",
	} {
		if r.Attrs[k] != want {
			t.Errorf("attribute %s = %v, want %v", k, r.Attrs[k], want)
		}
	}
	if args, _ := r.Attrs["process.command_args"].([]any); len(args) != 3 || args[2] != `echo a=b | c\d` {
		t.Errorf("process.command_args = %v", r.Attrs["process.command_args"])
	}
	if cat, _ := r.Attrs["event.category"].([]any); len(cat) != 1 || cat[0] != "process" {
		t.Errorf("event.category = %v", r.Attrs["event.category"])
	}
	for _, gone := range []string{"host.name", "process.args", "process.executable"} {
		if _, ok := r.Attrs[gone]; ok {
			t.Errorf("attribute %s should be mapped, not copied", gone)
		}
	}
}

// While the collector is down Send fails (the shipper keeps the batch);
// once it is up again the same batch goes through.
func TestOTLPOutage(t *testing.T) {
	addr := testenv.FreeAddr(t)
	s, err := NewOTLP(context.Background(), OTLPConfig{URL: "http://" + addr + "/v1/logs",
		Client: &http.Client{Timeout: 2 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	batch := [][]byte{[]byte(otlpRecord)}
	if err := s.Send(context.Background(), batch); err == nil {
		t.Fatal("a batch to a stopped collector was taken as delivered")
	}
	out, stop := testenv.OTelCollector(t, addr)
	if err := s.Send(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	stop()
	if err := s.Send(context.Background(), batch); err == nil {
		t.Fatal("a batch to a killed collector was taken as delivered")
	}
	if got := readOTLP(t, out, 1); len(got) != 1 || got[0].Attrs["log.record.uid"] != "aa11" {
		t.Fatalf("collector got %+v", got)
	}
	if err := s.Send(context.Background(), [][]byte{[]byte("{not json")}); err == nil || !strings.Contains(err.Error(), "record 0") {
		t.Errorf("a damaged record: %v", err)
	}
}

// A partial success (the receiver took the request but refused some
// records for good) is reported, not retried: OTLP forbids resending.
// The real Collector receiver cannot be made to answer one, so a
// stand-in answers the protobuf response the spec defines.
func TestOTLPPartialSuccess(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if len(body) == 0 {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		b, err := proto.Marshal(&collogpb.ExportLogsServiceResponse{PartialSuccess: &collogpb.ExportLogsPartialSuccess{
			RejectedLogRecords: 1, ErrorMessage: "attribute too long"}})
		if err != nil {
			t.Error(err)
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(b)
	}))
	defer srv.Close()
	var reasons []string
	s, err := NewOTLP(context.Background(), OTLPConfig{URL: srv.URL + "/v1/logs",
		OnReject: func(reason string) { reasons = append(reasons, reason) }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Send(context.Background(), [][]byte{[]byte(otlpRecord)}); err != nil {
		t.Fatalf("a partial success must not be retried: %v", err)
	}
	if s.Rejected.Load() != 1 || len(reasons) != 1 || !strings.Contains(reasons[0], "attribute too long") {
		t.Errorf("rejected %d, reasons %q", s.Rejected.Load(), reasons)
	}
}
