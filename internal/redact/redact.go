// Package redact removes secrets from command lines and URLs before they
// reach a record. Rules, applied to every argument (and to URLs):
//
//  1. Query parameters: "?name=value" / "&name=value" with a secret name.
//  2. Assignments and long flags: "name=value", "--name=value",
//     "-name=value" with a secret name (API_TOKEN=..., --password=...).
//  3. Flags followed by their value: "--name value" / "-name value" with
//     a secret name: the next argument is replaced whole.
//  4. Headers: "Name: value" with a secret name (Authorization,
//     X-Api-Key, ...), as passed to curl -H or inside a shell string.
//  5. URL userinfo: "scheme://user:password@host" becomes
//     "scheme://<marker>@host".
//
// A name is secret when the Names pattern matches it. Only values are
// replaced; names stay, so a record still says which secret was passed.
package redact

import (
	"regexp"
	"strings"
)

// DefaultNames matches parameter, flag, variable and header names that
// carry secrets.
const DefaultNames = `(?i)(token|secret|passw|pwd|auth|credential|api[_-]?key|access[_-]?key|private[_-]?key|(^|[_.-])key$|session[_-]?id|cookie|signature)`

// DefaultMarker replaces a secret value.
const DefaultMarker = "[REDACTED]"

// Redactor applies the rules. The zero value redacts nothing; use New.
type Redactor struct {
	names  *regexp.Regexp
	marker string
	// Candidates found by the rules' shapes; their names are then checked.
	query, assign, header, userinfo *regexp.Regexp
}

// New returns a Redactor for a names pattern (DefaultNames if empty) and
// a marker (DefaultMarker if empty).
func New(names, marker string) (*Redactor, error) {
	if names == "" {
		names = DefaultNames
	}
	if marker == "" {
		marker = DefaultMarker
	}
	re, err := regexp.Compile(names)
	if err != nil {
		return nil, err
	}
	return &Redactor{
		names:    re,
		marker:   marker,
		query:    regexp.MustCompile(`([?&;])([^=&#?;\s'"]+)=([^&#;\s'"]*)`),
		assign:   regexp.MustCompile(`(^|[\s'"])(-{0,2})([A-Za-z_][A-Za-z0-9_.-]*)=([^\s'"&]*)`),
		header:   regexp.MustCompile(`(^|[\s'"])([A-Za-z][A-Za-z0-9-]*)\s*:\s*([^'"\r\n]*)`),
		userinfo: regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://)([^/\s@'"]+)@`),
	}, nil
}

// Default is New(DefaultNames, DefaultMarker).
func Default() *Redactor {
	r, err := New("", "")
	if err != nil {
		panic(err) // DefaultNames compiles
	}
	return r
}

// mayHold is a cheap test for the characters every rule needs.
func mayHold(s string) bool {
	return strings.ContainsAny(s, "=:@")
}

// String applies rules 1, 2, 4 and 5 to one string.
func (r *Redactor) String(s string) string {
	if r == nil || r.names == nil || !mayHold(s) {
		return s
	}
	s = r.userinfo.ReplaceAllString(s, "${1}"+escape(r.marker)+"@")
	s = r.query.ReplaceAllStringFunc(s, func(m string) string {
		sub := r.query.FindStringSubmatch(m)
		if !r.names.MatchString(sub[2]) {
			return m
		}
		return sub[1] + sub[2] + "=" + r.marker
	})
	s = r.assign.ReplaceAllStringFunc(s, func(m string) string {
		sub := r.assign.FindStringSubmatch(m)
		if !r.names.MatchString(sub[3]) || sub[4] == "" || sub[4] == r.marker {
			return m
		}
		return sub[1] + sub[2] + sub[3] + "=" + r.marker
	})
	s = r.header.ReplaceAllStringFunc(s, func(m string) string {
		sub := r.header.FindStringSubmatch(m)
		if !r.names.MatchString(sub[2]) || strings.TrimSpace(sub[3]) == "" || strings.HasPrefix(sub[3], "//") {
			return m
		}
		return sub[1] + sub[2] + ": " + r.marker
	})
	return s
}

func escape(s string) string { return strings.ReplaceAll(s, "$", "$$") }

// Args applies every rule to an argument vector. It returns args itself
// when nothing changed, and a new slice otherwise.
func (r *Redactor) Args(args []string) []string {
	if r == nil || r.names == nil {
		return args
	}
	var out []string
	for i, a := range args {
		red := r.String(a)
		if i > 0 && r.secretFlag(args[i-1]) {
			red = r.marker // rule 3: the value of "--password VALUE"
		}
		if red != a && out == nil {
			out = append(make([]string, 0, len(args)), args[:i]...)
		}
		if out != nil {
			out = append(out, red)
		}
	}
	if out == nil {
		return args
	}
	return out
}

// secretFlag reports whether a is a flag without a value whose name is
// secret ("--password", "-token"), so the next argument is its value.
func (r *Redactor) secretFlag(a string) bool {
	if !strings.HasPrefix(a, "-") || strings.Contains(a, "=") {
		return false
	}
	name := strings.TrimLeft(a, "-")
	return name != "" && r.names.MatchString(name)
}
