package output

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigilsec/vigil/correlate"
	"github.com/vigilsec/vigil/intent"
	"github.com/vigilsec/vigil/output/chain"
	"github.com/vigilsec/vigil/sensor"
)

// intentTestRecords are records of intents, verdicts and a kernel record
// joined to a tool call.
func intentTestRecords() []testRecord {
	base := testRecords()
	execRec := base[1].rec // the agent's shell after exec
	agent := *execRec.Process
	root := execRec.Parent
	recv := at(61_000_000_000)
	temp, topK, cost := 0.2, 40.0, 0.0125
	in, out, maxTok := int64(1200), int64(310), int64(4096)
	yes := true
	peer := intent.Peer{PID: 4300, UID: 1000, GID: 1000}
	start := intent.Intent{V: 1, Type: intent.ToolCallStart, Agent: intent.Agent{ID: "cc-1", Name: "claude-code", Version: "2.0.14"},
		SessionID: "7c2e0a51", ToolCallID: "toolu_01", ToolName: "Bash", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736",
		CorrelationID: "corr-42", Consent: &intent.Consent{UserApproved: &yes, Mode: "acceptEdits"},
		Reasoning: "count the receipts",
		Actions: []intent.Action{
			{Kind: intent.Exec, Command: "ls receipts/ | wc -l"},
			{Kind: intent.FileWrite, Path: "/home/dev/project/expenses.csv"},
			{Kind: intent.Network, URL: "https://finance.example.internal/upload", Host: "finance.example.internal", Port: 443},
		}}
	model := intent.Intent{V: 1, Type: intent.ModelCall, Agent: intent.Agent{Name: "claude-code"}, SessionID: "7c2e0a51",
		Prompt: &intent.PromptRef{SHA256: "6f0c1bd5e5b4f4a1c4ad0f3de2d2e7b2b2a8f1f0a7c6e3d9b1a2c3d4e5f60718", TemplateID: "tpl-receipts"},
		Model: &intent.Model{Provider: "anthropic", Name: "claude-sonnet", Version: "2026-09", ResponseModel: "claude-sonnet-2026-09",
			ResponseID: "msg_01", Temperature: &temp, TopK: &topK, MaxTokens: &maxTok, InputTokens: &in, OutputTokens: &out, CostUSD: &cost}}
	end := intent.Intent{V: 1, Type: intent.ToolCallEnd, Agent: intent.Agent{Name: "claude-code"}, SessionID: "7c2e0a51",
		ToolCallID: "toolu_02", ToolName: "WebFetch", Outcome: "failure", Error: "Request failed with status 403"}
	spooled := intent.Intent{V: 1, Type: intent.SessionEnd, Agent: intent.Agent{Name: "claude-code"}, SessionID: "7c2e0a51",
		Spooled: true, PID: 4000, Time: at(59_000_000_000)}
	policy := intent.Intent{V: 1, Type: intent.PolicyDecision, Agent: intent.Agent{Name: "claude-code"}, SessionID: "7c2e0a51",
		Decision: &intent.Decision{Outcome: "deny", Policy: "no-network", Rule: "egress", Reason: "uploads need approval"}}

	ir := func(in intent.Intent, p *correlate.Process, err error, f intent.Format) *correlate.Record {
		rec := &correlate.IntentRecord{Received: intent.Received{Intent: in, Format: f, Sender: peer, AgentPID: int(agent.PID), At: recv, Err: err},
			Process: p, Refused: err != nil}
		rec.Unbound = in.Spooled
		r := &correlate.Record{Event: &sensor.Event{Kind: sensor.KindIntent}, Time: recv, Intent: rec}
		if p != nil {
			r.Process, r.Parent = p, root
		}
		if err == nil {
			r.Join = &correlate.Join{SessionID: in.SessionID, AgentName: in.Agent.Name, AgentID: in.Agent.ID,
				ToolCallID: in.ToolCallID, ToolName: in.ToolName, CorrelationID: in.CorrelationID, TraceID: in.TraceID, By: "intent"}
		}
		return r
	}
	refusal := fmt.Errorf("%w: pid 4000 is neither the sender (pid 4300) nor its ancestor or descendant", intent.ErrNotYours)

	// A kernel record (the shell's open of /etc/passwd) joined to the
	// tool call.
	joinedRec := *base[11].rec
	joinedRec.Join = &correlate.Join{SessionID: "7c2e0a51", AgentName: "claude-code", AgentID: "cc-1", ToolCallID: "toolu_01",
		ToolName: "Bash", CorrelationID: "corr-42", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", By: "correlation_id"}

	obsExec := correlate.Observed{Action: correlate.Action{Kind: intent.Exec, Command: "bash -c ls receipts/ | wc -l", Path: "/usr/bin/bash"},
		Time: at(61_100_000_000), Sequence: 20, Process: agent, By: "tool_call_window"}
	obsWrite := correlate.Observed{Action: correlate.Action{Kind: intent.FileWrite, Path: "/home/dev/project/expenses-final.csv"},
		Time: at(61_200_000_000), Sequence: 24, Process: agent, By: "tool_call_window"}
	obsConn := correlate.Observed{Action: correlate.Action{Kind: intent.Network, Addr: netip.MustParseAddrPort("127.0.0.1:8931"), Port: 8931},
		Time: at(62_000_000_000), Sequence: 31, Process: agent, By: "session"}
	declWrite := correlate.Action{Kind: intent.FileWrite, Path: "/home/dev/project/expenses.csv"}
	declExec := correlate.Action{Kind: intent.Exec, Command: "ls receipts/ | wc -l"}
	declNet := correlate.Action{Kind: intent.Network, Host: "finance.example.internal", Port: 443, URL: "https://finance.example.internal/upload"}
	vr := func(v correlate.Verdict, at time.Time) *correlate.Record {
		v.SessionID, v.AgentName, v.AgentID = "7c2e0a51", "claude-code", "cc-1"
		if v.Count == 0 {
			v.Count = len(v.Observed)
		}
		p := agent
		return &correlate.Record{Event: &sensor.Event{Kind: sensor.KindVerdict}, Time: at, Verdict: &v, Process: &p, Parent: root,
			Join: &correlate.Join{SessionID: v.SessionID, AgentName: v.AgentName, AgentID: v.AgentID, ToolCallID: v.ToolCallID, ToolName: v.ToolName, By: v.By}}
	}
	w := func(action, kind, dataset, category, typ string) want {
		return want{action: action, kind: kind, dataset: dataset, category: category, typ: typ}
	}
	return []testRecord{
		{"tool call start", ir(start, &agent, nil, intent.JSON), w("tool_call_start", "event", "vigil.intent", "api", "start")},
		{"model call", ir(model, &agent, nil, intent.Msgpack), w("model_call", "event", "vigil.intent", "api", "info")},
		{"tool call end, failed", ir(end, &agent, nil, intent.JSON), w("tool_call_end", "event", "vigil.intent", "api", "end")},
		{"policy decision", ir(policy, &agent, nil, intent.JSON), w("policy_decision", "event", "vigil.intent", "intrusion_detection", "denied")},
		{"refused: another's process", ir(start, nil, refusal, intent.JSON), w("intent_refused", "alert", "vigil.intent", "intrusion_detection", "denied")},
		{"refused: malformed", ir(intent.Intent{}, nil, fmt.Errorf("%w: schema version 0, want 1", intent.ErrInvalid), 0), w("intent_refused", "event", "vigil.intent", "api", "denied")},
		{"spooled, unbound", ir(spooled, nil, nil, intent.JSON), w("session_end", "event", "vigil.intent", "session", "end")},
		{"kernel record joined", &joinedRec, w("open", "event", "vigil.file", "file", "access")},
		{"corroborated exec with effects", vr(correlate.Verdict{Name: correlate.Corroborated, Reason: "declared and observed",
			ToolCallID: "toolu_01", ToolName: "Bash", IntentSequence: 17, Declared: &declExec, Observed: []correlate.Observed{obsExec}, By: "tool_call_window",
			Effects: &correlate.Effects{Processes: 2, Execs: []string{"ls receipts/", "wc -l"}, Reads: []string{"/home/dev/project/receipts"},
				Files: []string{"/tmp/out"}, Dests: []string{"10.0.0.1:443"}, Sequences: []uint64{21, 22, 23}}}, at(63_000_000_000)),
			w(correlate.Corroborated, "event", "vigil.verdict", "intrusion_detection", "allowed")},
		{"mismatched write", vr(correlate.Verdict{Name: correlate.Mismatched, ToolCallID: "toolu_03", ToolName: "Write", IntentSequence: 18,
			Reason:   "declared write to /home/dev/project/expenses.csv, observed write to /home/dev/project/expenses-final.csv",
			Declared: &declWrite, Observed: []correlate.Observed{obsWrite}, By: "tool_call_window"}, at(63_000_000_001)),
			w(correlate.Mismatched, "alert", "vigil.verdict", "intrusion_detection", "info")},
		{"unwitnessed upload", vr(correlate.Verdict{Name: correlate.Unwitnessed, ToolCallID: "toolu_02", ToolName: "WebFetch", IntentSequence: 19,
			Reason: "declared connection to finance.example.internal:443, not observed", Declared: &declNet, By: "tool_call_window"}, at(63_000_000_002)),
			w(correlate.Unwitnessed, "event", "vigil.verdict", "intrusion_detection", "info")},
		{"undeclared connection", vr(correlate.Verdict{Name: correlate.Undeclared, Reason: "no declaration covers this connection to",
			Observed: []correlate.Observed{obsConn}, By: "session"}, at(63_000_000_003)),
			w(correlate.Undeclared, "alert", "vigil.verdict", "intrusion_detection", "info")},
	}
}

func TestIntentRecords(t *testing.T) {
	schema := loadSchema(t)
	enc := NewEncoder(testIdentity, testNow)
	var all []byte
	for i, tr := range intentTestRecords() {
		t.Run(tr.name, func(t *testing.T) {
			start := len(all)
			all = enc.Append(all, tr.rec)
			line := all[start:]
			schema.Check(t, line)
			if enc.j.Sorts != 0 {
				t.Errorf("%d objects written out of key order", enc.j.Sorts)
				enc.j.Sorts = 0
			}
			if canon, err := chain.Canonical(bytes.TrimSuffix(line, []byte("\n"))); err != nil || !bytes.Equal(append(canon, '\n'), line) {
				t.Errorf("not canonical (%v):\n%s", err, line)
			}
			doc := decodeLine(t, line)
			w := tr.want
			for path, want := range map[string]string{"event.action": w.action, "event.kind": w.kind, "event.dataset": w.dataset} {
				if v, _ := lookup(doc, path); v != want {
					t.Errorf("%s = %v, want %q", path, v, want)
				}
			}
			for path, want := range map[string]string{"event.category": w.category, "event.type": w.typ} {
				if v, _ := lookup(doc, path); fmt.Sprint(v) != "["+want+"]" {
					t.Errorf("%s = %v, want [%s]", path, v, want)
				}
			}
			if tr.rec.Join != nil && tr.rec.Join.SessionID != "" {
				if v, _ := lookup(doc, "Vigil.session.id"); v != tr.rec.Join.SessionID {
					t.Errorf("Vigil.session.id = %v", v)
				}
			}
			if tr.rec.Join != nil && tr.rec.Join.ToolCallID != "" {
				if v, _ := lookup(doc, "gen_ai.tool.call.id"); v != tr.rec.Join.ToolCallID {
					t.Errorf("gen_ai.tool.call.id = %v", v)
				}
			}
			_ = i
		})
	}
	path := filepath.Join("testdata", "intents.golden")
	if *update {
		if err := os.WriteFile(path, all, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	golden, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run IntentRecords -update ./output/ to create it)", err)
	}
	if !bytes.Equal(all, golden) {
		t.Errorf("intent records differ from %s (run with -update if the change is intended):\n%s", path, all)
	}
	if errs := schema.ValidateLines(bytes.NewReader(golden)); len(errs) > 0 {
		t.Errorf("golden intent records fail ECS validation: %v", errors.Join(errs...))
	}
}
