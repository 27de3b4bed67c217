package sink

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
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
	rsyslogd, err := exec.LookPath("rsyslogd")
	if err != nil {
		if os.Getenv("CI") != "" || os.Getenv("VIGIL_REQUIRE_BPF") != "" {
			t.Fatal("rsyslogd is not installed (apt-get install rsyslog)")
		}
		t.Skip("rsyslogd not installed")
	}
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	out := filepath.Join(dir, "out.log")
	conf := filepath.Join(dir, "rsyslog.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`global(workDirectory=%q)
module(load="imtcp")
template(name="msgonly" type="string" string="%%msg%%\n")
ruleset(name="vigil") { action(type="omfile" file=%q template="msgonly") }
input(type="imtcp" address="127.0.0.1" port="%d" ruleset="vigil")
`, dir, out, port)), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(rsyslogd, "-n", "-f", conf, "-i", filepath.Join(dir, "pid"))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("rsyslogd did not listen")
		}
	}
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
