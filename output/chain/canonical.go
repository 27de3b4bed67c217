package chain

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// node is a parsed JSON value that keeps numbers as written.
type node struct {
	kind  byte // 'o' object, 'a' array, 's' string, 'n' number, 'b' bool
	str   string
	num   string
	b     bool
	pairs []pair  // object members, in the order read
	items []*node // array items
}

type pair struct {
	key string
	val *node
}

// get returns an object member, or nil.
func (n *node) get(k string) *node {
	if n == nil || n.kind != 'o' {
		return nil
	}
	for i := range n.pairs {
		if n.pairs[i].key == k {
			return n.pairs[i].val
		}
	}
	return nil
}

// set replaces or adds an object member.
func (n *node) set(k string, v *node) {
	for i := range n.pairs {
		if n.pairs[i].key == k {
			n.pairs[i].val = v
			return
		}
	}
	n.pairs = append(n.pairs, pair{k, v})
}

// ErrNotCanonical: the input is valid JSON but not Vigil's canonical form.
var ErrNotCanonical = errors.New("record is not in canonical form")

const maxDepth = 32

// parser reads the JSON subset records use: objects, arrays, strings,
// numbers (integers, and decimal fractions in their shortest form, no
// exponent) and booleans. Duplicate keys, nulls and other number forms
// are errors: a record never has them, so a line that does was not
// written by Vigil.
type parser struct {
	b     []byte
	i     int
	err   error
	slab  []node // nodes handed out by this parse; reused by the next
	used  int
	spare [][]node
}

// parse reads one JSON object. The result shares memory with line.
func parse(line []byte) (*node, error) {
	var p parser
	return p.parse(line)
}

// newNode hands out a node from the slab.
func (p *parser) newNode(kind byte) *node {
	if p.used == len(p.slab) {
		if len(p.slab) > 0 {
			p.spare = append(p.spare, p.slab)
		}
		p.slab, p.used = make([]node, max(64, 2*len(p.slab))), 0
	}
	n := &p.slab[p.used]
	p.used++
	*n = node{kind: kind, pairs: n.pairs[:0], items: n.items[:0]}
	return n
}

// parse reads one JSON object, reusing the parser's memory: nodes from
// an earlier parse are no longer valid. Strings without escapes share
// memory with line.
func (p *parser) parse(line []byte) (*node, error) {
	*p = parser{b: line, slab: p.slab, spare: p.spare}
	if len(p.spare) > 0 {
		// Keep the largest slab; drop the rest.
		for _, s := range p.spare {
			if len(s) > len(p.slab) {
				p.slab = s
			}
		}
		p.spare = nil
	}
	p.space()
	if p.i >= len(p.b) || p.b[p.i] != '{' {
		return nil, errors.New("record is not a JSON object")
	}
	n := p.value(0)
	if p.err != nil {
		return nil, fmt.Errorf("parse record: %w", p.err)
	}
	p.space()
	if p.i != len(p.b) {
		return nil, errors.New("parse record: trailing data after the record")
	}
	return n, nil
}

func (p *parser) fail(format string, args ...any) *node {
	if p.err == nil {
		p.err = fmt.Errorf("offset %d: "+format, append([]any{p.i}, args...)...)
	}
	return nil
}

func (p *parser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) value(depth int) *node {
	if depth > maxDepth {
		return p.fail("nested too deeply")
	}
	p.space()
	if p.i >= len(p.b) {
		return p.fail("unexpected end")
	}
	switch c := p.b[p.i]; {
	case c == '{':
		p.i++
		n := p.newNode('o')
		p.space()
		if p.i < len(p.b) && p.b[p.i] == '}' {
			p.i++
			return n
		}
		for {
			p.space()
			if p.i >= len(p.b) || p.b[p.i] != '"' {
				return p.fail("object key is not a string")
			}
			k, ok := p.string()
			if !ok {
				return nil
			}
			if n.get(k) != nil {
				return p.fail("duplicate key %q", k)
			}
			p.space()
			if p.i >= len(p.b) || p.b[p.i] != ':' {
				return p.fail("missing ':'")
			}
			p.i++
			v := p.value(depth + 1)
			if v == nil {
				return nil
			}
			n.pairs = append(n.pairs, pair{k, v})
			p.space()
			if p.i >= len(p.b) {
				return p.fail("unexpected end")
			}
			if p.b[p.i] == ',' {
				p.i++
				continue
			}
			if p.b[p.i] == '}' {
				p.i++
				return n
			}
			return p.fail("expected ',' or '}'")
		}
	case c == '[':
		p.i++
		n := p.newNode('a')
		p.space()
		if p.i < len(p.b) && p.b[p.i] == ']' {
			p.i++
			return n
		}
		for {
			v := p.value(depth + 1)
			if v == nil {
				return nil
			}
			n.items = append(n.items, v)
			p.space()
			if p.i >= len(p.b) {
				return p.fail("unexpected end")
			}
			if p.b[p.i] == ',' {
				p.i++
				continue
			}
			if p.b[p.i] == ']' {
				p.i++
				return n
			}
			return p.fail("expected ',' or ']'")
		}
	case c == '"':
		s, ok := p.string()
		if !ok {
			return nil
		}
		n := p.newNode('s')
		n.str = s
		return n
	case c == '-' || c >= '0' && c <= '9':
		start := p.i
		if c == '-' {
			p.i++
		}
		digits := p.i
		for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
			p.i++
		}
		if p.i == digits || (p.b[digits] == '0' && p.i-digits > 1) {
			return p.fail("bad number")
		}
		if p.i < len(p.b) && p.b[p.i] == '.' {
			// A fraction: at least one digit, the last not 0 (the
			// shortest form; strconv.FormatFloat(v, 'f', -1, 64) writes it).
			p.i++
			frac := p.i
			for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
				p.i++
			}
			if p.i == frac || p.b[p.i-1] == '0' {
				return p.fail("number is not in canonical form")
			}
		}
		if p.i < len(p.b) && (p.b[p.i] == 'e' || p.b[p.i] == 'E') {
			return p.fail("number has an exponent")
		}
		num := unsafe.String(&p.b[start], p.i-start)
		if num == "-0" {
			return p.fail("bad number")
		}
		n := p.newNode('n')
		n.num = num
		return n
	case bytes.HasPrefix(p.b[p.i:], []byte("true")):
		p.i += 4
		n := p.newNode('b')
		n.b = true
		return n
	case bytes.HasPrefix(p.b[p.i:], []byte("false")):
		p.i += 5
		return p.newNode('b')
	case bytes.HasPrefix(p.b[p.i:], []byte("null")):
		return p.fail("null value")
	}
	return p.fail("unexpected character %q", p.b[p.i])
}

// string reads a JSON string at p.i (on its opening quote).
func (p *parser) string() (string, bool) {
	p.i++ // opening quote
	start := p.i
	// Fast path: no escapes.
	for p.i < len(p.b) {
		c := p.b[p.i]
		if c == '"' {
			s := unsafe.String(unsafe.SliceData(p.b[start:p.i]), p.i-start)
			p.i++
			if !utf8.ValidString(s) {
				p.fail("invalid UTF-8 in string")
				return "", false
			}
			return s, true
		}
		if c == '\\' || c < 0x20 {
			break
		}
		p.i++
	}
	var sb []byte
	sb = append(sb, p.b[start:p.i]...)
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			if !utf8.Valid(sb) {
				p.fail("invalid UTF-8 in string")
				return "", false
			}
			return string(sb), true
		case c < 0x20:
			p.fail("control character in string")
			return "", false
		case c == '\\':
			if p.i+1 >= len(p.b) {
				p.fail("unexpected end")
				return "", false
			}
			e := p.b[p.i+1]
			p.i += 2
			switch e {
			case '"', '\\', '/':
				sb = append(sb, e)
			case 'b':
				sb = append(sb, '\b')
			case 'f':
				sb = append(sb, '\f')
			case 'n':
				sb = append(sb, '\n')
			case 'r':
				sb = append(sb, '\r')
			case 't':
				sb = append(sb, '\t')
			case 'u':
				r, ok := p.hex4()
				if !ok {
					return "", false
				}
				if utf16.IsSurrogate(r) {
					if p.i+1 < len(p.b) && p.b[p.i] == '\\' && p.b[p.i+1] == 'u' {
						p.i += 2
						r2, ok := p.hex4()
						if !ok {
							return "", false
						}
						r = utf16.DecodeRune(r, r2)
					} else {
						r = utf8.RuneError
					}
				}
				sb = utf8.AppendRune(sb, r)
			default:
				p.fail("bad escape \\%c", e)
				return "", false
			}
		default:
			sb = append(sb, c)
			p.i++
		}
	}
	p.fail("unterminated string")
	return "", false
}

func (p *parser) hex4() (rune, bool) {
	if p.i+4 > len(p.b) {
		p.fail("short \\u escape")
		return 0, false
	}
	var r rune
	for _, c := range p.b[p.i : p.i+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c-'a') + 10
		case c >= 'A' && c <= 'F':
			r |= rune(c-'A') + 10
		default:
			p.fail("bad \\u escape")
			return 0, false
		}
	}
	p.i += 4
	return r, true
}

// appendCanonical writes n with object keys sorted bytewise, no
// whitespace, strings escaped minimally (", \\ and control characters;
// everything else as UTF-8), numbers as written. With bare, the
// integrity fields (event.hash and Vigil.chain) are left out, and so is
// a Vigil object that held nothing else.
func appendCanonical(b []byte, n *node, bare bool) []byte {
	switch n.kind {
	case 'o':
		slices.SortFunc(n.pairs, func(x, y pair) int { return strings.Compare(x.key, y.key) })
		b = append(b, '{')
		first := true
		for _, kv := range n.pairs {
			v, skip := kv.val, ""
			if bare {
				switch kv.key {
				case "event":
					skip = "hash"
				case "Vigil":
					skip = "chain"
					if v.kind == 'o' && len(v.pairs) == 1 && v.pairs[0].key == "chain" {
						continue
					}
				}
			}
			if !first {
				b = append(b, ',')
			}
			first = false
			b = appendString(b, kv.key)
			b = append(b, ':')
			if skip != "" && v.kind == 'o' {
				b = appendObjectWithout(b, v, skip)
			} else {
				b = appendCanonical(b, v, false)
			}
		}
		return append(b, '}')
	case 'a':
		b = append(b, '[')
		for i, v := range n.items {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendCanonical(b, v, false)
		}
		return append(b, ']')
	case 's':
		return appendString(b, n.str)
	case 'n':
		return append(b, n.num...)
	case 'b':
		if n.b {
			return append(b, "true"...)
		}
		return append(b, "false"...)
	}
	return b
}

// appendObjectWithout writes an object less one member.
func appendObjectWithout(b []byte, n *node, without string) []byte {
	slices.SortFunc(n.pairs, func(x, y pair) int { return strings.Compare(x.key, y.key) })
	b = append(b, '{')
	first := true
	for _, kv := range n.pairs {
		if kv.key == without {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendString(b, kv.key)
		b = append(b, ':')
		b = appendCanonical(b, kv.val, false)
	}
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// appendString is the canonical string form.
func appendString(b []byte, s string) []byte { return AppendString(b, s) }

// AppendString appends s as a JSON string in canonical form: only '"',
// '\\' and control characters are escaped (\n, \r, \t, else \u00XX);
// invalid UTF-8 becomes U+FFFD. Vigil's encoder writes strings with it.
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	b = AppendEscaped(b, s)
	return append(b, '"')
}

// plainByte marks the bytes JSON takes as they are: ASCII from 0x20 up,
// but for '"' and '\\'.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// AppendEscaped appends the body of AppendString, without quotes.
func AppendEscaped(b []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if plainByte[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
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

// Canonical returns the canonical form of a JSON object record.
func Canonical(line []byte) ([]byte, error) {
	n, err := parse(line)
	if err != nil {
		return nil, err
	}
	return appendCanonical(nil, n, false), nil
}
