package output

import (
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"syscall"

	"github.com/vigilsec/vigil/output/chain"
)

// The sealed Writer's second stage. NewPipelinedWriter splits the work on
// a record in two: the caller's goroutine encodes it (the encoder reads
// the process table, which only that goroutine may touch) and numbers it
// with a chain.Planner; a goroutine of the Writer's own seals it (the
// record's SHA-256, the HMAC, the Merkle tree, checkpoints) and writes
// it. On a machine with a core to spare that about doubles the records a
// second the daemon takes; the records, their order and their sequences
// are the same as a synchronous Writer's.

const (
	// A batch goes to the sealer once it holds this many bytes or
	// records; Flush sends it sooner.
	batchBytes   = 256 << 10
	batchRecords = 256
	// Batches in use at once: the encoder waits for a free one, so what
	// waits between the stages is bounded.
	batches = 4
)

type batchOp uint8

const (
	opRecords batchOp = iota
	opFlush           // write what is sealed, then reply
	opClose           // write, seal the chain, write, reply, stop
)

// batch carries encoded records to the sealer, or a request.
type batch struct {
	op    batchOp
	buf   []byte // records back to back
	items []batchItem
	reply chan error
}

type batchItem struct {
	end        int // the record is buf[previous end:end]
	sp         chain.Splice
	checkpoint bool
}

// sealer is the second stage.
type sealer struct {
	ch      *chain.Chain
	w       io.Writer
	in      chan *batch
	free    chan *batch
	out     []byte       // sealed lines not yet written
	full    atomic.Bool  // the last write failed for lack of space
	pending atomic.Int64 // bytes held while full
	err     atomic.Pointer[error]
}

func newSealer(ch *chain.Chain, w io.Writer, start []byte) *sealer {
	s := &sealer{ch: ch, w: w, in: make(chan *batch, batches), free: make(chan *batch, batches),
		out: append(make([]byte, 0, flushAt+batchBytes), start...)}
	for range batches {
		s.free <- &batch{buf: make([]byte, 0, batchBytes+8<<10)}
	}
	go s.run()
	return s
}

// failed is the error that stopped the sealer, if any.
func (s *sealer) failed() error {
	if p := s.err.Load(); p != nil {
		return *p
	}
	return nil
}

func (s *sealer) fail(err error) { s.err.CompareAndSwap(nil, &err) }

func (s *sealer) run() {
	for b := range s.in {
		switch b.op {
		case opRecords:
			if s.failed() == nil {
				s.seal(b)
			}
			b.buf, b.items = b.buf[:0], b.items[:0]
			s.free <- b
			if len(s.out) >= flushAt {
				s.write()
			}
		case opFlush:
			s.write()
			b.reply <- s.failed()
		case opClose:
			s.write()
			if s.failed() == nil {
				out, err := s.ch.Seal(s.out)
				s.out = out
				if err != nil {
					s.fail(fmt.Errorf("seal: %w", err))
				}
				s.write()
			}
			b.reply <- s.failed()
			return
		}
	}
}

func (s *sealer) seal(b *batch) {
	start := 0
	for _, it := range b.items {
		var err error
		s.out, err = s.ch.AppendPlanned(s.out, b.buf[start:it.end], it.sp, it.checkpoint)
		if err != nil {
			s.fail(fmt.Errorf("seal record %d: %w", it.sp.Sequence, err))
			return
		}
		start = it.end
	}
	if s.full.Load() {
		s.pending.Store(int64(len(s.out)))
	}
}

// write writes the sealed lines out. A full destination keeps them for
// the next try.
func (s *sealer) write() {
	if len(s.out) == 0 || s.failed() != nil {
		return
	}
	_, err := s.w.Write(s.out)
	if err != nil {
		if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
			s.pending.Store(int64(len(s.out)))
			s.full.Store(true)
			return
		}
		s.out = s.out[:0]
		s.fail(fmt.Errorf("write records: %w", err))
		return
	}
	s.out = s.out[:0]
	s.pending.Store(0)
	s.full.Store(false)
}

// request sends a flush or close and waits for its answer.
func (s *sealer) request(op batchOp) error {
	b := &batch{op: op, reply: make(chan error, 1)}
	s.in <- b
	return <-b.reply
}
