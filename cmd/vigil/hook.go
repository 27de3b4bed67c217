package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vigilsec/vigil/intent"
)

const hookUsage = `Usage: vigil hook claude-code [--socket PATH] [--spool-dir DIR] [--prompt-text]

Reads one Claude Code hook payload (JSON) on stdin and reports it to
Vigil as an intent: SessionStart, SessionEnd, UserPromptSubmit (the
prompt's SHA-256 only), PreToolUse, PostToolUse, PostToolUseFailure, Stop
and SubagentStop. Other events send nothing. The intent speaks for the
hook's parent process, or the first ancestor that is not a shell (sh,
bash, dash, zsh): the agent.

A hook must not get in the agent's way: it always exits 0, writes nothing
on stdout, says what went wrong in one line on stderr, and gives up on
the daemon after 1s. While the daemon cannot be reached, intents are
spooled in DIR ($XDG_RUNTIME_DIR/vigil/spool, else
~/.local/state/vigil/spool) and sent, oldest first, by the next run
that reaches it. See docs/claude-code.md.

The socket is --socket, else $VIGIL_INTENT_SOCKET, else intent.socket in
/etc/vigil/vigil.toml, else /run/vigil/intent.sock.

Options:
`

const (
	// hookTimeout bounds dialling, sending and the answers.
	hookTimeout = time.Second
	// hookStdinWait bounds reading the payload, in case stdin is never
	// closed.
	hookStdinWait = 5 * time.Second
	// maxPayload: a Write's payload holds the whole file.
	maxPayload = 64 << 20
	// Mirrors of intent's limits on strings, so long values are cut
	// rather than the intent refused.
	maxIntentString  = 4 << 10
	maxIntentCommand = 64 << 10
)

// The agent name claude-code's intents carry.
const claudeCodeAgent = "claude-code"

// hookCommand runs vigil hook. It always returns 0: a hook that fails
// must not fail the agent (Claude Code blocks a tool call on exit status
// 2).
func hookCommand(args []string, stderr io.Writer, env procEnv) int {
	var notes []string
	note := func(format string, a ...any) { notes = append(notes, oneLine(fmt.Sprintf(format, a...))) }
	defer func() {
		if len(notes) > 0 {
			fmt.Fprintf(stderr, "vigil hook: %s\n", strings.Join(notes, "; "))
		}
	}()
	if len(args) == 0 || args[0] != "claude-code" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
			fmt.Fprint(stderr, hookUsage)
			return 0
		}
		note("want \"vigil hook claude-code\" (the only agent with hooks so far); nothing sent")
		return 0
	}
	fs := flag.NewFlagSet("vigil hook claude-code", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	socket := fs.String("socket", "", "the intent socket's `PATH`")
	spoolDir := fs.String("spool-dir", "", "spool intents in `DIR` while the daemon is unreachable")
	promptText := fs.Bool("prompt-text", false, "send the prompt's text too (the daemon keeps it only if configured to)")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stderr)
			fmt.Fprint(stderr, hookUsage)
			fs.PrintDefaults()
			return 0
		}
		note("%v; nothing sent", err)
		return 0
	}
	if fs.NArg() > 0 {
		note("unexpected arguments %q; nothing sent", fs.Args())
		return 0
	}

	payload, err := readPayload(env.stdin, hookStdinWait)
	if err != nil {
		note("%v; nothing sent", err)
		return 0
	}
	ins, warns, err := claudeIntents(payload, env.now().UTC(), agentPID(env.procRoot, env.ppid), *promptText)
	for _, w := range warns {
		note("%s", w)
	}
	if err != nil {
		note("%v; nothing sent", err)
		return 0
	}
	if len(ins) == 0 {
		return 0
	}

	sp := &spool{dir: *spoolDir, pid: env.pid, procRoot: env.procRoot, now: env.now}
	sock := intentSocket(*socket, env)
	ctx, cancel := context.WithTimeout(context.Background(), hookTimeout)
	defer cancel()
	for _, m := range deliver(ctx, sock, ins, sp, env) {
		note("%s", m)
	}
	return 0
}

// readPayload reads all of r, waiting at most wait.
func readPayload(r io.Reader, wait time.Duration) ([]byte, error) {
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := io.ReadAll(io.LimitReader(r, maxPayload+1))
		done <- result{b, err}
	}()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case res := <-done:
		switch {
		case res.err != nil:
			return nil, fmt.Errorf("read the hook payload: %w", res.err)
		case len(res.b) > maxPayload:
			return nil, fmt.Errorf("hook payload larger than %d MiB", maxPayload>>20)
		case len(bytes.TrimSpace(res.b)) == 0:
			return nil, errors.New("no hook payload on stdin")
		}
		return res.b, nil
	case <-timer.C:
		return nil, fmt.Errorf("no hook payload on stdin within %v", wait)
	}
}

// deliver sends intents to the daemon and then what the spool holds;
// what cannot reach it is spooled. It returns what is worth saying.
func deliver(ctx context.Context, sock string, ins []intent.Intent, sp *spool, env procEnv) (notes []string) {
	c, err := intent.Dial(ctx, sock, intent.JSON)
	if err != nil {
		return spoolAll(ins, sp, env, fmt.Sprintf("vigil unreachable: %v", err))
	}
	defer c.Close()
	for i, in := range ins {
		err := c.Send(ctx, in)
		switch {
		case err == nil:
		case errors.Is(err, intent.ErrRefused):
			notes = append(notes, fmt.Sprintf("%s refused: %s", in.Type, strings.TrimPrefix(err.Error(), intent.ErrRefused.Error()+": ")))
		default:
			return append(notes, spoolAll(ins[i:], sp, env, fmt.Sprintf("vigil at %s did not answer: %v", sock, err))...)
		}
	}
	// The daemon is there: deliver what was spooled while it was not.
	if sp.dir == "" {
		if sp.dir, err = defaultSpoolDir(env); err != nil {
			return notes // nothing can have been spooled
		}
	}
	if !sp.exists() {
		return notes
	}
	res, err := sp.flush(ctx, c, ancestry(env.procRoot, env.pid))
	if res.dropped.Count > 0 {
		notes = append(notes, fmt.Sprintf("%s dropped from the full spool between %s and %s never reached vigil",
			intents(res.dropped.Count), res.dropped.First.Format(time.RFC3339), res.dropped.Last.Format(time.RFC3339)))
	}
	if res.refused > 0 {
		notes = append(notes, fmt.Sprintf("%s from the spool refused by vigil, kept in %s", intents(res.refused), filepath.Join(sp.dir, "refused")))
	}
	if err != nil {
		notes = append(notes, fmt.Sprintf("delivering the spool: %v (%d left in %s)", err, res.left, sp.dir))
	}
	return notes
}

// spoolAll spools intents the daemon did not get; why says why.
func spoolAll(ins []intent.Intent, sp *spool, env procEnv, why string) []string {
	if sp.dir == "" {
		d, err := defaultSpoolDir(env)
		if err != nil {
			return []string{fmt.Sprintf("%s; %s lost: %v", why, intents(len(ins)), err)}
		}
		sp.dir = d
	}
	if err := sp.open(env.uid); err != nil {
		return []string{fmt.Sprintf("%s; %s lost: %v", why, intents(len(ins)), err)}
	}
	var (
		waiting, dropped int
		err              error
	)
	for i, in := range ins {
		// An intent for an unknown agent speaks for this process: gone
		// by the time it is sent, so the daemon records it unbound
		// rather than binding it to whoever sends the spool.
		if in.PID == 0 {
			in.PID = env.pid
		}
		var d int
		if waiting, d, err = sp.put(in); err != nil {
			return []string{fmt.Sprintf("%s; %s lost: %v", why, intents(len(ins)-i), err)}
		}
		dropped += d
	}
	msg := fmt.Sprintf("%s; spooled in %s (%d waiting)", why, sp.dir, waiting)
	if dropped > 0 {
		msg += fmt.Sprintf("; spool full: dropped the %d oldest", dropped)
	}
	return []string{msg}
}

// intents says "1 intent" or "N intents".
func intents(n int) string {
	if n == 1 {
		return "1 intent"
	}
	return fmt.Sprintf("%d intents", n)
}

// exists reports whether the spool directory is there.
func (s *spool) exists() bool {
	_, err := os.Stat(s.dir)
	return err == nil
}

// claudePayload is what Claude Code sends a hook command on stdin (the
// fields Vigil uses).
type claudePayload struct {
	SessionID      string          `json:"session_id"`
	Cwd            string          `json:"cwd"`
	PermissionMode string          `json:"permission_mode"`
	Event          string          `json:"hook_event_name"`
	AgentID        string          `json:"agent_id"`   // subagents
	AgentType      string          `json:"agent_type"` // subagents
	ToolName       string          `json:"tool_name"`
	ToolInput      json.RawMessage `json:"tool_input"`
	ToolUseID      string          `json:"tool_use_id"`
	Prompt         string          `json:"prompt"`
	Error          string          `json:"error"`
	IsInterrupt    bool            `json:"is_interrupt"`
}

// claudeIntents maps one Claude Code hook payload to intents (none for
// events Vigil has no use for). Warnings are things left out.
func claudeIntents(payload []byte, now time.Time, pid int, promptText bool) (ins []intent.Intent, warns []string, err error) {
	var p claudePayload
	if err := json.Unmarshal(payload, &p); err != nil {
		return nil, nil, fmt.Errorf("hook payload is not a JSON object: %w", err)
	}
	in := intent.Intent{
		V:         intent.Version,
		Time:      now,
		Agent:     intent.Agent{Name: claudeCodeAgent},
		SessionID: p.SessionID,
		PID:       pid,
	}
	if p.AgentID != "" || p.AgentType != "" {
		in.Agent.ID = subagentID(p.AgentType, p.AgentID)
	}
	if p.PermissionMode != "" {
		in.Consent = &intent.Consent{Mode: p.PermissionMode}
	}
	switch p.Event {
	case "SessionStart":
		in.Type = intent.SessionStart
	case "SessionEnd":
		in.Type = intent.SessionEnd
	case "UserPromptSubmit":
		in.Type = intent.Prompt
		sum := sha256.Sum256([]byte(p.Prompt))
		in.Prompt = &intent.PromptRef{SHA256: hex.EncodeToString(sum[:])}
		if promptText {
			in.Prompt.Text = p.Prompt
		}
	case "Stop", "SubagentStop":
		in.Type = intent.TurnEnd
	case "PreToolUse", "PostToolUse", "PostToolUseFailure":
		in.Type = intent.ToolCallStart
		in.ToolName = truncUTF8(p.ToolName, maxIntentString)
		in.ToolCallID = p.ToolUseID
		if in.ToolCallID == "" {
			// Older versions send no tool_use_id: the same call's start
			// and end still share the same name and input.
			sum := sha256.Sum256(append([]byte(p.SessionID+"\x00"+p.ToolName+"\x00"), p.ToolInput...))
			in.ToolCallID = "derived-" + hex.EncodeToString(sum[:16])
		}
		in.Actions, warns = claudeActions(p.ToolName, p.ToolInput, p.Cwd)
		switch p.Event {
		case "PostToolUse":
			in.Type, in.Outcome = intent.ToolCallEnd, "success"
		case "PostToolUseFailure":
			in.Type, in.Outcome, in.Error = intent.ToolCallEnd, "failure", p.Error
			if p.IsInterrupt {
				in.Error = "interrupted"
				if p.Error != "" {
					in.Error += ": " + p.Error
				}
			}
			in.Error = truncUTF8(in.Error, maxIntentString)
		}
	case "":
		return nil, nil, errors.New("hook payload has no hook_event_name")
	default:
		return nil, []string{fmt.Sprintf("event %s: nothing to report", truncUTF8(oneLine(p.Event), 64))}, nil
	}
	// Checked here, so an intent the daemon would refuse is neither sent
	// nor spooled. Normalize keeps the text: the daemon decides.
	if err := in.Normalize(true); err != nil {
		return nil, warns, fmt.Errorf("%s: %w", p.Event, err)
	}
	return []intent.Intent{in}, warns, nil
}

// subagentID is Agent.ID for a Claude Code subagent:
// "subagent:TYPE:ID".
func subagentID(typ, id string) string {
	return truncUTF8("subagent:"+typ+":"+id, maxIntentString)
}

// claudeActions declares what a Claude Code tool call will do, from its
// name and input: Bash runs its command; Write, Edit, MultiEdit and
// NotebookEdit write a file; Read reads one; WebFetch connects to its
// URL. Other tools declare nothing. Relative paths are taken from cwd.
func claudeActions(tool string, input json.RawMessage, cwd string) (acts []intent.Action, warns []string) {
	var kind intent.ActionKind
	switch tool {
	case "Bash":
		kind = intent.Exec
	case "Write", "Edit", "MultiEdit", "NotebookEdit":
		kind = intent.FileWrite
	case "Read":
		kind = intent.FileRead
	case "WebFetch":
		kind = intent.Network
	default:
		return nil, nil
	}
	var ti struct {
		Command      string `json:"command"`
		FilePath     string `json:"file_path"`
		NotebookPath string `json:"notebook_path"`
		URL          string `json:"url"`
	}
	if len(input) == 0 || json.Unmarshal(input, &ti) != nil {
		return nil, []string{fmt.Sprintf("%s: tool_input is not an object, no action declared", tool)}
	}
	a := intent.Action{Kind: kind}
	switch tool {
	case "Bash":
		a.Command = truncUTF8(ti.Command, maxIntentCommand)
	case "NotebookEdit":
		a.Path = ti.NotebookPath
	case "WebFetch":
		a.URL = ti.URL
	default:
		a.Path = ti.FilePath
	}
	if a.Path != "" && !filepath.IsAbs(a.Path) {
		if !filepath.IsAbs(cwd) {
			return nil, []string{fmt.Sprintf("%s: relative path %q and no absolute cwd, no action declared", tool, truncUTF8(a.Path, 256))}
		}
		a.Path = filepath.Join(cwd, a.Path)
	}
	// Checked one by one, so one bad action does not cost the intent.
	probe := intent.Intent{V: intent.Version, Type: intent.ToolCallStart, Agent: intent.Agent{Name: claudeCodeAgent},
		SessionID: "-", ToolCallID: "-", Actions: []intent.Action{a}}
	if err := probe.Normalize(false); err != nil {
		return nil, []string{fmt.Sprintf("%s: %v, no action declared", tool, err)}
	}
	return probe.Actions, nil
}
