package etw

import (
	"reflect"
	"testing"
)

// Cases from Microsoft's "Parsing C command-line arguments" table and the
// CommandLineToArgvW rules (Wine's shell32 implementation, Go's
// os.commandLineToArgv): the program is argv[0], then the rest.
func TestSplitCommandLine(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{``, nil},
		{`prog`, []string{`prog`}},
		{`prog "abc" d e`, []string{`prog`, `abc`, `d`, `e`}},
		{`prog a\\\b d"e f"g h`, []string{`prog`, `a\\\b`, `de fg`, `h`}},
		{`prog a\\\"b c d`, []string{`prog`, `a\"b`, `c`, `d`}},
		{`prog a\\\\"b c" d e`, []string{`prog`, `a\\b c`, `d`, `e`}},
		// "" inside quotes: a quote, and the quoted part ends
		// (CommandLineToArgvW; the 2008+ C runtime stays quoted).
		{`prog a"b"" c d`, []string{`prog`, `ab"`, `c`, `d`}},
		{`prog """"`, []string{`prog`, `"`}},
		{`prog """a"""`, []string{`prog`, `"a"`}},
		{`prog "" ""`, []string{`prog`, ``, ``}},
		{"prog\ta\t\tb  ", []string{`prog`, `a`, `b`}},
		{`prog a\\`, []string{`prog`, `a\\`}},
		{`prog "a b\\"`, []string{`prog`, `a b\`}},
		{`prog "unterminated arg`, []string{`prog`, `unterminated arg`}},
		// The program: to the next quote if quoted, else to the first
		// blank; backslashes and quotes in it are literal.
		{`"C:\Program Files\nodejs\node.exe" cli.js`, []string{`C:\Program Files\nodejs\node.exe`, `cli.js`}},
		{`"C:\dir\"x.exe a`, []string{`C:\dir\`, `x.exe`, `a`}},
		{`C:\a"b c`, []string{`C:\a"b`, `c`}},
		{`"C:\no end`, []string{`C:\no end`}},
		{`"" x`, []string{``, `x`}},
		{`  prog a`, []string{``, `prog`, `a`}}, // leading blanks: an empty program name, as CommandLineToArgvW
		{`C:\WINDOWS\system32\cmd.exe /d /s /c "git status --porcelain > status.txt && powershell -NoProfile -Command Remove-Item build.log,out"`,
			[]string{`C:\WINDOWS\system32\cmd.exe`, `/d`, `/s`, `/c`, `git status --porcelain > status.txt && powershell -NoProfile -Command Remove-Item build.log,out`}},
		{`powershell -Command "Set-Content x \"a b\""`, []string{`powershell`, `-Command`, `Set-Content x "a b"`}},
		{`git commit -m "fix: \"quoted\" path C:\dir\\"`, []string{`git`, `commit`, `-m`, `fix: "quoted" path C:\dir\`}},
	} {
		if got := SplitCommandLine(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("SplitCommandLine(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
