package output

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// jsonBuf appends JSON to b. Commas are placed automatically: every value
// sets more, and a key or an array element writes a comma first if more
// is set.
type jsonBuf struct {
	b    []byte
	more bool
}

func (j *jsonBuf) sep() {
	if j.more {
		j.b = append(j.b, ',')
	}
	j.more = false
}

func (j *jsonBuf) key(k string) {
	j.sep()
	j.b = append(j.b, '"')
	j.b = append(j.b, k...)
	j.b = append(j.b, '"', ':')
}

func (j *jsonBuf) open(k string) {
	j.key(k)
	j.b = append(j.b, '{')
}

func (j *jsonBuf) close() {
	j.b = append(j.b, '}')
	j.more = true
}

func (j *jsonBuf) str(k, v string) {
	j.key(k)
	j.b = appendString(j.b, v)
	j.more = true
}

// strNonEmpty writes k only when v is not empty.
func (j *jsonBuf) strNonEmpty(k, v string) {
	if v != "" {
		j.str(k, v)
	}
}

func (j *jsonBuf) strs(k string, v ...string) {
	j.key(k)
	j.b = append(j.b, '[')
	for i, s := range v {
		if i > 0 {
			j.b = append(j.b, ',')
		}
		j.b = appendString(j.b, s)
	}
	j.b = append(j.b, ']')
	j.more = true
}

func (j *jsonBuf) uint(k string, v uint64) {
	j.key(k)
	j.b = strconv.AppendUint(j.b, v, 10)
	j.more = true
}

func (j *jsonBuf) int(k string, v int64) {
	j.key(k)
	j.b = strconv.AppendInt(j.b, v, 10)
	j.more = true
}

// uintStr writes a number as a string (ECS keyword ids such as user.id).
func (j *jsonBuf) uintStr(k string, v uint64) {
	j.key(k)
	j.b = append(j.b, '"')
	j.b = strconv.AppendUint(j.b, v, 10)
	j.b = append(j.b, '"')
	j.more = true
}

func (j *jsonBuf) bool(k string, v bool) {
	j.key(k)
	j.b = strconv.AppendBool(j.b, v)
	j.more = true
}

func (j *jsonBuf) time(k string, t time.Time) {
	j.key(k)
	j.b = append(j.b, '"')
	j.b = t.UTC().AppendFormat(j.b, time.RFC3339Nano)
	j.b = append(j.b, '"')
	j.more = true
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD,
// so the output is always valid JSON.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	b = appendEscaped(b, s)
	return append(b, '"')
}

// appendEscaped appends the JSON-escaped body of s, without quotes.
func appendEscaped(b []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, "\ufffd"...)
			i++
			start = i
			continue
		}
		i += size
	}
	return append(b, s[start:]...)
}
