package esf

import (
	"bytes"
	"os"
	"testing"

	"github.com/vigilsec/vigil/sensor"
)

// FuzzDecodeLine: no input panics the decoder, and what it emits is
// well formed: a known kind, out-of-tree processes absent when only
// trees are wanted.
func FuzzDecodeLine(f *testing.F) {
	if fixture, err := os.ReadFile(fixturePath); err == nil {
		for line := range bytes.Lines(fixture) {
			f.Add(bytes.TrimSpace(line))
		}
	}
	for _, s := range []string{
		``, `{}`, `null`, `[]`, `"x"`, `{"event":null}`, `{"event":{"exec":null},"event_type":9}`,
		`{"event":{"rename":{"destination_type":"new_path","destination":{"new_path":{"dir":null}}}},"process":{},"time":"2026-01-01T00:00:00Z"}`,
		`{"seq_num":"18446744073709551615","global_seq_num":1e3,"event_type":-1,"event":{"x":1}}`,
		`{"time":{"tv_sec":9223372036,"tv_nsec":-1},"process":{"audit_token":{"pid":-1}},"event":{"exit":{"stat":-1}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		for _, all := range []bool{false, true} {
			scope := sensor.NewTreeScope(agentMatch, all, 4)
			d := NewDecoder(scope)
			emit := func(ev *sensor.Event) error {
				switch ev.Kind {
				case sensor.KindFork, sensor.KindExec, sensor.KindExit, sensor.KindFile, sensor.KindNet:
					if !all && ev.Tree.IsZero() {
						t.Fatalf("event out of any tree: %+v", ev)
					}
				case sensor.KindLoss:
					if ev.Loss.Count == 0 {
						t.Fatalf("empty loss record: %+v", ev)
					}
				default:
					t.Fatalf("kind %v", ev.Kind)
				}
				return nil
			}
			// Twice: the second line meets the state the first left.
			_ = d.DecodeLine(line, emit)
			_ = d.DecodeLine(line, emit)
			if err := d.Close(emit); err != nil {
				t.Fatal(err)
			}
		}
	})
}
