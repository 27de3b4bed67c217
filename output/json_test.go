package output

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// replaceInvalid is s with each byte that is not part of valid UTF-8
// replaced by U+FFFD, the way encoding/json and appendString treat it.
func replaceInvalid(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

var trickyStrings = []string{
	"",
	"plain",
	`"`,
	`\`,
	`say "hi"`,
	`C:\path\to\file`,
	`\"`,
	`\\"\\`,
	"\x00",
	"a\x00b",
	"\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f",
	"\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f",
	"\t\n\r",
	"line1\nline2\r\n",
	"\x7f",
	" ",
	"/",
	"</script>",
	"<>&",
	"\u2028\u2029",
	"js\u2028break",
	"é ü ß 日本語",
	"🙂👍🏽👨‍👩‍👧",
	"\U0010ffff",
	"\ufffd",
	"\ufeffbom",
	"\xff",
	"\xc0\xaf",                  // overlong '/'
	"\xed\xa0\x80",              // UTF-16 surrogate half
	"\xf4\x90\x80\x80",          // above U+10FFFF
	"ok\xe2\x82",                // cut-short euro sign
	"\xe2\x82\xac\xe2\x82",      // euro, then a cut-short one
	"a\xffb\xfe\"c\\\x00",       // everything at once
	"\x80\x81\x82 continuation", // lone continuation bytes
	strings.Repeat(`"\`, 100),
}

func TestAppendString(t *testing.T) {
	for _, s := range trickyStrings {
		checkAppendString(t, s)
	}
}

func checkAppendString(t *testing.T, s string) {
	t.Helper()
	prefix := []byte("x:")
	out := appendString(prefix, s)
	if string(out[:len(prefix)]) != string(prefix) {
		t.Fatalf("appendString(%q) overwrote the prefix: %q", s, out)
	}
	out = out[len(prefix):]
	if !json.Valid(out) {
		t.Fatalf("appendString(%q) = %s: not valid JSON", s, out)
	}
	var got string
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("appendString(%q) = %s: %v", s, out, err)
	}
	if want := replaceInvalid(s); got != want {
		t.Fatalf("appendString(%q) = %s, decodes to %q, want %q", s, out, got, want)
	}
	// encoding/json agrees on the decoded value.
	ref, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var refGot string
	if err := json.Unmarshal(ref, &refGot); err != nil {
		t.Fatal(err)
	}
	if got != refGot {
		t.Fatalf("appendString(%q) decodes to %q, encoding/json's to %q", s, got, refGot)
	}
	// No raw control character may appear in the output.
	for i := 0; i < len(out); i++ {
		if out[i] < 0x20 {
			t.Fatalf("appendString(%q) = %q: raw control byte %#x", s, out, out[i])
		}
	}

	// appendEscaped is the same body without the quotes.
	body := appendEscaped([]byte("y"), s)
	if string(body) != "y"+string(out[1:len(out)-1]) {
		t.Fatalf("appendEscaped(%q) = %q, appendString body %q", s, body[1:], out[1:len(out)-1])
	}
}

func TestAppendEscapedForms(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"abc", "abc"},
		{`"`, `\"`},
		{`\`, `\\`},
		{"\n\r\t", `\n\r\t`},
		{"\x00", `\u0000`},
		{"\x1f", `\u001f`},
		{"\x08\x0c", `\u0008\u000c`},
		{"\x7f", "\x7f"},
		{"\xff", "\ufffd"},
		{"a\xffb", "a\ufffdb"},
		{"\xff\xfe", "\ufffd\ufffd"},
		{"é🙂", "é🙂"},
		{"\u2028", "\u2028"},
	} {
		if got := string(appendEscaped(nil, tc.in)); got != tc.want {
			t.Errorf("appendEscaped(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range trickyStrings {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkAppendString(t, s)
	})
}

func TestJSONBuf(t *testing.T) {
	var j jsonBuf
	j.b = append(j.b, '{')
	j.begin()
	j.str("s", "v")
	j.open("o")
	j.uint("u", 18446744073709551615)
	j.int("i", -9223372036854775808)
	j.uintStr("us", 42)
	j.bool("t", true)
	j.bool("f", false)
	j.close()
	j.strs("a", "x", `"`, "")
	j.strs("empty")
	j.strNonEmpty("skipped", "")
	j.strNonEmpty("kept", "k")
	j.open("e")
	j.close()
	j.time("ts", time.Date(2026, 3, 4, 5, 6, 7, 8, time.FixedZone("X", 3600)))
	j.end()
	// Members come out sorted by key at every level (canonical form).
	want := `{"a":["x","\"",""],"e":{},"empty":[],"kept":"k",` +
		`"o":{"f":false,"i":-9223372036854775808,"t":true,"u":18446744073709551615,"us":"42"},` +
		`"s":"v","ts":"2026-03-04T04:06:07.000000008Z"}`
	if string(j.b) != want {
		t.Errorf("got  %s\nwant %s", j.b, want)
	}
	if !json.Valid(j.b) {
		t.Error("not valid JSON")
	}
}

// Keys out of order only after their first byte, and repeated
// prefixes, are caught by the order check as they are written.
func TestJSONBufOrderCheck(t *testing.T) {
	for _, tc := range []struct {
		keys  []string
		sorts int
	}{
		{[]string{"a", "ab", "b"}, 0},
		{[]string{"ab", "aa"}, 1},
		{[]string{"ab", "a"}, 1},
		{[]string{"a", "a"}, 1}, // a repeated key is never in order
		{[]string{"b", "a", "c"}, 1},
		{[]string{"x"}, 0},
	} {
		var j jsonBuf
		j.b = append(j.b, '{')
		j.begin()
		for i, k := range tc.keys {
			j.uint(k, uint64(i))
		}
		j.end()
		if j.Sorts != tc.sorts {
			t.Errorf("%q: %d sorts, want %d", tc.keys, j.Sorts, tc.sorts)
		}
		if !json.Valid(j.b) {
			t.Errorf("%q: invalid JSON %s", tc.keys, j.b)
		}
	}
}

// appendTime formats exactly as time.RFC3339Nano in UTC, whichever of
// its cached seconds it uses.
func TestAppendTime(t *testing.T) {
	var j jsonBuf
	base := time.Date(2026, 11, 27, 23, 59, 59, 0, time.UTC)
	times := []time.Time{
		base, base.Add(1), base.Add(10), base.Add(120 * time.Millisecond),
		base.Add(999999999), base.Add(time.Second), base.Add(500 * time.Microsecond),
		base.In(time.FixedZone("X", -7*3600)).Add(3),
		time.Unix(0, 0), time.Unix(-1, 5), time.Unix(-62135596800, 0),
		time.Date(10000, 1, 1, 0, 0, 0, 1, time.UTC), base.Add(2),
		time.Date(292277026596, 12, 4, 15, 30, 7, 0, time.UTC), base.Add(3),
		time.Date(-1, 1, 1, 0, 0, 0, 100, time.UTC),
		{},
	}
	for i := range 2000 { // the cache's slots, reused and replaced
		times = append(times, base.Add(time.Duration(i)*time.Second/3+time.Duration(i*7919)))
	}
	for _, tm := range times {
		got := string(j.appendTime(nil, tm))
		if want := tm.UTC().Format(time.RFC3339Nano); got != want {
			t.Fatalf("appendTime(%v) = %s, want %s", tm, got, want)
		}
	}
}

// Sorting finds members by scanning what was written: strings holding
// JSON punctuation and escapes, nested objects and arrays do not fool it.
func TestJSONBufSortScansValues(t *testing.T) {
	var j jsonBuf
	j.b = append(j.b, '{')
	j.begin()
	j.str("z", `a","y":{"b":1},[`)
	j.strs("y", `\`, `"}`, "],")
	j.open("x")
	j.str("q", `\\\"`)
	j.open("p")
	j.close()
	j.close()
	j.uint("w", 7)
	j.str("v", "")
	j.bool("a", false)
	j.end()
	want := `{"a":false,"v":"","w":7,"x":{"p":{},"q":"\\\\\\\""},"y":["\\","\"}","],"],"z":"a\",\"y\":{\"b\":1},["}`
	if string(j.b) != want {
		t.Errorf("got  %s\nwant %s", j.b, want)
	}
	if j.Sorts != 2 {
		t.Errorf("%d sorts, want 2", j.Sorts)
	}
	var v map[string]any
	if err := json.Unmarshal(j.b, &v); err != nil || len(v) != 6 {
		t.Errorf("not the object written: %v %v", err, v)
	}
}
