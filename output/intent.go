package output

import (
	"errors"
	"net/netip"
	"strconv"
	"time"

	"github.com/vigilsec/vigil/correlate"
	"github.com/vigilsec/vigil/intent"
)

// Records of what agents declared (dataset vigil.intent) and of the
// verdicts on it (dataset vigil.verdict), and the join annotations of
// kernel records. Every object's members are written in key order.

var (
	typeInfo1   = []string{"info"}
	typeAllowed = []string{"allowed"}
	typeDenied  = []string{"denied"}
)

// intentEvent is the event.* of an intent record.
func intentEvent(r *correlate.Record) eventFields {
	ir := r.Intent
	f := eventFields{kind: "event", category: "api", types: typeInfo1, dataset: "vigil.intent", action: string(ir.Intent.Type)}
	if ir.Refused {
		f.action, f.outcome, f.types = "intent_refused", "failure", typeDenied
		if errors.Is(ir.Err, intent.ErrNotYours) {
			// Speaking for someone else's process is an attack signal.
			f.kind, f.category = "alert", "intrusion_detection"
		}
		return f
	}
	in := &ir.Intent
	switch in.Type {
	case intent.SessionStart:
		f.category, f.types = "session", typeStart
	case intent.SessionEnd:
		f.category, f.types = "session", typeEnd
	case intent.TurnEnd:
		f.category = "session"
	case intent.ToolCallStart:
		f.types = typeStart
	case intent.ToolCallEnd:
		f.types = typeEnd
		f.outcome = in.Outcome
	case intent.PermissionGrant:
		f.types = typeAllowed
	case intent.PermissionDeny:
		f.types = typeDenied
	case intent.PolicyDecision:
		f.category = "intrusion_detection"
		if d := in.Decision; d != nil {
			switch d.Outcome {
			case "allow":
				f.types = typeAllowed
			case "deny":
				f.types = typeDenied
			}
		}
	}
	return f
}

// verdictEvent is the event.* of a verdict record.
func verdictEvent(r *correlate.Record) eventFields {
	v := r.Verdict
	f := eventFields{kind: "event", category: "intrusion_detection", types: typeInfo1, dataset: "vigil.verdict", action: v.Name}
	switch v.Name {
	case correlate.Corroborated:
		f.types = typeAllowed
	case correlate.Undeclared, correlate.Mismatched:
		f.kind = "alert"
	}
	return f
}

// verdictTarget is the action a verdict record names in ECS fields
// (file.path, destination.*): the first observed one, else the declared.
func verdictTarget(r *correlate.Record) *correlate.Action {
	v := r.Verdict
	if v == nil {
		return nil
	}
	if len(v.Observed) > 0 {
		return &v.Observed[0].Action
	}
	return v.Declared
}

// verdictDestination writes destination.* for a network verdict.
func (e *Encoder) verdictDestination(a *correlate.Action) {
	j := &e.j
	j.open("destination")
	switch {
	case a.Addr.IsValid():
		e.ip("address", a.Addr.Addr())
		j.strNonEmpty("domain", a.Host)
		e.ip("ip", a.Addr.Addr())
		j.uint("port", uint64(a.Addr.Port()))
	default:
		if ip, err := netip.ParseAddr(a.Host); err == nil {
			e.ip("address", ip)
			e.ip("ip", ip)
		} else {
			j.str("address", a.Host)
			j.str("domain", a.Host)
		}
		if a.Port != 0 {
			j.uint("port", uint64(a.Port))
		}
	}
	j.close()
}

// verdictFile writes file.path (and its parts) for a file verdict.
func (e *Encoder) verdictFile(a *correlate.Action) {
	j := &e.j
	j.open("file")
	j.str("path", a.Path)
	j.close()
}

// genAI writes the gen_ai object: the agent, and for intents the model
// call and tool call, for kernel and verdict records the tool call they
// were joined to.
func (e *Encoder) genAI(r *correlate.Record) {
	j := &e.j
	var (
		agentName, agentID, op, toolName, toolCall string
		m                                          *intent.Model
	)
	if p := r.Process; p != nil && r.Intent == nil && r.Verdict == nil {
		agentName = p.Agent
	}
	if jn := r.Join; jn != nil {
		if jn.AgentName != "" {
			agentName = jn.AgentName
		}
		agentID, toolName, toolCall = jn.AgentID, jn.ToolName, jn.ToolCallID
	}
	if ir := r.Intent; ir != nil {
		in := &ir.Intent
		agentName, agentID = in.Agent.Name, in.Agent.ID
		toolName, toolCall, m = in.ToolName, in.ToolCallID, in.Model
		switch in.Type {
		case intent.ModelCall:
			op = "chat"
		case intent.ToolCallStart, intent.ToolCallEnd:
			op = "execute_tool"
		case intent.SessionStart, intent.SessionEnd, intent.Prompt, intent.TurnEnd:
			op = "invoke_agent"
		}
	}
	if agentName == "" && agentID == "" && op == "" && toolName == "" && toolCall == "" && m == nil {
		return
	}
	j.open("gen_ai")
	if agentName != "" || agentID != "" {
		j.open("agent")
		j.strNonEmpty("id", agentID)
		j.strNonEmpty("name", agentName)
		j.close()
	}
	if op != "" {
		j.open("operation")
		j.str("name", op)
		j.close()
	}
	if m != nil {
		if m.MaxTokens != nil || m.Name != "" || m.Temperature != nil || m.TopK != nil || m.TopP != nil {
			j.open("request")
			if m.MaxTokens != nil {
				j.int("max_tokens", *m.MaxTokens)
			}
			j.strNonEmpty("model", m.Name)
			if m.Temperature != nil {
				j.float("temperature", *m.Temperature)
			}
			if m.TopK != nil {
				j.float("top_k", *m.TopK)
			}
			if m.TopP != nil {
				j.float("top_p", *m.TopP)
			}
			j.close()
		}
		if m.ResponseID != "" || m.ResponseModel != "" {
			j.open("response")
			j.strNonEmpty("id", m.ResponseID)
			j.strNonEmpty("model", m.ResponseModel)
			j.close()
		}
		j.strNonEmpty("system", m.Provider)
	}
	if toolName != "" || toolCall != "" {
		j.open("tool")
		if toolCall != "" {
			j.open("call")
			j.str("id", toolCall)
			j.close()
		}
		j.strNonEmpty("name", toolName)
		j.close()
	}
	if m != nil && (m.InputTokens != nil || m.OutputTokens != nil) {
		j.open("usage")
		if m.InputTokens != nil {
			j.int("input_tokens", *m.InputTokens)
		}
		if m.OutputTokens != nil {
			j.int("output_tokens", *m.OutputTokens)
		}
		j.close()
	}
	j.close()
}

// vigilIntent writes Vigil.intent.
func (e *Encoder) vigilIntent(r *correlate.Record) {
	j := &e.j
	ir := r.Intent
	in := &ir.Intent
	j.open("intent")
	if len(in.Actions) > 0 {
		j.key("actions")
		j.b = append(j.b, '[')
		for i := range in.Actions {
			if i > 0 {
				j.b = append(j.b, ',')
			}
			a := &in.Actions[i]
			e.action(&correlate.Action{Kind: a.Kind, Command: a.Command, Path: a.Path, Host: a.Host, Port: a.Port, URL: a.URL}, nil)
		}
		j.b = append(j.b, ']')
		j.more = true
	}
	if c := in.Consent; c != nil {
		j.open("consent")
		j.strNonEmpty("mode", c.Mode)
		j.strNonEmpty("scope", c.Scope)
		if c.UserApproved != nil {
			j.bool("user_approved", *c.UserApproved)
		}
		j.close()
	}
	if m := in.Model; m != nil && m.CostUSD != nil {
		j.float("cost_usd", *m.CostUSD)
	}
	if d := in.Decision; d != nil {
		j.open("decision")
		j.strNonEmpty("outcome", d.Outcome)
		j.strNonEmpty("policy", d.Policy)
		j.strNonEmpty("reason", d.Reason)
		j.strNonEmpty("rule", d.Rule)
		j.close()
	}
	if ir.Format != 0 {
		j.str("format", ir.Format.String())
	}
	if m := in.Model; m != nil {
		j.strNonEmpty("model_version", m.Version)
	}
	if p := in.Prompt; p != nil {
		j.open("prompt")
		j.strNonEmpty("sha256", p.SHA256)
		j.strNonEmpty("template_id", p.TemplateID)
		j.strNonEmpty("text", p.Text)
		j.close()
	}
	j.strNonEmpty("reasoning", in.Reasoning)
	j.open("sender")
	j.uint("gid", uint64(ir.Sender.GID))
	j.uint("pid", uint64(ir.Sender.PID))
	j.uint("uid", uint64(ir.Sender.UID))
	j.close()
	if in.Spooled {
		j.bool("spooled", true)
		if !in.Time.IsZero() {
			j.time("time", in.Time)
		}
	}
	j.strNonEmpty("type", string(in.Type))
	if ir.Unbound {
		j.bool("unbound", true)
	}
	j.close()
}

// action writes a declared action, or with o an observed one, as an
// object.
func (e *Encoder) action(a *correlate.Action, o *correlate.Observed) {
	j := &e.j
	j.b = append(j.b, '{')
	j.begin()
	if a.Addr.IsValid() {
		e.ip("address", a.Addr.Addr())
	}
	j.strNonEmpty("command", a.Command)
	if o != nil {
		j.str("entity_id", o.Process.EntityID)
	}
	j.strNonEmpty("host", a.Host)
	j.str("kind", string(a.Kind))
	j.strNonEmpty("old_path", a.OldPath)
	if a.Kind != intent.Exec || o == nil { // an exec's path is its executable: in process.*
		j.strNonEmpty("path", a.Path)
	}
	if o != nil {
		j.uint("pid", uint64(o.Process.PID))
	}
	if a.Port != 0 {
		j.uint("port", uint64(a.Port))
	}
	if o != nil {
		if o.Sequence != 0 {
			j.uint("sequence", o.Sequence)
		}
		j.time("time", o.Time)
	}
	j.strNonEmpty("url", a.URL)
	j.end()
}

// vigilVerdict writes Vigil.verdict.
func (e *Encoder) vigilVerdict(r *correlate.Record) {
	j := &e.j
	v := r.Verdict
	j.open("verdict")
	if v.Declared != nil {
		j.key("declared")
		e.action(v.Declared, nil)
	}
	if ef := v.Effects; ef != nil {
		j.open("effects")
		j.strsNonEmpty("destinations", ef.Dests)
		j.strsNonEmpty("executed", ef.Execs)
		j.strsNonEmpty("files", ef.Files)
		j.uint("processes", uint64(ef.Processes))
		j.strsNonEmpty("reads", ef.Reads)
		if len(ef.Sequences) > 0 {
			j.key("sequences")
			e.uints(ef.Sequences)
		}
		if ef.Truncated {
			j.bool("truncated", true)
		}
		j.close()
	}
	if v.IntentSequence != 0 {
		j.uint("intent_sequence", v.IntentSequence)
	}
	j.str("name", v.Name)
	if len(v.Observed) > 0 {
		j.key("observed")
		j.b = append(j.b, '[')
		for i := range v.Observed {
			if i > 0 {
				j.b = append(j.b, ',')
			}
			e.action(&v.Observed[i].Action, &v.Observed[i])
		}
		j.b = append(j.b, ']')
		j.more = true
	}
	if v.Count > 0 {
		j.uint("observed_count", uint64(v.Count))
	}
	j.str("reason", v.Reason)
	j.close()
}

func (e *Encoder) uints(v []uint64) {
	j := &e.j
	j.b = append(j.b, '[')
	for i, n := range v {
		if i > 0 {
			j.b = append(j.b, ',')
		}
		j.b = strconv.AppendUint(j.b, n, 10)
	}
	j.b = append(j.b, ']')
	j.more = true
}

// intentTime is when an intent happened for its record: when Vigil
// received it, or for a spooled one the time its sender gave.
func intentTime(ir *correlate.IntentRecord) time.Time {
	if ir.Intent.Spooled && !ir.Intent.Time.IsZero() {
		return ir.Intent.Time
	}
	return ir.At
}
