package etw

// SplitCommandLine splits a Windows command line into arguments the way
// CommandLineToArgvW does (the convention of the Microsoft C runtime
// before 2008, which Go's os/exec_windows.go commandLineToArgv and Wine's
// shell32 CommandLineToArgvW follow too):
//
//   - The first argument, the program, ends at the next quote if it
//     starts with one, else at the first space or tab; backslashes and
//     quotes inside it are literal.
//   - Other arguments are separated by spaces and tabs outside quotes.
//     2n backslashes before a quote are n backslashes, and the quote
//     opens or closes a quoted part; 2n+1 backslashes before a quote are
//     n backslashes and a literal quote; backslashes before anything else
//     are literal.
//   - Inside a quoted part, "" is a literal quote and ends the quoted
//     part.
//
// The program a process runs may parse its command line differently
// (cmd.exe does): the arguments are what a C program's argv would be.
// An empty command line has no arguments.
func SplitCommandLine(cmd string) []string {
	if cmd == "" {
		return nil
	}
	var args []string
	// The program name.
	var prog string
	if cmd[0] == '"' {
		end := 1
		for end < len(cmd) && cmd[end] != '"' {
			end++
		}
		prog = cmd[1:end]
		if end < len(cmd) {
			end++ // the closing quote
		}
		cmd = cmd[end:]
	} else {
		end := 0
		for end < len(cmd) && cmd[end] != ' ' && cmd[end] != '\t' {
			end++
		}
		prog, cmd = cmd[:end], cmd[end:]
	}
	args = append(args, prog)
	for {
		for len(cmd) > 0 && (cmd[0] == ' ' || cmd[0] == '\t') {
			cmd = cmd[1:]
		}
		if cmd == "" {
			return args
		}
		var arg string
		arg, cmd = nextArg(cmd)
		args = append(args, arg)
	}
}

// nextArg reads one argument after the first from the front of cmd.
func nextArg(cmd string) (arg, rest string) {
	var b []byte
	quoted := false
	slashes := 0
	backslashes := func(n int) {
		for ; n > 0; n-- {
			b = append(b, '\\')
		}
	}
	for i := 0; i < len(cmd); i++ {
		c := cmd[i]
		switch c {
		case '\\':
			slashes++
			continue
		case '"':
			backslashes(slashes / 2)
			if slashes%2 == 1 {
				b = append(b, '"')
			} else {
				if quoted && i+1 < len(cmd) && cmd[i+1] == '"' {
					b = append(b, '"')
					i++
				}
				quoted = !quoted
			}
			slashes = 0
			continue
		case ' ', '\t':
			if !quoted {
				backslashes(slashes)
				return string(b), cmd[i+1:]
			}
		}
		backslashes(slashes)
		slashes = 0
		b = append(b, c)
	}
	backslashes(slashes)
	return string(b), ""
}
