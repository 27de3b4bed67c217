package sink

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/vigilsec/vigil/internal/testenv"
)

// A record with every character CEF must escape, in header and values.
const trickyRecord = `{"@timestamp":"2026-11-27T10:00:00.5Z","event":{"action":"exec|odd","dataset":"vigil.process","kind":"event","category":["process"],"sequence":42},"host":{"name":"h1"},"process":{"pid":7,"name":"sh","command_line":"sh -c 'a=b \\ c | d\nnext line'","entity_id":"E1"},"user":{"id":"1000"}}`

func TestCEFEscaping(t *testing.T) {
	line, err := CEF([]byte(trickyRecord), "1.0|x")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(line, `CEF:0|Vigil|Vigil|1.0\|x|exec\|odd|vigil.process exec\|odd|3|`) {
		t.Errorf("header: %s", line)
	}
	if strings.ContainsAny(line, "\n\r") {
		t.Errorf("raw line break in %q", line)
	}
	if !strings.Contains(line, `cs1=sh -c 'a\=b \\ c | d\nnext line'`) {
		t.Errorf("extension escaping: %s", line)
	}
	if got := extension(t, line)["cs1"]; got != "sh -c 'a=b \\ c | d\nnext line'" {
		t.Errorf("round trip: %q", got)
	}
}

// extension parses a CEF line's extension back into values.
func extension(t *testing.T, line string) map[string]string {
	t.Helper()
	// Skip the 7 header fields (unescaped pipes).
	pipes, i := 0, 0
	for ; i < len(line) && pipes < 7; i++ {
		if line[i] == '\\' {
			i++
			continue
		}
		if line[i] == '|' {
			pipes++
		}
	}
	ext := line[i:]
	out := map[string]string{}
	// Keys are [A-Za-z0-9]+ followed by an unescaped '='.
	var key string
	start := 0
	for j := 0; j <= len(ext); j++ {
		if j < len(ext) && ext[j] == '\\' {
			j++
			continue
		}
		if j == len(ext) || ext[j] == '=' {
			if j < len(ext) {
				// The key is the last word before '='.
				k := strings.LastIndexByte(ext[:j], ' ')
				if key != "" {
					out[key] = CEFUnescapeValue(ext[start:max(k, start)])
				}
				key, start = ext[k+1:j], j+1
			} else if key != "" {
				out[key] = CEFUnescapeValue(ext[start:])
			}
		}
	}
	return out
}

func FuzzCEFValue(f *testing.F) {
	for _, s := range []string{"a=b", `c:\dir`, "x\ny", "|", `\=`, ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return // records are valid UTF-8 (the encoder replaces bad bytes)
		}
		e := CEFEscapeValue(s)
		if strings.ContainsAny(e, "\n\r") {
			t.Fatalf("line break survived: %q", e)
		}
		if got := CEFUnescapeValue(e); got != s {
			t.Fatalf("round trip %q -> %q -> %q", s, e, got)
		}
	})
}

// A real rsyslog, started by the test, receives the CEF lines intact.
func TestSyslogRsyslog(t *testing.T) {
	addr, out := testenv.Rsyslog(t)
	s := NewSyslog(SyslogConfig{Addr: addr, Version: "test"})
	defer s.Close()
	second := strings.Replace(trickyRecord, `"sequence":42`, `"sequence":43`, 1)
	if err := s.Send(context.Background(), [][]byte{[]byte(trickyRecord), []byte(second)}); err != nil {
		t.Fatal(err)
	}
	want, _ := CEF([]byte(trickyRecord), "test")
	var lines []string
	for deadline := time.Now().Add(10 * time.Second); len(lines) < 2; time.Sleep(50 * time.Millisecond) {
		b, _ := os.ReadFile(out)
		lines = strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) == 1 && lines[0] == "" {
			lines = nil
		}
		if time.Now().After(deadline) {
			t.Fatalf("rsyslog wrote %d lines: %q", len(lines), b)
		}
	}
	if strings.TrimSpace(lines[0]) != want {
		t.Errorf("rsyslog wrote\n%q\nwant\n%q", lines[0], want)
	}
	if v := extension(t, strings.TrimSpace(lines[1]))["cn1"]; v != "43" {
		t.Errorf("second record: sequence %q", v)
	}
}
