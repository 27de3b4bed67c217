// Command vigil records what autonomous agents do on a Linux host: the
// process trees of agents, traced in the kernel with eBPF, as Elastic
// Common Schema JSON lines.
//
//	vigil trace [-o FILE] [--all] [--name NAME] -- CMD [ARGS...]
//	vigil run [--config FILE]
//	vigil keygen --dir DIR
//	vigil verify [--key-dir DIR | --pub KEY --mac-key K0] PATH...
//	vigil hook claude-code [--socket PATH] [--spool-dir DIR] [--prompt-text]
//	vigil emit --type TYPE --session ID --agent NAME [options] | --json FILE|-
//	vigil timeline (--session ID | --correlation-id ID | --since T) [--until T] [--json] [--config FILE | --data DIR | FILE...]
//	vigil version
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"time"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

func vigilVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "0.1.0-dev"
}

const usage = `vigil records what autonomous agents do on this host: their process
trees, traced in the kernel with eBPF, as Elastic Common Schema JSON lines.

Usage:
  vigil trace [-o FILE] [--all] [--name NAME] -- CMD [ARGS...]
        run CMD as a tracked agent root and record its process tree
  vigil run [--config FILE]
        run as a daemon: record the trees of configured agents
  vigil keygen --dir DIR
        create the signing and MAC keys that make records tamper-evident
  vigil verify [--key-dir DIR | --pub KEY --mac-key K0] PATH...
        check record files for any change, deletion, insertion or reordering
  vigil timeline (--session ID | --correlation-id ID | --since T) [--until T] [--json]
                 [--config FILE | --data DIR | FILE...]
        show what an agent did: prompts, model and tool calls, the kernel
        actions under each tool call, and the verdicts
  vigil hold add|remove|list --dir DIR [NAME]
        keep stored records from deletion by the retention policy
  vigil hook claude-code [--socket PATH] [--spool-dir DIR] [--prompt-text]
        report a Claude Code hook payload (stdin) to the daemon as intents;
        always exits 0, spools while the daemon is unreachable
  vigil emit --type TYPE --session ID --agent NAME [options] | --json FILE|-
        send intents from a shell (no spooling)
  vigil version
        print the version

Run "vigil COMMAND --help" for a command's options.
`

func main() {
	if len(os.Args) > 1 && os.Args[1] == gateCommand {
		os.Exit(gate(os.Args[2:]))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole program short of os.Exit, so tests can drive it.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	var err error
	switch args[0] {
	case "trace":
		return traceCommand(args[1:], stdout, stderr, log)
	case "run":
		err = daemonCommand(args[1:], stderr, log)
	case "keygen":
		return keygenCommand(args[1:], stdout, stderr)
	case "verify":
		return verifyCommand(args[1:], stdout, stderr)
	case "hold":
		return holdCommand(args[1:], stdout, stderr)
	case "hook":
		// Never writes to stdout: Claude Code reads a hook's stdout.
		return hookCommand(args[1:], stderr, processEnv())
	case "emit":
		return emitCommand(args[1:], stderr, processEnv())
	case "timeline":
		return timelineCommand(args[1:], stdout, stderr, time.Now)
	case "version":
		fs := flag.NewFlagSet("vigil version", flag.ContinueOnError)
		fs.SetOutput(stderr)
		fs.Usage = func() { fmt.Fprint(stderr, "Usage: vigil version\n\nPrints Vigil's version.\n") }
		if err := fs.Parse(args[1:]); err != nil {
			return exitUsage(err)
		}
		fmt.Fprintf(stdout, "vigil %s\n", vigilVersion())
		return 0
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "vigil: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "vigil: %v\n", err)
			return 2
		}
		fmt.Fprintf(stderr, "vigil: %v\n", err)
		return 1
	}
	return 0
}

// usageError is a mistake on the command line (exit status 2).
type usageError struct{ error }

func exitUsage(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 2
}
