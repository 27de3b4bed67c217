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
// were written in: each object's members are sorted by key when it is
// closed (output/chain's canonical form: keys sorted bytewise).
type jsonBuf struct {
	b       []byte
	more    bool
	frames  []frame // open objects, outermost first
	depth   int
	order   []int
	scratch []byte
}

// frame is an open object: where its members start, and where each
// member's key begins.
type frame struct {
	start   int
	members []int // offset of each member's key quote
	keyEnds []int // offset of each key's closing quote
}

// begin opens an object whose '{' was just written.
func (j *jsonBuf) begin() {
	if j.depth == len(j.frames) {
		j.frames = append(j.frames, frame{})
	}
	f := &j.frames[j.depth]
	f.start, f.members, f.keyEnds = len(j.b), f.members[:0], f.keyEnds[:0]
	j.depth++
	j.more = false
}

// end closes the innermost object, sorting its members.
func (j *jsonBuf) end() {
	j.depth--
	j.sortMembers(&j.frames[j.depth])
	j.b = append(j.b, '}')
	j.more = true
}

func (j *jsonBuf) sortMembers(f *frame) {
	m := f.members
	key := func(buf []byte, base, i int) string {
		return unsafe.String(&buf[m[i]+1-base], f.keyEnds[i]-m[i]-1)
	}
	sorted := true
	for i := 1; i < len(m) && sorted; i++ {
		sorted = key(j.b, 0, i-1) < key(j.b, 0, i)
	}
	if sorted {
		return
	}
	// Member i spans m[i] to the comma before m[i+1] (or the end).
	j.scratch = append(j.scratch[:0], j.b[f.start:]...)
	base := f.start
	span := func(i int) []byte {
		end := len(j.b)
		if i+1 < len(m) {
			end = m[i+1] - 1
		}
		return j.scratch[m[i]-base : end-base]
	}
	j.order = j.order[:0]
	for i := range m {
		j.order = append(j.order, i)
	}
	for a := 1; a < len(j.order); a++ { // insertion sort: objects are small
		for b := a; b > 0 && key(j.scratch, base, j.order[b]) < key(j.scratch, base, j.order[b-1]); b-- {
			j.order[b], j.order[b-1] = j.order[b-1], j.order[b]
		}
	}
	out := j.b[:base]
	for n, i := range j.order {
		if n > 0 {
			out = append(out, ',')
		}
		out = append(out, span(i)...)
	}
	j.b = out
}

func (j *jsonBuf) sep() {
	if j.more {
		j.b = append(j.b, ',')
	}
	j.more = false
}

func (j *jsonBuf) key(k string) {
	j.sep()
	if j.depth > 0 {
		f := &j.frames[j.depth-1]
		f.members = append(f.members, len(j.b))
		f.keyEnds = append(f.keyEnds, len(j.b)+1+len(k))
	}
	j.b = append(j.b, '"')
	j.b = append(j.b, k...)
	j.b = append(j.b, '"', ':')
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

// appendString appends s as a JSON string in the chain's canonical form,
// so records need no rewriting to be sealed.
func appendString(b []byte, s string) []byte { return chain.AppendString(b, s) }

// appendEscaped appends the JSON-escaped body of s, without quotes.
func appendEscaped(b []byte, s string) []byte { return chain.AppendEscaped(b, s) }
