package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/intent"
)

// emit runs vigil emit in-process.
func emit(t testing.TB, stdin string, args ...string) (int, string) {
	t.Helper()
	var stderr bytes.Buffer
	code := emitCommand(args, &stderr, testProcEnv(stdin))
	return code, stderr.String()
}

func TestEmitFlags(t *testing.T) {
	sock, col := startIntentServer(t, "")
	from := time.Now()
	code, stderr := emit(t, "", "--socket", sock, "--type", "tool_call_start", "--session", "s1", "--agent", "my-agent",
		"--agent-version", "1.2.3", "--tool-call-id", "c1", "--tool", "shell", "--correlation-id", "corr-9", "--reason", "count receipts",
		"--exec", "ls -l receipts", "--exec", "wc -l", "--read", "/etc/hosts", "--write", "/tmp/out.csv", "--delete", "/tmp/old",
		"--net", "https://example.com/upload", "--net", "10.0.0.1:53", "--net", "[2001:db8::1]:443", "--net", "example.org", "--net", "2001:db8::2")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	got := col.all()
	if len(got) != 1 || got[0].Err != nil {
		t.Fatalf("got %d intents (%v)", len(got), got)
	}
	want := intent.Intent{V: 1, Type: intent.ToolCallStart, SessionID: "s1", Agent: intent.Agent{Name: "my-agent", Version: "1.2.3"},
		ToolCallID: "c1", ToolName: "shell", CorrelationID: "corr-9", Reasoning: "count receipts", PID: os.Getpid(),
		Actions: []intent.Action{
			{Kind: intent.Exec, Command: "ls -l receipts"},
			{Kind: intent.Exec, Command: "wc -l"},
			{Kind: intent.FileRead, Path: "/etc/hosts"},
			{Kind: intent.FileWrite, Path: "/tmp/out.csv"},
			{Kind: intent.FileDelete, Path: "/tmp/old"},
			{Kind: intent.Network, URL: "https://example.com/upload", Host: "example.com", Port: 443},
			{Kind: intent.Network, Host: "10.0.0.1", Port: 53},
			{Kind: intent.Network, Host: "2001:db8::1", Port: 443},
			{Kind: intent.Network, Host: "example.org"},
			{Kind: intent.Network, Host: "2001:db8::2"},
		}}
	checkIntent(t, "flags", got[0].Intent, want, from, time.Now())

	code, stderr = emit(t, "", "--socket", sock, "--type", "tool_call_end", "--session", "s1", "--agent", "my-agent",
		"--tool-call-id", "c1", "--outcome", "failure", "--error", "exit status 2", "--pid", "0")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if got := col.all(); len(got) != 2 || got[1].Intent.Outcome != "failure" || got[1].Intent.Error != "exit status 2" || got[1].Intent.PID != 0 {
		t.Errorf("tool_call_end: %+v", got[len(got)-1].Intent)
	}
}

func TestEmitJSON(t *testing.T) {
	sock, col := startIntentServer(t, "")
	lines := `{"v":1,"type":"session_start","agent":{"name":"a"},"session_id":"s"}
{"type":"tool_call_start","agent":{"name":"a"},"session_id":"s","tool_call_id":"t","actions":[{"kind":"file_write","path":"/tmp/x"}]}

{"v":1,"type":"tool_call_end","agent":{"name":"a"},"session_id":"s","tool_call_id":"t","outcome":"success","pid":` + strconv.Itoa(os.Getpid()) + `}
`
	if code, stderr := emit(t, lines, "--socket", sock, "--json", "-"); code != 0 || stderr != "" {
		t.Fatalf("stdin: exit %d: %s", code, stderr)
	}
	file := filepath.Join(t.TempDir(), "in.jsonl")
	if err := os.WriteFile(file, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, stderr := emit(t, "", "--socket", sock, "--json", file); code != 0 || stderr != "" {
		t.Fatalf("file: exit %d: %s", code, stderr)
	}
	got := col.all()
	if len(got) != 6 {
		t.Fatalf("got %d intents, want 6", len(got))
	}
	for i, r := range got {
		want := []intent.Type{intent.SessionStart, intent.ToolCallStart, intent.ToolCallEnd}[i%3]
		if r.Err != nil || r.Intent.Type != want || r.Intent.PID != os.Getpid() || r.AgentPID != os.Getpid() {
			t.Errorf("intent %d: %s pid %d err %v", i, r.Intent.Type, r.Intent.PID, r.Err)
		}
	}

	// Through the real binary: the calling process (this test) is the
	// default pid.
	cmd := vigil("emit", "--socket", sock, "--json", "-")
	cmd.Stdin = strings.NewReader(lines)
	cmd.Env = append(cmd.Env, "GORACE=atexit_sleep_ms=0")
	out, err := cmd.CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Fatalf("vigil emit: %v: %s", err, out)
	}
	got = col.all()
	if len(got) != 9 || got[6].Intent.PID != os.Getpid() || got[6].Sender.PID == os.Getpid() || got[6].Err != nil {
		t.Errorf("subprocess: %d intents, pid %d", len(got), got[len(got)-1].Intent.PID)
	}
}

func TestEmitRefused(t *testing.T) {
	sock, col := startIntentServer(t, "")
	code, stderr := emit(t, "", "--socket", sock, "--type", "turn_end", "--session", "s", "--agent", "a", "--pid", strconv.Itoa(1<<30))
	if code != 1 || !strings.Contains(stderr, "refused") || !strings.Contains(stderr, "no such process") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("exit %d, stderr %q: want 1 with the daemon's reason", code, stderr)
	}
	// One refused among several: the others go, the exit status is 1.
	col.mu.Lock()
	col.refuse = func(r *intent.Received) error {
		if r.Intent.SessionID == "no" {
			return errString("not this session")
		}
		return nil
	}
	col.mu.Unlock()
	lines := `{"type":"turn_end","agent":{"name":"a"},"session_id":"yes"}
{"type":"turn_end","agent":{"name":"a"},"session_id":"no"}
{"type":"turn_end","agent":{"name":"a"},"session_id":"yes"}
`
	code, stderr = emit(t, lines, "--socket", sock, "--json", "-")
	if code != 1 || !strings.Contains(stderr, "intent 2: intent refused by vigil: not this session") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	if n := len(col.all()); n != 4 {
		t.Errorf("server got %d, want 4", n)
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func TestEmitUsage(t *testing.T) {
	sock, col := startIntentServer(t, "")
	for _, tc := range []struct {
		name, stdin string
		args        []string
		want        string
	}{
		{"nothing", "", nil, "required"},
		{"no agent", "", []string{"--type", "turn_end", "--session", "s"}, "required"},
		{"unknown type", "", []string{"--type", "bogus", "--session", "s", "--agent", "a"}, "unknown type"},
		{"relative path", "", []string{"--type", "tool_call_start", "--session", "s", "--agent", "a", "--tool-call-id", "t", "--write", "x"}, "absolute path"},
		{"bad port", "", []string{"--type", "turn_end", "--session", "s", "--agent", "a", "--net", "h:99999"}, "port"},
		{"no tool call id", "", []string{"--type", "tool_call_start", "--session", "s", "--agent", "a"}, "tool_call_id"},
		{"unknown flag", "", []string{"--bogus"}, "bogus"},
		{"extra argument", "", []string{"--type", "turn_end", "--session", "s", "--agent", "a", "x"}, "unexpected"},
		{"json and flags", "", []string{"--json", "-", "--type", "turn_end"}, "--json takes no intent options"},
		{"json not JSON", "hello\n", []string{"--json", "-"}, "intent 1"},
		{"json invalid", `{"type":"turn_end","agent":{"name":"a"}}` + "\n", []string{"--json", "-"}, "session_id is required"},
		{"json second invalid", `{"type":"turn_end","agent":{"name":"a"},"session_id":"s"}` + "\n{\"v\":2}\n", []string{"--json", "-"}, "intent 2"},
		{"json empty", "", []string{"--json", "-"}, "no intents"},
		{"json missing file", "", []string{"--json", "/nonexistent/x"}, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stderr := emit(t, tc.stdin, append([]string{"--socket", sock}, tc.args...)...)
			if code != 2 || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr, tc.want)
			}
		})
	}
	if n := len(col.all()); n != 0 {
		t.Errorf("usage errors sent %d intents", n)
	}
	if code, _ := emit(t, "", "--help"); code != 0 {
		t.Errorf("--help: exit %d", code)
	}
}

// No daemon: exit 1, nothing kept.
func TestEmitUnreachable(t *testing.T) {
	dir := shortDir(t)
	code, stderr := emit(t, "", "--socket", filepath.Join(dir, "none.sock"), "--type", "turn_end", "--session", "s", "--agent", "a")
	if code != 1 || !strings.Contains(stderr, "does not spool") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 0 {
		t.Errorf("something was kept: %v", ents)
	}
}
