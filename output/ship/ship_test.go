package ship

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/vigilsec/vigil/output/store"
)

type fakeSink struct {
	got      []string
	failures int // fail this many sends first
}

func (f *fakeSink) Send(_ context.Context, records [][]byte) error {
	if f.failures > 0 {
		f.failures--
		return errors.New("sink down")
	}
	for _, r := range records {
		f.got = append(f.got, string(r))
	}
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

// A segment deleted before it was shipped is counted and skipped.
func TestShipBehindRetention(t *testing.T) {
	dir := t.TempDir()
	clock := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	st, err := store.Open(store.Config{Dir: dir, MaxBytes: 1, Now: func() time.Time { clock = clock.Add(time.Second); return clock }})
	if err != nil {
		t.Fatal(err)
	}
	fill(t, st, 0, 3)
	_ = st.Close()
	sink := &fakeSink{}
	sh, _ := New(Config{Name: "late", Dir: dir, Sink: sink, Batch: 1})
	sh.cur = Cursor{Segment: "segment-20260101T000000.000000000Z"} // before them all, and gone
	segs, _ := store.List(dir)
	_ = os.Chmod(segs[0], 0o600)
	_ = os.Remove(segs[0])
	sh.cur = Cursor{Segment: segmentName(segs[0])}
	if _, err := sh.Pass(context.Background()); err != nil {
		t.Fatal(err)
	}
	if sh.Stats.Skipped.Load() != 1 || len(sink.got) != 2 {
		t.Errorf("skipped %d, sent %d", sh.Stats.Skipped.Load(), len(sink.got))
	}
}
