package output

import (
	"bytes"
	"testing"
	"time"

	"github.com/vigilsec/vigil/correlate"
)

// The process cache makes encoding faster, never different: after any
// change to what a process object is made of, a warm encoder writes
// exactly what a fresh one writes.
func TestProcessCacheNeverStale(t *testing.T) {
	recs := testRecords()
	base := recs[11].rec // a file open by the exec'd sh, with its parent
	if !cacheable(base) || base.Parent == nil {
		t.Fatal("record 11 is not a cacheable file record with a parent")
	}
	for _, tc := range []struct {
		name   string
		change func(r *correlate.Record)
	}{
		{"unchanged", func(r *correlate.Record) {}},
		{"thread", func(r *correlate.Record) { r.Event.Task.TID++ }},
		{"args replaced", func(r *correlate.Record) { r.Process.Args = []string{"sh", "-c", "other"} }},
		{"args changed in place", func(r *correlate.Record) { r.Process.Args[2] = "rm -rf /tmp/x" }},
		{"argc", func(r *correlate.Record) { r.Process.Argc = 9 }},
		{"name", func(r *correlate.Record) { r.Process.Name = "bash" }},
		{"executable", func(r *correlate.Record) { r.Process.Executable = "/usr/bin/bash" }},
		{"cwd", func(r *correlate.Record) { r.Process.Cwd = "/tmp" }},
		{"exe hash", func(r *correlate.Record) { r.Process.ExeHash = "ab12" }},
		{"euid", func(r *correlate.Record) { r.Process.EUID = 1000 }},
		{"egid", func(r *correlate.Record) { r.Process.EGID = 0 }},
		{"uid", func(r *correlate.Record) { r.Process.UID = 7 }},
		{"gid", func(r *correlate.Record) { r.Process.GID = 7 }},
		{"pid", func(r *correlate.Record) { r.Process.PID += procCacheSize }}, // same slot
		{"ppid", func(r *correlate.Record) { r.Process.PPID = 1 }},
		{"entity id", func(r *correlate.Record) { r.Process.EntityID = "other" }},
		{"start", func(r *correlate.Record) { r.Process.Start = r.Process.Start.Add(time.Nanosecond) }},
		{"no start", func(r *correlate.Record) { r.Process.Start = time.Time{} }},
		{"parent name", func(r *correlate.Record) { r.Parent.Name = "bun" }},
		{"parent executable", func(r *correlate.Record) { r.Parent.Executable = "/usr/bin/bun" }},
		{"parent pid", func(r *correlate.Record) { r.Parent.PID = 1 }},
		{"parent start", func(r *correlate.Record) { r.Parent.Start = r.Parent.Start.Add(time.Second) }},
		{"parent entity", func(r *correlate.Record) { r.Parent.EntityID = "p2" }},
		{"parent gone", func(r *correlate.Record) { r.Parent = nil }},
		{"other process, same values", func(r *correlate.Record) { p := *r.Process; r.Process = &p }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := copyRecord(base)
			warm := NewEncoder(testIdentity, testNow)
			first := warm.Append(nil, r)
			if again := warm.Append(nil, r); !bytes.Equal(sansSequence(first), sansSequence(again)) {
				t.Fatalf("a repeated record differs:\n%s\n%s", first, again)
			}
			tc.change(r)
			got := warm.Append(nil, r)
			fresh := NewEncoder(testIdentity, testNow)
			fresh.SetSequence(warm.Sequence() - 1)
			if want := fresh.Append(nil, r); !bytes.Equal(got, want) {
				t.Errorf("after the change the warm encoder wrote\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// copyRecord copies r deeply enough for a test to change its process,
// parent, event and arguments.
func copyRecord(r *correlate.Record) *correlate.Record {
	c := *r
	ev := *r.Event
	c.Event = &ev
	p := *r.Process
	p.Args = append([]string(nil), p.Args...)
	c.Process = &p
	if r.Parent != nil {
		par := *r.Parent
		c.Parent = &par
	}
	return &c
}

// sansSequence is a record without its event.sequence digits.
func sansSequence(b []byte) []byte {
	i := bytes.Index(b, []byte(`"sequence":`))
	if i < 0 {
		return b
	}
	j := i + len(`"sequence":`)
	for j < len(b) && b[j] >= '0' && b[j] <= '9' {
		j++
	}
	return append(append([]byte(nil), b[:i]...), b[j:]...)
}
