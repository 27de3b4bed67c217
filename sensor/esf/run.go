package esf

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/vigilsec/vigil/sensor"
)

// MaxLine bounds one line of eslogger output. An exec message carries its
// whole argument list and environment, so lines of megabytes happen; a
// longer one is skipped and counted as decode loss.
const MaxLine = 64 << 20

// Run reads eslogger's JSON lines from r and passes their events to h
// until r ends, h fails or ctx is done. Whenever no more input is
// buffered, and at the end, loss is reported and h.Flush called. When
// ctx is done, the lines already buffered are decoded and Run returns
// nil; a Read that blocks is not interrupted, so end the input to stop
// Run promptly (the darwin Run does: it stops eslogger). At the end,
// pending write totals and loss are reported (see [Decoder.Close]).
func (d *Decoder) Run(ctx context.Context, r io.Reader, h sensor.Handler) error {
	br := bufio.NewReaderSize(r, 1<<16)
	emit := h.HandleEvent
	var (
		buf     []byte
		readErr error
	)
	for {
		if ctx.Err() != nil && !lineBuffered(br) {
			if br.Buffered() > 0 {
				d.loss.decode[0]++ // a message cut off by the stop
			}
			break
		}
		line, tooLong, err := readLine(br, buf[:0], d.maxLine)
		if tooLong {
			d.msg = Message{}
			_ = d.unparsed(&d.msg, line, errLineTooLong)
		} else if err := d.DecodeLine(line, emit); err != nil {
			if de := (*DecodeError)(nil); !errors.As(err, &de) {
				return err
			}
		}
		if buf = line; cap(buf) > 1<<20 {
			buf = nil // do not keep a rare huge line's memory
		}
		if err != nil {
			if err != io.EOF {
				readErr = fmt.Errorf("read eslogger output: %w", err)
			}
			break
		}
		if br.Buffered() == 0 {
			if err := d.ReportLoss(emit); err != nil {
				return err
			}
			if err := h.Flush(); err != nil {
				return err
			}
		}
	}
	if err := d.Close(emit); err != nil {
		return err
	}
	if err := h.Flush(); err != nil {
		return err
	}
	return readErr
}

// lineBuffered reports whether a whole line is buffered.
func lineBuffered(br *bufio.Reader) bool {
	b, _ := br.Peek(br.Buffered())
	return bytes.IndexByte(b, '\n') >= 0
}

var errLineTooLong = errors.New("line longer than the limit")

// readLine appends the next line, without its newline, to buf. A line
// longer than max is consumed, its first max bytes returned, and reported
// as tooLong. err is the read's error (io.EOF after the last line).
func readLine(br *bufio.Reader, buf []byte, max int) (line []byte, tooLong bool, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			if room := max + 1 - len(buf); len(chunk) > room {
				tooLong, buf = true, append(buf, chunk[:room]...)
			} else {
				buf = append(buf, chunk...)
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		return bytes.TrimSuffix(buf, []byte{'\n'}), tooLong, err
	}
}
