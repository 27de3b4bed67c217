package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/bpftest"
	"github.com/vigilsec/vigil/internal/ecstest"
)

// The test binary doubles as the vigil binary: with VIGIL_TEST_AS_MAIN=1
// it runs main(), and it always honours the gate, so `vigil trace` started
// from a test re-executes this binary as its launcher. With
// VIGIL_TEST_HOOK_AGENT it is a stand-in agent running hooks.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == gateCommand {
		os.Exit(gate(os.Args[2:]))
	}
	if os.Getenv(hookAgentEnv) != "" {
		os.Exit(hookAgentMain())
	}
	if os.Getenv("VIGIL_TEST_AS_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

func requireBPF(t testing.TB) { bpftest.Require(t) }

// vigil returns a command running this binary as vigil.
func vigil(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "VIGIL_TEST_AS_MAIN=1")
	return cmd
}

type result struct {
	code           int
	stdout, stderr string
}

func runVigil(t testing.TB, args ...string) result {
	t.Helper()
	cmd := vigil(args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("run vigil %q: %v", args, err)
		}
		r.code = ee.ExitCode()
	}
	if strings.Contains(r.stderr, "panic:") || strings.Contains(r.stderr, "goroutine ") {
		t.Fatalf("vigil %q panicked:\n%s", args, r.stderr)
	}
	return r
}

// doc is one decoded record with dotted-path access.
type doc map[string]any

func (d doc) get(path string) any {
	var cur any = map[string]any(d)
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[k]
	}
	return cur
}

func (d doc) str(path string) string {
	s, _ := d.get(path).(string)
	return s
}

func (d doc) num(path string) int64 {
	n, ok := d.get(path).(json.Number)
	if !ok {
		return -1
	}
	v, _ := n.Int64()
	return v
}

func (d doc) strs(path string) []string {
	a, _ := d.get(path).([]any)
	var out []string
	for _, v := range a {
		s, _ := v.(string)
		out = append(out, s)
	}
	return out
}

func (d doc) String() string {
	b, _ := json.Marshal(map[string]any(d))
	return string(b)
}

// parseRecords checks every line is a valid ECS record and decodes them.
func parseRecords(t testing.TB, data string) []doc {
	t.Helper()
	schema, err := ecstest.Load()
	if err != nil {
		t.Fatalf("ECS field list: %v", err)
	}
	for _, err := range schema.ValidateLines(strings.NewReader(data)) {
		t.Errorf("ECS: %v", err)
	}
	var docs []doc
	sc := bufio.NewScanner(strings.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.UseNumber()
		var d doc
		if err := dec.Decode(&d); err != nil {
			t.Fatalf("not a JSON record: %q: %v", sc.Text(), err)
		}
		docs = append(docs, d)
	}
	for i, d := range docs {
		if d.num("event.sequence") != int64(i+1) {
			t.Errorf("record %d has event.sequence %d", i, d.num("event.sequence"))
		}
	}
	return docs
}

// processRecords keeps the fork, exec and end records.
func processRecords(docs []doc) []doc {
	var out []doc
	for _, d := range docs {
		if slices.Contains(d.strs("event.category"), "process") && d.str("event.kind") == "event" {
			out = append(out, d)
		}
	}
	return out
}

func summary(docs []doc) string {
	var b strings.Builder
	for _, d := range docs {
		fmt.Fprintf(&b, "%s pid=%d exe=%s args=%q code=%v parent=%d\n", d.str("event.action"),
			d.num("process.pid"), d.str("process.executable"), d.strs("process.args"), d.get("process.exit_code"), d.num("process.parent.pid"))
	}
	return b.String()
}

func realPath(t testing.TB, p string) string {
	t.Helper()
	r, err := filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

type want struct {
	action string
	exe    string
	args   []string
	code   int64 // exit code for "end", -1 otherwise
}

// The reference tree: exactly these records, in order, each
// linked to the right parent, all in one tree.
func TestTraceRecords(t *testing.T) {
	requireBPF(t)
	script := `sh -c "/bin/true a b"; /bin/false`
	res := runVigil(t, "trace", "--", "sh", "-c", script)
	if res.code != 1 {
		t.Fatalf("exit code %d, want /bin/false's 1; stderr:\n%s", res.code, res.stderr)
	}
	docs := processRecords(parseRecords(t, res.stdout))
	sh, tru, fls := realPath(t, "/bin/sh"), realPath(t, "/bin/true"), realPath(t, "/bin/false")
	outer := []string{"sh", "-c", script}
	inner := []string{"sh", "-c", "/bin/true a b"}
	wants := []want{
		{"exec", sh, outer, -1},
		{"fork", sh, outer, -1},
		{"exec", sh, inner, -1},
		{"fork", sh, inner, -1},
		{"exec", tru, []string{"/bin/true", "a", "b"}, -1},
		{"end", tru, []string{"/bin/true", "a", "b"}, 0},
		{"end", sh, inner, 0},
		{"fork", sh, outer, -1},
		{"exec", fls, []string{"/bin/false"}, -1},
		{"end", fls, []string{"/bin/false"}, 1},
		{"end", sh, outer, 1},
	}
	if len(docs) != len(wants) {
		t.Fatalf("got %d records, want %d:\n%s", len(docs), len(wants), summary(docs))
	}
	for i, w := range wants {
		d := docs[i]
		if d.str("event.action") != w.action || d.str("process.executable") != w.exe || !slices.Equal(d.strs("process.args"), w.args) {
			t.Errorf("record %d: %s %s %q; want %s %s %q", i, d.str("event.action"), d.str("process.executable"), d.strs("process.args"), w.action, w.exe, w.args)
		}
		if w.code >= 0 && d.num("process.exit_code") != w.code {
			t.Errorf("record %d: exit_code %v, want %d", i, d.get("process.exit_code"), w.code)
		}
		if d.num("process.args_count") != int64(len(w.args)) || d.str("process.command_line") != strings.Join(w.args, " ") {
			t.Errorf("record %d: args_count %v command_line %q", i, d.get("process.args_count"), d.str("process.command_line"))
		}
	}

	// Entity ids: one per process, parents linked, all in the root's tree.
	root := docs[0]
	rootID := root.str("process.entity_id")
	byPID := map[int64]string{}
	for i, d := range docs {
		pid, id := d.num("process.pid"), d.str("process.entity_id")
		if prev, ok := byPID[pid]; ok && prev != id {
			t.Errorf("record %d: pid %d changed entity id", i, pid)
		}
		byPID[pid] = id
		if d.str("Vigil.tree.root.entity_id") != rootID || d.str("gen_ai.agent.name") != "sh" {
			t.Errorf("record %d: tree root %q agent %q", i, d.str("Vigil.tree.root.entity_id"), d.str("gen_ai.agent.name"))
		}
		if d.str("event.action") == "fork" || d.str("event.action") == "end" {
			continue
		}
	}
	parentOf := func(i int) string { return docs[i].str("process.parent.entity_id") }
	ids := func(i int) string { return docs[i].str("process.entity_id") }
	for _, c := range []struct{ child, parent int }{{1, 0}, {2, 0}, {3, 2}, {4, 2}, {7, 0}, {8, 0}} {
		if parentOf(c.child) != ids(c.parent) || parentOf(c.child) == "" {
			t.Errorf("record %d: parent entity %q, want %q (record %d)", c.child, parentOf(c.child), ids(c.parent), c.parent)
		}
	}
	if len(slices.Compact(slices.Sorted(func(yield func(string) bool) {
		for _, id := range byPID {
			if !yield(id) {
				return
			}
		}
	}))) != 4 {
		t.Errorf("want 4 distinct entity ids, got %v", byPID)
	}
	// The root's parent is vigil itself, known from /proc.
	if root.str("process.parent.name") == "" || root.str("process.parent.entity_id") == "" {
		t.Errorf("root has no parent context: %v", root.get("process.parent"))
	}
	if docs[10].str("process.end") == "" || docs[0].str("process.start") == "" {
		t.Error("start/end timestamps missing")
	}
}

// Stdout carries records only; the command's stdout goes to stderr.
func TestTraceStdoutIsRecordsOnly(t *testing.T) {
	requireBPF(t)
	res := runVigil(t, "trace", "--", "sh", "-c", "echo hello-from-$((40+2))")
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	if !strings.Contains(res.stderr, "hello-from-42") {
		t.Errorf("command output not on stderr: %q", res.stderr)
	}
	if strings.Contains(res.stdout, "hello-from-42") {
		t.Errorf("command output leaked into the records")
	}
	if docs := processRecords(parseRecords(t, res.stdout)); len(docs) != 2 {
		t.Errorf("want exec and end, got:\n%s", summary(docs))
	}
}

// -o writes to a file; the command keeps stdout; a killing signal gives
// 128+N, recorded with the signal's name.
func TestTraceFileAndSignal(t *testing.T) {
	requireBPF(t)
	out := filepath.Join(t.TempDir(), "records.jsonl")
	res := runVigil(t, "trace", "-o", out, "--", "sh", "-c", "echo on-stdout; kill -9 $$")
	if res.code != 137 {
		t.Fatalf("exit %d, want 137: %s", res.code, res.stderr)
	}
	if strings.TrimSpace(res.stdout) != "on-stdout" {
		t.Errorf("stdout %q", res.stdout)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	docs := processRecords(parseRecords(t, string(b)))
	last := docs[len(docs)-1]
	if last.str("event.action") != "end" || last.num("process.exit_code") != 137 || last.str("Vigil.process.exit_signal") != "SIGKILL" {
		t.Errorf("last record: %v", last)
	}
	if st, err := os.Stat(out); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("output mode %v, %v; want 0600", st.Mode(), err)
	}
}

// vigil trace waits for descendants that outlive the command.
func TestTraceWaitsForDescendants(t *testing.T) {
	requireBPF(t)
	res := runVigil(t, "trace", "--", "sh", "-c", "(sleep 0.3; /bin/true late) >/dev/null & exit 0")
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	docs := parseRecords(t, res.stdout)
	if !slices.ContainsFunc(docs, func(d doc) bool {
		return d.str("event.action") == "end" && slices.Equal(d.strs("process.args"), []string{"/bin/true", "late"})
	}) {
		t.Errorf("the late descendant's end is missing:\n%s", summary(docs))
	}
}

// Two processes that get the same PID get different entity ids.
func TestTracePIDReuse(t *testing.T) {
	requireBPF(t)
	dir := t.TempDir()
	fifo := filepath.Join(dir, "ctl")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "records.jsonl")
	cmd := vigil("trace", "-o", out, "--", "sh", "-c",
		fmt.Sprintf(`while read c < %s; do [ "$c" = stop ] && break; /bin/true "$c"; done`, fifo))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()

	// pidOf waits for the exec record of `/bin/true arg` and returns its pid.
	pidOf := func(arg string) int64 {
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			b, _ := os.ReadFile(out)
			for _, line := range strings.Split(string(b), "\n") {
				if !strings.Contains(line, `"exec"`) || !strings.Contains(line, `"/bin/true","`+arg+`"`) {
					continue
				}
				var d struct {
					Process struct{ PID int64 } `json:"process"`
				}
				if json.Unmarshal([]byte(line), &d) == nil {
					return d.Process.PID
				}
			}
		}
		t.Fatalf("no exec record for %q", arg)
		return 0
	}
	send := func(s string) {
		if err := os.WriteFile(fifo, []byte(s+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	send("first")
	target := pidOf("first")
	reused := false
	for i := range 30 {
		// The next PID handed out is ns_last_pid+1.
		if err := os.WriteFile("/proc/sys/kernel/ns_last_pid", []byte(strconv.FormatInt(target-1, 10)), 0o644); err != nil {
			t.Fatalf("set ns_last_pid: %v", err)
		}
		arg := "again" + strconv.Itoa(i)
		send(arg)
		if pidOf(arg) == target {
			reused = true
			break
		}
	}
	if !reused {
		t.Fatalf("could not make the kernel reuse pid %d", target)
	}
	send("stop")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("vigil trace: %v", err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string][]string{} // entity id -> actions
	for _, d := range processRecords(parseRecords(t, string(b))) {
		if d.num("process.pid") == target {
			id := d.str("process.entity_id")
			ids[id] = append(ids[id], d.str("event.action"))
		}
	}
	if len(ids) != 2 {
		t.Fatalf("pid %d: want 2 entity ids, got %v", target, ids)
	}
	for id, actions := range ids {
		if !slices.Equal(actions, []string{"fork", "exec", "end"}) {
			t.Errorf("entity %s: actions %v, want fork, exec, end", id, actions)
		}
	}
}

// A burst through a tiny ring buffer: loss is reported as records, and
// records plus reported loss account for every event.
func TestTraceLossRecords(t *testing.T) {
	requireBPF(t)
	// Each exec record carries a 3,000-byte argument, so the one-page
	// buffer holds one at a time: the burst overruns it however fast the
	// reader is (under emulation it kept up with plain /bin/true).
	const n = 300
	arg := strings.Repeat("x", 3000)
	res := runVigil(t, "trace", "--ring-buffer-bytes", strconv.Itoa(os.Getpagesize()), "--",
		"sh", "-c", fmt.Sprintf(`i=0; while [ $i -lt %d ]; do /bin/true %s & i=$((i+1)); done; wait`, n, arg))
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	docs := parseRecords(t, res.stdout)
	delivered, lost := map[string]int64{}, map[string]int64{}
	for _, d := range docs {
		switch d.str("event.action") {
		case "loss":
			if d.str("event.kind") != "metric" || d.str("Vigil.loss.cause") != "ringbuf_full" {
				t.Errorf("loss record: %v", d)
			}
			lost[d.str("Vigil.loss.event_class")] += d.num("Vigil.loss.count")
		case "fork":
			delivered["fork"]++
		case "exec":
			delivered["exec"]++
		case "end":
			delivered["exit"]++
		}
	}
	if lost["fork"]+lost["exec"]+lost["exit"] == 0 {
		t.Fatalf("no loss with a one-page ring buffer and %d processes:\n%s", n, summary(docs))
	}
	for class, w := range map[string]int64{"fork": n, "exec": n + 1, "exit": n + 1} {
		if delivered[class]+lost[class] != w {
			t.Errorf("%s: delivered %d + lost %d != %d", class, delivered[class], lost[class], w)
		}
	}
}

// executableCopy copies this test binary where an unprivileged user can
// run it.
func executableCopy(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "vigil-nonroot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "vigil")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// Without privileges: a clear error naming what is missing, exit 1, no panic.
func TestNotRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to switch to an unprivileged user")
	}
	bin := executableCopy(t)
	for _, args := range [][]string{{"trace", "--", "/bin/true"}, {"run"}} {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "VIGIL_TEST_AS_MAIN=1")
		cmd.Dir = "/"
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 1 {
			t.Errorf("%q as nobody: %v; want exit status 1; stderr:\n%s", args, err, stderr.String())
			continue
		}
		msg := stderr.String()
		if !strings.Contains(msg, "missing privileges to load BPF programs") || !strings.Contains(msg, "run as root") {
			t.Errorf("%q as nobody: unclear error:\n%s", args, msg)
		}
		if strings.Contains(msg, "panic") || strings.Contains(msg, "goroutine") {
			t.Errorf("%q as nobody panicked:\n%s", args, msg)
		}
	}
}

func TestHelpAndVersion(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"help"}, {"trace", "--help"}, {"run", "--help"}, {"version", "--help"}, {"keygen", "--help"}, {"verify", "--help"}, {"hold", "--help"}} {
		res := runVigil(t, args...)
		if res.code != 0 || !strings.Contains(res.stdout+res.stderr, "Usage") {
			t.Errorf("%q: exit %d, output %q", args, res.code, res.stdout+res.stderr)
		}
	}
	res := runVigil(t, "version")
	if res.code != 0 || !strings.HasPrefix(res.stdout, "vigil ") {
		t.Errorf("version: %d %q", res.code, res.stdout)
	}
	for _, args := range [][]string{{}, {"frobnicate"}, {"trace"}, {"trace", "--bogus"}, {"run", "extra"}, {"keygen"}, {"verify", "x.jsonl"}, {"trace", "--key-dir", "k", "--", "true"}} {
		if res := runVigil(t, args...); res.code != 2 {
			t.Errorf("%q: exit %d, want 2 (usage); stderr %q", args, res.code, res.stderr)
		}
	}
	if res := runVigil(t, "trace", "--", "/nonexistent/cmd"); res.code != 127 || !strings.Contains(res.stderr, "/nonexistent/cmd") {
		t.Errorf("missing command: exit %d, stderr %q", res.code, res.stderr)
	}
	bad := filepath.Join(t.TempDir(), "bad.toml")
	if err := os.WriteFile(bad, []byte("no_such_key = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if res := runVigil(t, "run", "--config", bad); res.code != 1 || !strings.Contains(res.stderr, "no_such_key") {
		t.Errorf("bad config: exit %d, stderr %q", res.code, res.stderr)
	}
}

// SIGTERM is passed on to CMD, whose end is recorded; a SIGINT sent to
// vigil alone does not abandon a CMD that is still running.
func TestTraceSignals(t *testing.T) {
	requireBPF(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "term.jsonl")
	cmd := vigil("trace", "-o", out, "--", "sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "sleep's exec record", func() bool {
		b, _ := os.ReadFile(out)
		return strings.Contains(string(b), `"exec"`)
	})
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 143 {
		t.Fatalf("after SIGTERM: %v, want exit status 143", err)
	}
	b, _ := os.ReadFile(out)
	docs := parseRecords(t, string(b))
	if last := docs[len(docs)-1]; last.str("event.action") != "end" || last.str("Vigil.process.exit_signal") != "SIGTERM" {
		t.Errorf("last record: %v", last)
	}

	out = filepath.Join(dir, "int.jsonl")
	ready := filepath.Join(dir, "ready")
	cmd = vigil("trace", "-o", out, "--", "sh", "-c",
		fmt.Sprintf(`trap "" INT; touch %s; sleep 0.5; /bin/true after-interrupt`, ready))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the command to start", func() bool { _, err := os.Stat(ready); return err == nil })
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("after one SIGINT: %v, want CMD's status 0", err)
	}
	b, _ = os.ReadFile(out)
	if !strings.Contains(string(b), `"after-interrupt"`) {
		t.Errorf("recording stopped at the first SIGINT:\n%s", summary(parseRecords(t, string(b))))
	}
}
