package output

import (
	"errors"
	"fmt"
	"io"
	"syscall"
	"time"

	"github.com/vigilsec/vigil/correlate"
	"github.com/vigilsec/vigil/output/chain"
	"github.com/vigilsec/vigil/sensor"
)

// Sealer makes records tamper-evident: output/chain.Chain.
type Sealer interface {
	// Append seals one encoded record and appends it (and any record the
	// sealer adds, such as a checkpoint) to dst.
	Append(dst, record []byte) ([]byte, error)
	// Seal ends the chain cleanly and appends the closing records.
	Seal(dst []byte) ([]byte, error)
}

// canonicalSealer is a Sealer with a fast path for records already in
// canonical form whose sequence it chose (output/chain.Chain).
type canonicalSealer interface {
	Sealer
	Sequence() uint64
	AppendCanonicalAt(dst, record []byte, sp chain.Splice) ([]byte, error)
}

// errWriterClosed: a pipelined Writer was used after Close.
var errWriterClosed = errors.New("write records: writer closed")

// flushAt is how much the Writer buffers before writing (it also writes
// whenever its caller flushes: when the sensor idles, and at least once a
// second). Large writes cost the kernel less per byte: into a store
// segment on ext4, 1 MiB writes took ~580 ns of system time per 1.75 KB
// record where 64 KiB writes took ~900 (BenchmarkSealedWrite).
const flushAt = 1 << 20

// Writer writes ECS JSON lines to an io.Writer. It only ever writes whole
// lines, so a crash can lose buffered records but never leave half a
// record in the file.
//
// When the destination is full (ENOSPC, EDQUOT), records wait in memory
// and are retried at every flush; past MaxPending bytes, new records are
// dropped before they are sealed, so the chain stays whole, and once
// writing works again a loss record (cause disk_full) says how many.
type Writer struct {
	enc        *Encoder
	w          io.Writer
	sealer     Sealer
	pipe       *sealer        // the second stage of a pipelined Writer
	pipeDone   bool           // Close stopped pipe
	plan       *chain.Planner // numbers records ahead of pipe
	cur        *batch         // records encoded, not yet sent to pipe
	buf        []byte         // whole lines not yet written
	line       []byte
	MaxPending int    // bytes held while the destination is full; default 32 MiB
	full       bool   // the last write failed for lack of space
	dropped    uint64 // records dropped while full, not yet reported
	lossEv     sensor.Event
}

// NewWriter returns a Writer encoding with enc.
func NewWriter(w io.Writer, enc *Encoder) *Writer {
	return &Writer{enc: enc, w: w}
}

// NewSealedWriter returns a Writer whose records go through sealer; start
// (the chain's opening records) is written first.
func NewSealedWriter(w io.Writer, enc *Encoder, sealer Sealer, start []byte) *Writer {
	return &Writer{enc: enc, w: w, sealer: sealer, buf: append([]byte(nil), start...)}
}

// NewPipelinedWriter is NewSealedWriter for a chain, with the sealing
// and writing on a goroutine of the Writer's own (see sealing.go): Write
// encodes and numbers the record and hands it on. Flush and Close wait
// for the second stage; an error there is returned by the next Write,
// Flush or Close. Close must be called to stop the goroutine.
func NewPipelinedWriter(w io.Writer, enc *Encoder, ch *chain.Chain, start []byte) *Writer {
	pw := &Writer{enc: enc, w: w, pipe: newSealer(ch, w, start), plan: ch.Planner()}
	pw.cur = <-pw.pipe.free
	return pw
}

// Write encodes and buffers one record.
func (w *Writer) Write(r *correlate.Record) error {
	if w.pipe != nil {
		return w.writePipelined(r)
	}
	if w.full && len(w.buf) >= w.maxPending() {
		w.dropped++
		return nil
	}
	if cs, ok := w.sealer.(canonicalSealer); ok {
		// The encoder writes canonical form; numbered as the chain's next
		// record it can be sealed in place.
		w.enc.SetSequence(cs.Sequence())
		w.line = w.enc.Append(w.line[:0], r)
		var err error
		if w.buf, err = cs.AppendCanonicalAt(w.buf, w.line, w.enc.Splice()); err != nil {
			return fmt.Errorf("seal record %d: %w", w.enc.Sequence(), err)
		}
	} else if w.sealer != nil {
		w.line = w.enc.Append(w.line[:0], r)
		var err error
		if w.buf, err = w.sealer.Append(w.buf, w.line); err != nil {
			return fmt.Errorf("seal record %d: %w", w.enc.Sequence(), err)
		}
	} else {
		w.line = w.enc.Append(w.line[:0], r)
		w.buf = append(w.buf, w.line...)
	}
	if len(w.buf) >= flushAt {
		return w.Flush()
	}
	return nil
}

// writePipelined encodes r into the current batch, numbered as the
// chain will number it, and sends the batch on once it is full. While
// the destination is full and the second stage holds MaxPending bytes,
// records are dropped here, before they are numbered, so the chain stays
// whole.
func (w *Writer) writePipelined(r *correlate.Record) error {
	if w.pipeDone {
		return errWriterClosed
	}
	if err := w.pipe.failed(); err != nil {
		return err
	}
	if w.pipe.full.Load() && int(w.pipe.pending.Load()) >= w.maxPending() {
		w.dropped++
		return nil
	}
	seq, checkpoint := w.plan.Next()
	w.enc.SetSequence(seq - 1)
	b := w.cur
	b.buf = w.enc.Append(b.buf, r)
	b.items = append(b.items, batchItem{end: len(b.buf), sp: w.enc.Splice(), checkpoint: checkpoint})
	if len(b.buf) >= batchBytes || len(b.items) >= batchRecords {
		w.send()
	}
	return nil
}

// send hands the current batch to the second stage and takes a free one.
func (w *Writer) send() {
	if len(w.cur.items) == 0 {
		return
	}
	w.pipe.in <- w.cur
	w.cur = <-w.pipe.free
}

// flushPipelined sends what is encoded and waits until the second stage
// has sealed and written it (or holds it, the destination being full);
// once space is back, records dropped meanwhile get their loss record.
func (w *Writer) flushPipelined() error {
	if w.pipeDone {
		return errWriterClosed
	}
	w.send()
	if err := w.pipe.request(opFlush); err != nil {
		return err
	}
	if w.dropped > 0 && !w.pipe.full.Load() {
		if err := w.reportDropped(); err != nil {
			return err
		}
		return w.flushPipelined()
	}
	return nil
}

// reportDropped writes the disk_full loss record for the records dropped
// while the destination was full: in the chain like any record.
func (w *Writer) reportDropped() error {
	n := w.dropped
	w.dropped = 0
	w.lossEv = sensor.Event{Kind: sensor.KindLoss, Loss: sensor.Loss{Cause: sensor.CauseDiskFull, Count: n}}
	return w.Write(&correlate.Record{Event: &w.lossEv, Time: time.Now()})
}

func (w *Writer) closePipelined() error {
	if w.pipeDone {
		return errWriterClosed
	}
	if err := w.flushPipelined(); err != nil {
		_ = w.pipe.request(opClose)
		w.pipeDone = true
		return err
	}
	err := w.pipe.request(opClose)
	w.pipeDone = true
	full, held := w.pipe.full.Load(), w.pipe.pending.Load()
	if err != nil {
		return err
	}
	if full || w.dropped > 0 {
		return fmt.Errorf("write records: destination full: %d bytes held, %d records dropped", held, w.dropped)
	}
	return nil
}

func (w *Writer) maxPending() int {
	if w.MaxPending > 0 {
		return w.MaxPending
	}
	return 32 << 20
}

// Sequence is the event.sequence of the last record written.
func (w *Writer) Sequence() uint64 { return w.enc.Sequence() }

// Dropped is how many records were dropped while the destination was
// full and not yet reported.
func (w *Writer) Dropped() uint64 { return w.dropped }

// Flush writes buffered records out. A full destination is not an error:
// the records stay buffered for the next flush.
func (w *Writer) Flush() error {
	if w.pipe != nil {
		return w.flushPipelined()
	}
	if len(w.buf) == 0 {
		return nil
	}
	_, err := w.w.Write(w.buf)
	if err != nil {
		if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
			w.full = true
			return nil
		}
		w.buf = w.buf[:0]
		return fmt.Errorf("write records: %w", err)
	}
	w.buf = w.buf[:0]
	w.full = false
	if w.dropped > 0 { // space is back: say what was lost
		if err := w.reportDropped(); err != nil {
			return err
		}
		return w.Flush()
	}
	return nil
}

// Close seals the chain, if any, and flushes. Records still held because
// the destination is full are an error here.
func (w *Writer) Close() error {
	if w.pipe != nil {
		return w.closePipelined()
	}
	// Write what is held first, so a loss report is sealed like the rest.
	if err := w.Flush(); err != nil {
		return err
	}
	if w.sealer != nil {
		var err error
		if w.buf, err = w.sealer.Seal(w.buf); err != nil {
			return fmt.Errorf("seal: %w", err)
		}
		w.sealer = nil
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if w.full || w.dropped > 0 {
		return fmt.Errorf("write records: destination full: %d bytes held, %d records dropped", len(w.buf), w.dropped)
	}
	return nil
}
