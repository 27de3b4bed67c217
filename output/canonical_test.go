package output

import (
	"bytes"
	"os"
	"testing"

	"github.com/vigilsec/vigil/output/chain"
)

// The encoder writes canonical form (keys sorted at every level), so the
// chain can seal its records in place, without parsing them.
func TestEncoderWritesCanonicalForm(t *testing.T) {
	b, err := os.ReadFile("testdata/records.golden")
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n"))
	if len(lines) < 10 {
		t.Fatalf("only %d golden records", len(lines))
	}
	for i, line := range lines {
		canon, err := chain.Canonical(line)
		if err != nil {
			t.Fatalf("record %d: %v", i+1, err)
		}
		if !bytes.Equal(canon, line) {
			t.Errorf("record %d is not canonical:\ngot  %s\nwant %s", i+1, line, canon)
		}
	}
}

// BenchmarkSealedWrite: encode + canonical seal (hash, HMAC, Merkle leaf,
// a checkpoint every 10,000 records) + buffered write of an exec record:
// the daemon's per-record cost after the process table.
func BenchmarkSealedWrite(b *testing.B) {
	keyDir := b.TempDir() + "/keys"
	if _, _, err := chain.Keygen(keyDir); err != nil {
		b.Fatal(err)
	}
	ks, err := chain.OpenKeys(keyDir)
	if err != nil {
		b.Fatal(err)
	}
	ch, start, err := chain.New(chain.Config{Keys: ks, EpochRecords: 10000})
	if err != nil {
		b.Fatal(err)
	}
	var sink countingWriter
	w := NewSealedWriter(&sink, NewEncoder(testIdentity, testNow), ch, start)
	rec := testRecords()[1].rec
	b.ReportAllocs()
	for b.Loop() {
		if err := w.Write(rec); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(sink.n)/float64(b.N), "bytes/record")
}

type countingWriter struct{ n int }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += len(p); return len(p), nil }
