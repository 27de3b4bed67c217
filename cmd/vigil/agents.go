package main

import (
	"strings"
)

// interpreters run scripts: for them, the script named in argv[1] is what
// was invoked (a shebang exec turns "claude ..." into "node /path/claude ...").
var interpreters = map[string]bool{
	"node": true, "bun": true, "deno": true, "python": true, "python3": true,
	"ruby": true, "perl": true, "sh": true, "bash": true, "dash": true, "env": true,
}

// matchName finds the agent a program is by name: its executable's base
// name, the name it was invoked by (argv[0]) or, for an interpreter, the
// script it runs. With windows, names compare without case and without
// an ".exe" suffix, and '\\' separates path components too.
func matchName(names map[string]uint32, executable string, args []string, windows bool) uint32 {
	base := func(p string) string {
		i := strings.LastIndexByte(p, '/')
		if windows {
			i = max(i, strings.LastIndexByte(p, '\\'))
			p = strings.ToLower(p[i+1:])
			return strings.TrimSuffix(p, ".exe")
		}
		return p[i+1:]
	}
	lookup := func(n string) (uint32, bool) {
		a, ok := names[n]
		return a, ok
	}
	if windows {
		lookup = func(n string) (uint32, bool) {
			for name, a := range names {
				if strings.EqualFold(strings.TrimSuffix(strings.ToLower(name), ".exe"), n) {
					return a, true
				}
			}
			return 0, false
		}
	}
	exe := base(executable)
	if a, ok := lookup(exe); ok {
		return a
	}
	if len(args) > 0 {
		if a, ok := lookup(base(args[0])); ok {
			return a
		}
		script := len(args) > 1 && (interpreters[exe] || strings.HasPrefix(exe, "python3.")) &&
			(strings.Contains(args[1], "/") || windows && strings.Contains(args[1], "\\"))
		if script {
			if a, ok := lookup(base(args[1])); ok {
				return a
			}
		}
	}
	return 0
}
