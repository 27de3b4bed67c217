package ecstest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// maxDepth bounds the nesting of a document, so hostile input cannot
// exhaust the stack.
const maxDepth = 1000

// errTooDeep reports a document nested more than maxDepth deep.
var errTooDeep = fmt.Errorf("document nested more than %d deep", maxDepth)

// maxExcerpt bounds how much of a document Check quotes.
const maxExcerpt = 2 << 10

// Check reports each problem Validate finds in doc through t.Errorf, quoting
// the document (truncated to about 2 KiB).
func (s *Schema) Check(t testing.TB, doc []byte) {
	t.Helper()
	for _, err := range s.Validate(doc) {
		t.Errorf("ECS: %v\ndocument: %s", err, excerpt(doc))
	}
}

// ValidateLines validates JSON lines: each line of r must be a JSON object
// that passes Validate. Errors are prefixed with their 1-based line number.
// Empty input is valid; an empty line is not.
func (s *Schema) ValidateLines(r io.Reader) []error {
	var errs []error
	br := bufio.NewReader(r)
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			for _, e := range s.Validate(line) {
				errs = append(errs, fmt.Errorf("line %d: %w", n, e))
			}
		}
		if err == io.EOF {
			return errs
		}
		if err != nil {
			return append(errs, fmt.Errorf("line %d: %w", n, err))
		}
	}
}

// Validate checks that doc is a single JSON object conforming to the schema,
// as described in the package documentation. It returns nil if it does.
func (s *Schema) Validate(doc []byte) []error {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	v, err := decode(dec, 0)
	if err == io.EOF {
		return []error{errors.New("empty document, want a JSON object")}
	}
	if err == errTooDeep {
		return []error{err}
	}
	if err != nil {
		return []error{fmt.Errorf("invalid JSON: %w", err)}
	}
	if _, err := dec.Token(); err != io.EOF {
		return []error{errors.New("invalid JSON: data after the top-level value")}
	}
	obj, ok := v.(object)
	if !ok {
		return []error{fmt.Errorf("document is %s, want a JSON object", describe(v))}
	}
	c := checker{s: s, seen: make(map[string]bool)}
	c.object("", obj, true)
	c.finish()
	return c.errs
}

// checker accumulates the findings for one document.
type checker struct {
	s    *Schema
	errs []error
	// seen holds the leaf fields found outside arrays, to catch duplicates
	// and check for required fields.
	seen       map[string]bool
	categories []string // valid event.category values
	types      []string // valid event.type values
}

func (c *checker) errorf(name, format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
}

// object checks the members of obj, whose dotted name is prefix. top is
// false inside arrays, where field names legitimately repeat.
func (c *checker) object(prefix string, obj object, top bool) {
	for _, m := range obj {
		name := m.key
		if prefix != "" {
			name = prefix + "." + m.key
		}
		c.value(name, m.val, top)
	}
}

// value checks v as the value of the field called name.
func (c *checker) value(name string, v any, top bool) {
	f := c.s.fields[name]
	if obj, ok := v.(object); ok && c.s.prefixes[name] && (f == nil || !f.array) {
		// A field set, or an object field with sub-fields: check the
		// members as fields in their own right.
		c.object(name, obj, top)
		return
	}
	if top {
		if c.seen[name] {
			c.errorf(name, "duplicate field")
			return
		}
		c.seen[name] = true
	}
	switch {
	case v == nil:
		c.errorf(name, "null value")
	case isCustom(name):
		if _, ok := v.(object); name == customNamespace && !ok {
			c.errorf(name, "want object (custom namespace), got %s", describe(v))
			return
		}
		c.noNulls(name, v)
	case f != nil:
		c.field(name, f, v)
	case c.s.prefixes[name]:
		c.errorf(name, "want object (ECS field set), got %s", describe(v))
	case strings.EqualFold(strings.SplitN(name, ".", 2)[0], customNamespace):
		c.errorf(name, "not an ECS field (custom fields belong under %q)", customNamespace+".")
	default:
		c.errorf(name, "not an ECS field")
	}
}

// field checks v against the definition f of the field called name.
func (c *checker) field(name string, f *field, v any) {
	arr, isArray := v.([]any)
	switch {
	case f.array && !isArray:
		c.errorf(name, "want array of %s, got %s", want(f), describe(v))
	case !f.array && isArray:
		c.errorf(name, "want %s (not an array), got array", want(f))
	case f.array:
		for i, e := range arr {
			if msg := c.one(name, f, e); msg != "" {
				c.errorf(name, "element %d: %s", i, msg)
			}
		}
	default:
		if msg := c.one(name, f, v); msg != "" {
			c.errorf(name, "%s", msg)
		}
	}
}

// one checks a single (non-array) value v of field f called name, and
// returns what is wrong with it, or "". Problems inside objects are
// reported directly.
func (c *checker) one(name string, f *field, v any) string {
	mismatch := func() string { return fmt.Sprintf("want %s, got %s", want(f), describe(v)) }
	if v == nil {
		return "null value"
	}
	switch f.kind {
	case kindObject, kindGeoPoint:
		obj, ok := v.(object)
		switch {
		case ok && f.kind == kindObject && c.s.prefixes[name]:
			// An element of an array of objects with sub-fields (value
			// handles the other objects with sub-fields). Sub-fields
			// repeat from one element to the next.
			c.object(name, obj, false)
		case ok:
			c.noNulls(name, obj)
		case f.kind == kindGeoPoint:
			if _, ok := v.(string); !ok {
				return mismatch()
			}
		default:
			return mismatch()
		}
		return ""
	case kindBool:
		if _, ok := v.(bool); !ok {
			return mismatch()
		}
		return ""
	case kindInteger, kindFloat:
		n, ok := v.(json.Number)
		if !ok {
			return mismatch()
		}
		return checkNumber(f, n)
	}

	str, ok := v.(string)
	if !ok {
		return mismatch()
	}
	switch f.kind {
	case kindDate:
		// time.Parse also takes a comma before fractional seconds,
		// which RFC 3339 does not.
		if _, err := time.Parse(time.RFC3339Nano, str); err != nil || strings.Contains(str, ",") {
			return mismatch()
		}
	case kindIP:
		if _, err := netip.ParseAddr(str); err != nil {
			return mismatch()
		}
	}
	switch {
	case f.allowed != nil && !contains(f.allowed, str):
		return fmt.Sprintf("%s is not an allowed value (allowed: %s)", quote(str), strings.Join(f.allowed, ", "))
	case f.expected != nil && !contains(f.expected, str):
		return fmt.Sprintf("%s is not an expected value (expected: %s)", quote(str), strings.Join(f.expected, ", "))
	}
	switch name {
	case "event.category":
		c.categories = append(c.categories, str)
	case "event.type":
		c.types = append(c.types, str)
	}
	return ""
}

// checkNumber checks that n suits the numeric field f.
func checkNumber(f *field, n json.Number) string {
	s := string(n)
	if f.kind == kindFloat {
		if _, err := strconv.ParseFloat(s, 64); err != nil {
			return fmt.Sprintf("number %s out of range for %s", clip(s), f.typ)
		}
		return ""
	}
	if strings.ContainsAny(s, ".eE") {
		return fmt.Sprintf("want integer, got number %s", clip(s))
	}
	var err error
	if f.unsigned {
		_, err = strconv.ParseUint(s, 10, f.bits)
	} else {
		_, err = strconv.ParseInt(s, 10, f.bits)
	}
	if err != nil {
		return fmt.Sprintf("integer %s out of range for %s", clip(s), f.typ)
	}
	return ""
}

// noNulls reports any null inside an opaque value.
func (c *checker) noNulls(name string, v any) {
	switch v := v.(type) {
	case nil:
		c.errorf(name, "null value")
	case object:
		for _, m := range v {
			c.noNulls(name+"."+m.key, m.val)
		}
	case []any:
		for _, e := range v {
			c.noNulls(name, e)
		}
	}
}

// finish applies the checks that need the whole document.
func (c *checker) finish() {
	for _, name := range c.s.required {
		if !c.seen[name] {
			c.errorf(name, "required field missing")
		}
	}
	if len(c.categories) == 0 || c.s.categoryTypes == nil {
		return
	}
	for _, typ := range c.types {
		ok := slices.ContainsFunc(c.categories, func(cat string) bool {
			return contains(c.s.categoryTypes[cat], typ)
		})
		if !ok {
			quoted := make([]string, len(c.categories))
			for i, cat := range c.categories {
				quoted[i] = quote(cat)
			}
			c.errorf("event.type", "%s is not allowed for event.category %s", quote(typ), strings.Join(quoted, ", "))
		}
	}
}

func contains(sorted []string, s string) bool {
	_, ok := slices.BinarySearch(sorted, s)
	return ok
}

// want describes the JSON values field f accepts.
func want(f *field) string {
	switch f.kind {
	case kindInteger:
		return "integer"
	case kindFloat:
		return "number"
	case kindDate:
		return "RFC 3339 date"
	case kindIP:
		return "IP address"
	case kindBool:
		return "bool"
	case kindGeoPoint:
		return "geo_point (object or string)"
	case kindObject:
		return "object"
	}
	return "string"
}

// describe names the JSON type of v, and shows scalars.
func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return "string " + quote(v)
	case json.Number:
		return "number " + clip(string(v))
	case bool:
		return "bool " + strconv.FormatBool(v)
	case object:
		return "object"
	case []any:
		return "array"
	}
	return fmt.Sprintf("%T", v)
}

// quote quotes s, shortened if long.
func quote(s string) string {
	return strconv.Quote(clip(s))
}

// clip shortens s to at most about 64 bytes.
func clip(s string) string {
	const limit = 64
	if len(s) <= limit {
		return s
	}
	i := limit
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

// excerpt returns doc, truncated to about maxExcerpt bytes.
func excerpt(doc []byte) string {
	doc = bytes.TrimRight(doc, "\r\n")
	if len(doc) <= maxExcerpt {
		return string(doc)
	}
	i := maxExcerpt
	for i > 0 && !utf8.RuneStart(doc[i]) {
		i--
	}
	return fmt.Sprintf("%s… (%d bytes in all)", doc[:i], len(doc))
}

// object is a decoded JSON object, with its members in document order.
type object []member

type member struct {
	key string
	val any
}

// decode reads one JSON value from dec, as an object, []any, string,
// json.Number, bool or nil. It returns io.EOF if there is no value.
func decode(dec *json.Decoder, depth int) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		return tok, nil
	}
	if depth >= maxDepth {
		return nil, errTooDeep
	}
	switch delim {
	case '{':
		obj := object{}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return nil, err
			}
			key, ok := tok.(string)
			if !ok {
				return nil, fmt.Errorf("object key is %v", tok)
			}
			val, err := decode(dec, depth+1)
			if err != nil {
				return nil, noEOF(err)
			}
			obj = append(obj, member{key, val})
		}
		_, err := dec.Token() // '}'
		return obj, noEOF(err)
	case '[':
		arr := []any{}
		for dec.More() {
			val, err := decode(dec, depth+1)
			if err != nil {
				return nil, noEOF(err)
			}
			arr = append(arr, val)
		}
		_, err := dec.Token() // ']'
		return arr, noEOF(err)
	}
	return nil, fmt.Errorf("unexpected %v", delim)
}

// noEOF turns an end of input inside a value into io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
