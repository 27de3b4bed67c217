package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilsec/vigil/intent"
)

// hookAgentEnv makes the test binary a stand-in agent: it runs its
// arguments as vigil (this binary again) through two shells, sh then
// bash, the way an agent may run its hook commands, and exits with their
// status. The hook's parent is then bash, whose parent is sh, whose
// parent is the agent.
const hookAgentEnv = "VIGIL_TEST_HOOK_AGENT"

func hookAgentMain() int {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, hookAgentEnv+"=") {
			env = append(env, kv)
		}
	}
	// "; exit $?" keeps each shell from replacing itself with its last
	// command.
	script := `bash -c '"$0" "$@"; exit $?' "$0" "$@"; exit $?`
	cmd := exec.Command("sh", append([]string{"-c", script, os.Args[0]}, os.Args[1:]...)...)
	cmd.Env = append(env, "VIGIL_TEST_AS_MAIN=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		fmt.Fprintln(os.Stderr, "hook agent:", err)
		return 125
	}
	return 0
}

// agentRun is one run of the stand-in agent.
type agentRun struct {
	pid            int
	code           int
	stdout, stderr string
}

// runHookAgent runs vigil ARGS under a stand-in agent, with payload on
// stdin.
func runHookAgent(t testing.TB, payload []byte, args ...string) agentRun {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	// Race-enabled binaries otherwise sleep a second at exit.
	cmd.Env = append(os.Environ(), hookAgentEnv+"=1", "GORACE=atexit_sleep_ms=0")
	cmd.Stdin = bytes.NewReader(payload)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := agentRun{pid: cmd.Process.Pid}
	if err := cmd.Wait(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatal(err)
		}
		r.code = ee.ExitCode()
	}
	r.stdout, r.stderr = out.String(), errb.String()
	if strings.Contains(r.stderr, "panic:") {
		t.Fatalf("vigil %q panicked:\n%s", args, r.stderr)
	}
	return r
}

// received collects what an intent server was given.
type received struct {
	mu     sync.Mutex
	got    []*intent.Received
	refuse func(*intent.Received) error
}

func (c *received) deliver(r *intent.Received) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, r)
	if r.Err == nil && c.refuse != nil {
		return c.refuse(r)
	}
	return nil
}

func (c *received) all() []*intent.Received {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.got)
}

// shortDir is a temporary directory with a short path (socket paths are
// limited to 107 bytes).
func shortDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "vh")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// startIntentServer serves the intent socket at path (a new one when
// empty) until the test ends.
func startIntentServer(t testing.TB, path string) (string, *received) {
	t.Helper()
	if path == "" {
		path = filepath.Join(shortDir(t), "intent.sock")
	}
	s, err := intent.Listen(intent.ServerConfig{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	col := &received{}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, col.deliver) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return path, col
}

// claudeSampleDir is shared/intents/claude-code, beside the repository.
func claudeSampleDir(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
	samples := filepath.Join(dir, "..", "shared", "intents", "claude-code")
	if _, err := os.Stat(samples); err != nil {
		t.Fatalf("Claude Code hook samples missing (the repository must sit next to shared/): %v", err)
	}
	return samples
}

const sampleSession = "7c2e0a51-4f3b-4d8e-9a61-2b7f3c9d1e04"

// claudeSampleWant is the intent each sample must become (PID and Time
// are checked apart).
func claudeSampleWant(t testing.TB, dir, name string) intent.Intent {
	t.Helper()
	base := intent.Intent{V: 1, Agent: intent.Agent{Name: "claude-code"}, SessionID: sampleSession,
		Consent: &intent.Consent{Mode: "default"}}
	bash := []intent.Action{{Kind: intent.Exec, Command: "ls receipts/ | wc -l"}}
	switch name {
	case "pre-tool-use-bash.json":
		base.Type, base.ToolCallID, base.ToolName, base.Actions = intent.ToolCallStart, "toolu_01HbQ7kX2vN9sR4tYp6mW3aZ", "Bash", bash
	case "post-tool-use-bash.json":
		base.Type, base.ToolCallID, base.ToolName, base.Actions = intent.ToolCallEnd, "toolu_01HbQ7kX2vN9sR4tYp6mW3aZ", "Bash", bash
		base.Outcome = "success"
	case "pre-tool-use-write.json":
		base.Type, base.ToolCallID, base.ToolName = intent.ToolCallStart, "toolu_01Kd8Lm2QzX5cV7bN1rT9yEw", "Write"
		base.Actions = []intent.Action{{Kind: intent.FileWrite, Path: "/home/alice/expenses/expenses.csv"}}
		base.Consent.Mode = "acceptEdits"
	case "post-tool-use-failure-webfetch.json":
		base.Type, base.ToolCallID, base.ToolName = intent.ToolCallEnd, "toolu_01Pq3Rs5Tu7Vw9Xy1Za3Bc5D", "WebFetch"
		base.Actions = []intent.Action{{Kind: intent.Network, URL: "https://finance.example.internal/upload", Host: "finance.example.internal", Port: 443}}
		base.Outcome, base.Error = "failure", "Request failed with status 403"
	case "user-prompt-submit.json":
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		var p struct{ Prompt string }
		if err := json.Unmarshal(b, &p); err != nil || p.Prompt == "" {
			t.Fatalf("%s: no prompt (%v)", name, err)
		}
		sum := sha256.Sum256([]byte(p.Prompt))
		base.Type, base.Prompt = intent.Prompt, &intent.PromptRef{SHA256: hex.EncodeToString(sum[:])}
	default:
		t.Fatalf("sample %s has no expected intent: add one here", name)
	}
	return base
}

// checkIntent compares an intent with want, Time apart (it must lie in
// [from, to]).
func checkIntent(t testing.TB, what string, got, want intent.Intent, from, to time.Time) {
	t.Helper()
	if got.Time.Before(from.Add(-time.Second)) || got.Time.After(to.Add(time.Second)) {
		t.Errorf("%s: time %v outside the run [%v, %v]", what, got.Time, from, to)
	}
	got.Time, want.Time = time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		t.Errorf("%s:\n got %s\nwant %s", what, g, w)
	}
}

func claudeSamples(t testing.TB) (string, []string) {
	t.Helper()
	dir := claudeSampleDir(t)
	names, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no samples in %s (%v)", dir, err)
	}
	for i := range names {
		names[i] = filepath.Base(names[i])
	}
	return dir, names
}

// Every sample payload, run as a hook under a stand-in agent behind two
// shells, reaches a real intent server as exactly the expected intent,
// claimed for the agent.
func TestHookClaudeCodeSamples(t *testing.T) {
	sock, col := startIntentServer(t, "")
	dir, names := claudeSamples(t)
	spoolDir := filepath.Join(shortDir(t), "spool")
	for _, name := range names {
		t.Run(strings.TrimSuffix(name, ".json"), func(t *testing.T) {
			payload, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			want := claudeSampleWant(t, dir, name)
			before := len(col.all())
			from := time.Now()
			run := runHookAgent(t, payload, "hook", "claude-code", "--socket", sock, "--spool-dir", spoolDir)
			to := time.Now()
			if run.code != 0 || run.stdout != "" || run.stderr != "" {
				t.Fatalf("exit %d, stdout %q, stderr %q; want 0 and silence", run.code, run.stdout, run.stderr)
			}
			got := col.all()[before:]
			if len(got) != 1 {
				t.Fatalf("server got %d intents, want 1", len(got))
			}
			r := got[0]
			if r.Err != nil {
				t.Fatalf("refused: %v", r.Err)
			}
			want.PID = run.pid
			checkIntent(t, name, r.Intent, want, from, to)
			if r.AgentPID != run.pid || r.Sender.PID == run.pid || r.Unbound {
				t.Errorf("bound to pid %d (sender %d, unbound %v), want the agent %d", r.AgentPID, r.Sender.PID, r.Unbound, run.pid)
			}
			if r.Intent.Prompt != nil && r.Intent.Prompt.Text != "" {
				t.Errorf("prompt text sent without --prompt-text")
			}
		})
	}
	if _, err := os.Stat(spoolDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("spool created while the daemon was up: %v", err)
	}
}

// With --prompt-text the text goes too, and the digest is its digest.
func TestHookPromptText(t *testing.T) {
	sock, col := startIntentServer(t, "")
	dir := claudeSampleDir(t)
	payload, err := os.ReadFile(filepath.Join(dir, "user-prompt-submit.json"))
	if err != nil {
		t.Fatal(err)
	}
	var p struct{ Prompt string }
	_ = json.Unmarshal(payload, &p)
	var stderr bytes.Buffer
	env := testProcEnv(string(payload))
	if code := hookCommand([]string{"claude-code", "--socket", sock, "--prompt-text"}, &stderr, env); code != 0 || stderr.Len() > 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	got := col.all()
	if len(got) != 1 || got[0].Err != nil {
		t.Fatalf("got %d intents (%v)", len(got), got)
	}
	// The test server keeps no text (its default): the hook sent it, and
	// the server checked it against the digest before dropping it.
	sum := sha256.Sum256([]byte(p.Prompt))
	if pr := got[0].Intent.Prompt; pr == nil || pr.SHA256 != hex.EncodeToString(sum[:]) || pr.Text != "" {
		t.Errorf("prompt %+v", pr)
	}
	ins, _, err := claudeIntents(payload, time.Now(), 0, true)
	if err != nil || ins[0].Prompt.Text != p.Prompt {
		t.Errorf("--prompt-text: text not sent (%v)", err)
	}
}

// testProcEnv is this process with stdin, no environment, no
// configuration file, and itself as the hook's parent.
func testProcEnv(stdin string) procEnv {
	env := processEnv()
	env.stdin = strings.NewReader(stdin)
	env.getenv = func(string) string { return "" }
	env.configPath = ""
	env.ppid = os.Getpid()
	return env
}

func TestHookClaudeIntents(t *testing.T) {
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	common := `"session_id":"s1","cwd":"/home/alice/proj","permission_mode":"plan"`
	for _, tc := range []struct {
		name    string
		payload string
		want    *intent.Intent // nil: nothing sent
		warn    string
	}{
		{"session start", `{` + common + `,"hook_event_name":"SessionStart","source":"startup"}`,
			&intent.Intent{Type: intent.SessionStart}, ""},
		{"session end", `{` + common + `,"hook_event_name":"SessionEnd","reason":"exit"}`,
			&intent.Intent{Type: intent.SessionEnd}, ""},
		{"stop", `{` + common + `,"hook_event_name":"Stop","stop_hook_active":false}`,
			&intent.Intent{Type: intent.TurnEnd}, ""},
		{"subagent stop", `{` + common + `,"hook_event_name":"SubagentStop","agent_id":"a7","agent_type":"Explore"}`,
			&intent.Intent{Type: intent.TurnEnd, Agent: intent.Agent{ID: "subagent:Explore:a7"}}, ""},
		{"subagent tool call, relative path", `{` + common + `,"hook_event_name":"PreToolUse","agent_id":"a7","agent_type":"Explore","tool_name":"Read","tool_use_id":"t1","tool_input":{"file_path":"src/../go.mod"}}`,
			&intent.Intent{Type: intent.ToolCallStart, Agent: intent.Agent{ID: "subagent:Explore:a7"}, ToolCallID: "t1", ToolName: "Read",
				Actions: []intent.Action{{Kind: intent.FileRead, Path: "/home/alice/proj/go.mod"}}}, ""},
		{"edit", `{` + common + `,"hook_event_name":"PreToolUse","tool_name":"Edit","tool_use_id":"t2","tool_input":{"file_path":"/a/b.go","old_string":"x","new_string":"y"}}`,
			&intent.Intent{Type: intent.ToolCallStart, ToolCallID: "t2", ToolName: "Edit", Actions: []intent.Action{{Kind: intent.FileWrite, Path: "/a/b.go"}}}, ""},
		{"multi edit", `{` + common + `,"hook_event_name":"PostToolUse","tool_name":"MultiEdit","tool_use_id":"t3","tool_input":{"file_path":"/a/c.go","edits":[]},"tool_response":{}}`,
			&intent.Intent{Type: intent.ToolCallEnd, Outcome: "success", ToolCallID: "t3", ToolName: "MultiEdit", Actions: []intent.Action{{Kind: intent.FileWrite, Path: "/a/c.go"}}}, ""},
		{"notebook edit", `{` + common + `,"hook_event_name":"PreToolUse","tool_name":"NotebookEdit","tool_use_id":"t4","tool_input":{"notebook_path":"nb.ipynb","new_source":""}}`,
			&intent.Intent{Type: intent.ToolCallStart, ToolCallID: "t4", ToolName: "NotebookEdit", Actions: []intent.Action{{Kind: intent.FileWrite, Path: "/home/alice/proj/nb.ipynb"}}}, ""},
		{"other tool", `{` + common + `,"hook_event_name":"PreToolUse","tool_name":"Grep","tool_use_id":"t5","tool_input":{"pattern":"x"}}`,
			&intent.Intent{Type: intent.ToolCallStart, ToolCallID: "t5", ToolName: "Grep"}, ""},
		{"interrupted", `{` + common + `,"hook_event_name":"PostToolUseFailure","tool_name":"Bash","tool_use_id":"t6","tool_input":{"command":"sleep 100"},"error":"","is_interrupt":true}`,
			&intent.Intent{Type: intent.ToolCallEnd, ToolCallID: "t6", ToolName: "Bash", Outcome: "failure", Error: "interrupted",
				Actions: []intent.Action{{Kind: intent.Exec, Command: "sleep 100"}}}, ""},
		{"bad url: the intent without the action", `{` + common + `,"hook_event_name":"PreToolUse","tool_name":"WebFetch","tool_use_id":"t7","tool_input":{"url":"not a url"}}`,
			&intent.Intent{Type: intent.ToolCallStart, ToolCallID: "t7", ToolName: "WebFetch"}, "no action declared"},
		{"relative path, no cwd", `{"session_id":"s1","permission_mode":"plan","hook_event_name":"PreToolUse","tool_name":"Write","tool_use_id":"t8","tool_input":{"file_path":"x"}}`,
			&intent.Intent{Type: intent.ToolCallStart, ToolCallID: "t8", ToolName: "Write"}, "relative path"},
		{"notification", `{` + common + `,"hook_event_name":"Notification","message":"hi"}`, nil, "nothing to report"},
		{"pre compact", `{` + common + `,"hook_event_name":"PreCompact","trigger":"auto"}`, nil, "nothing to report"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ins, warns, err := claudeIntents([]byte(tc.payload), now, 42, false)
			if err != nil {
				t.Fatal(err)
			}
			if w := strings.Join(warns, "; "); (tc.warn == "") != (w == "") || !strings.Contains(w, tc.warn) {
				t.Errorf("warnings %q, want %q", w, tc.warn)
			}
			if tc.want == nil {
				if len(ins) != 0 {
					t.Errorf("sent %+v, want nothing", ins)
				}
				return
			}
			want := *tc.want
			want.V, want.Time, want.SessionID, want.PID = 1, now, "s1", 42
			want.Agent.Name = "claude-code"
			want.Consent = &intent.Consent{Mode: "plan"}
			if len(ins) != 1 {
				t.Fatalf("%d intents", len(ins))
			}
			checkIntent(t, tc.name, ins[0], want, now, now)
		})
	}

	// Long errors and commands are cut to what the daemon accepts.
	long := strings.Repeat("é", 40<<10)
	payload, _ := json.Marshal(map[string]any{"session_id": "s", "hook_event_name": "PostToolUseFailure", "tool_name": "Bash",
		"tool_use_id": "t", "tool_input": map[string]any{"command": long}, "error": long})
	ins, _, err := claudeIntents(payload, now, 0, false)
	if err != nil || len(ins[0].Error) > 4<<10 || len(ins[0].Actions[0].Command) > 64<<10 || len(ins[0].Error) < 4000 {
		t.Errorf("long strings: %v", err)
	}

	// Without tool_use_id, a call's start and end still pair up.
	pre := `{"session_id":"s","hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"ls"}}`
	post := `{"session_id":"s","hook_event_name":"PostToolUse","tool_name":"Bash","tool_input":{"command":"ls"},"tool_response":{}}`
	other := `{"session_id":"s","hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"ls -l"}}`
	a, _, _ := claudeIntents([]byte(pre), now, 0, false)
	b, _, _ := claudeIntents([]byte(post), now, 0, false)
	c, _, _ := claudeIntents([]byte(other), now, 0, false)
	if a[0].ToolCallID == "" || a[0].ToolCallID != b[0].ToolCallID || a[0].ToolCallID == c[0].ToolCallID {
		t.Errorf("derived tool call ids: %q %q %q", a[0].ToolCallID, b[0].ToolCallID, c[0].ToolCallID)
	}
}

// Bad input never fails the agent: exit 0, one line on stderr, nothing
// sent, nothing spooled, nothing on stdout.
func TestHookBadInput(t *testing.T) {
	sock, col := startIntentServer(t, "")
	spoolDir := filepath.Join(shortDir(t), "spool")
	for _, tc := range []struct {
		name, stdin string
		args        []string
		want        string
	}{
		{"empty", "", nil, "no hook payload"},
		{"blank", " \n\t", nil, "no hook payload"},
		{"not JSON", "hello\n", nil, "not a JSON object"},
		{"JSON array", "[1,2]", nil, "not a JSON object"},
		{"cut short", `{"session_id":"s","hook_event_name":"Stop"`, nil, "not a JSON object"},
		{"no event", `{"session_id":"s"}`, nil, "no hook_event_name"},
		{"unknown event", `{"session_id":"s","hook_event_name":"Notification","message":"x"}`, nil, "Notification: nothing to report"},
		{"no session", `{"hook_event_name":"Stop"}`, nil, "session_id is required"},
		{"wrong field type", `{"session_id":7,"hook_event_name":"Stop"}`, nil, "not a JSON object"},
		{"unknown agent", `{}`, []string{"codex"}, "vigil hook claude-code"},
		{"no agent", `{}`, []string{}, "vigil hook claude-code"},
		{"bad flag", `{}`, []string{"claude-code", "--no-such-flag"}, "no-such-flag"},
		{"extra argument", `{}`, []string{"claude-code", "x"}, "unexpected arguments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if args == nil {
				args = []string{"claude-code", "--socket", sock, "--spool-dir", spoolDir}
			}
			var stderr bytes.Buffer
			if code := hookCommand(args, &stderr, testProcEnv(tc.stdin)); code != 0 {
				t.Errorf("exit %d", code)
			}
			if lines := strings.Count(stderr.String(), "\n"); lines != 1 || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr %q: want one line saying %q", stderr.String(), tc.want)
			}
		})
	}
	if got := col.all(); len(got) != 0 {
		t.Errorf("server got %d intents", len(got))
	}
	if _, err := os.Stat(spoolDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("spool created: %v", err)
	}
	// The real binary, through run: stdout stays empty, exit 0.
	res := runVigil(t, "hook", "claude-code", "--socket", sock, "--spool-dir", spoolDir)
	if res.code != 0 || res.stdout != "" || strings.Count(res.stderr, "\n") != 1 {
		t.Errorf("vigil hook with no stdin: exit %d stdout %q stderr %q", res.code, res.stdout, res.stderr)
	}
}

func TestHookAgentPID(t *testing.T) {
	proc := t.TempDir()
	for _, p := range []struct {
		pid, ppid int
		comm      string
	}{
		{100, 1, "claude"}, {101, 100, "sh"}, {102, 101, "bash"}, {103, 102, "dash"},
		{200, 1, "zsh"}, {201, 200, "sh"},
		{300, 1, "node (v22) x"}, {301, 300, "bash"},
	} {
		d := filepath.Join(proc, strconv.Itoa(p.pid))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		stat := fmt.Sprintf("%d (%s) S %d 1 1 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 123 0 0\n", p.pid, p.comm, p.ppid)
		if err := os.WriteFile(filepath.Join(d, "stat"), []byte(stat), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct{ ppid, want int }{
		{100, 100}, // the agent itself
		{101, 100}, // through one shell
		{103, 100}, // through three
		{201, 201}, // shells up to init: the nearest
		{301, 300}, // a comm with spaces and parentheses
		{999, 999}, // unreadable: the parent
		{1, 0},     // orphaned
		{0, 0},
	} {
		if got := agentPID(proc, tc.ppid); got != tc.want {
			t.Errorf("agentPID(%d) = %d, want %d", tc.ppid, got, tc.want)
		}
	}
}

func TestHookSocketPath(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "vigil.toml")
	if err := os.WriteFile(good, []byte("[intent]\nsocket = \"/run/custom/i.sock\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(bad, []byte("[intent\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(sockEnv, cfg string) procEnv {
		e := testProcEnv("")
		e.getenv = func(k string) string {
			if k == intent.SocketEnv {
				return sockEnv
			}
			return ""
		}
		e.configPath = cfg
		return e
	}
	for _, tc := range []struct {
		flag, env, cfg, want string
	}{
		{"/f.sock", "/e.sock", good, "/f.sock"},
		{"", "/e.sock", good, "/e.sock"},
		{"", "", good, "/run/custom/i.sock"},
		{"", "", bad, intent.DefaultSocket},
		{"", "", filepath.Join(dir, "none.toml"), intent.DefaultSocket},
	} {
		if got := intentSocket(tc.flag, env(tc.env, tc.cfg)); got != tc.want {
			t.Errorf("flag %q env %q config %s: %q, want %q", tc.flag, tc.env, filepath.Base(tc.cfg), got, tc.want)
		}
	}
	// The default spool directory.
	e := testProcEnv("")
	e.getenv = func(k string) string {
		return map[string]string{"XDG_RUNTIME_DIR": "/run/user/7", "HOME": "/home/a"}[k]
	}
	if d, _ := defaultSpoolDir(e); d != "/run/user/7/vigil/spool" {
		t.Errorf("spool dir %q", d)
	}
	e.getenv = func(k string) string { return map[string]string{"HOME": "/home/a"}[k] }
	if d, _ := defaultSpoolDir(e); d != "/home/a/.local/state/vigil/spool" {
		t.Errorf("spool dir %q", d)
	}
	e.getenv = func(string) string { return "" }
	if _, err := defaultSpoolDir(e); err == nil {
		t.Error("no HOME, no XDG_RUNTIME_DIR: no error")
	}
}

// spoolFiles lists the spooled intents in dir, oldest first.
func spoolFiles(t testing.TB, dir string) []string {
	t.Helper()
	names, err := (&spool{}).list(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return names
}

// Daemon down: intents are spooled (0700 directory, 0600 files, Spooled,
// no prompt text). Daemon back: the next hook run sends its own intent,
// then the spooled ones oldest first; one the daemon refuses goes to
// refused/ with the reason, and the spool ends empty.
func TestHookSpoolThenDeliver(t *testing.T) {
	dir, names := claudeSamples(t)
	base := shortDir(t)
	sock := filepath.Join(base, "run", "intent.sock") // nobody listens yet
	spoolDir := filepath.Join(base, "state", "spool")
	prompt := ""
	type spooled struct {
		name string
		pid  int
	}
	var runs []spooled
	from := time.Now()
	for _, name := range names {
		payload, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if name == "user-prompt-submit.json" {
			var p struct{ Prompt string }
			_ = json.Unmarshal(payload, &p)
			prompt = p.Prompt
		}
		run := runHookAgent(t, payload, "hook", "claude-code", "--socket", sock, "--spool-dir", spoolDir)
		if run.code != 0 || run.stdout != "" || strings.Count(run.stderr, "\n") != 1 || !strings.Contains(run.stderr, "spooled in "+spoolDir) {
			t.Fatalf("%s: exit %d stdout %q stderr %q", name, run.code, run.stdout, run.stderr)
		}
		runs = append(runs, spooled{name, run.pid})
	}
	to := time.Now()
	fi, err := os.Stat(spoolDir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("spool directory: %v %v", fi.Mode(), err)
	}
	files := spoolFiles(t, spoolDir)
	if len(files) != len(names) {
		t.Fatalf("%d files spooled, want %d", len(files), len(names))
	}
	for i, f := range files {
		path := filepath.Join(spoolDir, f)
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v (%v), want 0600", f, fi.Mode(), err)
		}
		b, _ := os.ReadFile(path)
		if prompt == "" || bytes.Contains(b, []byte(prompt)) {
			t.Errorf("%s holds the raw prompt", f)
		}
		in, err := intent.Decode(bytes.TrimSpace(b), intent.JSON)
		if err != nil {
			t.Fatal(err)
		}
		want := claudeSampleWant(t, dir, runs[i].name)
		want.PID, want.Spooled = runs[i].pid, true
		checkIntent(t, f, in, want, from, to)
	}

	// An intent the daemon will refuse, spooled between the others.
	ns, err := strconv.ParseInt(strings.SplitN(files[1], "-", 2)[0], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	bogus := fmt.Sprintf("%020d-1-bogus.json", ns+1)
	if err := os.WriteFile(filepath.Join(spoolDir, bogus), []byte(`{"v":1,"type":"bogus","agent":{"name":"claude-code"},"session_id":"s","spooled":true}`), 0o600); err != nil {
		t.Fatal(err)
	}
	files = spoolFiles(t, spoolDir)
	if files[2] != bogus {
		t.Fatalf("bogus file sorts as %v", files)
	}

	_, col := startIntentServer(t, sock)
	payload, _ := os.ReadFile(filepath.Join(dir, "pre-tool-use-bash.json"))
	run := runHookAgent(t, payload, "hook", "claude-code", "--socket", sock, "--spool-dir", spoolDir)
	if run.code != 0 || run.stdout != "" || strings.Count(run.stderr, "\n") != 1 || !strings.Contains(run.stderr, "1 intent from the spool refused") {
		t.Fatalf("delivering run: exit %d stdout %q stderr %q", run.code, run.stdout, run.stderr)
	}
	got := col.all()
	if len(got) != len(names)+2 {
		t.Fatalf("server got %d intents, want %d", len(got), len(names)+2)
	}
	if got[0].Intent.Spooled || got[0].Err != nil || got[0].AgentPID != run.pid {
		t.Errorf("the run's own intent first: %+v", got[0])
	}
	// Oldest first: the i-th spooled run's intent, with the refused one
	// in third place.
	for i, r := range got[1:] {
		if i == 2 {
			if r.Err == nil || !strings.Contains(r.Err.Error(), "unknown type") {
				t.Errorf("bogus intent: %v", r.Err)
			}
			continue
		}
		k := i
		if i > 2 {
			k--
		}
		if r.Err != nil || !r.Intent.Spooled || !r.Unbound || r.AgentPID != runs[k].pid {
			t.Errorf("spooled %d: err %v spooled %v unbound %v pid %d, want the gone agent %d", i, r.Err, r.Intent.Spooled, r.Unbound, r.AgentPID, runs[k].pid)
		}
		want := claudeSampleWant(t, dir, runs[k].name)
		want.PID, want.Spooled = runs[k].pid, true
		checkIntent(t, runs[k].name, r.Intent, want, from, to)
	}
	if left := spoolFiles(t, spoolDir); len(left) != 0 {
		t.Errorf("spool not empty: %v", left)
	}
	refused := spoolFiles(t, filepath.Join(spoolDir, "refused"))
	if len(refused) != 1 || refused[0] != bogus {
		t.Fatalf("refused/ holds %v, want %s", refused, bogus)
	}
	b, err := os.ReadFile(filepath.Join(spoolDir, "refused", bogus))
	if err != nil {
		t.Fatal(err)
	}
	var ri refusedIntent
	if err := json.Unmarshal(b, &ri); err != nil || !strings.Contains(ri.Reason, "unknown type") || !bytes.Contains(ri.Intent, []byte(`"bogus"`)) {
		t.Errorf("refused record %s (%v)", b, err)
	}
}

// A spooled intent for a live agent that is not this run's is left for
// that agent's own hooks (the daemon would refuse it from here), and
// sent once that agent is gone.
func TestHookSpoolLeavesOtherAgents(t *testing.T) {
	sock, col := startIntentServer(t, "")
	spoolDir := filepath.Join(shortDir(t), "spool")
	other := exec.Command("sleep", "60")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = other.Process.Kill(); _ = other.Wait() }()
	sp := &spool{dir: spoolDir, pid: os.Getpid(), procRoot: "/proc", now: time.Now}
	if err := sp.open(os.Getuid()); err != nil {
		t.Fatal(err)
	}
	in := intent.Intent{V: 1, Type: intent.TurnEnd, Agent: intent.Agent{Name: "claude-code"}, SessionID: "other", PID: other.Process.Pid}
	if _, _, err := sp.put(in); err != nil {
		t.Fatal(err)
	}
	stop := `{"session_id":"mine","hook_event_name":"Stop"}`
	hook := func() {
		t.Helper()
		var stderr bytes.Buffer
		if code := hookCommand([]string{"claude-code", "--socket", sock, "--spool-dir", spoolDir}, &stderr, testProcEnv(stop)); code != 0 || stderr.Len() > 0 {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
	}
	hook()
	if got := col.all(); len(got) != 1 || got[0].Intent.SessionID != "mine" || len(spoolFiles(t, spoolDir)) != 1 {
		t.Fatalf("live other agent: %d sent, %d left", len(got), len(spoolFiles(t, spoolDir)))
	}
	_ = other.Process.Kill()
	_ = other.Wait()
	hook()
	got := col.all()
	if len(got) != 3 || got[2].Intent.SessionID != "other" || !got[2].Unbound || got[2].Err != nil || len(spoolFiles(t, spoolDir)) != 0 {
		t.Fatalf("after the other agent ended: %d sent, %d left", len(got), len(spoolFiles(t, spoolDir)))
	}
}

// A full spool keeps the newest, counts what it dropped and says so; the
// next run that reaches the daemon reports the count.
func TestSpoolFullDropsOldest(t *testing.T) {
	dir := filepath.Join(shortDir(t), "spool")
	sp := &spool{dir: dir, pid: os.Getpid(), procRoot: "/proc", now: time.Now, maxFiles: 3}
	if err := sp.open(os.Getuid()); err != nil {
		t.Fatal(err)
	}
	gone := 1 << 30
	var total int
	for i := range 5 {
		in := intent.Intent{V: 1, Type: intent.TurnEnd, Agent: intent.Agent{Name: "a"}, SessionID: fmt.Sprint("s", i), PID: gone,
			Time: time.Unix(1700000000+int64(i), 0)}
		waiting, dropped, err := sp.put(in)
		if err != nil {
			t.Fatal(err)
		}
		total += dropped
		if waiting != min(i+1, 3) {
			t.Errorf("put %d: %d waiting", i, waiting)
		}
	}
	if total != 2 {
		t.Errorf("dropped %d, want 2", total)
	}
	files := spoolFiles(t, dir)
	if len(files) != 3 {
		t.Fatalf("%d files left", len(files))
	}
	for i, f := range files {
		b, _ := os.ReadFile(filepath.Join(dir, f))
		if !bytes.Contains(b, []byte(fmt.Sprintf(`"session_id":"s%d"`, i+2))) {
			t.Errorf("file %d is %s, want the newest kept", i, b)
		}
	}
	// A byte bound too.
	sp.maxFiles, sp.maxBytes = 100, 1
	if _, dropped, err := sp.put(intent.Intent{V: 1, Type: intent.TurnEnd, Agent: intent.Agent{Name: "a"}, SessionID: "big", PID: gone}); err != nil || dropped != 4 {
		t.Errorf("byte bound: dropped %d (%v), want all 4 (the file itself is over the bound)", dropped, err)
	}

	// Through the hook: a full spool is said on stderr, and the next
	// delivery reports the count.
	sp.maxFiles, sp.maxBytes = 0, 0
	_, _, _ = sp.put(intent.Intent{V: 1, Type: intent.TurnEnd, Agent: intent.Agent{Name: "a"}, SessionID: "kept", PID: gone})
	sock, col := startIntentServer(t, "")
	var stderr bytes.Buffer
	if code := hookCommand([]string{"claude-code", "--socket", sock, "--spool-dir", dir}, &stderr, testProcEnv(`{"session_id":"s","hook_event_name":"Stop"}`)); code != 0 {
		t.Fatal(code)
	}
	if !strings.Contains(stderr.String(), "6 intents dropped from the full spool") || strings.Count(stderr.String(), "\n") != 1 {
		t.Errorf("stderr %q", stderr.String())
	}
	if got := col.all(); len(got) != 2 || got[1].Intent.SessionID != "kept" {
		t.Errorf("delivered %d", len(got))
	}
	if _, err := os.Stat(filepath.Join(dir, "dropped")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("dropped count not cleared: %v", err)
	}
}

// The spool directory must be this user's; a loose mode is tightened.
func TestSpoolDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sp := &spool{dir: dir}
	if err := sp.open(os.Getuid()); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("mode %v", fi.Mode())
	}
	if err := sp.open(os.Getuid() + 1); err == nil || !strings.Contains(err.Error(), "belongs to uid") {
		t.Errorf("another user's directory: %v", err)
	}
}

// silentListener accepts connections and never answers.
func silentListener(t testing.TB) string {
	t.Helper()
	path := filepath.Join(shortDir(t), "silent.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return path
}

// A daemon that never answers holds the hook no longer than its bound;
// the intent is spooled.
func TestHookBoundedWhenDaemonHangs(t *testing.T) {
	sock := silentListener(t)
	spoolDir := filepath.Join(shortDir(t), "spool")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- hookCommand([]string{"claude-code", "--socket", sock, "--spool-dir", spoolDir}, &stderr,
			testProcEnv(`{"session_id":"s","hook_event_name":"PreToolUse","tool_name":"Bash","tool_use_id":"t","tool_input":{"command":"true"}}`))
	}()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d", code)
		}
	case <-ctx.Done():
		t.Fatal("the hook is still waiting for a daemon that never answers")
	}
	if !strings.Contains(stderr.String(), "did not answer") || len(spoolFiles(t, spoolDir)) != 1 {
		t.Errorf("stderr %q, %d spooled", stderr.String(), len(spoolFiles(t, spoolDir)))
	}
	// A payload that never ends is bounded too.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	defer r.Close()
	if _, err := readPayload(r, 50*time.Millisecond); err == nil || !strings.Contains(err.Error(), "within") {
		t.Errorf("stdin never closed: %v", err)
	}
}

// BenchmarkHookPreToolUse is one hook run in-process against a real
// intent server: mapping, dial, send, answer.
func BenchmarkHookPreToolUse(b *testing.B) {
	sock, _ := startIntentServer(b, "")
	payload := `{"session_id":"s","cwd":"/tmp","permission_mode":"default","hook_event_name":"PreToolUse","tool_name":"Bash","tool_use_id":"t","tool_input":{"command":"ls -l"}}`
	spoolDir := filepath.Join(shortDir(b), "spool")
	var stderr bytes.Buffer
	start := time.Now()
	for b.Loop() {
		hookCommand([]string{"claude-code", "--socket", sock, "--spool-dir", spoolDir}, &stderr, testProcEnv(payload))
	}
	if stderr.Len() > 0 {
		b.Fatal(stderr.String())
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "hooks/s")
}
