package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/output/chain"
)

// The daemon tracks configured agents: one already running when it starts
// (found in /proc with its child) and one started later (matched in the
// kernel at exec), and nothing else. SIGTERM stops it cleanly.
func TestDaemon(t *testing.T) {
	requireBPF(t)
	dir := t.TempDir()
	fifo := filepath.Join(dir, "ctl")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	early := filepath.Join(dir, "vigil-e2e-early")
	late := filepath.Join(dir, "vigil-e2e-late")
	write := func(path, body string) {
		if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The early agent starts a child, then waits for the test.
	write(early, fmt.Sprintf("sleep 60 &\nread x < %s\nkill $!\n/bin/true \"early-$x\"\n", fifo))
	write(late, "/bin/true late-child\n")
	out := filepath.Join(dir, "log", "events.jsonl")
	keys := filepath.Join(dir, "keys")
	if _, _, err := chain.Keygen(keys); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "vigil.toml")
	if err := writeDaemonConfig(cfg, []byte(fmt.Sprintf(`
default_agents = false

[[agent]]
name = "early-agent"
executables = ["vigil-e2e-early"]

[[agent]]
name = "late-agent"
executables = ["vigil-e2e-late"]

[output]
file = %q

[sensor]
loss_interval = "200ms"

[integrity]
key_dir = %q
`, out, keys)), 0o600); err != nil {
		t.Fatal(err)
	}

	agent := exec.Command(early)
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = agent.Process.Kill(); _ = agent.Wait() }()
	earlyPID := int64(agent.Process.Pid)
	// Let the early agent start its child before the daemon looks.
	waitFor(t, "the early agent's child", func() bool {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", earlyPID, earlyPID))
		return len(strings.Fields(string(b))) > 0
	})

	d, logs := startDaemon(t, cfg)
	if !strings.Contains(strings.Join(logs, "\n"), "running_agents=1") {
		t.Fatalf("daemon did not report the running agent:\n%s", strings.Join(logs, "\n"))
	}

	if err := exec.Command(late).Run(); err != nil {
		t.Fatal(err)
	}
	if err := exec.Command("/bin/true", "not-an-agent").Run(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(fifo, []byte("go\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := agent.Wait(); err != nil {
		t.Fatalf("early agent: %v", err)
	}
	waitFor(t, "the early agent's end record", func() bool {
		b, _ := os.ReadFile(out)
		return strings.Contains(string(b), `"early-go"`) && strings.Contains(string(b), `"action":"end"`) &&
			strings.Count(string(b), `"early-agent"`) >= 5
	})
	if err := d.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := d.Wait(); err != nil {
		t.Fatalf("daemon did not stop cleanly on SIGTERM: %v", err)
	}

	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	docs := parseRecords(t, string(b))
	var earlyRoot, earlyChildEnd, earlyExec, lateRoot, lateChild bool
	var earlyRootID string
	for _, d := range docs {
		args := d.strs("process.args")
		agentName := d.str("gen_ai.agent.name")
		if slices.Contains(args, "not-an-agent") {
			t.Errorf("unrelated process recorded: %v", d)
		}
		switch {
		case d.num("process.pid") == earlyPID && d.str("event.action") == "end":
			earlyRoot = agentName == "early-agent" && d.str("Vigil.process.source") == "procfs" && d.num("process.exit_code") == 0
			earlyRootID = d.str("process.entity_id")
		case d.str("event.action") == "end" && slices.Equal(args, []string{"sleep", "60"}):
			earlyChildEnd = agentName == "early-agent" && d.num("process.parent.pid") == earlyPID &&
				d.str("Vigil.process.exit_signal") == "SIGTERM"
		case d.str("event.action") == "exec" && slices.Equal(args, []string{"/bin/true", "early-go"}):
			earlyExec = agentName == "early-agent" && d.num("process.parent.pid") == earlyPID
		case d.str("event.action") == "exec" && len(args) == 2 && args[1] == late:
			lateRoot = agentName == "late-agent" && d.get("Vigil.process.tree_root") == true &&
				d.str("Vigil.tree.root.entity_id") == d.str("process.entity_id")
		case d.str("event.action") == "exec" && slices.Equal(args, []string{"/bin/true", "late-child"}):
			lateChild = agentName == "late-agent"
		}
	}
	if !earlyRoot || !earlyChildEnd || !earlyExec || !lateRoot || !lateChild {
		t.Errorf("early root end=%v, early child end=%v, early exec=%v, late root=%v, late child=%v\n%s",
			earlyRoot, earlyChildEnd, earlyExec, lateRoot, lateChild, summary(docs))
	}
	for _, d := range docs {
		if d.str("gen_ai.agent.name") == "early-agent" && d.str("Vigil.tree.root.entity_id") != earlyRootID {
			t.Errorf("early agent record outside its tree: %v", d)
		}
	}
	if st, err := os.Stat(out); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("output file mode: %v %v", st, err)
	}
	// Every record is sealed: the log verifies.
	if res := runVigil(t, "verify", "--key-dir", keys, out); res.code != 0 {
		t.Errorf("verify: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
}

// The daemon's log survives restarts: after a clean stop and after a
// kill -9, the next run continues the chain, and verify tells the
// restart and the crash apart from tampering.
func TestDaemonRestarts(t *testing.T) {
	requireBPF(t)
	_, keys, out, cfg := daemonWithFile(t)
	start := func() *exec.Cmd { d, _ := startDaemon(t, cfg); return d }
	d := start()
	_ = d.Process.Signal(syscall.SIGTERM)
	if err := d.Wait(); err != nil {
		t.Fatalf("first run: %v", err)
	}
	d = start()
	_ = d.Process.Kill() // no seal
	_ = d.Wait()
	d = start()
	_ = d.Process.Signal(syscall.SIGTERM)
	if err := d.Wait(); err != nil {
		t.Fatalf("third run: %v", err)
	}
	res := runVigil(t, "verify", "--key-dir", keys, out)
	if res.code != 0 || !strings.Contains(res.stdout, "1 restarts, 1 crashes: verified") {
		t.Errorf("verify: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// The daemon's default output: the segment store. Two runs write sealed
// segments that verify as one log; legal holds are managed from the CLI.
func TestDaemonStore(t *testing.T) {
	requireBPF(t)
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	if _, _, err := chain.Keygen(keys); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "vigil.toml")
	if err := writeDaemonConfig(cfg, []byte(noAgentConfig(fmt.Sprintf("dir = %q", data), keys)), 0o600); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		d, _ := startDaemon(t, cfg)
		_ = d.Process.Signal(syscall.SIGTERM)
		if err := d.Wait(); err != nil {
			t.Fatalf("daemon: %v", err)
		}
	}
	segs, err := filepath.Glob(filepath.Join(data, "*", "segment-*.jsonl"))
	if err != nil || len(segs) != 2 {
		t.Fatalf("want 2 sealed segments, got %v %v", segs, err)
	}
	for _, s := range segs {
		if st, err := os.Stat(s); err != nil || st.Mode().Perm() != 0o400 || strings.HasSuffix(s, ".active.jsonl") {
			t.Errorf("segment %s not sealed: %v", s, st.Mode())
		}
	}
	if res := runVigil(t, "verify", "--key-dir", keys, data); res.code != 0 || !strings.Contains(res.stdout, "1 restarts, 0 crashes: verified") {
		t.Errorf("verify the store: %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if res := runVigil(t, "hold", "add", "--dir", data, "--from", "2026-01-01", "--reason", "case 7", "case-7"); res.code != 0 {
		t.Fatalf("hold add: %d %s", res.code, res.stderr)
	}
	if res := runVigil(t, "hold", "list", "--dir", data); res.code != 0 || !strings.Contains(res.stdout, "case-7\t2026-01-01..\t") {
		t.Errorf("hold list: %d %q", res.code, res.stdout)
	}
	if res := runVigil(t, "hold", "remove", "--dir", data, "case-7"); res.code != 0 {
		t.Errorf("hold remove: %d %s", res.code, res.stderr)
	}
	if res := runVigil(t, "hold", "remove", "--dir", data, "case-7"); res.code != 1 {
		t.Errorf("removing a hold twice: %d", res.code)
	}
}

// startDaemon starts vigil run with a configuration and waits until it
// reports that it runs. It returns the daemon and its log lines so far;
// later lines are read and dropped.
func startDaemon(t *testing.T, cfg string) (*exec.Cmd, []string) {
	t.Helper()
	d := vigil("run", "--config", cfg)
	stderr, err := d.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Process.Kill(); _ = d.Wait() })
	sc := bufio.NewScanner(stderr)
	var logs []string
	for sc.Scan() {
		logs = append(logs, sc.Text())
		if strings.Contains(sc.Text(), "vigil running") {
			break
		}
	}
	go func() {
		for sc.Scan() {
		}
	}()
	return d, logs
}

// The daemon ships its store to a syslog sink: records written while the
// sink is down wait in the store and arrive, in order, once a real
// rsyslogd listens.
func TestDaemonShipsToSyslog(t *testing.T) {
	requireBPF(t)
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	if _, _, err := chain.Keygen(keys); err != nil {
		t.Fatal(err)
	}
	down := testenv.FreeAddr(t) // nothing listens there
	cfg := filepath.Join(dir, "vigil.toml")
	write := func(addr string) {
		conf := noAgentConfig(fmt.Sprintf("dir = %q", filepath.Join(dir, "data")), keys) +
			fmt.Sprintf("[[sink]]\nname = \"siem\"\ntype = \"syslog\"\naddr = %q\n", addr)
		if err := writeDaemonConfig(cfg, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// First run: the sink is down; the records stay in the store.
	write(down)
	d, _ := startDaemon(t, cfg)
	time.Sleep(300 * time.Millisecond)
	_ = d.Process.Signal(syscall.SIGTERM)
	if err := d.Wait(); err != nil {
		t.Fatal(err)
	}
	// Second run: rsyslog is up (on another port); the backlog drains.
	addr, out := testenv.Rsyslog(t)
	write(addr)
	d, _ = startDaemon(t, cfg)
	var lines []string
	waitFor(t, "the shipped records", func() bool {
		b, _ := os.ReadFile(out)
		lines = strings.Split(strings.TrimSpace(string(b)), "\n")
		// Run 1: start, checkpoint, seal; run 2: start (at least).
		return len(lines) >= 4
	})
	_ = d.Process.Signal(syscall.SIGTERM)
	_ = d.Wait()
	want := []string{"act=chain_start", "act=checkpoint", "act=seal", "act=chain_start"}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], "CEF:0|Vigil|Vigil|") || !strings.Contains(lines[i], w) || !strings.Contains(lines[i], fmt.Sprintf("cn1=%d", i+1)) {
			t.Errorf("syslog line %d: %q; want %s with sequence %d", i+1, lines[i], w, i+1)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "data", "cursors", "siem.json")); err != nil || !strings.Contains(string(b), `"offset"`) {
		t.Errorf("sink cursor: %s %v", b, err)
	}
}

// The daemon ships its store over OTLP/HTTP to a real OpenTelemetry
// Collector receiver; each log record's body is the stored line, byte
// for byte, so the chain can be checked downstream; a clean stop ships
// the final checkpoint and the seal before the daemon exits.
func TestDaemonShipsToOTLP(t *testing.T) {
	requireBPF(t)
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	if _, _, err := chain.Keygen(keys); err != nil {
		t.Fatal(err)
	}
	addr := testenv.FreeAddr(t)
	out, _ := testenv.OTelCollector(t, addr)
	data := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "vigil.toml")
	conf := noAgentConfig(fmt.Sprintf("dir = %q", data), keys) + fmt.Sprintf(`[[sink]]
name = "gateway"
type = "otlp"
addr = "http://%s/v1/logs"
headers = { "X-Tenant" = "t1" }
`, addr)
	if err := writeDaemonConfig(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	d, _ := startDaemon(t, cfg)
	waitFor(t, "the daemon's first records at the collector", func() bool {
		b, _ := os.ReadFile(out)
		return bytes.Contains(b, []byte(`chain_start`))
	})
	_ = d.Process.Signal(syscall.SIGTERM)
	if err := d.Wait(); err != nil {
		t.Fatal(err)
	}
	var stored []string
	segs, _ := filepath.Glob(filepath.Join(data, "*", "segment-*.jsonl"))
	for _, s := range segs {
		b, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, strings.Split(strings.TrimSpace(string(b)), "\n")...)
	}
	// Everything stored reached the collector, byte for byte and in
	// order, down to the final checkpoint and the seal written at the
	// stop. Delivery is at least once: a batch the exporter resent (its
	// answer came too late, as under emulation) arrives twice; the
	// duplicates are the same bytes, with the same log.record.uid.
	var bodies []string
	seen := map[string]bool{}
	resent := 0
	for _, l := range testenv.ReadOTLP(t, out) {
		if seen[l.Body] {
			resent++
			continue
		}
		seen[l.Body] = true
		bodies = append(bodies, l.Body)
	}
	if resent > 0 {
		t.Logf("records that arrived twice (a batch resent): %d", resent)
	}
	if len(stored) < 3 || !slices.Equal(bodies, stored) || !strings.Contains(stored[len(stored)-1], `"action":"seal"`) {
		t.Errorf("collector bodies differ from the store:\nstored %d %q\nshipped %d %q", len(stored), stored, len(bodies), bodies)
	}
}

// writeDaemonConfig writes a daemon configuration with its intent socket
// next to it, so tests neither need /run nor meet each other there.
func writeDaemonConfig(path string, data []byte, perm os.FileMode) error {
	sock := filepath.Join(filepath.Dir(path), "intent.sock")
	data = fmt.Appendf(data, "\n[intent]\nsocket = %q\n", sock)
	return os.WriteFile(path, data, perm)
}

// daemonWithFile makes keys and a configuration (no agent matches) whose
// records go to one file, and returns the directory (symlinks resolved),
// the key directory, the record file and the configuration file.
func daemonWithFile(t *testing.T) (dir, keys, out, cfg string) {
	t.Helper()
	dir = realPath(t, t.TempDir())
	keys = filepath.Join(dir, "keys")
	if _, _, err := chain.Keygen(keys); err != nil {
		t.Fatal(err)
	}
	out = filepath.Join(dir, "events.jsonl")
	cfg = filepath.Join(dir, "vigil.toml")
	conf := noAgentConfig(fmt.Sprintf("file = %q", out), keys)
	if err := writeDaemonConfig(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, keys, out, cfg
}

// noAgentConfig is a daemon configuration whose one agent never runs,
// with output (a TOML line of [output]) and keys; tables may follow.
func noAgentConfig(output, keys string) string {
	return fmt.Sprintf("default_agents = false\n[[agent]]\nname = \"x\"\nexecutables = [\"vigil-e2e-none\"]\n[output]\n%s\n[integrity]\nkey_dir = %q\n", output, keys)
}
