package output

import (
	"fmt"
	"io"

	"github.com/vigilsec/vigil/correlate"
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
	AppendCanonical(dst, record []byte) ([]byte, error)
}

// flushAt is how much the Writer buffers before writing.
const flushAt = 64 << 10

// Writer writes ECS JSON lines to an io.Writer. It only ever writes whole
// lines, so a crash can lose buffered records but never leave half a
// record in the file.
type Writer struct {
	enc    *Encoder
	w      io.Writer
	sealer Sealer
	buf    []byte // whole lines not yet written
	line   []byte
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

// Write encodes and buffers one record.
func (w *Writer) Write(r *correlate.Record) error {
	if cs, ok := w.sealer.(canonicalSealer); ok {
		// The encoder writes canonical form; numbered as the chain's next
		// record it can be sealed in place.
		w.enc.SetSequence(cs.Sequence())
		w.line = w.enc.Append(w.line[:0], r)
		var err error
		if w.buf, err = cs.AppendCanonical(w.buf, w.line); err != nil {
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

// Flush writes buffered records out.
func (w *Writer) Flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	_, err := w.w.Write(w.buf)
	w.buf = w.buf[:0]
	if err != nil {
		return fmt.Errorf("write records: %w", err)
	}
	return nil
}

// Close seals the chain, if any, and flushes.
func (w *Writer) Close() error {
	if w.sealer != nil {
		var err error
		if w.buf, err = w.sealer.Seal(w.buf); err != nil {
			return fmt.Errorf("seal: %w", err)
		}
		w.sealer = nil
	}
	return w.Flush()
}
