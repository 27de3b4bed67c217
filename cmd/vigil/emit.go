package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/vigilsec/vigil/intent"
)

const emitUsage = `Usage: vigil emit --type TYPE --session ID --agent NAME [options]
       vigil emit --json FILE|-

Sends intents to Vigil from a shell: one built from the options, or every
intent in FILE (JSON lines or msgpack frames, "-" for stdin). Every
intent is checked before any is sent. Prints nothing on success; exits 1
with Vigil's reason when an intent is refused or Vigil cannot be reached,
2 on usage errors. Unlike vigil hook, vigil emit does not spool: when
Vigil is down, nothing is kept.

An intent speaks for --pid: by default the process that ran vigil emit
(the calling shell); --pid 0 means vigil emit itself. Intents read with
--json that name no pid get the same.

The socket is --socket, else $VIGIL_INTENT_SOCKET, else intent.socket in
/etc/vigil/vigil.toml, else /run/vigil/intent.sock.

TYPE is one of session_start, session_end, prompt, model_call,
tool_call_start, tool_call_end, permission_grant, permission_deny,
policy_decision, turn_end.

Options:
`

// repeated is a flag that may be given more than once.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

func emitCommand(args []string, stderr io.Writer, env procEnv) int {
	fs := flag.NewFlagSet("vigil emit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		in                         intent.Intent
		execs, reads, writes, dels repeated
		nets                       repeated
		typ                        string
	)
	fs.StringVar(&typ, "type", "", "the intent's `TYPE`")
	fs.StringVar(&in.SessionID, "session", "", "the agent's session `ID`")
	fs.StringVar(&in.Agent.Name, "agent", "", "the agent's `NAME`")
	fs.StringVar(&in.Agent.Version, "agent-version", "", "the agent's `VERSION`")
	fs.StringVar(&in.ToolCallID, "tool-call-id", "", "the tool call's `ID` (tool_call_start, tool_call_end)")
	fs.StringVar(&in.ToolName, "tool", "", "the tool's `NAME`")
	fs.StringVar(&in.CorrelationID, "correlation-id", "", "the `ID` the agent puts in VIGIL_CORRELATION_ID")
	pid := fs.Int("pid", -1, "the agent process the intent speaks for (default: the parent process; 0: vigil emit itself)")
	fs.Var(&execs, "exec", "declare running `CMD` (repeatable)")
	fs.Var(&reads, "read", "declare reading `PATH` (repeatable)")
	fs.Var(&writes, "write", "declare creating or changing `PATH` (repeatable)")
	fs.Var(&dels, "delete", "declare deleting `PATH` (repeatable)")
	fs.Var(&nets, "net", "declare connecting to `URL|HOST:PORT` (repeatable)")
	fs.StringVar(&in.Outcome, "outcome", "", "tool_call_end: success, failure or unknown")
	fs.StringVar(&in.Error, "error", "", "tool_call_end: what went wrong")
	fs.StringVar(&in.Reasoning, "reason", "", "why the agent decided this")
	jsonPath := fs.String("json", "", "send the intents in `FILE` (\"-\": stdin) instead")
	socket := fs.String("socket", "", "the intent socket's `PATH`")
	timeout := fs.Duration("timeout", 5*time.Second, "give up on Vigil after this long, per intent")
	fs.Usage = func() { fmt.Fprint(stderr, emitUsage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		return exitUsage(err)
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "vigil emit: %s\n", fmt.Sprintf(format, a...))
		return 2
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected arguments %q", fs.Args())
	}
	claim := *pid
	if claim < 0 {
		claim = env.ppid
	}

	var ins []intent.Intent
	if *jsonPath != "" {
		built := false
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "json", "socket", "timeout", "pid":
			default:
				built = true
			}
		})
		if built {
			return usageErr("--json takes no intent options (only --pid, --socket, --timeout)")
		}
		var err error
		if ins, err = readIntents(*jsonPath, env.stdin); err != nil {
			return usageErr("%v", err)
		}
		for i := range ins {
			if ins[i].PID == 0 {
				ins[i].PID = claim
			}
			if ins[i].V == 0 {
				ins[i].V = intent.Version
			}
		}
	} else {
		in.V, in.Type, in.PID, in.Time = intent.Version, intent.Type(typ), claim, env.now().UTC()
		for _, c := range execs {
			in.Actions = append(in.Actions, intent.Action{Kind: intent.Exec, Command: c})
		}
		for _, set := range []struct {
			kind  intent.ActionKind
			paths []string
		}{{intent.FileRead, reads}, {intent.FileWrite, writes}, {intent.FileDelete, dels}} {
			for _, p := range set.paths {
				in.Actions = append(in.Actions, intent.Action{Kind: set.kind, Path: p})
			}
		}
		for _, n := range nets {
			a, err := netAction(n)
			if err != nil {
				return usageErr("--net %q: %v", n, err)
			}
			in.Actions = append(in.Actions, a)
		}
		if typ == "" || in.SessionID == "" || in.Agent.Name == "" {
			return usageErr("--type, --session and --agent are required (or --json)")
		}
		ins = []intent.Intent{in}
	}
	for i := range ins {
		// Keep the text: the daemon decides whether it does.
		if err := ins[i].Normalize(true); err != nil {
			if len(ins) > 1 {
				return usageErr("intent %d: %v", i+1, err)
			}
			return usageErr("%v", err)
		}
	}

	sock := intentSocket(*socket, env)
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	c, err := intent.Dial(ctx, sock, intent.JSON)
	cancel()
	if err != nil {
		fmt.Fprintf(stderr, "vigil emit: %s: %v (nothing sent; vigil emit does not spool)\n", sock, err)
		return 1
	}
	defer c.Close()
	code := 0
	for i, in := range ins {
		ctx, cancel := context.WithTimeout(context.Background(), *timeout)
		err := c.Send(ctx, in)
		cancel()
		what := ""
		if len(ins) > 1 {
			what = fmt.Sprintf("intent %d: ", i+1)
		}
		switch {
		case err == nil:
		case errors.Is(err, intent.ErrRefused):
			fmt.Fprintf(stderr, "vigil emit: %s%v\n", what, err)
			code = 1
		default:
			fmt.Fprintf(stderr, "vigil emit: %s%v (%d intents not sent)\n", what, err, len(ins)-i)
			return 1
		}
	}
	return code
}

// readIntents reads every intent in path ("-": stdin).
func readIntents(path string, stdin io.Reader) ([]intent.Intent, error) {
	r := stdin
	name := "stdin"
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r, name = f, path
	}
	rd := intent.NewReader(r, 0)
	var ins []intent.Intent
	for n := 1; ; n++ {
		msg, format, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: intent %d: %w", name, n, err)
		}
		in, err := intent.Decode(msg, format)
		if err != nil {
			return nil, fmt.Errorf("%s: intent %d: %w", name, n, err)
		}
		ins = append(ins, in)
	}
	if len(ins) == 0 {
		return nil, fmt.Errorf("%s: no intents", name)
	}
	return ins, nil
}

// netAction declares a connection to a URL or HOST:PORT (or a bare host,
// any port).
func netAction(s string) (intent.Action, error) {
	switch {
	case strings.Contains(s, "://"):
		return intent.Action{Kind: intent.Network, URL: s}, nil
	case !strings.Contains(s, ":") || net.ParseIP(s) != nil:
		return intent.Action{Kind: intent.Network, Host: s}, nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return intent.Action{}, err
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return intent.Action{}, fmt.Errorf("port %q", port)
	}
	return intent.Action{Kind: intent.Network, Host: host, Port: p}, nil
}
