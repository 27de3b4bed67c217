package esf

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/agent-session.jsonl")

const fixturePath = "testdata/agent-session.jsonl"

// Process ids of the fixture's agent tree.
const (
	pidAgent = 4242 // /usr/bin/env node /opt/homebrew/bin/claude, then node
	pidShell = 4250 // zsh -c "git status && sed ...", then sed
	pidGit   = 4251 // /usr/bin/git, then the Command Line Tools' git
	pidSleep = 4253 // sleep 30, killed
)

// fixtureStart is when the fixture's session begins.
var fixtureStart = time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)

// agentMatch starts a tree for the claude CLI, however it is launched
// (its script runs under env and node).
func agentMatch(exe string, args []string) (uint32, bool) {
	return 1, slices.Contains(args, "/opt/homebrew/bin/claude")
}

// agentSession is testdata/agent-session.jsonl: Claude Code, started from
// an interactive zsh in Terminal, reads the project, writes its todo
// list (write to a temporary file, rename over the old one), appends to
// a history file it never closes, runs `git status && sed -i` through a
// shell (git refreshes its index through index.lock; sed -i writes a
// temporary file and renames it over the source), moves notes.md into
// docs/, removes a lock file and a scratch directory, starts a sleep it
// kills with SIGTERM, resolves a name through mDNSResponder's socket, and
// exits. Around it, processes of no tree: the user's zsh, Spotlight
// (mdworker_shared, mds_stores), Safari's networking process, launchd
// starting an XPC service.
func agentSession() []byte {
	s := newSession(fixtureStart)
	const ms = time.Millisecond
	at := func(d time.Duration) time.Time { return fixtureStart.Add(d) }
	tty := &fileInfo{path: "/dev/ttys003", ino: 1301, mode: 0o020620, dev: 831946567, uid: 501, gid: 4}
	terminal := [2]int{612, 1810}

	// Out of any tree.
	loginShell := &proc{pid: 4100, pidversion: 5101, ppid: 4099, originalPPID: 4099, parentVersion: 5099,
		pgid: 4100, sid: 4100, uid: 501, gid: 20, exe: binary("/bin/zsh", 1152921500312524577, 1361200),
		signingID: "com.apple.zsh", platform: true, csflags: 0x26000b01, cdhash: cdhash("zsh"), tty: tty,
		start: at(-40 * time.Minute), responsible: terminal, thread: 70001}
	mdworker := &proc{pid: 812, pidversion: 1930, ppid: 1, originalPPID: 1, parentVersion: 1,
		pgid: 812, sid: 812, uid: 501, gid: 20,
		exe:       binary("/System/Library/Frameworks/CoreServices.framework/Versions/A/Frameworks/Metadata.framework/Versions/A/Support/mdworker_shared", 1152921500312610211, 220832),
		signingID: "com.apple.mdworker_shared", platform: true, csflags: 0x26000b01, cdhash: cdhash("mdworker_shared"),
		start: at(-3 * time.Hour), responsible: [2]int{812, 1930}, thread: 9101}
	mds := &proc{pid: 401, pidversion: 520, ppid: 1, originalPPID: 1, parentVersion: 1, pgid: 401, sid: 401,
		exe:       binary("/System/Library/Frameworks/CoreServices.framework/Versions/A/Frameworks/Metadata.framework/Versions/A/Support/mds_stores", 1152921500312610245, 1488032),
		signingID: "com.apple.mds_stores", platform: true, csflags: 0x26000b01, cdhash: cdhash("mds_stores"),
		start: at(-26 * time.Hour), responsible: [2]int{401, 520}, thread: 2201}
	webkit := &proc{pid: 903, pidversion: 2411, ppid: 1, originalPPID: 1, parentVersion: 1, pgid: 903, sid: 903,
		uid: 501, gid: 20,
		exe:       binary("/System/Library/Frameworks/WebKit.framework/Versions/A/XPCServices/com.apple.WebKit.Networking.xpc/Contents/MacOS/com.apple.WebKit.Networking", 1152921500312700001, 70416),
		signingID: "com.apple.WebKit.Networking", platform: true, csflags: 0x26000b01, cdhash: cdhash("WebKit.Networking"),
		start: at(-2 * time.Hour), responsible: [2]int{880, 2390}, thread: 11201}
	launchd := &proc{pid: 1, pidversion: 1, pgid: 1, sid: 1, exe: binary("/sbin/launchd", 1152921500312400001, 1011520),
		signingID: "com.apple.xpc.launchd", platform: true, csflags: 0x26000b01, cdhash: cdhash("launchd"),
		start: at(-30 * time.Hour), responsible: [2]int{1, 1}, thread: 101}

	project := "/Users/dev/project"
	env := []string{
		"TERM_PROGRAM=Apple_Terminal", "SHELL=/bin/zsh", "TERM=xterm-256color",
		"TMPDIR=/var/folders/7x/k2l9d0hs1qg5vvt4pn3w3xk40000gn/T/", "USER=dev",
		"PATH=/opt/homebrew/bin:/opt/homebrew/sbin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
		"PWD=" + project, "LANG=en_US.UTF-8", "HOME=/Users/dev", "LOGNAME=dev",
		"VIGIL_CORRELATION_ID=run-20260314-0930-7f3a",
		"TRACEPARENT=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"_=/opt/homebrew/bin/claude",
	}
	childEnv := append(slices.Clone(env[:len(env)-1]), "CLAUDECODE=1", "_=/bin/zsh")
	claudeArgs := []string{"-p", "fix the failing test in src/app.ts"}

	spotlightIndex := regular("/Users/dev/Library/Metadata/CoreSpotlight/index.spotlightV3/store.db", 3301, 1048576)
	s.open(3*ms, mdworker, spotlightIndex, 1)

	// The user runs `claude -p ...` at the zsh prompt.
	agent := s.fork(40*ms, loginShell, pidAgent, 5201, 70101)
	agent.pgid = pidAgent
	s.exec(2*ms, agent, execArgs{
		exe:       binary("/usr/bin/env", 1152921500312522081, 134368),
		args:      append([]string{"/usr/bin/env", "node", "/opt/homebrew/bin/claude"}, claudeArgs...),
		env:       env,
		cwd:       project,
		script:    regular("/opt/homebrew/lib/node_modules/@anthropic-ai/claude-code/cli.js", 9013377, 9371201),
		dyld:      "/usr/bin/env",
		signingID: "com.apple.env", platform: true,
	})
	s.exec(4*ms, agent, execArgs{
		exe:       binary("/opt/homebrew/Cellar/node/24.4.0/bin/node", 9001021, 115343216),
		args:      append([]string{"node", "/opt/homebrew/bin/claude"}, claudeArgs...),
		env:       env,
		cwd:       project,
		dyld:      "/opt/homebrew/bin/node",
		signingID: "node",
		csflags:   0x20002, // ad hoc signed
	})

	s.open(180*ms, agent, regular(project+"/package.json", 884401, 1290), fRead)
	appTS := regular(project+"/src/app.ts", 884420, 4211)
	s.open(12*ms, agent, appTS, fRead)
	mdns := &fileInfo{path: "/private/var/run/mDNSResponder", ino: 3022, mode: 0o140666, dev: dataVolume}
	s.connect(35*ms, agent, mdns)
	s.connect(3*ms, webkit, mdns)

	// The todo list: a temporary file renamed over the old one.
	todoTmp := regular(project+"/.claude/todo.json.tmp", 884502, 0)
	s.open(900*ms, agent, todoTmp, fWrite|oCreat|oTrunc)
	for range 3 {
		s.write(1*ms, agent, todoTmp)
	}
	s.close(1*ms, agent, todoTmp, true)
	s.renameOver(1*ms, agent, todoTmp, regular(project+"/.claude/todo.json", 884480, 412))

	// The history file, appended to and never closed.
	history := regular(project+"/.claude/history.jsonl", 884470, 20311)
	s.open(4*ms, agent, history, fWrite|oAppend)
	s.write(1*ms, agent, history)

	// Bash tool: zsh -c "git status && sed -i '' 's/foo/bar/' src/app.ts".
	shell := s.fork(1200*ms, agent, pidShell, 5210, 70201)
	s.exec(3*ms, shell, execArgs{
		exe:       binary("/bin/zsh", 1152921500312524577, 1361200),
		args:      []string{"/bin/zsh", "-c", "git status && sed -i '' 's/foo/bar/' src/app.ts"},
		env:       childEnv,
		cwd:       project,
		signingID: "com.apple.zsh", platform: true,
	})
	git := s.fork(6*ms, shell, pidGit, 5220, 70301)
	s.exec(1*ms, git, execArgs{
		exe: binary("/usr/bin/git", 1152921500312523011, 167264), args: []string{"git", "status"},
		env: childEnv, cwd: project, signingID: "com.apple.git", platform: true,
	})
	s.exec(9*ms, git, execArgs{
		exe:  binary("/Library/Developer/CommandLineTools/usr/bin/git", 1152921500312999021, 3531456),
		args: []string{"git", "status"}, env: childEnv, cwd: project, signingID: "com.apple.git", platform: true,
	})
	s.open(5*ms, git, regular(project+"/.git/index", 884301, 9821), fRead)
	lock := regular(project+"/.git/index.lock", 884550, 0)
	s.open(2*ms, git, lock, fRead|fWrite|oCreat|oExcl)
	s.write(3*ms, git, lock)
	s.write(1*ms, git, lock)
	s.close(1*ms, git, lock, true)
	s.renameOver(1*ms, git, lock, regular(project+"/.git/index", 884301, 9821))
	s.exit(2*ms, git, 0)

	// Spotlight notices the project; none of it is the agent's.
	s.open(4*ms, mdworker, appTS, fRead)
	s.write(1*ms, mds, regular("/System/Volumes/Data/.Spotlight-V100/Store-V2/1B7C/journalAttr.3", 3410, 65536))

	// zsh runs the last command of -c in its own process.
	s.exec(3*ms, shell, execArgs{
		exe:  binary("/usr/bin/sed", 1152921500312524101, 135296),
		args: []string{"sed", "-i", "", "s/foo/bar/", "src/app.ts"}, env: childEnv, cwd: project,
		signingID: "com.apple.sed", platform: true,
	})
	s.open(2*ms, shell, appTS, fRead)
	sedTmp := regular(project+"/src/.!4250!app.ts", 884560, 0)
	s.open(1*ms, shell, sedTmp, fWrite|oCreat|oTrunc)
	s.write(1*ms, shell, sedTmp)
	s.write(1*ms, shell, sedTmp)
	s.close(1*ms, shell, sedTmp, true)
	s.renameOver(1*ms, shell, sedTmp, appTS)
	s.exit(1*ms, shell, 0)

	s.write(300*ms, agent, history)
	s.renameTo(20*ms, agent, regular(project+"/notes.md", 884430, 2048), dir(project+"/docs", 884400), "notes.md")
	s.unlink(15*ms, agent, regular(project+"/.claude/session.lock", 884490, 6), dir(project+"/.claude", 884460))
	s.unlink(2*ms, agent, dir(project+"/.claude/tmp-4242", 884495), dir(project+"/.claude", 884460))

	// A sleep the agent gives up on: SIGTERM (wait status 15).
	sleep := s.fork(400*ms, agent, pidSleep, 5230, 70401)
	s.exec(1*ms, sleep, execArgs{
		exe: binary("/bin/sleep", 1152921500312524011, 134224), args: []string{"sleep", "30"},
		env: childEnv, cwd: project, signingID: "com.apple.sleep", platform: true,
	})
	s.exit(2000*ms, sleep, 15)

	// launchd starts an XPC service.
	xpc := s.fork(20*ms, launchd, 5001, 5301, 80001)
	s.exec(1*ms, xpc, execArgs{
		exe: binary("/usr/libexec/xpcproxy", 1152921500312530001, 71200), args: []string{"xpcproxy", "com.apple.quicklook.ThumbnailsAgent"},
		env: []string{"XPC_SERVICE_NAME=0"}, cwd: "/", signingID: "com.apple.xpc.proxy", platform: true,
	})
	s.exit(30*ms, xpc, 0)

	s.exit(150*ms, agent, 0)

	// The user's shell writes its history after the command.
	zshHistory := regular("/Users/dev/.zsh_history", 700101, 88120)
	s.open(5*ms, loginShell, zshHistory, fWrite|oAppend)
	s.write(1*ms, loginShell, zshHistory)
	s.close(1*ms, loginShell, zshHistory, true)
	return s.bytes()
}

// readFixture returns testdata/agent-session.jsonl and what agentSession
// writes, rewriting the file first when -update is given.
func readFixture() (got, want []byte, err error) {
	want = agentSession()
	if *update {
		if err := os.MkdirAll(filepath.Dir(fixturePath), 0o755); err != nil {
			return nil, nil, err
		}
		if err := os.WriteFile(fixturePath, want, 0o644); err != nil {
			return nil, nil, err
		}
	}
	got, err = os.ReadFile(fixturePath)
	return got, want, err
}
