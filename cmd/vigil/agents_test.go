package main

import "testing"

func TestMatchName(t *testing.T) {
	names := map[string]uint32{"claude": 1, "codex": 2, "Cursor-Agent": 3}
	for _, tc := range []struct {
		exe     string
		args    []string
		windows bool
		want    uint32
	}{
		{"/usr/local/bin/claude", []string{"claude"}, false, 1},
		{"/usr/bin/node", []string{"claude", "--resume"}, false, 1},                      // invoked as claude (argv[0])
		{"/usr/bin/node", []string{"node", "/opt/homebrew/bin/codex", "exec"}, false, 2}, // a script run by an interpreter
		{"/usr/bin/node", []string{"node", "codex"}, false, 0},                           // a bare word is no script path
		{"/usr/bin/python3.12", []string{"python3.12", "/usr/lib/x/claude"}, false, 1},
		{"/usr/bin/CLAUDE", []string{"CLAUDE"}, false, 0}, // Linux names are exact
		{"/usr/bin/claude.exe", []string{"x"}, false, 0},  // and keep their suffix
		{`C:\Users\dev\claude\claude.exe`, nil, true, 1},  // Windows: without case and ".exe"
		{`C:\Tools\CLAUDE.EXE`, []string{"CLAUDE.EXE"}, true, 1},
		{`C:\Program Files\nodejs\node.exe`, []string{"node", `C:\Users\dev\AppData\Roaming\npm\node_modules\codex\bin\codex`}, true, 2},
		{`C:\Tools\cursor-agent.exe`, nil, true, 3},
		{`C:\Windows\System32\cmd.exe`, []string{"cmd.exe", "/c", "claude"}, true, 0},
	} {
		if got := matchName(names, tc.exe, tc.args, tc.windows); got != tc.want {
			t.Errorf("matchName(%q, %q, windows=%v) = %d, want %d", tc.exe, tc.args, tc.windows, got, tc.want)
		}
	}
}
