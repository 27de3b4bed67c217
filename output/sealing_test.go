package output

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilsec/vigil/output/chain"
)

// twinKeys makes a key directory and a copy of it: two chains that start
// from the same keys (a chain evolves its keys on disk).
func twinKeys(t *testing.T) (a, b string) {
	t.Helper()
	a = filepath.Join(t.TempDir(), "keys")
	if _, _, err := chain.Keygen(a); err != nil {
		t.Fatal(err)
	}
	b = filepath.Join(t.TempDir(), "keys")
	if err := os.MkdirAll(b, 0o700); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(a)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join(a, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(b, e.Name()), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return a, b
}

func openChain(t *testing.T, dir string, cfg chain.Config) (*chain.Chain, []byte) {
	t.Helper()
	ks, err := chain.OpenKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Keys = ks
	ch, start, err := chain.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return ch, start
}

func verifyLog(t *testing.T, keyDir string, log []byte) *chain.Report {
	t.Helper()
	path := filepath.Join(t.TempDir(), "log.jsonl")
	if err := os.WriteFile(path, log, 0o600); err != nil {
		t.Fatal(err)
	}
	pub, err := chain.ReadPublicKey(filepath.Join(keyDir, chain.PubKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	mac0, err := chain.ReadMACKey0(filepath.Join(keyDir, chain.MACKey0File))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := (&chain.Verifier{Pub: pub, MAC0: mac0}).Verify(path)
	if err != nil || !rep.OK() {
		t.Fatalf("the log does not verify: %v %v", err, rep.Problems)
	}
	return rep
}

// A pipelined Writer writes, byte for byte, what a synchronous one writes
// for the same records, chain keys and clock: the same sequences, the
// checkpoints in the same places (here every 7 records, so batches
// straddle epochs), the seal at the end. Flush in between only moves
// where writes happen.
func TestPipelinedWriterSameBytes(t *testing.T) {
	ka, kb := twinKeys(t)
	cfg := chain.Config{EpochRecords: 7, EpochPeriod: time.Hour, Now: testNow, ID: chain.Identity{HostName: "h", HostID: "id"}}
	cha, starta := openChain(t, ka, cfg)
	chb, startb := openChain(t, kb, cfg)
	var sync, piped bytes.Buffer
	ws := NewSealedWriter(&sync, NewEncoder(testIdentity, testNow), cha, starta)
	wp := NewPipelinedWriter(&piped, NewEncoder(testIdentity, testNow), chb, startb)
	recs := testRecords()
	for i := range 1000 {
		r := recs[i%len(recs)].rec
		if err := ws.Write(r); err != nil {
			t.Fatal(err)
		}
		if err := wp.Write(r); err != nil {
			t.Fatal(err)
		}
		if ws.Sequence() != wp.Sequence() {
			t.Fatalf("record %d: sequence %d, synchronous %d", i, wp.Sequence(), ws.Sequence())
		}
		if i%333 == 0 {
			if err := wp.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := ws.Close(); err != nil {
		t.Fatal(err)
	}
	if err := wp.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sync.Bytes(), piped.Bytes()) {
		t.Fatalf("pipelined output differs: %d bytes against %d", piped.Len(), sync.Len())
	}
	rep := verifyLog(t, kb, piped.Bytes())
	if rep.Checkpoints < 1000/7 {
		t.Errorf("%d checkpoints for 1000 records at 7 an epoch", rep.Checkpoints)
	}
}

// Epochs that end by time: the planner decides them on the encoding side
// and the chain checkpoints exactly there, so the log verifies.
func TestPipelinedWriterEpochByTime(t *testing.T) {
	k, _ := twinKeys(t)
	// Read by the planner here and by the chain on the sealing goroutine.
	var elapsed atomic.Int64
	clock := func() time.Time { return testNow().Add(time.Duration(elapsed.Load())) }
	ch, start := openChain(t, k, chain.Config{EpochRecords: 1 << 20, EpochPeriod: time.Second, Now: clock})
	var out bytes.Buffer
	w := NewPipelinedWriter(&out, NewEncoder(testIdentity, testNow), ch, start)
	rec := testRecords()[1].rec
	var seqs []string
	for i := range 300 {
		if i%50 == 49 {
			elapsed.Add(int64(time.Second)) // read by the planner, between records
		}
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, fmt.Sprintf(`"sequence":%d,`, w.Sequence()))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// Each record carries the sequence the Writer gave out for it.
	var got []string
	for line := range bytes.Lines(out.Bytes()) {
		if !bytes.Contains(line, []byte(`"dataset":"vigil.chain"`)) {
			i := bytes.Index(line, []byte(`"sequence":`))
			j := bytes.IndexByte(line[i:], ',')
			got = append(got, string(line[i:i+j+1]))
		}
	}
	if !slices.Equal(got, seqs) {
		t.Errorf("records carry sequences %v..., the Writer gave %v...", got[:min(10, len(got))], seqs[:10])
	}
	rep := verifyLog(t, k, out.Bytes())
	// One checkpoint per second passed, and the final one.
	if rep.Checkpoints != 7 {
		t.Errorf("%d checkpoints, want 6 by time and the final one", rep.Checkpoints)
	}
	if rep.Records != 300+7+2 { // records, checkpoints, chain_start, seal
		t.Errorf("%d records in the log", rep.Records)
	}
}

// A destination that fails for good stops the pipeline: the error comes
// back from Flush, and from every Write after; a Writer closed is closed.
func TestPipelinedWriterErrors(t *testing.T) {
	k, _ := twinKeys(t)
	ch, start := openChain(t, k, chain.Config{})
	boom := errors.New("boom")
	w := NewPipelinedWriter(failWriter{boom}, NewEncoder(testIdentity, testNow), ch, start)
	rec := testRecords()[1].rec
	if err := w.Write(rec); err != nil {
		t.Fatalf("Write before anything was written: %v", err)
	}
	if err := w.Flush(); !errors.Is(err, boom) {
		t.Fatalf("Flush error %v, want it to wrap %v", err, boom)
	}
	if err := w.Write(rec); !errors.Is(err, boom) {
		t.Errorf("Write after the failure: %v, want %v", err, boom)
	}
	if err := w.Close(); !errors.Is(err, boom) {
		t.Errorf("Close after the failure: %v, want %v", err, boom)
	}
	if err := w.Write(rec); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Write after Close: %v", err)
	}
	if err := w.Flush(); err == nil {
		t.Error("Flush after Close succeeded")
	}
}
