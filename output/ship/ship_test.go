package ship

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/vigilsec/vigil/output/store"
)

type fakeSink struct {
	got      []string
	batches  []int
	failures int // fail this many sends first
}

func (f *fakeSink) Send(ctx context.Context, records [][]byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if f.failures > 0 {
		f.failures--
		return errors.New("sink down")
	}
	for _, r := range records {
		f.got = append(f.got, string(r))
	}
	f.batches = append(f.batches, len(records))
	return nil
}

func (f *fakeSink) Close() error { return nil }

func fill(t *testing.T, s *store.Store, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if _, err := s.Write([]byte(fmt.Sprintf(`{"n":%d}`+"\n", i))); err != nil {
			t.Fatal(err)
		}
	}
}

// Records go out in order, once; an outage keeps them in the store until
// the sink is back; the cursor survives a restart.
func TestShipInOrderThroughOutage(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(store.Config{Dir: dir, MaxBytes: 100})
	if err != nil {
		t.Fatal(err)
	}
	fill(t, st, 0, 20) // several segments, the last still active
	sink := &fakeSink{failures: 2}
	sh, err := New(Config{Name: "test", Dir: dir, Sink: sink, Batch: 3})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, wantErr := range []bool{true, true, false} {
		_, err := sh.Pass(ctx)
		if (err != nil) != wantErr {
			t.Fatalf("pass: %v (want error %v)", err, wantErr)
		}
	}
	fill(t, st, 20, 25)
	if _, err := st.Write([]byte(`{"n":25,"half`)); err != nil { // a record being written
		t.Fatal(err)
	}
	// A restarted shipper continues from the saved cursor.
	sh2, err := New(Config{Name: "test", Dir: dir, Sink: sink, Batch: 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sh2.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	if len(sink.got) != 25 {
		t.Fatalf("sent %d records, want 25 (and not the half-written one)", len(sink.got))
	}
	for i, r := range sink.got {
		if r != fmt.Sprintf(`{"n":%d}`, i) {
			t.Fatalf("record %d: %s", i, r)
		}
	}
	_ = st.Close()
}

// Segments deleted before they were shipped are skipped, and what they
// held is counted from the gap in event.sequence and reported; a shipped
// segment retired by retention is not a loss.
func TestShipBehindRetention(t *testing.T) {
	dir := t.TempDir()
	clock := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	st, err := store.Open(store.Config{Dir: dir, MaxBytes: 1, Now: func() time.Time { clock = clock.Add(time.Second); return clock }})
	if err != nil {
		t.Fatal(err)
	}
	for seq := 1; seq <= 6; seq++ { // one record per segment
		if _, err := st.Write([]byte(fmt.Sprintf(`{"event":{"sequence":%d}}`+"\n", seq))); err != nil {
			t.Fatal(err)
		}
	}
	_ = st.Close()
	segs, _ := store.List(dir)
	if len(segs) != 6 {
		t.Fatalf("%d segments", len(segs))
	}
	remove := func(p string) { _ = os.Chmod(p, 0o600); _ = os.Remove(p) }
	sink := &fakeSink{}
	var reported []uint64
	sh, _ := New(Config{Name: "late", Dir: dir, Sink: sink, Batch: 1,
		OnLost: func(name string, n uint64) { reported = append(reported, n) }})
	// Shipped: record 1. Then retention takes its segment (no loss).
	sh.cur = Cursor{Segment: segmentName(segs[0]), Offset: 100, Sequence: 1}
	remove(segs[0])
	if _, err := sh.Pass(context.Background()); err != nil {
		t.Fatal(err)
	}
	if sh.Stats.Skipped.Load() != 0 || len(reported) != 0 || len(sink.got) != 5 {
		t.Fatalf("retiring a shipped segment: skipped %d, reported %v, sent %d", sh.Stats.Skipped.Load(), reported, len(sink.got))
	}
	// ... and a restarted shipper whose next records (3 and 4) retention
	// took before it got to them.
	sh2, _ := New(Config{Name: "late2", Dir: dir, Sink: sink, Batch: 1,
		OnLost: func(name string, n uint64) { reported = append(reported, n) }})
	sh2.cur = Cursor{Segment: segmentName(segs[2]), Sequence: 2}
	remove(segs[2])
	remove(segs[3])
	sink.got = nil
	if _, err := sh2.Pass(context.Background()); err != nil {
		t.Fatal(err)
	}
	if sh2.Stats.Skipped.Load() != 1 || sh2.Stats.Lost.Load() != 2 || !slices.Equal(reported, []uint64{2}) || len(sink.got) != 2 {
		t.Errorf("skipped %d, lost %d, reported %v, sent %q", sh2.Stats.Skipped.Load(), sh2.Stats.Lost.Load(), reported, sink.got)
	}
	if sh2.Cursor().Sequence != 6 {
		t.Errorf("cursor sequence %d, want 6", sh2.Cursor().Sequence)
	}
}

// A checkpoint or seal record closes its batch, so it is acknowledged
// before anything after it is sent.
func TestShipCheckpointEndsBatch(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(store.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, r := range []string{
		`{"event":{"action":"exec"}}`,
		`{"event":{"action":"checkpoint"}}`,
		`{"event":{"action":"exec"},"process":{"args":["\"action\":\"checkpoint\""]}}`,
		`{"event":{"action":"exec"}}`,
		`{"event":{"action":"seal"}}`,
		`{"event":{"action":"chain_start"}}`,
	} {
		if _, err := st.Write([]byte(r + "\n")); err != nil {
			t.Fatal(err)
		}
	}
	sink := &fakeSink{}
	sh, err := New(Config{Name: "cp", Dir: dir, Sink: sink, Batch: 100})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sh.Pass(context.Background()); err != nil {
		t.Fatal(err)
	}
	if want := []int{2, 3, 1}; !slices.Equal(sink.batches, want) {
		t.Errorf("batches %v, want %v", sink.batches, want)
	}
}

// Run's last pass, after its context ends, ships what was stored last.
func TestShipFinalPass(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(store.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sink := &fakeSink{}
	sh, err := New(Config{Name: "final", Dir: dir, Sink: sink, Poll: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	fill(t, st, 0, 3) // the seal, say, written as the stop began
	// Run's context is over before it starts: its passes under that
	// context fail, and only the last pass can deliver.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := sh.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if len(sink.got) != 3 {
		t.Errorf("final pass sent %d records, want 3", len(sink.got))
	}
}
