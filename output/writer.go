package output

import (
	"bufio"
	"fmt"
	"io"

	"github.com/vigilsec/vigil/correlate"
)

// Writer writes ECS JSON lines to an io.Writer through a buffer.
type Writer struct {
	enc *Encoder
	w   *bufio.Writer
	buf []byte
}

// NewWriter returns a Writer encoding with enc.
func NewWriter(w io.Writer, enc *Encoder) *Writer {
	return &Writer{enc: enc, w: bufio.NewWriterSize(w, 64<<10)}
}

// Write encodes and buffers one record.
func (w *Writer) Write(r *correlate.Record) error {
	w.buf = w.enc.Append(w.buf[:0], r)
	if _, err := w.w.Write(w.buf); err != nil {
		return fmt.Errorf("write record %d: %w", w.enc.Sequence(), err)
	}
	return nil
}

// Flush writes buffered records out.
func (w *Writer) Flush() error {
	if err := w.w.Flush(); err != nil {
		return fmt.Errorf("flush records: %w", err)
	}
	return nil
}
