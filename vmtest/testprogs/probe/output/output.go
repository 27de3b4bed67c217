//go:build linux

// Package output is the exact output the probe writes, shared with the
// test that checks it byte for byte.
package output

import "strings"

// Stdout is lines with empty ones, trailing spaces, a carriage return
// that must stay one, tabs and UTF-8, then 64 KiB of a numbered pattern.
func Stdout() []byte {
	var b strings.Builder
	b.WriteString("first line\n\nthird line after an empty one  \nwith\ttab and\r carriage return\nnaïve ünïcode ✓\n")
	for i := range 2048 {
		b.WriteString(strings.Repeat(string(rune('a'+i%26)), 27))
		b.WriteString("|\n") // 2048 lines of 29 bytes
	}
	b.WriteString("no newline at the end")
	return []byte(b.String())
}

// Stderr goes to the other stream.
func Stderr() []byte { return []byte("on stderr 1\non stderr 2\n") }
