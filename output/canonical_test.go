package output

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/vigilsec/vigil/output/chain"
	"github.com/vigilsec/vigil/output/store"
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
// a checkpoint every 10,000 records) + buffered write, per record kind:
// the daemon's per-record cost after the process table. An open/close
// loop makes file records; exec records are the largest. The pipelined
// case encodes here and seals and writes on a second goroutine, as the
// daemon does: records/s is then what two cores take.
func BenchmarkSealedWrite(b *testing.B) {
	recs := testRecords()
	for _, bc := range []struct {
		name      string
		rec       int
		store     bool // into a real store segment (fsync each second, as the daemon) rather than memory
		pipelined bool // sealed and written on a goroutine of their own (NewPipelinedWriter)
	}{
		{"exec", 1, false, false}, {"file_open", 11, false, false}, {"network_flow", 39, false, false},
		{"file_open_to_segment", 11, true, false}, {"file_open_to_segment_pipelined", 11, true, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ch, start, _ := newBenchChain(b)
			sink := &countingWriter{}
			var dst io.Writer = sink
			if bc.store {
				st, err := store.Open(store.Config{Dir: filepath.Join(b.TempDir(), "data")})
				if err != nil {
					b.Fatal(err)
				}
				defer st.Close()
				dst = io.MultiWriter(st, sink)
			}
			w := NewSealedWriter(dst, NewEncoder(testIdentity, testNow), ch, start)
			if bc.pipelined {
				w = NewPipelinedWriter(dst, NewEncoder(testIdentity, testNow), ch, start)
			}
			rec := recs[bc.rec].rec
			user0, sys0 := processCPU(b)
			b.ReportAllocs()
			for b.Loop() {
				if err := w.Write(rec); err != nil {
					b.Fatal(err)
				}
			}
			if err := w.Flush(); err != nil {
				b.Fatal(err)
			}
			user1, sys1 := processCPU(b)
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
			// Per core: the CPU time of the whole process (the store's
			// fsync goroutine, the kernel's copy into the page cache and
			// the runtime's helpers included), not wall time, which a
			// segment's fsync makes the disk's.
			b.ReportMetric(float64(b.N)/(user1-user0+sys1-sys0).Seconds(), "records/cpu-s")
			b.ReportMetric(float64(sys1-sys0)/float64(b.N), "sys-ns/record")
			b.ReportMetric(float64(sink.n)/float64(b.N), "bytes/record")
		})
	}
}

// newBenchChain makes keys and a chain with a checkpoint every 10,000
// records; it returns the chain, its start records and the key directory.
func newBenchChain(b *testing.B) (*chain.Chain, []byte, string) {
	b.Helper()
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
	return ch, start, keyDir
}

// processCPU is the CPU time this process has used in user space and in
// the kernel.
func processCPU(b *testing.B) (user, sys time.Duration) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

type countingWriter struct{ n int }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += len(p); return len(p), nil }

// The encoder writes every object's members in key order, so its records
// never need the jsonBuf's sort.
func TestEncoderWritesMembersInKeyOrder(t *testing.T) {
	for _, tc := range testRecords() {
		enc := NewEncoder(testIdentity, testNow)
		line := enc.Append(nil, tc.rec)
		if enc.j.Sorts != 0 {
			t.Errorf("%s: %d objects written out of key order: %s", tc.name, enc.j.Sorts, line)
		}
	}
}

// BenchmarkVerifyWritten: vigil verify's throughput over what the sealed
// writer wrote (file open records, as BenchmarkSealedWrite/file_open).
func BenchmarkVerifyWritten(b *testing.B) {
	ch, start, keyDir := newBenchChain(b)
	path := filepath.Join(b.TempDir(), "log.jsonl")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := NewSealedWriter(f, NewEncoder(testIdentity, testNow), ch, start)
	const n = 20000
	rec := testRecords()[11].rec
	for range n {
		if err := w.Write(rec); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	pub, err := chain.ReadPublicKey(filepath.Join(keyDir, chain.PubKeyFile))
	if err != nil {
		b.Fatal(err)
	}
	mac0, err := chain.ReadMACKey0(filepath.Join(keyDir, chain.MACKey0File))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		rep, err := (&chain.Verifier{Pub: pub, MAC0: mac0}).Verify(path)
		if err != nil || !rep.OK() || rep.Records < n {
			b.Fatal(err, rep)
		}
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "records/s")
}
