// Package ship sends stored records to a sink, in order, at least once.
// The segment store is the spool: each sink keeps a cursor (segment and
// byte offset of the next record to send) in the data directory, moves it
// only after the sink took a batch, and while the sink is down records
// simply stay where they are — on disk, in the store. A sink that falls
// so far behind that retention deleted its next segment is told apart
// and counted.
package ship

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	"github.com/vigilsec/vigil/output/store"
)

// Sink takes batches of records (ECS JSON lines without newlines).
type Sink interface {
	Send(ctx context.Context, records [][]byte) error
	Close() error
}

// Config sets up a Shipper.
type Config struct {
	Name       string // names the cursor file: cursors/NAME.json
	Dir        string // the store's data directory
	Sink       Sink
	Batch      int           // records per send; default 500
	Poll       time.Duration // how often to look for new records; default 200ms
	MaxBackoff time.Duration // longest wait between retries; default 30s
	FinalWait  time.Duration // how long the last pass at stop may take; default 5s
	// OnLost, when set, hears of records this sink will never get:
	// retention deleted their segment before they were shipped. records
	// is how many, from the gap in event.sequence (0: unknown). The
	// daemon writes it into the chain as a loss record.
	OnLost func(sink string, records uint64)
	Logger *slog.Logger
}

// Cursor is the position of the next record to send.
type Cursor struct {
	Segment string `json:"segment"` // base name of the segment file
	Offset  int64  `json:"offset"`
	// Sequence is the event.sequence of the last record sent, to count
	// what a gap left by retention cost.
	Sequence uint64 `json:"sequence,omitempty"`
}

// Stats counts a shipper's work.
type Stats struct {
	Sent, Failures, Skipped atomic.Uint64 // records sent; failed sends; segments lost to retention before sending
	Lost                    atomic.Uint64 // records in those segments (from the sequence gap)
}

// Shipper moves records from the store to one sink.
type Shipper struct {
	cfg   Config
	cur   Cursor
	Stats Stats
}

// New loads (or starts) the sink's cursor.
func New(cfg Config) (*Shipper, error) {
	if cfg.Batch <= 0 {
		cfg.Batch = 500
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 200 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.FinalWait <= 0 {
		cfg.FinalWait = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Shipper{cfg: cfg}
	b, err := os.ReadFile(s.cursorPath())
	if err == nil {
		if err := json.Unmarshal(b, &s.cur); err != nil {
			return nil, fmt.Errorf("ship %s: cursor: %w", cfg.Name, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("ship %s: %w", cfg.Name, err)
	}
	return s, nil
}

func (s *Shipper) cursorPath() string {
	return filepath.Join(s.cfg.Dir, "cursors", s.cfg.Name+".json")
}

// Cursor is where the shipper is.
func (s *Shipper) Cursor() Cursor { return s.cur }

func (s *Shipper) save() error {
	if err := os.MkdirAll(filepath.Dir(s.cursorPath()), 0o700); err != nil {
		return err
	}
	b, _ := json.Marshal(s.cur)
	tmp := s.cursorPath() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, s.cursorPath())
}

// Run ships until ctx ends, then makes a last pass (bounded by
// Config.FinalWait) and closes the sink. Stop it after the store's last
// records are written: the daemon cancels it after the seal record, so
// the final checkpoint and the seal reach the sink at a clean stop.
func (s *Shipper) Run(ctx context.Context) error {
	backoff := time.Duration(0)
	for {
		n, err := s.Pass(ctx)
		if err != nil {
			s.Stats.Failures.Add(1)
			backoff = min(max(2*backoff, time.Second), s.cfg.MaxBackoff)
			s.cfg.Logger.Warn("sink unavailable; records wait in the store", "sink", s.cfg.Name, "err", err, "retry_in", backoff)
		} else {
			backoff = 0
		}
		wait := s.cfg.Poll
		if backoff > 0 {
			wait = backoff
		}
		if n > 0 && err == nil {
			continue // more may be waiting
		}
		select {
		case <-ctx.Done():
			return s.finish()
		case <-time.After(wait):
		}
	}
}

func (s *Shipper) finish() error {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.FinalWait)
	defer cancel()
	if _, err := s.Pass(ctx); err != nil {
		s.Stats.Failures.Add(1)
		s.cfg.Logger.Warn("sink unavailable at stop; records wait in the store for the next start", "sink", s.cfg.Name, "err", err)
	}
	return s.cfg.Sink.Close()
}

// Pass sends what the store holds past the cursor, batch by batch, and
// returns how many records it sent.
func (s *Shipper) Pass(ctx context.Context) (int, error) {
	segs, err := store.List(s.cfg.Dir)
	if err != nil {
		return 0, err
	}
	names := make([]string, len(segs))
	for i, p := range segs {
		names[i] = segmentName(p)
	}
	start := 0
	if s.cur.Segment != "" {
		i := slices.Index(names, s.cur.Segment)
		if i < 0 {
			// Its segment is gone: retention deleted it before it was sent
			// (or it was sealed under its final name).
			j := slices.IndexFunc(names, func(n string) bool { return n > s.cur.Segment })
			if j < 0 {
				return 0, nil
			}
			first, ok := firstSequence(segs[j])
			if !ok || first != s.cur.Sequence+1 {
				// Not merely a shipped segment retired: records are gone.
				lost := uint64(0)
				if ok && first > s.cur.Sequence {
					lost = first - s.cur.Sequence - 1
				}
				s.Stats.Skipped.Add(1)
				s.Stats.Lost.Add(lost)
				s.cfg.Logger.Warn("records deleted by retention before they were shipped", "sink", s.cfg.Name,
					"segment", s.cur.Segment, "records", lost)
				if s.cfg.OnLost != nil {
					s.cfg.OnLost(s.cfg.Name, lost)
				}
			}
			start, s.cur = j, Cursor{Segment: names[j], Sequence: s.cur.Sequence}
		} else {
			start = i
		}
	}
	sent := 0
	for i := start; i < len(segs); i++ {
		if s.cur.Segment != names[i] {
			s.cur = Cursor{Segment: names[i], Sequence: s.cur.Sequence}
		}
		n, err := s.shipSegment(ctx, segs[i])
		sent += n
		if err != nil {
			return sent, err
		}
	}
	return sent, nil
}

var (
	checkpointAction = []byte(`"action":"checkpoint"`)
	sealAction       = []byte(`"action":"seal"`)
)

// isCheckpoint reports whether a stored line is a checkpoint or seal
// record. In the canonical form that text can only be the event.action
// of a control record: inside strings quotes are escaped.
func isCheckpoint(line []byte) bool {
	return bytes.Contains(line, checkpointAction) || bytes.Contains(line, sealAction)
}

// sequenceOf reads a record's event.sequence.
func sequenceOf(line []byte) (uint64, bool) {
	var r struct {
		Event struct {
			Sequence *uint64 `json:"sequence"`
		} `json:"event"`
	}
	if json.Unmarshal(line, &r) != nil || r.Event.Sequence == nil {
		return 0, false
	}
	return *r.Event.Sequence, true
}

// firstSequence reads the event.sequence of a segment's first record.
func firstSequence(path string) (uint64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadBytes('\n')
	if err != nil {
		return 0, false
	}
	return sequenceOf(line)
}

// segmentName is a segment's name without its active/sealed suffix, so a
// cursor survives the segment's sealing rename.
func segmentName(path string) string {
	base := filepath.Base(path)
	for _, suf := range []string{".active.jsonl", ".jsonl"} {
		if len(base) > len(suf) && base[len(base)-len(suf):] == suf {
			return base[:len(base)-len(suf)]
		}
	}
	return base
}

func (s *Shipper) shipSegment(ctx context.Context, path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, nil // sealed (renamed) meanwhile: the next pass finds it
		}
		return 0, err
	}
	defer f.Close()
	if _, err := f.Seek(s.cur.Offset, io.SeekStart); err != nil {
		return 0, err
	}
	r := bufio.NewReaderSize(f, 256<<10)
	sent := 0
	var batch [][]byte
	var size int64
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := s.cfg.Sink.Send(ctx, batch); err != nil {
			return err
		}
		s.cur.Offset += size
		if seq, ok := sequenceOf(batch[len(batch)-1]); ok {
			s.cur.Sequence = seq
		}
		s.Stats.Sent.Add(uint64(len(batch)))
		sent += len(batch)
		batch, size = batch[:0], 0
		return s.save()
	}
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			// A line without its newline is still being written: leave it.
			break
		}
		size += int64(len(line))
		batch = append(batch, line[:len(line)-1])
		// A checkpoint (or seal) closes its batch: it goes out, and is
		// acknowledged, before any record after it is sent, so a sink
		// failing later records never holds back the latest signed root.
		if len(batch) >= s.cfg.Batch || isCheckpoint(line) {
			if err := flush(); err != nil {
				return sent, err
			}
		}
	}
	return sent, flush()
}
