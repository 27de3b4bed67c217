package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// The daemon is down: the hook spools. The daemon starts: the next hook
// run delivers the spooled intent after its own, and both are in the
// daemon's sealed log; the spooled one as such, with its own time.
func TestDaemonHookSpoolDelivered(t *testing.T) {
	requireBPF(t)
	dir, keys, out, cfg := daemonWithFile(t)
	sock := filepath.Join(dir, "intent.sock") // where writeDaemonConfig puts it
	spool := filepath.Join(dir, "spool")
	sample := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("..", "..", "..", "shared", "intents", "claude-code", name))
		if err != nil {
			t.Fatalf("Claude Code samples: %v", err)
		}
		return b
	}
	hook := []string{"hook", "claude-code", "--socket", sock, "--spool-dir", spool}

	if r := runHookAgent(t, sample("pre-tool-use-write.json"), hook...); r.code != 0 {
		t.Fatalf("hook with the daemon down: exit %d: %s", r.code, r.stderr)
	}
	if files, _ := filepath.Glob(filepath.Join(spool, "*.json")); len(files) != 1 {
		t.Fatalf("spool holds %d intents, want 1", len(files))
	}
	d, _ := startDaemon(t, cfg)
	if r := runHookAgent(t, sample("user-prompt-submit.json"), hook...); r.code != 0 || r.stderr != "" {
		t.Fatalf("hook with the daemon up: exit %d: %s", r.code, r.stderr)
	}
	if files, _ := filepath.Glob(filepath.Join(spool, "*.json")); len(files) != 0 {
		t.Errorf("spool still holds %d intents", len(files))
	}
	_ = d.Process.Signal(syscall.SIGTERM)
	if err := d.Wait(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range parseRecords(t, string(b)) {
		if d.str("event.dataset") == "vigil.intent" {
			spooled, _ := d.get("Vigil.intent.spooled").(bool)
			got = append(got, fmt.Sprintf("%s %s spooled=%v", d.str("event.action"), d.str("gen_ai.tool.call.id"), spooled))
			if d.str("Vigil.session.id") != "7c2e0a51-4f3b-4d8e-9a61-2b7f3c9d1e04" {
				t.Errorf("intent record without its session: %v", d)
			}
		}
	}
	want := []string{"prompt  spooled=false", "tool_call_start toolu_01Kd8Lm2QzX5cV7bN1rT9yEw spooled=true"}
	if !slices.Equal(got, want) {
		t.Errorf("intent records\n%q\nwant\n%q", got, want)
	}
	if res := runVigil(t, "verify", "--key-dir", keys, out); res.code != 0 {
		t.Errorf("verify: %s%s", res.stdout, res.stderr)
	}
}

// A process no configured agent matches reports intents to the daemon:
// it becomes an agent root, its actions are recorded and judged.
func TestDaemonRegistersAgentFromIntents(t *testing.T) {
	requireBPF(t)
	dir, _, out, cfg := daemonWithFile(t)
	sock := filepath.Join(dir, "intent.sock")
	d, _ := startDaemon(t, cfg)
	target := filepath.Join(dir, "reg.txt")
	emit := `"$VIGIL" emit --socket "$SOCK" --session reg-1 --agent registered`
	script := emit + ` --type session_start && sleep 1 && echo x > "$TARGET" && sleep 1 && ` + emit + ` --type session_end`
	cmd := vigil() // only for its environment: this binary runs as vigil
	sh := exec.Command("sh", "-c", script)
	sh.Env = append(cmd.Env, "VIGIL="+os.Args[0], "SOCK="+sock, "TARGET="+target)
	if b, err := sh.CombinedOutput(); err != nil {
		t.Fatalf("agent script: %v: %s", err, b)
	}
	// Another process claims to speak for an agent it is not related to:
	// refused, and recorded as an alert. A malformed message too (not an
	// alert), and the daemon goes on.
	other := exec.Command("sleep", "30")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = other.Process.Kill(); _ = other.Wait() }()
	res := runVigil(t, "emit", "--socket", sock, "--type", "prompt", "--session", "reg-1", "--agent", "registered",
		"--pid", fmt.Sprint(other.Process.Pid))
	if res.code != 1 || !strings.Contains(res.stderr, "neither the sender") {
		t.Errorf("a claim on an unrelated process: exit %d: %s", res.code, res.stderr)
	}
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("{\"v\":1}\n")); err != nil {
		t.Fatal(err)
	}
	reply := make([]byte, 512)
	n, _ := c.Read(reply)
	c.Close()
	if !strings.Contains(string(reply[:n]), `"ok":false`) {
		t.Errorf("malformed intent answered %q", reply[:n])
	}
	_ = d.Process.Signal(syscall.SIGTERM)
	if err := d.Wait(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var created, undeclared bool
	var refused []string
	for _, r := range parseRecords(t, string(b)) {
		if r.str("event.action") == "intent_refused" {
			refused = append(refused, r.str("event.kind")+" "+r.str("error.message"))
		}
		if r.str("file.path") != target {
			continue
		}
		if r.str("Vigil.session.id") != "reg-1" {
			t.Errorf("a record of the registered agent's file is not joined to its session: %v", r)
		}
		switch r.str("event.dataset") {
		case "vigil.file":
			if r.str("event.action") == "creation" {
				created = r.str("Vigil.session.id") == "reg-1" && r.str("gen_ai.agent.name") == "registered"
				if !created {
					t.Logf("creation record: %v", r)
				}
			}
		case "vigil.verdict":
			undeclared = r.str("event.action") == "undeclared" && r.str("event.kind") == "alert"
		}
	}
	if len(refused) != 2 || !strings.HasPrefix(refused[0], "alert intent refused: pid") || !strings.HasPrefix(refused[1], "event invalid intent:") {
		t.Errorf("refusals recorded: %q", refused)
	}
	if !created || !undeclared {
		t.Errorf("the registered agent's write: recorded in its session %v, undeclared alert %v\n%s", created, undeclared, b)
	}
}
