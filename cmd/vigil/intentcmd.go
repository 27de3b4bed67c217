package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vigilsec/vigil/intent"
	"github.com/vigilsec/vigil/internal/config"
)

// procEnv is what vigil hook and vigil emit take from their process:
// run builds it from the real one, tests build their own.
type procEnv struct {
	stdin      io.Reader
	getenv     func(string) string
	now        func() time.Time
	pid, ppid  int
	uid        int
	procRoot   string // procfs mount
	configPath string // the daemon's configuration, for the intent socket
}

func processEnv() procEnv {
	return procEnv{
		stdin:      os.Stdin,
		getenv:     os.Getenv,
		now:        time.Now,
		pid:        os.Getpid(),
		ppid:       os.Getppid(),
		uid:        os.Getuid(),
		procRoot:   "/proc",
		configPath: config.DefaultPath,
	}
}

// intentSocket is where intents go: the --socket flag, else
// $VIGIL_INTENT_SOCKET, else the [intent] socket of the daemon's
// configuration file when it exists and parses, else the default.
func intentSocket(flagValue string, env procEnv) string {
	if flagValue != "" {
		return flagValue
	}
	if p := env.getenv(intent.SocketEnv); p != "" {
		return p
	}
	if env.configPath != "" {
		if _, err := os.Stat(env.configPath); err == nil {
			if c, err := config.Load(env.configPath); err == nil && c.Intent.Socket != "" {
				return c.Intent.Socket
			}
		}
	}
	return intent.DefaultSocket
}

// shells are the programs an agent may run its hooks through; the agent
// is the first ancestor that is not one of them.
var shells = map[string]bool{"sh": true, "bash": true, "dash": true, "zsh": true}

// maxAncestry bounds walks up the process tree.
const maxAncestry = 64

// agentPID is the agent a hook speaks for: its parent, or when that is a
// shell, the first ancestor that is not a shell. It returns 0 when the
// parent is unknown or init (the hook was orphaned).
func agentPID(procRoot string, ppid int) int {
	pid := ppid
	for range maxAncestry {
		if pid <= 1 {
			break
		}
		comm, parent, err := procCommParent(procRoot, pid)
		if err != nil {
			break
		}
		if !shells[comm] {
			return pid
		}
		pid = parent
	}
	// Nothing but shells up to init (or /proc unreadable): the nearest
	// parent is the best guess.
	if ppid <= 1 {
		return 0
	}
	return ppid
}

// ancestry is pid and its ancestors up to init.
func ancestry(procRoot string, pid int) map[int]bool {
	set := map[int]bool{pid: true}
	for range maxAncestry {
		_, parent, err := procCommParent(procRoot, pid)
		if err != nil || parent <= 1 {
			break
		}
		set[parent] = true
		pid = parent
	}
	return set
}

// procAlive reports whether a process pid exists.
func procAlive(procRoot string, pid int) bool {
	_, err := os.Stat(filepath.Join(procRoot, strconv.Itoa(pid)))
	return err == nil
}

// procCommParent reads a process's command name and parent from
// /proc/PID/stat.
func procCommParent(procRoot string, pid int) (comm string, ppid int, err error) {
	b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "stat"))
	if err != nil {
		return "", 0, err
	}
	// pid (comm) state ppid ...: comm may hold spaces and parentheses.
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return "", 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	f := strings.Fields(string(b[end+1:]))
	if len(f) < 2 {
		return "", 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	ppid, err = strconv.Atoi(f[1])
	if err != nil {
		return "", 0, fmt.Errorf("/proc/%d/stat: ppid: %w", pid, err)
	}
	return string(b[open+1 : end]), ppid, nil
}

// oneLine makes an error message fit on one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// truncUTF8 cuts s to at most n bytes on a character boundary.
func truncUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:n]
}

// errUnreachable wraps failures to reach the daemon (dial, send or its
// answer), as opposed to its refusals.
var errUnreachable = errors.New("vigil unreachable")
