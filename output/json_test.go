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
