package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/testenv"
)

// A scripted agent under vigil trace reports intents and acts, as
// declared and otherwise; every verdict comes out right, and nothing
// else is called undeclared.
func TestTraceIntentsVerdicts(t *testing.T) {
	requireBPF(t)
	dir, out, port := traceScriptedAgent(t)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	docs := parseRecords(t, string(b))
	path := func(name string) string { return filepath.Join(dir, name) }

	var intents, verdicts []doc
	for _, d := range docs {
		switch d.str("event.dataset") {
		case "vigil.intent":
			intents = append(intents, d)
		case "vigil.verdict":
			verdicts = append(verdicts, d)
		}
	}
	var gotIntents []string
	for _, d := range intents {
		gotIntents = append(gotIntents, d.str("event.action")+" "+d.str("gen_ai.tool.call.id"))
		if d.str("Vigil.session.id") != "e2e-session-1" || d.str("gen_ai.agent.name") != "e2e-agent" || d.str("process.name") != "agent" {
			t.Errorf("intent record: %v", d)
		}
	}
	wantIntents := []string{"session_start ", "prompt ", "tool_call_start T1", "tool_call_end T1", "tool_call_start T2", "tool_call_end T2",
		"tool_call_start T3", "tool_call_end T3", "tool_call_start T4", "tool_call_end T4", "session_end "}
	if !slices.Equal(gotIntents, wantIntents) {
		t.Errorf("intents\n%q\nwant\n%q", gotIntents, wantIntents)
	}

	// Each verdict, by what it is about.
	describe := func(d doc) string {
		target := d.str("file.path")
		if target == "" && d.get("destination.port") != nil {
			target = "127.0.0.1:" + strconv.FormatInt(d.num("destination.port"), 10)
		}
		if target == "" {
			target = d.str("Vigil.verdict.declared.command")
		}
		return fmt.Sprintf("%s %s %s %s", d.str("event.action"), d.str("event.kind"), d.str("gen_ai.tool.call.id"), target)
	}
	var got []string
	for _, d := range verdicts {
		got = append(got, describe(d))
	}
	want := []string{
		"corroborated event T1 " + path("a.txt"),
		"unwitnessed event T2 " + path("b.txt"),
		"undeclared alert  " + path("c.txt"),
		fmt.Sprintf("undeclared alert  127.0.0.1:%d", port),
		"mismatched alert T3 " + path("e.txt"),
		fmt.Sprintf("corroborated event T4 sh -c 'echo x > %s'", path("f.txt")),
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("verdicts\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		for _, d := range verdicts {
			t.Logf("%v", d.get("Vigil.verdict"))
		}
	}
	for _, d := range verdicts {
		switch describe(d) {
		case "mismatched alert T3 " + path("e.txt"):
			if d.str("Vigil.verdict.declared.path") != path("d.txt") || !strings.Contains(d.str("message"), "d.txt") {
				t.Errorf("mismatched verdict does not name the declared file: %v", d)
			}
		case fmt.Sprintf("corroborated event T4 sh -c 'echo x > %s'", path("f.txt")):
			if !slices.Contains(d.strs("Vigil.verdict.effects.files"), path("f.txt")) {
				t.Errorf("T4's effects do not list f.txt: %v", d.get("Vigil.verdict.effects"))
			}
			if d.num("Vigil.verdict.intent_sequence") == 0 {
				t.Errorf("verdict does not point at its tool call's start record: %v", d)
			}
		}
	}
	// The kernel records of T4's command carry the tool call they were
	// joined to, and the grandchild that wrote f.txt the trace id its
	// environment held.
	var wrote bool
	for _, d := range docs {
		if d.str("event.dataset") == "vigil.file" && d.str("file.path") == path("f.txt") && d.str("event.action") == "creation" {
			wrote = true
			if d.str("gen_ai.tool.call.id") != "T4" || d.str("Vigil.session.id") != "e2e-session-1" ||
				d.str("trace.id") != "4bf92f3577b34da6a3ce929d0e0e4736" || d.str("Vigil.join.by") != "trace_id" {
				t.Errorf("f.txt's creation is not joined to T4 by its trace id: %v", d)
			}
		}
	}
	if !wrote {
		t.Error("no creation record of f.txt")
	}
}

// traceScriptedAgent runs the scripted agent (intent/testprogs/agent)
// under vigil trace, with a TCP listener for its undeclared connection
// and this binary as its vigil emit, and returns the agent's directory,
// the record file and the listener's port.
func traceScriptedAgent(t *testing.T) (dir, out string, port int) {
	t.Helper()
	dir = realPath(t, t.TempDir())
	ln := testenv.Sink(t, "127.0.0.1:0", nil)
	agent := testenv.Program(t, "github.com/vigilsec/vigil/intent/testprogs/agent")
	out = filepath.Join(dir, "records.jsonl")
	sock := filepath.Join(dir, "intent.sock")
	// The agent runs this binary as "vigil emit" (VIGIL_TEST_AS_MAIN is
	// passed down): a helper of Vigil's own, never judged.
	res := runVigil(t, "trace", "-o", out, "--intent-socket", sock, "--", agent, dir, ln.String(), os.Args[0])
	if res.code != 0 {
		t.Fatalf("vigil trace: exit %d: %s", res.code, res.stderr)
	}
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("intent socket left behind: %v", err)
	}
	return dir, out, ln.(*net.TCPAddr).Port
}
