package etw

import (
	"strings"
	"unicode/utf16"
)

// envIDs finds the correlation variables in a process's environment
// block: UTF-16 "NAME=value" strings, each ending in a NUL, the block in
// an empty one. Windows compares variable names without case; entries
// whose name starts with '=' (the per-drive directories "=C:=C:\...")
// are skipped. A block cut short ends at its last whole string.
func envIDs(block []uint16) (corr, traceparent string) {
	for len(block) > 0 {
		end := 0
		for end < len(block) && block[end] != 0 {
			end++
		}
		if end == 0 {
			return // the empty string that ends the block
		}
		entry := block[:end]
		if end == len(block) {
			return // cut short: not a whole string
		}
		block = block[end+1:]
		if entry[0] == '=' {
			continue
		}
		s := string(utf16.Decode(entry))
		name, value, ok := strings.Cut(s, "=")
		if !ok {
			continue
		}
		switch {
		case strings.EqualFold(name, PropCorrelationID):
			corr = value
		case strings.EqualFold(name, PropTraceparent):
			traceparent = value
		}
	}
	return
}
