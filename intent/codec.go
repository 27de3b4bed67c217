package intent

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/vmihailenco/msgpack/v5"
)

// Format is a message's framing, told apart by its first byte.
type Format byte

const (
	// JSON: one JSON object per line (the first byte is '{').
	JSON Format = 'j'
	// Msgpack: a msgpack map preceded by its length, 4 bytes big-endian
	// (the first byte is 0: no message is 16 MiB or more).
	Msgpack Format = 'm'
)

func (f Format) String() string {
	switch f {
	case JSON:
		return "json"
	case Msgpack:
		return "msgpack"
	}
	return "unknown"
}

// ErrFraming is a message whose framing is broken: the reader skipped
// it (up to the next newline, or its stated length) and can go on.
var ErrFraming = errors.New("bad framing")

// Reader reads framed messages from a stream.
type Reader struct {
	br  *bufio.Reader
	max int
	buf []byte
}

// NewReader reads messages of at most max bytes (0: MaxMessage).
func NewReader(r io.Reader, max int) *Reader {
	if max <= 0 {
		max = MaxMessage
	}
	return &Reader{br: bufio.NewReaderSize(r, 64<<10), max: max}
}

// Next returns the next message, valid until the following call. An
// error wrapping ErrFraming means that message was skipped and reading
// can go on; any other error (io.EOF at a message boundary) ends the
// stream.
func (r *Reader) Next() ([]byte, Format, error) {
	for {
		c, err := r.br.ReadByte()
		if err != nil {
			return nil, 0, err
		}
		switch c {
		case ' ', '\t', '\r', '\n':
			continue // blank lines between JSON messages
		case '{':
			return r.line(c)
		case 0:
			return r.lengthPrefixed()
		default:
			// Neither framing: skip the rest of the line.
			if err := r.skipLine(); err != nil && !errors.Is(err, io.EOF) {
				return nil, 0, err
			}
			return nil, 0, fmt.Errorf("%w: a message starts with '{' (JSON line) or a 4-byte length (msgpack), not %q", ErrFraming, c)
		}
	}
}

func (r *Reader) line(first byte) ([]byte, Format, error) {
	r.buf = append(r.buf[:0], first)
	for {
		chunk, err := r.br.ReadSlice('\n')
		if len(r.buf)+len(chunk) > r.max+1 {
			if errors.Is(err, bufio.ErrBufferFull) {
				err = r.skipLine()
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return nil, JSON, err
			}
			return nil, JSON, fmt.Errorf("%w: JSON message longer than %d bytes", ErrFraming, r.max)
		}
		r.buf = append(r.buf, chunk...)
		switch {
		case err == nil:
			return bytes.TrimRight(r.buf, "\r\n"), JSON, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			return nil, JSON, fmt.Errorf("%w: JSON message cut short by the end of the stream", io.ErrUnexpectedEOF)
		default:
			return nil, JSON, err
		}
	}
}

func (r *Reader) skipLine() error {
	for {
		_, err := r.br.ReadSlice('\n')
		if !errors.Is(err, bufio.ErrBufferFull) {
			return err
		}
	}
}

func (r *Reader) lengthPrefixed() ([]byte, Format, error) {
	var rest [3]byte
	if _, err := io.ReadFull(r.br, rest[:]); err != nil {
		return nil, Msgpack, fmt.Errorf("msgpack length: %w", io.ErrUnexpectedEOF)
	}
	n := int(rest[0])<<16 | int(rest[1])<<8 | int(rest[2])
	if n > r.max {
		if _, err := r.br.Discard(n); err != nil {
			return nil, Msgpack, fmt.Errorf("msgpack message: %w", io.ErrUnexpectedEOF)
		}
		return nil, Msgpack, fmt.Errorf("%w: msgpack message of %d bytes (at most %d)", ErrFraming, n, r.max)
	}
	if cap(r.buf) < n {
		r.buf = make([]byte, n)
	}
	r.buf = r.buf[:n]
	if _, err := io.ReadFull(r.br, r.buf); err != nil {
		return nil, Msgpack, fmt.Errorf("msgpack message: %w", io.ErrUnexpectedEOF)
	}
	return r.buf, Msgpack, nil
}

// Decode parses one message.
func Decode(msg []byte, f Format) (Intent, error) {
	var in Intent
	switch f {
	case JSON:
		if err := json.Unmarshal(msg, &in); err != nil {
			return Intent{}, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
	case Msgpack:
		br := bytes.NewReader(msg)
		dec := msgpack.NewDecoder(br)
		dec.SetCustomStructTag("json")
		if err := dec.Decode(&in); err != nil {
			return Intent{}, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		if br.Len() > 0 {
			return Intent{}, fmt.Errorf("%w: bytes after the msgpack map", ErrInvalid)
		}
	default:
		return Intent{}, fmt.Errorf("%w: unknown format", ErrInvalid)
	}
	if !in.Time.IsZero() {
		in.Time = in.Time.UTC()
	}
	return in, nil
}

// Append appends v framed in f to dst.
func Append(dst []byte, v any, f Format) ([]byte, error) {
	switch f {
	case JSON:
		b, err := json.Marshal(v)
		if err != nil {
			return dst, err
		}
		return append(append(dst, b...), '\n'), nil
	case Msgpack:
		var buf bytes.Buffer
		enc := msgpack.NewEncoder(&buf)
		enc.SetCustomStructTag("json")
		enc.SetOmitEmpty(true)
		if err := enc.Encode(v); err != nil {
			return dst, err
		}
		if buf.Len() >= 1<<24 {
			return dst, fmt.Errorf("msgpack message of %d bytes is too long", buf.Len())
		}
		dst = binary.BigEndian.AppendUint32(dst, uint32(buf.Len()))
		return append(dst, buf.Bytes()...), nil
	}
	return dst, fmt.Errorf("unknown format %d", f)
}

// Reply is the daemon's answer to each message, in the message's
// framing.
type Reply struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

func decodeReply(msg []byte, f Format, rep *Reply) error {
	switch f {
	case JSON:
		return json.Unmarshal(msg, rep)
	case Msgpack:
		dec := msgpack.NewDecoder(bytes.NewReader(msg))
		dec.SetCustomStructTag("json")
		return dec.Decode(rep)
	}
	return fmt.Errorf("unknown format")
}
