// Package intent is what agents tell Vigil about what they mean to do:
// intent schema v1, its two wire framings, the Unix socket server the
// daemon runs, and a client for agents.
//
// The schema is documented, with examples, in docs/intent-schema.md.
package intent

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Version is the schema version this package reads and writes.
const Version = 1

// Type is what an intent reports.
type Type string

// Intent types.
const (
	SessionStart    Type = "session_start"
	SessionEnd      Type = "session_end"
	Prompt          Type = "prompt"
	ModelCall       Type = "model_call"
	ToolCallStart   Type = "tool_call_start"
	ToolCallEnd     Type = "tool_call_end"
	PermissionGrant Type = "permission_grant"
	PermissionDeny  Type = "permission_deny"
	PolicyDecision  Type = "policy_decision"
	TurnEnd         Type = "turn_end" // the agent finished answering a prompt
)

var types = map[Type]bool{
	SessionStart: true, SessionEnd: true, Prompt: true, ModelCall: true,
	ToolCallStart: true, ToolCallEnd: true, PermissionGrant: true,
	PermissionDeny: true, PolicyDecision: true, TurnEnd: true,
}

// ActionKind is the kind of a declared action.
type ActionKind string

// Declared action kinds.
const (
	Exec       ActionKind = "exec"        // run Command
	FileRead   ActionKind = "file_read"   // read Path
	FileWrite  ActionKind = "file_write"  // create or change Path
	FileDelete ActionKind = "file_delete" // delete Path
	Network    ActionKind = "network"     // connect to Host:Port (or URL)
)

var actionKinds = map[ActionKind]bool{Exec: true, FileRead: true, FileWrite: true, FileDelete: true, Network: true}

// Intent is one message of schema v1. Field names are the wire names of
// both framings (JSON and msgpack).
type Intent struct {
	V    int  `json:"v"`
	Type Type `json:"type"`
	// Time is the sender's clock, informational: Vigil orders intents
	// and kernel events by when it received the intent.
	Time          time.Time `json:"time,omitzero"`
	Agent         Agent     `json:"agent"`
	SessionID     string    `json:"session_id,omitempty"`
	CorrelationID string    `json:"correlation_id,omitempty"` // the value the agent puts in VIGIL_CORRELATION_ID
	TraceID       string    `json:"trace_id,omitempty"`       // W3C trace id (32 hex) of the agent's span, if it traces
	ToolCallID    string    `json:"tool_call_id,omitempty"`
	ToolName      string    `json:"tool_name,omitempty"`
	// PID is the agent process the intent speaks for; 0 means the
	// sender. It must be the sender, one of its ancestors or one of its
	// descendants, and run as the sender's user.
	PID       int        `json:"pid,omitempty"`
	Prompt    *PromptRef `json:"prompt,omitempty"`
	Model     *Model     `json:"model,omitempty"`
	Reasoning string     `json:"reasoning,omitempty"` // why the agent decided this
	Consent   *Consent   `json:"consent,omitempty"`
	Decision  *Decision  `json:"decision,omitempty"`
	Actions   []Action   `json:"actions,omitempty"`
	Outcome   string     `json:"outcome,omitempty"` // tool_call_end: success, failure or unknown
	Error     string     `json:"error,omitempty"`   // tool_call_end: what went wrong
	// Spooled marks an intent kept on disk while Vigil was unreachable
	// and sent later: it is recorded, with Time as when it happened, but
	// opens no tool-call window (Vigil saw nothing while it was down).
	Spooled bool `json:"spooled,omitempty"`
}

// Agent names the agent.
type Agent struct {
	ID      string `json:"id,omitempty"`
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
}

// PromptRef identifies a prompt without storing it: its SHA-256, the
// template it was made from, and the text only where the daemon is
// configured to keep it (then redacted).
type PromptRef struct {
	SHA256     string `json:"sha256,omitempty"`
	TemplateID string `json:"template_id,omitempty"`
	Text       string `json:"text,omitempty"`
}

// Model is a model call's metadata.
type Model struct {
	Provider      string   `json:"provider,omitempty"`
	Name          string   `json:"name,omitempty"`
	Version       string   `json:"version,omitempty"`
	ResponseModel string   `json:"response_model,omitempty"`
	ResponseID    string   `json:"response_id,omitempty"`
	Temperature   *float64 `json:"temperature,omitempty"`
	TopK          *float64 `json:"top_k,omitempty"`
	TopP          *float64 `json:"top_p,omitempty"`
	MaxTokens     *int64   `json:"max_tokens,omitempty"`
	InputTokens   *int64   `json:"input_tokens,omitempty"`
	OutputTokens  *int64   `json:"output_tokens,omitempty"`
	CostUSD       *float64 `json:"cost_usd,omitempty"`
}

// Consent is what the user allowed.
type Consent struct {
	UserApproved *bool  `json:"user_approved,omitempty"` // a person approved this action
	Mode         string `json:"mode,omitempty"`          // the agent's permission mode (default, acceptEdits, ...)
	Scope        string `json:"scope,omitempty"`         // what the approval covers (once, session, ...)
}

// Decision is a permission or policy decision.
type Decision struct {
	Outcome string `json:"outcome,omitempty"` // allow, deny or ask
	Policy  string `json:"policy,omitempty"`
	Rule    string `json:"rule,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

// Action is a declared action: what the agent says it will do.
type Action struct {
	Kind    ActionKind `json:"kind"`
	Command string     `json:"command,omitempty"` // exec
	Path    string     `json:"path,omitempty"`    // file_*: absolute
	Host    string     `json:"host,omitempty"`    // network: name or address
	Port    int        `json:"port,omitempty"`    // network: 0 = any
	URL     string     `json:"url,omitempty"`     // network: fills Host and Port when they are empty
}

// Limits on a message's contents.
const (
	MaxMessage    = 1 << 20 // bytes of one framed message
	maxString     = 4 << 10 // ids, names, paths, reasons
	maxCommand    = 64 << 10
	maxActions    = 64
	maxPromptText = 64 << 10
)

// ErrInvalid wraps every validation failure.
var ErrInvalid = errors.New("invalid intent")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Normalize checks an intent and fills what can be derived: a declared
// network action's host and port from its URL, a prompt's digest from its
// text. Prompt text is dropped unless keepPromptText.
func (in *Intent) Normalize(keepPromptText bool) error {
	if in.V != Version {
		return invalid("schema version %d, want %d", in.V, Version)
	}
	if !types[in.Type] {
		return invalid("unknown type %q", in.Type)
	}
	if in.Agent.Name == "" && in.Agent.ID == "" {
		return invalid("agent.name or agent.id is required")
	}
	if in.SessionID == "" {
		return invalid("session_id is required")
	}
	if (in.Type == ToolCallStart || in.Type == ToolCallEnd) && in.ToolCallID == "" {
		return invalid("%s needs tool_call_id", in.Type)
	}
	if in.PID < 0 {
		return invalid("pid %d", in.PID)
	}
	for name, s := range map[string]string{
		"agent.id": in.Agent.ID, "agent.name": in.Agent.Name, "agent.version": in.Agent.Version,
		"session_id": in.SessionID, "correlation_id": in.CorrelationID, "tool_call_id": in.ToolCallID,
		"tool_name": in.ToolName, "reasoning": in.Reasoning, "outcome": in.Outcome, "error": in.Error,
	} {
		if err := checkString(name, s, maxString); err != nil {
			return err
		}
	}
	if in.TraceID != "" && !isHex(in.TraceID, 32) {
		return invalid("trace_id %q is not 32 lowercase hex digits", in.TraceID)
	}
	switch in.Outcome {
	case "", "success", "failure", "unknown":
	default:
		return invalid("outcome %q (want success, failure or unknown)", in.Outcome)
	}
	if p := in.Prompt; p != nil {
		if err := checkString("prompt.template_id", p.TemplateID, maxString); err != nil {
			return err
		}
		if err := checkString("prompt.text", p.Text, maxPromptText); err != nil {
			return err
		}
		if p.SHA256 != "" && !isHex(p.SHA256, 64) {
			return invalid("prompt.sha256 is not 64 lowercase hex digits")
		}
		if p.Text != "" {
			sum := sha256.Sum256([]byte(p.Text))
			if d := hex.EncodeToString(sum[:]); p.SHA256 == "" {
				p.SHA256 = d
			} else if p.SHA256 != d {
				return invalid("prompt.sha256 does not match prompt.text")
			}
			if !keepPromptText {
				p.Text = ""
			}
		}
	}
	if m := in.Model; m != nil {
		for name, s := range map[string]string{"model.provider": m.Provider, "model.name": m.Name, "model.version": m.Version,
			"model.response_model": m.ResponseModel, "model.response_id": m.ResponseID} {
			if err := checkString(name, s, maxString); err != nil {
				return err
			}
		}
		for name, v := range map[string]*int64{"model.max_tokens": m.MaxTokens, "model.input_tokens": m.InputTokens, "model.output_tokens": m.OutputTokens} {
			if v != nil && (*v < 0 || *v > 1<<31-1) {
				return invalid("%s %d out of range", name, *v)
			}
		}
		for name, v := range map[string]*float64{"model.temperature": m.Temperature, "model.top_k": m.TopK, "model.top_p": m.TopP, "model.cost_usd": m.CostUSD} {
			if v != nil && (*v != *v || *v < 0 || *v > 1e9) {
				return invalid("%s out of range", name)
			}
		}
	}
	if c := in.Consent; c != nil {
		if err := checkString("consent.mode", c.Mode, maxString); err != nil {
			return err
		}
		if err := checkString("consent.scope", c.Scope, maxString); err != nil {
			return err
		}
	}
	if d := in.Decision; d != nil {
		switch d.Outcome {
		case "", "allow", "deny", "ask":
		default:
			return invalid("decision.outcome %q (want allow, deny or ask)", d.Outcome)
		}
		for name, s := range map[string]string{"decision.policy": d.Policy, "decision.rule": d.Rule, "decision.reason": d.Reason} {
			if err := checkString(name, s, maxString); err != nil {
				return err
			}
		}
	}
	if len(in.Actions) > maxActions {
		return invalid("%d actions (at most %d)", len(in.Actions), maxActions)
	}
	for i := range in.Actions {
		if err := in.Actions[i].normalize(); err != nil {
			return fmt.Errorf("%w (actions[%d])", err, i)
		}
	}
	return nil
}

func (a *Action) normalize() error {
	if !actionKinds[a.Kind] {
		return invalid("unknown action kind %q", a.Kind)
	}
	if err := checkString("command", a.Command, maxCommand); err != nil {
		return err
	}
	for name, s := range map[string]string{"path": a.Path, "host": a.Host, "url": a.URL} {
		if err := checkString(name, s, maxString); err != nil {
			return err
		}
	}
	switch a.Kind {
	case Exec:
		if strings.TrimSpace(a.Command) == "" {
			return invalid("exec action without a command")
		}
	case FileRead, FileWrite, FileDelete:
		if !strings.HasPrefix(a.Path, "/") {
			return invalid("%s action needs an absolute path, got %q", a.Kind, a.Path)
		}
		a.Path = path.Clean(a.Path)
	case Network:
		if a.URL != "" {
			u, err := url.Parse(a.URL)
			if err != nil || u.Host == "" {
				return invalid("network action url %q is not an absolute URL", a.URL)
			}
			if a.Host == "" {
				a.Host = u.Hostname()
			}
			if a.Port == 0 {
				switch p := u.Port(); {
				case p != "":
					n, err := strconv.Atoi(p)
					if err != nil {
						return invalid("network action url %q has a bad port", a.URL)
					}
					a.Port = n
				case u.Scheme == "https" || u.Scheme == "wss":
					a.Port = 443
				case u.Scheme == "http" || u.Scheme == "ws":
					a.Port = 80
				}
			}
		}
		if a.Host == "" {
			return invalid("network action needs a host or a url")
		}
		a.Host = strings.ToLower(strings.Trim(a.Host, "[]"))
		if a.Port < 0 || a.Port > 65535 {
			return invalid("network action port %d", a.Port)
		}
	}
	return nil
}

func checkString(name, s string, limit int) error {
	if len(s) > limit {
		return invalid("%s is %d bytes (at most %d)", name, len(s), limit)
	}
	if !utf8.ValidString(s) {
		return invalid("%s is not valid UTF-8", name)
	}
	if strings.IndexByte(s, 0) >= 0 {
		return invalid("%s holds a NUL byte", name)
	}
	return nil
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
