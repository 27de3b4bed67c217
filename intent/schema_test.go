package intent

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func valid() Intent {
	return Intent{V: 1, Type: ToolCallStart, Agent: Agent{Name: "test-agent"}, SessionID: "s1", ToolCallID: "t1"}
}

func TestNormalizeRefuses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Intent)
		want   string
	}{
		{"version", func(in *Intent) { in.V = 2 }, "schema version 2"},
		{"no version", func(in *Intent) { in.V = 0 }, "schema version 0"},
		{"type", func(in *Intent) { in.Type = "tool_call" }, `unknown type "tool_call"`},
		{"no agent", func(in *Intent) { in.Agent = Agent{} }, "agent.name or agent.id"},
		{"no session", func(in *Intent) { in.SessionID = "" }, "session_id is required"},
		{"tool call without id", func(in *Intent) { in.ToolCallID = "" }, "tool_call_start needs tool_call_id"},
		{"negative pid", func(in *Intent) { in.PID = -4 }, "pid -4"},
		{"long id", func(in *Intent) { in.SessionID = strings.Repeat("x", 5000) }, "session_id is 5000 bytes"},
		{"bad utf-8", func(in *Intent) { in.ToolName = "a\xffb" }, "tool_name is not valid UTF-8"},
		{"nul", func(in *Intent) { in.Agent.Name = "a\x00" }, "agent.name holds a NUL"},
		{"trace id", func(in *Intent) { in.TraceID = "4BF92F3577B34DA6A3CE929D0E0E4736" }, "trace_id"},
		{"outcome", func(in *Intent) { in.Outcome = "ok" }, `outcome "ok"`},
		{"prompt digest", func(in *Intent) { in.Prompt = &PromptRef{SHA256: "abc"} }, "prompt.sha256 is not"},
		{"prompt digest mismatch", func(in *Intent) {
			in.Prompt = &PromptRef{Text: "hi", SHA256: strings.Repeat("0", 64)}
		}, "does not match"},
		{"tokens", func(in *Intent) { n := int64(-1); in.Model = &Model{InputTokens: &n} }, "model.input_tokens -1"},
		{"decision", func(in *Intent) { in.Decision = &Decision{Outcome: "maybe"} }, `decision.outcome "maybe"`},
		{"action kind", func(in *Intent) { in.Actions = []Action{{Kind: "teleport"}} }, `unknown action kind "teleport"`},
		{"exec without command", func(in *Intent) { in.Actions = []Action{{Kind: Exec, Command: "  "}} }, "exec action without a command"},
		{"relative path", func(in *Intent) { in.Actions = []Action{{Kind: FileWrite, Path: "a.txt"}} }, "absolute path"},
		{"network without host", func(in *Intent) { in.Actions = []Action{{Kind: Network, Port: 80}} }, "needs a host or a url"},
		{"relative url", func(in *Intent) { in.Actions = []Action{{Kind: Network, URL: "/upload"}} }, "not an absolute URL"},
		{"port", func(in *Intent) { in.Actions = []Action{{Kind: Network, Host: "h", Port: 70000}} }, "port 70000"},
		{"too many actions", func(in *Intent) { in.Actions = make([]Action, 65) }, "65 actions"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := valid()
			tc.change(&in)
			err := in.Normalize(false)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Normalize = %v, want an ErrInvalid saying %q", err, tc.want)
			}
		})
	}
}

func TestNormalizeDerives(t *testing.T) {
	in := valid()
	in.Prompt = &PromptRef{Text: "Summarise March receipts", TemplateID: "tpl-7"}
	in.Actions = []Action{
		{Kind: Network, URL: "https://Finance.Example.internal/upload"},
		{Kind: Network, URL: "http://[::1]:8080/x"},
		{Kind: Network, Host: "10.0.0.1", Port: 22},
		{Kind: FileWrite, Path: "/home/a/../a/./x.csv"},
		{Kind: Exec, Command: "ls receipts/ | wc -l"},
	}
	if err := in.Normalize(false); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("Summarise March receipts"))
	if in.Prompt.Text != "" || in.Prompt.SHA256 != hex.EncodeToString(sum[:]) || in.Prompt.TemplateID != "tpl-7" {
		t.Errorf("prompt %+v: want the text dropped and its digest kept", in.Prompt)
	}
	want := []Action{
		{Kind: Network, URL: "https://Finance.Example.internal/upload", Host: "finance.example.internal", Port: 443},
		{Kind: Network, URL: "http://[::1]:8080/x", Host: "::1", Port: 8080},
		{Kind: Network, Host: "10.0.0.1", Port: 22},
		{Kind: FileWrite, Path: "/home/a/x.csv"},
		{Kind: Exec, Command: "ls receipts/ | wc -l"},
	}
	for i := range want {
		if in.Actions[i] != want[i] {
			t.Errorf("action %d = %+v, want %+v", i, in.Actions[i], want[i])
		}
	}
	kept := valid()
	kept.Prompt = &PromptRef{Text: "keep me"}
	if err := kept.Normalize(true); err != nil || kept.Prompt.Text != "keep me" || len(kept.Prompt.SHA256) != 64 {
		t.Errorf("with prompt text kept: %v %+v", err, kept.Prompt)
	}
}
