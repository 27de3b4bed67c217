//go:build linux

package sensor

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/vigilsec/vigil/internal/testenv"
	"golang.org/x/sys/unix"
)

// fakeRing is a ring reader over ordinary memory laid out as the kernel
// lays out a ring buffer, to drive the reader through states a real
// buffer shows only by chance (a record being written, a discarded one).
type fakeRing struct {
	r          *ringReader
	cons, prod uint64
	data       []byte
}

func newFakeRing(size int) *fakeRing {
	f := &fakeRing{data: make([]byte, size)}
	f.r = &ringReader{
		consPos: &f.cons,
		prodPos: &f.prod,
		data:    f.data,
		mask:    uint64(size - 1),
		// poll(2) ignores a negative descriptor: waits run to their end.
		pollFds: [1]unix.PollFd{{Fd: -1}},
	}
	return f
}

// put writes a record with header word hdr (length and flags) and body
// at the producer position, as the kernel would.
func (f *fakeRing) put(hdr uint32, body []byte) {
	size := uint64(len(f.data))
	binary.LittleEndian.PutUint32(f.data[f.prod&f.r.mask:], hdr)
	at := (f.prod + ringHdrSize) & f.r.mask
	for i, c := range body {
		f.data[(at+uint64(i))%size] = c
	}
	atomic.StoreUint64(&f.prod, f.prod+ringHdrSize+(uint64(len(body))+7)&^7)
}

func TestRingReaderStates(t *testing.T) {
	f := newFakeRing(64)
	rec := func() ([]byte, error) {
		f.r.release()
		return f.r.take()
	}
	if b, err := rec(); b != nil || err != nil {
		t.Fatalf("empty ring: %q, %v", b, err)
	}
	// A committed record, then one reserved and not committed yet.
	f.put(5, []byte("hello"))
	f.put(ringBusyBit|3, []byte("abc"))
	if b, err := rec(); err != nil || string(b) != "hello" {
		t.Fatalf("first record: %q, %v", b, err)
	}
	if f.cons != 0 {
		t.Fatalf("consumer position moved to %d while the record is held", f.cons)
	}
	if b, err := rec(); !errors.Is(err, errRingBusy) || b != nil {
		t.Fatalf("busy record: %q, %v", b, err)
	}
	if f.cons != 16 {
		t.Fatalf("consumer position %d after the first record, want 16", f.cons)
	}
	// Discarded: skipped, its space given back.
	binary.LittleEndian.PutUint32(f.data[16:], ringDiscardBit|3)
	if b, err := rec(); b != nil || err != nil {
		t.Fatalf("after a discarded record: %q, %v", b, err)
	}
	if f.cons != 32 {
		t.Fatalf("consumer position %d after the discarded record, want 32", f.cons)
	}
	// A record whose body runs across the end of the buffer: header at
	// 48, body at 56..63 and 0..11.
	f.put(8, []byte("12345678")) // 32..47
	f.put(20, []byte("across-the-end-of-it"))
	if b, err := rec(); err != nil || string(b) != "12345678" {
		t.Fatalf("record before the end: %q, %v", b, err)
	}
	b, err := rec()
	if err != nil || string(b) != "across-the-end-of-it" {
		t.Fatalf("record across the end: %q, %v", b, err)
	}
	if f.r.crossed != 1 {
		t.Fatalf("%d records counted as crossing the end, want 1", f.r.crossed)
	}
	// In place otherwise: the record is the buffer's own memory.
	f.r.release()
	f.put(4, []byte("here"))
	if b, err := rec(); err != nil || unsafe.SliceData(b) != &f.data[(f.prod-8)&f.r.mask] {
		t.Fatalf("record not read in place: %q, %v", b, err)
	}
	// A producer position that does not leave room for what the header
	// says is corruption, reported, not read.
	f.r.release()
	binary.LittleEndian.PutUint32(f.data[f.prod&f.r.mask:], 40)
	f.prod += 16
	if b, err := rec(); err == nil {
		t.Fatalf("record longer than the data: %q, no error", b)
	}
}

// A record that comes in while the reader waits, without a wakeup (the
// kernel sends them so below the wakeup threshold), is read when the wait
// runs out, and the next call reports the deadline at once: that is when
// Run flushes, so records trickling in keep being written out.
func TestRingReaderDeadlineAfterTrickle(t *testing.T) {
	f := newFakeRing(64)
	const wait = 200 * time.Millisecond
	go func() {
		time.Sleep(wait / 4)
		f.put(5, []byte("later"))
	}()
	b, err := f.r.next(wait)
	if err != nil || string(b) != "later" {
		t.Fatalf("record that came in during the wait: %q, %v", b, err)
	}
	start := time.Now()
	if b, err := f.r.next(wait); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("after the record: %q, %v; want the deadline", b, err)
	}
	if took := time.Since(start); took > wait/2 {
		t.Errorf("the deadline was reported after waiting %v again", took)
	}
	// And a wait with nothing coming ends in the deadline after the wait.
	start = time.Now()
	if _, err := f.r.next(wait / 4); !errors.Is(err, os.ErrDeadlineExceeded) || time.Since(start) < wait/4 {
		t.Fatalf("empty ring: %v after %v", err, time.Since(start))
	}
}

// flushCounter counts the records of a tree and the flushes Run asks for
// while they come in.
type flushCounter struct {
	mu      sync.Mutex
	tree    Tree
	dir     string
	opens   int
	flushes []int // opens seen at each flush
}

func (c *flushCounter) HandleEvent(ev *Event) error {
	if ev.Tree == c.tree && ev.Kind == KindFile && ev.File.Op == FileOpen && strings.HasPrefix(ev.File.Path, c.dir) {
		c.mu.Lock()
		c.opens++
		c.mu.Unlock()
	}
	return nil
}

func (c *flushCounter) Flush() error {
	c.mu.Lock()
	c.flushes = append(c.flushes, c.opens)
	c.mu.Unlock()
	return nil
}

// TestRunFlushesWhileRecordsTrickle: a tracked loop opens a file 5,000
// times a second for half a second, below the wakeup threshold, so
// every wait of the reader ends with records in the buffer; Run must
// still flush about once a poll interval, or the records wait in the
// daemon until the stream stops.
func TestRunFlushesWhileRecordsTrickle(t *testing.T) {
	requireBPF(t)
	loop := testenv.Program(t, "github.com/vigilsec/vigil/sensor/testprogs/loop")
	const (
		opens = 2500 // ~600 KiB of records, under the 2 MiB wakeup threshold
		rate  = 5000
		poll  = 20 * time.Millisecond
	)
	s, err := New(Config{PollInterval: poll})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dir := t.TempDir()
	c := &flushCounter{dir: dir}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	cmd, tree := gated(t, s, 1, loop, "open", dir, strconv.Itoa(opens), strconv.Itoa(rate))
	c.tree = tree // before Run starts: the records wait in the buffer
	go func() { done <- s.Run(ctx, c) }()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	waitTreeGone(t, s, tree)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.opens != opens+1 { // the loop makes its file first
		t.Fatalf("%d open records, want %d", c.opens, opens+1)
	}
	during := 0
	for _, n := range c.flushes {
		if n > 0 && n < c.opens {
			during++
		}
	}
	// Half a second of records at a 20 ms poll interval: about 25
	// flushes while they come in.
	if during < 5 {
		t.Errorf("%d flushes while %d records trickled in over %v (flushes at %v)", during, opens, time.Duration(opens)*time.Second/rate, c.flushes)
	}
	t.Logf("%d flushes while the records came in", during)
}

// TestRingReadAcrossTheEnd fills a small ring buffer with a tracked
// loop's opens, round after round, and drains it after each: the records
// move around the buffer, so some are laid across its end, and every one
// must read back whole.
func TestRingReadAcrossTheEnd(t *testing.T) {
	requireBPF(t)
	loop := testenv.Program(t, "github.com/vigilsec/vigil/sensor/testprogs/loop")
	const (
		ring   = 16 << 10
		opens  = 30 // 250-300 bytes each, with the loop's start-up: the ring holds a round
		rounds = 12
	)
	s, err := New(Config{RingBufferBytes: ring})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for round := range rounds {
		dir := t.TempDir()
		// Names of different lengths, so records of different sizes.
		name := filepath.Join(dir, strings.Repeat("n", 1+round*7))
		if err := os.MkdirAll(name, 0o755); err != nil {
			t.Fatal(err)
		}
		cmd, tree := gated(t, s, 1, loop, "open", name, strconv.Itoa(opens))
		if err := cmd.Wait(); err != nil {
			t.Fatal(err)
		}
		waitTreeGone(t, s, tree)
		opened := 0
		for _, ev := range drainBuffered(t, s) {
			switch {
			case ev.Kind == KindLoss:
				t.Errorf("round %d: %s", round, describe(&ev))
			case ev.Tree == tree && ev.Kind == KindFile && ev.File.Op == FileOpen && strings.HasPrefix(ev.File.Path, dir):
				// (The Go runtime's own opens at start-up are elsewhere.)
				if want := name + "/loop.dat"; ev.File.Path != want {
					t.Errorf("round %d: open of %q, want %q", round, ev.File.Path, want)
				}
				opened++
			}
		}
		if opened != opens+1 { // the loop makes its file first
			t.Errorf("round %d: %d open records, want %d", round, opened, opens+1)
		}
	}
	if s.ringCrossed == 0 {
		t.Fatalf("no record of %d rounds lay across the end of the %d-byte buffer", rounds, ring)
	}
	t.Logf("%d records read across the end of the buffer", s.ringCrossed)
}
