package chain

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// node is a parsed JSON value that keeps numbers as written.
type node struct {
	kind  byte // 'o' object, 'a' array, 's' string, 'n' number, 'b' bool
	str   string
	num   json.Number
	b     bool
	keys  []string // object keys, in the order read
	vals  map[string]*node
	items []*node
}

// ErrNotCanonical: the input is valid JSON but not Vigil's canonical form.
var ErrNotCanonical = errors.New("record is not in canonical form")

// parse reads one JSON object. Duplicate keys, nulls and floats are
// errors: a record never has them, so a line that does was not written
// by Vigil.
func parse(line []byte) (*node, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	n, err := parseValue(dec, 0)
	if err != nil {
		return nil, err
	}
	if n.kind != 'o' {
		return nil, errors.New("record is not a JSON object")
	}
	if _, err := dec.Token(); err == nil {
		return nil, errors.New("trailing data after the record")
	}
	return n, nil
}

const maxDepth = 32

func parseValue(dec *json.Decoder, depth int) (*node, error) {
	if depth > maxDepth {
		return nil, errors.New("record nested too deeply")
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("parse record: %w", err)
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			n := &node{kind: 'o', vals: map[string]*node{}}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, fmt.Errorf("parse record: %w", err)
				}
				k, ok := kt.(string)
				if !ok {
					return nil, errors.New("parse record: object key is not a string")
				}
				if _, dup := n.vals[k]; dup {
					return nil, fmt.Errorf("parse record: duplicate key %q", k)
				}
				v, err := parseValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				n.keys = append(n.keys, k)
				n.vals[k] = v
			}
			_, err := dec.Token() // '}'
			return n, err
		case '[':
			n := &node{kind: 'a'}
			for dec.More() {
				v, err := parseValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				n.items = append(n.items, v)
			}
			_, err := dec.Token() // ']'
			return n, err
		}
	case string:
		return &node{kind: 's', str: t}, nil
	case json.Number:
		if strings.ContainsAny(string(t), ".eE") || (strings.HasPrefix(string(t), "-0") && t != "-0") {
			return nil, fmt.Errorf("parse record: number %s is not an integer", t)
		}
		return &node{kind: 'n', num: t}, nil
	case bool:
		return &node{kind: 'b', b: t}, nil
	case nil:
		return nil, errors.New("parse record: null value")
	}
	return nil, fmt.Errorf("parse record: unexpected token %v", tok)
}

// appendCanonical writes n with object keys sorted bytewise, no
// whitespace, strings escaped minimally (", \ and control characters;
// everything else as UTF-8), integers as written. skip names top-level
// paths ("event.hash", "Vigil.chain") to leave out.
func appendCanonical(b []byte, n *node, prefix string, skip func(string) bool) []byte {
	switch n.kind {
	case 'o':
		keys := slices.Clone(n.keys)
		slices.Sort(keys)
		b = append(b, '{')
		first := true
		for _, k := range keys {
			path := k
			if prefix != "" {
				path = prefix + "." + k
			}
			if skip != nil && (skip(path) || emptiedBySkip(n.vals[k], path, skip)) {
				continue
			}
			if !first {
				b = append(b, ',')
			}
			first = false
			b = appendString(b, k)
			b = append(b, ':')
			b = appendCanonical(b, n.vals[k], path, skip)
		}
		return append(b, '}')
	case 'a':
		b = append(b, '[')
		for i, v := range n.items {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendCanonical(b, v, prefix, skip)
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

// emptiedBySkip reports whether n is an object all of whose keys are
// skipped: it was created only to hold skipped fields, so it is left out
// as a whole (a record never holds an empty object otherwise).
func emptiedBySkip(n *node, prefix string, skip func(string) bool) bool {
	if n.kind != 'o' || len(n.keys) == 0 {
		return false
	}
	for _, k := range n.keys {
		path := prefix + "." + k
		if !skip(path) && !emptiedBySkip(n.vals[k], path, skip) {
			return false
		}
	}
	return true
}

const hexDigits = "0123456789abcdef"

// appendString is the canonical string form: the same escaping as
// Vigil's encoder.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
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
	b = append(b, s[start:]...)
	return append(b, '"')
}

// Canonical returns the canonical form of a JSON object record.
func Canonical(line []byte) ([]byte, error) {
	n, err := parse(line)
	if err != nil {
		return nil, err
	}
	return appendCanonical(nil, n, "", nil), nil
}
