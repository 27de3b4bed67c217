package ecstest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// schema loads the real field list, failing (never skipping) if it is absent.
func schema(tb testing.TB) *Schema {
	tb.Helper()
	s, err := Load()
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// base holds the required fields, so that a test case can break one rule.
const base = `"@timestamp":"2026-11-27T10:00:00Z","ecs":{"version":"9.4.0"}`

// with returns a document of base plus the given members.
func with(members string) string {
	return "{" + base + "," + members + "}"
}

const processStart = `{"@timestamp":"2026-11-27T10:00:00.123456789Z","ecs":{"version":"9.4.0"},` +
	`"event":{"kind":"event","category":["process"],"type":["start"],"action":"exec","sequence":3},` +
	`"process":{"pid":12,"args":["a","b"],"parent":{"entity_id":"x"}},"Vigil":{"anything":{"x":1}}}`

var cases = []struct {
	name string
	doc  string
	want string // the single error expected, as a substring; "" if valid
}{
	// Valid documents.
	{"process start", processStart, ""},
	{"required only", "{" + base + "}", ""},
	{"dotted keys", `{"@timestamp":"2026-11-27T10:00:00+01:00","ecs.version":"9.4.0","process.parent.pid":1}`, ""},
	{"several categories", with(`"event":{"category":["file","process"],"type":["start","creation"]}`), ""},
	{"type without category", with(`"event":{"type":["start"],"outcome":"success"}`), ""},
	{"object field with sub-fields", with(`"process":{"tty":{"char_device":{"major":4},"rows":24}}`), ""},
	{"array of objects", with(`"dns":{"answers":[{"name":"a","ttl":60},{"name":"b","ttl":1}]}`), ""},
	{"opaque object", with(`"labels":{"env":"prod","n":{"deep":[1]}}`), ""},
	{"geo_point string", with(`"client":{"geo":{"location":"POINT (1 2)"}}`), ""},
	{"geo_point object", with(`"client":{"geo":{"location":{"lat":1.5,"lon":2}}}`), ""},
	{"ipv6", with(`"source":{"ip":"fe80::1","port":443}`), ""},
	{"float", with(`"event":{"risk_score":1.5e2},"host":{"cpu":{"usage":1}}`), ""},
	{"bool", with(`"process":{"interactive":false}`), ""},
	{"expected value", with(`"host":{"os":{"type":"linux"}}`), ""},
	{"custom dotted", with(`"Vigil.rule":{"id":[1,"x",true]}`), ""},
	{"empty array", with(`"process":{"args":[]}`), ""},

	// Each breaks one rule.
	{"unknown field", with(`"process":{"pidd":12}`), "process.pidd: not an ECS field"},
	{"unknown top-level set", with(`"foo":{"bar":1}`), "foo: not an ECS field"},
	{"lower-case custom namespace", with(`"vigil":{"x":1}`), `custom fields belong under "Vigil."`},
	{"unknown sub-field of object field", with(`"process":{"tty":{"rowz":24}}`), "process.tty.rowz: not an ECS field"},
	{"wrong type", with(`"process":{"pid":"12"}`), `process.pid: want integer, got string "12"`},
	{"object for keyword", with(`"process":{"name":{"x":"y"}}`), "process.name: want string, got object"},
	{"scalar for field set", with(`"process":"x"`), `process: want object (ECS field set), got string "x"`},
	{"scalar for object field", with(`"labels":"x"`), `labels: want object, got string "x"`},
	{"integer given as float", with(`"process":{"pid":12.0}`), "process.pid: want integer, got number 12.0"},
	{"integer with exponent", with(`"process":{"pid":1e3}`), "process.pid: want integer, got number 1e3"},
	{"integer out of range", with(`"process":{"pid":9223372036854775808}`), "process.pid: integer 9223372036854775808 out of range for long"},
	{"float given as string", with(`"event":{"risk_score":"1.5"}`), `event.risk_score: want number, got string "1.5"`},
	{"bool given as string", with(`"process":{"interactive":"true"}`), `process.interactive: want bool, got string "true"`},
	{"array for non-array", with(`"event":{"action":["exec"]}`), "event.action: want string (not an array), got array"},
	{"scalar for array field", with(`"process":{"args":"a b"}`), `process.args: want array of string, got string "a b"`},
	{"bad array element", with(`"process":{"args":["a",1]}`), "process.args: element 1: want string, got number 1"},
	{"bad element of array of objects", with(`"dns":{"answers":[{"ttl":"60"}]}`), `dns.answers.ttl: want integer, got string "60"`},
	{"object for array of objects", with(`"dns":{"answers":{"ttl":60}}`), "dns.answers: want array of object, got object"},
	{"disallowed category", with(`"event":{"category":["proces"]}`), `event.category: element 0: "proces" is not an allowed value`},
	{"disallowed type", with(`"event":{"type":["begin"]}`), `event.type: element 0: "begin" is not an allowed value`},
	{"disallowed kind", with(`"event":{"kind":"events"}`), `event.kind: "events" is not an allowed value`},
	{"disallowed outcome", with(`"event":{"outcome":"ok"}`), `event.outcome: "ok" is not an allowed value`},
	{"type not allowed for category", with(`"event":{"category":["file"],"type":["start"]}`), `event.type: "start" is not allowed for event.category "file"`},
	{"unexpected value", with(`"host":{"os":{"type":"Linux"}}`), `host.os.type: "Linux" is not an expected value`},
	{"bad date", with(`"event":{"created":"2026-11-27 10:00:00"}`), `event.created: want RFC 3339 date, got string "2026-11-27 10:00:00"`},
	{"date without zone", with(`"event":{"created":"2026-11-27T10:00:00"}`), "event.created: want RFC 3339 date"},
	{"date with comma", with(`"event":{"created":"2026-11-27T10:00:00,5Z"}`), "event.created: want RFC 3339 date"},
	{"date as number", with(`"event":{"created":1764237600000}`), "event.created: want RFC 3339 date, got number"},
	{"bad ip", with(`"source":{"ip":"1.2.3"}`), `source.ip: want IP address, got string "1.2.3"`},
	{"null", with(`"process":{"name":null}`), "process.name: null value"},
	{"null in array", with(`"process":{"args":["a",null]}`), "process.args: element 1: null value"},
	{"null in custom namespace", with(`"Vigil":{"a":{"b":null}}`), "Vigil.a.b: null value"},
	{"null in opaque object", with(`"labels":{"a":null}`), "labels.a: null value"},
	{"scalar custom namespace", with(`"Vigil":1`), "Vigil: want object (custom namespace), got number 1"},
	{"duplicate field", with(`"event":{"kind":"event"},"event.kind":"event"`), "event.kind: duplicate field"},
	{"missing @timestamp", `{"ecs":{"version":"9.4.0"}}`, "@timestamp: required field missing"},
	{"missing ecs.version", `{"@timestamp":"2026-11-27T10:00:00Z"}`, "ecs.version: required field missing"},
	{"non-object", `["a"]`, "document is array, want a JSON object"},
	{"string document", `"x"`, `document is string "x", want a JSON object`},
	{"empty document", " \n", "empty document"},
	{"invalid JSON", `{"@timestamp":`, "invalid JSON"},
	{"trailing data", "{" + base + "} {}", "invalid JSON: data after the top-level value"},
	{"too deep", with(`"Vigil":{"x":` + strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth) + "}"), "document nested more than 1000 deep"},
}

func TestValidate(t *testing.T) {
	s := schema(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			errs := s.Validate([]byte(tc.doc))
			if tc.want == "" {
				for _, err := range errs {
					t.Errorf("unexpected error: %v", err)
				}
				return
			}
			if len(errs) != 1 || !strings.Contains(errs[0].Error(), tc.want) {
				t.Errorf("got errors %q, want one containing %q", errs, tc.want)
			}
		})
	}
}

func TestValidateLines(t *testing.T) {
	s := schema(t)
	valid := "{" + base + "}"
	for _, tc := range []struct {
		name  string
		input string
		want  []string // prefixes of the errors, in order
	}{
		{"empty input", "", nil},
		{"valid lines", valid + "\n" + processStart + "\n", nil},
		{"no final newline", valid + "\n" + valid, nil},
		{"CRLF", valid + "\r\n" + valid + "\r\n", nil},
		{"bad third line", valid + "\n" + valid + "\n" + with(`"process":{"pid":"1"}`) + "\n", []string{"line 3: process.pid: want integer"}},
		{"non-object line", valid + "\n42\n", []string{"line 2: document is number 42"}},
		{"blank line", valid + "\n\n" + valid + "\n", []string{"line 2: empty document"}},
		{"two bad lines", "[]\n" + valid + "\n{}", []string{"line 1: document is array", "line 3: @timestamp: required", "line 3: ecs.version: required"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs := s.ValidateLines(strings.NewReader(tc.input))
			ok := len(errs) == len(tc.want)
			for i := 0; ok && i < len(errs); i++ {
				ok = strings.HasPrefix(errs[i].Error(), tc.want[i])
			}
			if !ok {
				t.Errorf("got errors %q, want errors starting %q", errs, tc.want)
			}
		})
	}
}

// recorder is a testing.TB that records Errorf calls.
type recorder struct {
	testing.TB
	msgs []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}

func TestCheck(t *testing.T) {
	s := schema(t)

	var r recorder
	s.Check(&r, []byte(processStart))
	if len(r.msgs) != 0 {
		t.Errorf("valid document: got %q", r.msgs)
	}

	doc := with(`"process":{"pid":"12","name":null}`)
	r = recorder{}
	s.Check(&r, []byte(doc))
	if len(r.msgs) != 2 || !strings.Contains(r.msgs[0], `process.pid: want integer, got string "12"`) || !strings.Contains(r.msgs[0], doc) {
		t.Errorf("got %q, want two messages, the first about process.pid, quoting the document", r.msgs)
	}

	long := with(`"Vigil":{"pad":"` + strings.Repeat("é", 4<<10) + `"},"process":{"pid":1.5}`)
	r = recorder{}
	s.Check(&r, []byte(long))
	if len(r.msgs) != 1 || len(r.msgs[0]) > 3<<10 || !strings.Contains(r.msgs[0], fmt.Sprintf("(%d bytes in all)", len(long))) {
		t.Errorf("got %d messages, the first %d bytes long; want one, truncated", len(r.msgs), len(r.msgs[0]))
	}
}

func TestLoadFile(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.json")
	if _, err := LoadFile(missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("LoadFile(%q) = %v, want an error naming the path", missing, err)
	}

	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`{"ecs_version":"9.4.0","fields":{"a":{"type":"vector"}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFile(bad); err == nil || !strings.Contains(err.Error(), `unsupported type "vector"`) {
		t.Errorf("LoadFile with unknown type = %v, want an error", err)
	}
}

func TestFieldsPath(t *testing.T) {
	t.Setenv(envFields, "")
	got, err := fieldsPath()
	if err != nil {
		t.Fatal(err)
	}
	// The tests run in internal/ecstest, two levels below go.mod.
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(root, "..", "shared", "ecs", "fields-9.4.0.json"); got != want {
		t.Errorf("fieldsPath() = %q, want %q", got, want)
	}

	t.Setenv(envFields, "/elsewhere/fields.json")
	if got, err := fieldsPath(); err != nil || got != "/elsewhere/fields.json" {
		t.Errorf("with %s set: fieldsPath() = %q, %v", envFields, got, err)
	}
}

func FuzzValidate(f *testing.F) {
	s := schema(f)
	for _, tc := range cases {
		f.Add([]byte(tc.doc))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		errs := s.Validate(doc)
		for _, err := range errs {
			if err == nil {
				t.Fatal("nil error in result")
			}
		}
		s.ValidateLines(bytes.NewReader(doc))
	})
}
