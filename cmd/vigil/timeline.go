package main

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/output/store"
)

const timelineUsage = `Usage: vigil timeline (--session ID | --correlation-id ID | --since T) [--until T] [--json]
                      [--config FILE | --data DIR | FILE...]

Prints what agents did, in order: prompt digests, model calls, tool calls
with the actions they declared and, under each tool call, the kernel
actions joined to it (commands run, files touched, connections) and the
verdicts on it; sessions, turns, refused intents, permission and policy
decisions; records of a session outside any tool call. Lines that begin
with "!" are alerts. Records are listed in the order they were written
(event.sequence within a run, runs in the order read); under a tool call,
in time order (kernel records reach the store in batches), verdicts last.
Times are local.

Records come from the configuration's store (output.dir, or output.file)
of FILE (default ` + config.DefaultPath + ` when it exists, else
` + config.DefaultOutputDir + `), from the data directory DIR, or from record
files such as "vigil trace -o FILE" writes (a directory stands for its
segments, in write order).

Selection, combined with AND; one of --session, --correlation-id and
--since is required:
  --session ID          records of session ID (Vigil.session.id)
  --correlation-id ID   records carrying ID as Vigil.correlation.id or
                        trace.id, and the rest of the tool calls they
                        belong to (their end, kernel actions and verdicts)
  --since T, --until T  intents, verdicts and records of a session whose
                        @timestamp is not before, not after T (RFC 3339,
                        or a duration such as 2h meaning that long ago)

--json prints the selected records themselves, byte for byte, in the
order they were written. Lines that are not JSON records are skipped and
counted. Exits 0 when records matched, 1 when none did (or on an error),
2 on a usage error.

Options:
`

// maxRecordLine is the longest line read as a record; longer ones are
// counted as damaged.
const maxRecordLine = 16 << 20

func timelineCommand(args []string, stdout, stderr io.Writer, now func() time.Time) int {
	fs := flag.NewFlagSet("vigil timeline", flag.ContinueOnError)
	fs.SetOutput(stderr)
	session := fs.String("session", "", "select the records of session `ID`")
	corr := fs.String("correlation-id", "", "select the records carrying correlation or trace `ID`")
	since := fs.String("since", "", "select agent records from time `T` on (RFC 3339 or a duration ago)")
	until := fs.String("until", "", "select agent records up to time `T` (RFC 3339 or a duration ago)")
	asJSON := fs.Bool("json", false, "print the selected records as stored, one JSON object a line")
	cfgPath := fs.String("config", "", "read the store's location from `FILE` (TOML)")
	data := fs.String("data", "", "read the segment store in `DIR`")
	fs.Usage = func() { fmt.Fprint(stderr, timelineUsage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		return exitUsage(err)
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "vigil timeline: "+format+"\n\n", a...)
		fs.Usage()
		return 2
	}
	if *session == "" && *corr == "" && *since == "" {
		return usageErr("one of --session, --correlation-id or --since is required")
	}
	sources := 0
	for _, set := range []bool{*cfgPath != "", *data != "", fs.NArg() > 0} {
		if set {
			sources++
		}
	}
	if sources > 1 {
		return usageErr("--config, --data and FILE arguments exclude each other")
	}
	sel := &selector{session: *session, corrID: *corr, calls: map[string]bool{}}
	var err error
	t := now()
	if *since != "" {
		if sel.since, err = parseTimeArg(*since, t); err != nil {
			return usageErr("--since: %v", err)
		}
	}
	if *until != "" {
		if sel.until, err = parseTimeArg(*until, t); err != nil {
			return usageErr("--until: %v", err)
		}
	}
	sel.prepare()

	paths, err := timelineInputs(*cfgPath, *data, fs.Args())
	if err != nil {
		fmt.Fprintf(stderr, "vigil timeline: %v\n", err)
		return 1
	}
	out := bufio.NewWriterSize(stdout, 64<<10)
	var (
		n  int
		tl *timeline
	)
	if !*asJSON {
		tl = &timeline{runs: map[string]int{}}
	}
	damaged, err := scanRecords(paths, func(line []byte, r *tlRecord) error {
		if !sel.match(line, r) {
			return nil
		}
		n++
		if tl != nil {
			tl.add(r)
			return nil
		}
		_, err := out.Write(line)
		if err == nil && !bytes.HasSuffix(line, []byte("\n")) {
			err = out.WriteByte('\n')
		}
		return err
	}, sel.prefilter)
	if err == nil && tl != nil {
		err = tl.print(out)
	}
	if ferr := out.Flush(); err == nil && ferr != nil {
		err = fmt.Errorf("write: %w", ferr)
	}
	if damaged.lines > 0 {
		fmt.Fprintf(stderr, "vigil timeline: skipped %d damaged lines (first: %s)\n", damaged.lines, damaged.first)
	}
	if err != nil {
		fmt.Fprintf(stderr, "vigil timeline: %v\n", err)
		return 1
	}
	if n == 0 {
		fmt.Fprintf(stderr, "vigil timeline: no records match (read %d files)\n", len(paths))
		return 1
	}
	return 0
}

// parseTimeArg reads an RFC 3339 time, or a duration meaning that long
// before now.
func parseTimeArg(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("%q: want an RFC 3339 time (2026-05-06T14:00:00Z) or a duration (2h)", s)
	}
	return now.Add(-d), nil
}

// timelineInputs lists the record files to read, in order: those named,
// the store in data, or the store the configuration names.
func timelineInputs(cfgPath, data string, files []string) ([]string, error) {
	if len(files) > 0 {
		var paths []string
		for _, f := range files {
			st, err := os.Stat(f)
			if err != nil {
				return nil, fmt.Errorf("read records: %w", err)
			}
			if !st.IsDir() {
				paths = append(paths, f)
				continue
			}
			segs, err := store.List(f)
			if err != nil {
				return nil, err
			}
			paths = append(paths, segs...)
		}
		return paths, nil
	}
	if data == "" {
		cfg := config.Default()
		if cfgPath == "" {
			if _, err := os.Stat(config.DefaultPath); err == nil {
				cfgPath = config.DefaultPath
			}
		}
		if cfgPath != "" {
			var err error
			if cfg, err = config.Load(cfgPath); err != nil {
				return nil, err
			}
		}
		if cfg.Output.File != "" {
			return []string{cfg.Output.File}, nil
		}
		data = cfg.Output.Dir
	}
	return store.List(data)
}

// tlRecord is what the timeline reads of a record.
type tlRecord struct {
	Timestamp time.Time `json:"@timestamp"`
	Vigil     struct {
		Session     struct{ ID string } `json:"session"`
		Correlation struct{ ID string } `json:"correlation"`
		File        struct {
			OldPath string `json:"old_path"`
		} `json:"file"`
		Intent *struct {
			Actions  []tlAction `json:"actions"`
			CostUSD  *float64   `json:"cost_usd"`
			Decision *struct {
				Outcome, Policy, Rule, Reason string
			} `json:"decision"`
			Prompt struct {
				SHA256     string `json:"sha256"`
				TemplateID string `json:"template_id"`
			} `json:"prompt"`
			Spooled bool `json:"spooled"`
		} `json:"intent"`
		Verdict *struct {
			Declared *tlAction `json:"declared"`
			Effects  *struct {
				Destinations []string `json:"destinations"`
				Executed     []string `json:"executed"`
				Files        []string `json:"files"`
				Processes    int      `json:"processes"`
				Truncated    bool     `json:"truncated"`
			} `json:"effects"`
		} `json:"verdict"`
		Loss *struct {
			Cause string `json:"cause"`
			Count uint64 `json:"count"`
			Sink  string `json:"sink"`
		} `json:"loss"`
	} `json:"Vigil"`
	Agent struct {
		EphemeralID string `json:"ephemeral_id"`
	} `json:"agent"`
	Destination struct {
		Address, Domain, IP string
		Port                int
	} `json:"destination"`
	DNS struct {
		Question   struct{ Name string } `json:"question"`
		ResolvedIP []string              `json:"resolved_ip"`
	} `json:"dns"`
	Error struct{ Code, Message string } `json:"error"`
	Event struct {
		Action, Dataset, Kind, Outcome string
		Sequence                       uint64
	} `json:"event"`
	File struct {
		Path string `json:"path"`
		Hash struct {
			SHA256 string `json:"sha256"`
		} `json:"hash"`
	} `json:"file"`
	GenAI struct {
		Agent   struct{ ID, Name string } `json:"agent"`
		Request struct{ Model string }    `json:"request"`
		Tool    struct {
			Call struct{ ID string } `json:"call"`
			Name string              `json:"name"`
		} `json:"tool"`
		Usage struct {
			InputTokens  *int64 `json:"input_tokens"`
			OutputTokens *int64 `json:"output_tokens"`
		} `json:"usage"`
	} `json:"gen_ai"`
	HTTP struct {
		Request struct{ Method string } `json:"request"`
	} `json:"http"`
	Message string `json:"message"`
	Network struct {
		Bytes *uint64 `json:"bytes"`
	} `json:"network"`
	Process struct {
		CommandLine string `json:"command_line"`
		Executable  string `json:"executable"`
		ExitCode    *int   `json:"exit_code"`
		Hash        struct {
			SHA256 string `json:"sha256"`
		} `json:"hash"`
		Name   string `json:"name"`
		Parent struct {
			PID int `json:"pid"`
		} `json:"parent"`
		PID int `json:"pid"`
	} `json:"process"`
	TLS struct {
		Client struct {
			ServerName string `json:"server_name"`
		} `json:"client"`
	} `json:"tls"`
	Trace struct{ ID string } `json:"trace"`
	URL   struct {
		Domain, Path string
	} `json:"url"`
}

// tlAction is a declared (or, in a verdict, observed) action.
type tlAction struct {
	Command, Host, Kind, Path, URL string
	Port                           int
}

func (a *tlAction) String() string {
	switch a.Kind {
	case "exec":
		return "exec " + a.Command
	case "file_read":
		return "read " + a.Path
	case "file_write":
		return "write " + a.Path
	case "file_delete":
		return "delete " + a.Path
	case "network":
		if a.URL != "" {
			return "connect " + a.URL
		}
		return "connect " + a.Host + ":" + strconv.Itoa(a.Port)
	}
	return a.Kind + " " + a.Path + a.Command + a.Host
}

// toolCallKey names a tool call: its session and id.
func (r *tlRecord) toolCallKey() string {
	if r.GenAI.Tool.Call.ID == "" || r.Event.Action == "intent_refused" {
		return ""
	}
	return r.Vigil.Session.ID + "\x00" + r.GenAI.Tool.Call.ID
}

// agentRecord: an intent, a verdict, or a record of a session.
func (r *tlRecord) agentRecord() bool {
	return r.Vigil.Session.ID != "" || r.Event.Dataset == "vigil.intent" || r.Event.Dataset == "vigil.verdict"
}

// selector is the selection, ANDed.
type selector struct {
	session, corrID string
	since, until    time.Time
	// calls are the tool calls a record carrying corrID belongs to: their
	// other records (end, kernel actions, verdicts) are selected too.
	calls map[string]bool
	// needles: a line holds one of them or cannot match (nil: no
	// shortcut).
	needles [][]byte
}

// prepare sets up the byte-level shortcut: a selected line holds the
// session or correlation id as a JSON string, when the id needs no
// escaping.
func (s *selector) prepare() {
	id := s.session
	if id == "" {
		id = s.corrID
	}
	if id == "" || !plainJSON(id) {
		return
	}
	s.needles = [][]byte{[]byte(`"` + id + `"`)}
}

func plainJSON(s string) bool {
	for i := range len(s) {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// prefilter reports whether line may match, without decoding it.
func (s *selector) prefilter(line []byte) bool {
	if s.needles == nil {
		return true
	}
	for _, n := range s.needles {
		if bytes.Contains(line, n) {
			return true
		}
	}
	return false
}

func (s *selector) match(_ []byte, r *tlRecord) bool {
	if s.session != "" && r.Vigil.Session.ID != s.session {
		return false
	}
	if s.corrID != "" {
		key := r.toolCallKey()
		if r.Vigil.Correlation.ID == s.corrID || r.Trace.ID == s.corrID {
			if key != "" && !s.calls[key] {
				s.calls[key] = true
				if id := r.GenAI.Tool.Call.ID; s.needles != nil && plainJSON(id) {
					s.needles = append(s.needles, []byte(`"`+id+`"`))
				} else {
					s.needles = nil
				}
			}
		} else if key == "" || !s.calls[key] {
			return false
		}
	}
	if !s.since.IsZero() || !s.until.IsZero() {
		if !r.agentRecord() {
			return false
		}
		if !s.since.IsZero() && r.Timestamp.Before(s.since) {
			return false
		}
		if !s.until.IsZero() && r.Timestamp.After(s.until) {
			return false
		}
	}
	return true
}

// damage counts lines that are not records.
type damage struct {
	lines int
	first string // file:line of the first
}

// scanRecords streams the records of paths, in order, to fn: the line
// as stored (with its newline) and its decoded fields, both valid only
// during the call. Lines keep is false for are skipped undecoded.
func scanRecords(paths []string, fn func(line []byte, r *tlRecord) error, keep func([]byte) bool) (damage, error) {
	var d damage
	br := bufio.NewReaderSize(nil, 256<<10)
	var long []byte
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return d, fmt.Errorf("read records: %w", err)
		}
		br.Reset(f)
		lineNo := 0
		bad := func() {
			d.lines++
			if d.first == "" {
				d.first = p + ":" + strconv.Itoa(lineNo)
			}
		}
		for {
			line, rerr := br.ReadSlice('\n')
			tooLong := false
			if errors.Is(rerr, bufio.ErrBufferFull) {
				// A line longer than the buffer: gather it, up to a limit.
				long = append(long[:0], line...)
				for errors.Is(rerr, bufio.ErrBufferFull) {
					line, rerr = br.ReadSlice('\n')
					if !tooLong && len(long)+len(line) <= maxRecordLine {
						long = append(long, line...)
					} else {
						tooLong, long = true, long[:0]
					}
				}
				line = long
			}
			if rerr != nil && !errors.Is(rerr, io.EOF) {
				f.Close()
				return d, fmt.Errorf("read records: %s: %w", p, rerr)
			}
			if len(line) > 0 {
				lineNo++
			}
			switch {
			case tooLong:
				bad()
			case len(bytes.TrimSpace(line)) == 0:
			case !keep(line):
				// Cannot match; still counted if damaged.
				if !json.Valid(line) {
					bad()
				}
			default:
				var r tlRecord
				if err := json.Unmarshal(line, &r); err != nil {
					bad()
					break
				}
				if err := fn(line, &r); err != nil {
					f.Close()
					return d, err
				}
			}
			if rerr != nil { // io.EOF
				break
			}
		}
		if err := f.Close(); err != nil {
			return d, fmt.Errorf("read records: %w", err)
		}
	}
	return d, nil
}

// tlItem is one line of the timeline.
type tlItem struct {
	run   int
	seq   uint64
	order int
	at    time.Time
	kind  string
	text  string
	alert bool
	// verdict: a verdict record, listed after what its call did.
	verdict bool
	call    string // tool call key, "" outside tool calls
	start   bool   // the tool call's start
	// callTitle names the call for a heading when its start is not
	// selected.
	callTitle string
}

// timeline holds the selected records as lines, to group them by tool
// call.
type timeline struct {
	runs  map[string]int // ephemeral id -> order of first appearance
	items []tlItem
}

func (t *timeline) add(r *tlRecord) {
	run, ok := t.runs[r.Agent.EphemeralID]
	if !ok {
		run = len(t.runs)
		t.runs[r.Agent.EphemeralID] = run
	}
	kind, text := describe(r)
	it := tlItem{run: run, seq: r.Event.Sequence, order: len(t.items), at: r.Timestamp, kind: kind, text: text,
		alert: r.Event.Kind == "alert", verdict: r.Event.Dataset == "vigil.verdict", call: r.toolCallKey()}
	if it.call != "" {
		it.start = r.Event.Action == "tool_call_start"
		it.callTitle = strings.TrimSpace(r.GenAI.Tool.Call.ID + " " + r.GenAI.Tool.Name)
	}
	t.items = append(t.items, it)
}

// print writes the timeline: records in order (by event.sequence within
// a run, runs in the order read), each tool call's records under it at
// the place of its first: in time order, verdicts last.
func (t *timeline) print(w io.Writer) error {
	slices.SortStableFunc(t.items, func(a, b tlItem) int {
		return cmp.Or(cmp.Compare(a.run, b.run), cmp.Compare(a.seq, b.seq), cmp.Compare(a.order, b.order))
	})
	calls := map[string][]int{}
	for i, it := range t.items {
		if it.call != "" {
			calls[it.call] = append(calls[it.call], i)
		}
	}
	var day string
	line := func(it *tlItem, indent string) error {
		at := it.at.Local()
		if d := at.Format("2006-01-02"); d != day && indent == "" {
			day = d
			if _, err := fmt.Fprintf(w, "-- %s --\n", d); err != nil {
				return fmt.Errorf("write: %w", err)
			}
		}
		mark := " "
		if it.alert {
			mark = "!"
		}
		if _, err := fmt.Fprintf(w, "%s %s  %s%-8s %s\n", mark, at.Format("15:04:05.000"), indent, it.kind, it.text); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		return nil
	}
	for i := range t.items {
		it := &t.items[i]
		if it.call == "" {
			if err := line(it, ""); err != nil {
				return err
			}
			continue
		}
		members := calls[it.call]
		if members == nil || members[0] != i {
			continue // printed under its call
		}
		head := -1
		for _, m := range members {
			if t.items[m].start {
				head = m
				break
			}
		}
		if head < 0 {
			h := tlItem{at: it.at, kind: "tool", text: it.callTitle + " (start not selected)"}
			if err := line(&h, ""); err != nil {
				return err
			}
		} else if err := line(&t.items[head], ""); err != nil {
			return err
		}
		// Under the call: what happened in time order (a kernel record
		// may be written after the end of the call it belongs to), then
		// the verdicts.
		children := slices.DeleteFunc(slices.Clone(members), func(m int) bool { return m == head })
		slices.SortStableFunc(children, func(a, b int) int {
			x, y := &t.items[a], &t.items[b]
			if x.verdict || y.verdict {
				return cmp.Compare(b2i(x.verdict), b2i(y.verdict))
			}
			return x.at.Compare(y.at)
		})
		for _, m := range children {
			if err := line(&t.items[m], "  "); err != nil {
				return err
			}
		}
	}
	return nil
}

// describe gives a record's kind column and its essentials.
func describe(r *tlRecord) (kind, text string) {
	var b strings.Builder
	add := func(parts ...string) {
		for _, p := range parts {
			if p == "" {
				continue
			}
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(p)
		}
	}
	proc := func() {
		if r.Process.PID != 0 {
			add(fmt.Sprintf("[pid %d %s]", r.Process.PID, r.Process.Name))
		}
	}
	failed := func() {
		if r.Event.Outcome == "failure" {
			add("failed", r.Error.Code, r.Error.Message)
		}
	}
	tool := strings.TrimSpace(r.GenAI.Tool.Call.ID + " " + r.GenAI.Tool.Name)
	a := r.Event.Action
	switch r.Event.Dataset {
	case "vigil.intent":
		in := r.Vigil.Intent
		switch a {
		case "session_start", "session_end":
			kind = "session"
			add(strings.TrimPrefix(a, "session_"), r.Vigil.Session.ID, "agent", cmp.Or(r.GenAI.Agent.Name, r.GenAI.Agent.ID))
		case "prompt":
			kind = "prompt"
			if in != nil {
				add("sha256", in.Prompt.SHA256)
				if in.Prompt.TemplateID != "" {
					add("template", in.Prompt.TemplateID)
				}
			}
		case "model_call":
			kind = "model"
			add(r.GenAI.Request.Model)
			if u := r.GenAI.Usage; u.InputTokens != nil || u.OutputTokens != nil {
				add("tokens", fmt.Sprintf("in %s out %s", optInt(u.InputTokens), optInt(u.OutputTokens)))
			}
			if in != nil && in.CostUSD != nil {
				add(fmt.Sprintf("cost $%g", *in.CostUSD))
			}
		case "tool_call_start":
			kind = "tool"
			add(tool)
			if in != nil && len(in.Actions) > 0 {
				decl := make([]string, len(in.Actions))
				for i := range in.Actions {
					decl[i] = in.Actions[i].String()
				}
				add("declares:", strings.Join(decl, "; "))
			}
		case "tool_call_end":
			kind = "tool-end"
			add(tool, r.Event.Outcome)
			add(r.Error.Message)
		case "turn_end":
			kind = "turn"
			add("end")
		case "permission_grant", "permission_deny":
			kind = "perm"
			add(strings.TrimPrefix(a, "permission_"), tool)
		case "policy_decision":
			kind = "policy"
		case "intent_refused":
			kind = "refused"
			add(tool, r.Error.Message)
		default:
			kind = "intent"
			add(a, tool)
		}
		if in != nil && in.Decision != nil {
			d := in.Decision
			add(d.Outcome)
			if d.Policy != "" {
				add("policy", d.Policy)
			}
			if d.Rule != "" {
				add("rule", d.Rule)
			}
			if d.Reason != "" {
				add("-", d.Reason)
			}
		}
		if in != nil && in.Spooled {
			add("(spooled)")
		}
	case "vigil.verdict":
		kind = "verdict"
		add(a+":", r.Message)
		if v := r.Vigil.Verdict; v != nil && v.Effects != nil {
			e := v.Effects
			var parts []string
			switch {
			case e.Processes == 1:
				parts = append(parts, "1 process")
			case e.Processes > 1:
				parts = append(parts, fmt.Sprintf("%d processes", e.Processes))
			}
			if len(e.Files) > 0 {
				parts = append(parts, "files "+strings.Join(e.Files, ", "))
			}
			if len(e.Destinations) > 0 {
				parts = append(parts, "connected "+strings.Join(e.Destinations, ", "))
			}
			if e.Truncated {
				parts = append(parts, "...")
			}
			if len(parts) > 0 {
				add("(effects: " + strings.Join(parts, "; ") + ")")
			}
		}
	case "vigil.process":
		switch a {
		case "exec":
			kind = "exec"
			add(r.Process.CommandLine)
		case "fork":
			kind = "fork"
			add(fmt.Sprintf("pid %d forked by %d", r.Process.PID, r.Process.Parent.PID))
		case "end":
			kind = "end"
			if r.Process.ExitCode != nil {
				add(fmt.Sprintf("exit %d", *r.Process.ExitCode))
			}
		case "process_hash":
			kind = "hash"
			add(r.Process.Executable, "sha256", r.Process.Hash.SHA256)
		default:
			kind = "process"
			add(a)
		}
		proc()
	case "vigil.file":
		kind = "file"
		if a == "file_hash" {
			kind = "hash"
			add(r.File.Path, "sha256", r.File.Hash.SHA256)
		} else {
			add(a, r.File.Path)
			if r.Vigil.File.OldPath != "" {
				add("from", r.Vigil.File.OldPath)
			}
			failed()
		}
		proc()
	case "vigil.network":
		kind = "net"
		dst := r.Destination.Address
		if r.Destination.IP != "" {
			dst = r.Destination.IP
			if r.Destination.Port != 0 {
				dst = joinHostPort(r.Destination.IP, r.Destination.Port)
			}
		}
		switch a {
		case "connection_attempted":
			add("connect", r.Destination.Domain, dst)
			failed()
		case "network_flow":
			add("sent")
			if r.Network.Bytes != nil {
				add(fmt.Sprintf("%d bytes", *r.Network.Bytes))
			}
			if r.Destination.Domain == "" && dst == "" {
				add("(destination unknown)")
			} else {
				add("to", r.Destination.Domain, dst)
			}
		case "lookup_requested":
			kind = "dns"
			add("query", r.DNS.Question.Name)
		case "lookup_result":
			kind = "dns"
			add("answer", r.DNS.Question.Name, strings.Join(r.DNS.ResolvedIP, " "))
		case "http_request":
			kind = "http"
			add(r.HTTP.Request.Method, r.URL.Domain+r.URL.Path)
		case "tls_client_hello":
			kind = "tls"
			add("hello", r.TLS.Client.ServerName, dst)
		default:
			add(a, dst)
		}
		proc()
	case "vigil.loss":
		kind = "loss"
		if l := r.Vigil.Loss; l != nil {
			add(l.Cause, strconv.FormatUint(l.Count, 10), l.Sink)
		}
	default:
		kind = strings.TrimPrefix(r.Event.Dataset, "vigil.")
		add(a, r.Message)
	}
	return kind, b.String()
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func optInt(p *int64) string {
	if p == nil {
		return "?"
	}
	return strconv.FormatInt(*p, 10)
}

func joinHostPort(ip string, port int) string {
	if strings.Contains(ip, ":") {
		return "[" + ip + "]:" + strconv.Itoa(port)
	}
	return ip + ":" + strconv.Itoa(port)
}
