//go:build linux

// Command execenv runs a program with exactly the environment it is
// given, in that order and with duplicates kept, for the tests of the
// correlation ids the sensor reads from the environment at exec.
//
//	execenv [ENTRY]... -- PROG [ARG]...
//
// An ENTRY is an environment string taken as is (NAME=VALUE, or anything
// else), or one of:
//
//	@pad:N   one string "VIGIL_PAD=" followed by N bytes of 'x'
//	@many:N  N short strings "P0=", "P1=", ...
package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

func main() {
	env, argv, err := parse(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "execenv:", err)
		fmt.Fprintln(os.Stderr, "usage: execenv [NAME=VALUE | @pad:N | @many:N]... -- PROG [ARG]...")
		os.Exit(2)
	}
	err = syscall.Exec(argv[0], argv, env)
	fmt.Fprintf(os.Stderr, "execenv: exec %s: %v\n", argv[0], err)
	os.Exit(1)
}

func parse(args []string) (env, argv []string, err error) {
	env = []string{}
	for i, a := range args {
		if a == "--" {
			if i+1 == len(args) {
				return nil, nil, fmt.Errorf("no program after --")
			}
			return env, args[i+1:], nil
		}
		switch {
		case strings.HasPrefix(a, "@pad:"):
			n, err := strconv.Atoi(strings.TrimPrefix(a, "@pad:"))
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w", a, err)
			}
			env = append(env, "VIGIL_PAD="+strings.Repeat("x", n))
		case strings.HasPrefix(a, "@many:"):
			n, err := strconv.Atoi(strings.TrimPrefix(a, "@many:"))
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w", a, err)
			}
			for j := range n {
				env = append(env, "P"+strconv.Itoa(j)+"=")
			}
		default:
			env = append(env, a)
		}
	}
	return nil, nil, fmt.Errorf("missing --")
}
