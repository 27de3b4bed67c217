// Package sink ships sealed records to the systems security teams run.
// This file turns an ECS record into an ArcSight Common Event Format
// (CEF) line, escaping header and extension values as the CEF
// specification requires.
package sink

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// CEFEscapeHeader escapes a CEF header field: backslash and pipe.
func CEFEscapeHeader(s string) string {
	if !strings.ContainsAny(s, `\|`+"\r\n") {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '\\':
			b.WriteString(`\\`)
		case '|':
			b.WriteString(`\|`)
		case '\n', '\r':
			b.WriteByte(' ') // no line breaks in a header
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// CEFEscapeValue escapes a CEF extension value: backslash, equals sign,
// and line breaks.
func CEFEscapeValue(s string) string {
	if !strings.ContainsAny(s, `\=`+"\r\n") {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '\\':
			b.WriteString(`\\`)
		case '=':
			b.WriteString(`\=`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// CEFUnescapeValue reverses CEFEscapeValue.
func CEFUnescapeValue(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) {
			i++
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			default:
				b.WriteByte(s[i])
			}
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// cefField maps an ECS field to a CEF extension key (standard keys where
// CEF has one; custom string/number slots with labels otherwise).
var cefFields = []struct {
	ecs, key, label string
}{
	{"event.action", "act", ""},
	{"event.category", "cat", ""},
	{"event.outcome", "outcome", ""},
	{"user.id", "suid", ""},
	{"process.pid", "spid", ""},
	{"process.name", "sproc", ""},
	{"process.executable", "filePath", ""},
	{"process.command_line", "cs1", "commandLine"},
	{"process.entity_id", "cs2", "entityId"},
	{"gen_ai.agent.name", "cs3", "agent"},
	{"event.hash", "cs4", "recordHash"},
	{"file.path", "fname", ""},
	{"Vigil.file.old_path", "oldFilePath", ""},
	{"destination.ip", "dst", ""},
	{"destination.port", "dpt", ""},
	{"destination.domain", "dhost", ""},
	{"source.ip", "src", ""},
	{"source.port", "spt", ""},
	{"network.transport", "proto", ""},
	{"source.bytes", "out", ""},
	{"url.path", "request", ""},
	{"dns.question.name", "cs5", "dnsQuestion"},
	{"tls.client.server_name", "cs6", "tlsServerName"},
	{"event.sequence", "cn1", "sequence"},
	{"process.exit_code", "cn2", "exitCode"},
}

// CEF renders one ECS record (a JSON object) as a CEF line.
func CEF(record []byte, version string) (string, error) {
	var doc map[string]any
	dec := json.NewDecoder(strings.NewReader(string(record)))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return "", fmt.Errorf("cef: %w", err)
	}
	get := func(path string) string {
		var cur any = doc
		for _, k := range strings.Split(path, ".") {
			m, ok := cur.(map[string]any)
			if !ok {
				return ""
			}
			cur = m[k]
		}
		switch v := cur.(type) {
		case string:
			return v
		case json.Number:
			return v.String()
		case bool:
			return strconv.FormatBool(v)
		case []any:
			var parts []string
			for _, x := range v {
				if s, ok := x.(string); ok {
					parts = append(parts, s)
				}
			}
			return strings.Join(parts, ",")
		}
		return ""
	}
	action := get("event.action")
	name := get("event.dataset") + " " + action
	severity := "3"
	switch get("event.kind") {
	case "metric":
		severity = "7" // loss
	case "state":
		severity = "1" // chain records
	}
	var b strings.Builder
	fmt.Fprintf(&b, "CEF:0|Vigil|Vigil|%s|%s|%s|%s|", CEFEscapeHeader(version), CEFEscapeHeader(action), CEFEscapeHeader(name), severity)
	first := true
	add := func(k, v string) {
		if v == "" {
			return
		}
		if !first {
			b.WriteByte(' ')
		}
		first = false
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(CEFEscapeValue(v))
	}
	if t, err := time.Parse(time.RFC3339Nano, get("@timestamp")); err == nil {
		add("rt", strconv.FormatInt(t.UnixMilli(), 10))
	}
	add("dvchost", get("host.name"))
	for _, f := range cefFields {
		v := get(f.ecs)
		if v == "" {
			continue
		}
		if f.label != "" {
			add(f.key+"Label", f.label)
		}
		add(f.key, v)
	}
	return b.String(), nil
}
