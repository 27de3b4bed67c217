package output

import (
	"strconv"
	"time"
	"unsafe"

	"github.com/vigilsec/vigil/output/chain"
)

// jsonBuf appends JSON to b. Commas are placed automatically: every value
// sets more, and a key or an array element writes a comma first if more
// is set. Objects come out in canonical form whatever order their members
// were written in (output/chain's canonical form: keys sorted bytewise):
// each key is compared with the one before it as it is written, and an
// object whose keys came out of order is sorted when it is closed. The
// encoder writes members in key order wherever it can, so the sort is a
// safety net, not the common path (Sorts counts how often it ran).
type jsonBuf struct {
	b       []byte
	more    bool
	cur     frame   // the innermost open object
	frames  []frame // the open objects around it, outermost first
	depth   int     // open objects, cur included
	order   []int
	spans   []memberSpan
	scratch []byte
	times   [8]timeCache
	nextT   int // the cache entry to replace next
	Sorts   int // objects that had to be sorted
}

// frame is an open object: where its members start, the last key
// written, and whether the keys so far came in order.
type frame struct {
	start    int
	last     string
	unsorted bool // a key came after a greater or equal one
}

// begin opens an object whose '{' was just written.
func (j *jsonBuf) begin() {
	if j.depth > 0 {
		j.frames = append(j.frames, j.cur)
	}
	j.cur = frame{start: len(j.b)}
	j.depth++
	j.more = false
}

// end closes the innermost object, sorting its members if they were
// written out of order.
func (j *jsonBuf) end() {
	if j.cur.unsorted {
		j.sortMembers(j.cur.start)
	}
	j.depth--
	if n := len(j.frames); j.depth > 0 && n > 0 {
		j.cur = j.frames[n-1]
		j.frames = j.frames[:n-1]
	}
	j.b = append(j.b, '}')
	j.more = true
}

// sortMembers sorts the members of the object whose members begin at
// b[start:] and run to the end of b. It finds them by scanning: the
// encoder writes members in order, so this is the rare path.
func (j *jsonBuf) sortMembers(start int) {
	j.Sorts++
	j.scratch = append(j.scratch[:0], j.b[start:]...)
	m := j.spans[:0]
	for i := 0; i < len(j.scratch); {
		keyEnd := skipString(j.scratch, i)
		end := skipValue(j.scratch, keyEnd+1) // past the ':'
		m = append(m, memberSpan{i, keyEnd, end})
		i = end + 1 // past the ','
	}
	j.spans = m
	key := func(i int) string {
		return unsafe.String(&j.scratch[m[i].at+1], m[i].keyEnd-m[i].at-2)
	}
	j.order = j.order[:0]
	for i := range m {
		j.order = append(j.order, i)
	}
	for a := 1; a < len(j.order); a++ { // insertion sort: objects are small
		for b := a; b > 0 && key(j.order[b]) < key(j.order[b-1]); b-- {
			j.order[b], j.order[b-1] = j.order[b-1], j.order[b]
		}
	}
	out := j.b[:start]
	for n, i := range j.order {
		if n > 0 {
			out = append(out, ',')
		}
		out = append(out, j.scratch[m[i].at:m[i].end]...)
	}
	j.b = out
}

// memberSpan is one member of an object being sorted: its key from at to
// keyEnd (quotes included), the member to end.
type memberSpan struct{ at, keyEnd, end int }

// skipString returns the offset just past the JSON string starting at
// b[i] (a quote).
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// skipValue returns the offset just past the JSON value starting at b[i].
func skipValue(b []byte, i int) int {
	depth := 0
	for i < len(b) {
		switch b[i] {
		case '"':
			i = skipString(b, i)
			if depth == 0 {
				return i
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return i + 1
			}
		case ',':
			if depth == 0 {
				return i
			}
		}
		i++
	}
	return i
}

func (j *jsonBuf) key(k string) {
	b := j.b
	if j.more {
		b = append(b, ',')
		j.more = false
	}
	if j.depth > 0 {
		// In order if greater than the key before: usually told by the
		// first byte.
		if l := j.cur.last; l != "" && (len(k) == 0 || l[0] > k[0] || (l[0] == k[0] && l >= k)) {
			j.cur.unsorted = true
		}
		j.cur.last = k
	}
	b = append(b, '"')
	b = append(b, k...)
	j.b = append(b, '"', ':')
}

// raw writes k with a value already encoded (in canonical form).
func (j *jsonBuf) raw(k string, v []byte) {
	j.key(k)
	j.b = append(j.b, v...)
	j.more = true
}

func (j *jsonBuf) open(k string) {
	j.key(k)
	j.b = append(j.b, '{')
	j.begin()
}

func (j *jsonBuf) close() { j.end() }

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

// float writes a decimal number in its shortest form without an exponent
// (the chain's canonical form for non-integers).
func (j *jsonBuf) float(k string, v float64) {
	j.key(k)
	if v == 0 {
		v = 0 // no "-0"
	}
	j.b = strconv.AppendFloat(j.b, v, 'f', -1, 64)
	j.more = true
}

// strsNonEmpty writes k only when v has elements.
func (j *jsonBuf) strsNonEmpty(k string, v []string) {
	if len(v) > 0 {
		j.strs(k, v...)
	}
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
	j.b = j.appendTime(j.b, t)
	j.b = append(j.b, '"')
	j.more = true
}

// timeCache holds one second's "2006-01-02T15:04:05" form.
type timeCache struct {
	sec int64
	ok  bool
	n   int
	s   [24]byte
}

// appendTime appends t in UTC as time.RFC3339Nano formats it. Records
// name a handful of distinct seconds at a time (their own, the encoding
// time, process starts), so the date and clock of the last few seconds
// seen are kept and only the fraction is formatted for each value.
func (j *jsonBuf) appendTime(b []byte, t time.Time) []byte {
	sec := t.Unix()
	var c *timeCache
	for i := range j.times {
		if j.times[i].ok && j.times[i].sec == sec {
			c = &j.times[i]
			break
		}
	}
	if c == nil {
		var f [32]byte
		p := t.UTC().AppendFormat(f[:0], "2006-01-02T15:04:05")
		if len(p) > len(timeCache{}.s) { // a year past 9999: not worth keeping
			return t.UTC().AppendFormat(b, time.RFC3339Nano)
		}
		c = &j.times[j.nextT]
		c.sec, c.ok, c.n = sec, true, copy(c.s[:], p)
		j.nextT = (j.nextT + 1) % len(j.times)
	}
	b = append(b, c.s[:c.n]...)
	if ns := t.Nanosecond(); ns != 0 {
		var f [10]byte
		f[0] = '.'
		for i := 9; i >= 1; i-- {
			f[i] = byte('0' + ns%10)
			ns /= 10
		}
		n := 10
		for f[n-1] == '0' {
			n--
		}
		b = append(b, f[:n]...)
	}
	return append(b, 'Z')
}

// appendString appends s as a JSON string in the chain's canonical form,
// so records need no rewriting to be sealed.
func appendString(b []byte, s string) []byte { return chain.AppendString(b, s) }

// appendEscaped appends the JSON-escaped body of s, without quotes.
func appendEscaped(b []byte, s string) []byte { return chain.AppendEscaped(b, s) }
