//go:build linux

// Command agent is a scripted agent for end-to-end tests: it reports
// intents on $VIGIL_INTENT_SOCKET and acts, sometimes as it declared and
// sometimes not:
//
//	T1 declares a write to DIR/a.txt and writes it        (corroborated)
//	T2 declares a write to DIR/b.txt and does nothing     (unwitnessed)
//	outside any tool call: writes DIR/c.txt and connects
//	to LISTENER                                           (undeclared, twice)
//	T3 declares a write to DIR/d.txt and writes DIR/e.txt (mismatched)
//	T4 declares a command and runs it with TRACEPARENT set
//	   in its environment; its grandchildren write DIR/f.txt
//	   (corroborated, f.txt among the call's effects)
//
// With a third argument, VIGIL, it also reports the prompt by running
// "VIGIL emit" as a child (Vigil's own helpers are never judged).
//
// Usage: agent DIR LISTENER [VIGIL]
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/vigilsec/vigil/intent"
)

// TraceParent is what T4's command runs with.
const (
	TraceID     = "4bf92f3577b34da6a3ce929d0e0e4736"
	TraceParent = "00-" + TraceID + "-00f067aa0ba902b7-01"
	Session     = "e2e-session-1"
)

func main() {
	if len(os.Args) != 3 && len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: agent DIR LISTENER [VIGIL]")
		os.Exit(2)
	}
	vigil := ""
	if len(os.Args) == 4 {
		vigil = os.Args[3]
	}
	if err := run(os.Args[1], os.Args[2], vigil); err != nil {
		fmt.Fprintln(os.Stderr, "agent:", err)
		os.Exit(1)
	}
}

func run(dir, listener, vigil string) error {
	ctx := context.Background()
	c, err := intent.Dial(ctx, "", intent.JSON)
	if err != nil {
		return err
	}
	defer c.Close()
	agent := intent.Agent{Name: "e2e-agent", Version: "1.0"}
	send := func(in intent.Intent) error {
		in.Agent, in.SessionID = agent, Session
		if err := c.Send(ctx, in); err != nil {
			return fmt.Errorf("%s %s: %w", in.Type, in.ToolCallID, err)
		}
		return nil
	}
	start := func(id, tool string, actions ...intent.Action) error {
		return send(intent.Intent{Type: intent.ToolCallStart, ToolCallID: id, ToolName: tool, Actions: actions})
	}
	end := func(id, tool string) error {
		return send(intent.Intent{Type: intent.ToolCallEnd, ToolCallID: id, ToolName: tool, Outcome: "success"})
	}
	write := func(name string) error {
		return os.WriteFile(filepath.Join(dir, name), []byte("data\n"), 0o644)
	}
	path := func(name string) string { return filepath.Join(dir, name) }

	if err := send(intent.Intent{Type: intent.SessionStart}); err != nil {
		return err
	}
	if vigil != "" {
		out, err := exec.Command(vigil, "emit", "--type", "prompt", "--session", Session, "--agent", agent.Name).CombinedOutput()
		if err != nil {
			return fmt.Errorf("vigil emit: %v: %s", err, out)
		}
	}
	// T1: as declared.
	if err := start("T1", "Write", intent.Action{Kind: intent.FileWrite, Path: path("a.txt")}); err != nil {
		return err
	}
	if err := write("a.txt"); err != nil {
		return err
	}
	if err := end("T1", "Write"); err != nil {
		return err
	}
	// T2: declared, never done.
	if err := start("T2", "Write", intent.Action{Kind: intent.FileWrite, Path: path("b.txt")}); err != nil {
		return err
	}
	if err := end("T2", "Write"); err != nil {
		return err
	}
	// Undeclared, outside any tool call. The pause keeps them clear of
	// the grace period of the call before.
	time.Sleep(3 * time.Second)
	if err := write("c.txt"); err != nil {
		return err
	}
	conn, err := net.Dial("tcp", listener)
	if err != nil {
		return err
	}
	conn.Close()
	time.Sleep(3 * time.Second)
	// T3: declared one file, wrote another.
	if err := start("T3", "Write", intent.Action{Kind: intent.FileWrite, Path: path("d.txt")}); err != nil {
		return err
	}
	if err := write("e.txt"); err != nil {
		return err
	}
	if err := end("T3", "Write"); err != nil {
		return err
	}
	// T4: a declared command whose grandchildren act, joined by the trace
	// id in their environment.
	script := fmt.Sprintf("sh -c 'echo x > %s'", path("f.txt"))
	cmdline := "sh -c " + script
	if err := send(intent.Intent{Type: intent.ToolCallStart, ToolCallID: "T4", ToolName: "Bash", TraceID: TraceID,
		Actions: []intent.Action{{Kind: intent.Exec, Command: script}}}); err != nil {
		return err
	}
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.Env = append(os.Environ(), "TRACEPARENT="+TraceParent)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %v: %s", cmdline, err, out)
	}
	if err := end("T4", "Bash"); err != nil {
		return err
	}
	return send(intent.Intent{Type: intent.SessionEnd})
}
