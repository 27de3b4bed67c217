package etw

import (
	"bytes"
	"errors"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestReplayRoundTrip(t *testing.T) {
	r := &Record{Provider: KernelNetwork, EventID: 28, Version: 0, Opcode: 12, Timestamp: t0.Add(123456700),
		ProcessID: 4, ThreadID: 8, SID: userSID, Props: Props{
			"u8": uint8(1), "u16": uint16(443), "u32": uint32(1 << 31), "u64": uint64(1 << 60), "small": uint64(12),
			"i8": int8(-1), "i16": int16(-2), "i32": int32(-3), "i64": int64(-1 << 62), "f32": float32(1.5), "f64": 2.25,
			"b": true, "s": `C:\x "y"`, "t": t0.Add(100), "ip4": netip.MustParseAddr("203.0.113.10"),
			"ip6": netip.MustParseAddr("2001:db8::1"), "bin": []byte{0, 1, 0xfe}, "arr": []any{uint16(1), "two"},
		}}
	var buf bytes.Buffer
	if err := WriteRecord(&buf, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"u64":{"u64":"0x1000000000000000"}`) || !strings.Contains(buf.String(), `"small":{"u64":12}`) {
		t.Errorf("a pointer-sized u64 is not hex, or a small one not a number: %s", buf.String())
	}
	var got []*Record
	if err := ReadRecords(&buf, func(r *Record) error { got = append(got, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !reflect.DeepEqual(got[0], r) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got[0], r)
	}
	if err := WriteRecord(&buf, &Record{Props: Props{"x": struct{}{}}}); err == nil {
		t.Error("a property of no replay type was written")
	}
}

// Every record of the fixture reads back the same after writing.
func TestFixtureRoundTrip(t *testing.T) {
	data, err := os.ReadFile("testdata/agent-session.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var recs []*Record
	if err := ReadRecords(bytes.NewReader(data), func(r *Record) error { recs = append(recs, r); return nil }); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for _, r := range recs {
		if err := WriteRecord(&buf, r); err != nil {
			t.Fatal(err)
		}
	}
	i := 0
	if err := ReadRecords(&buf, func(r *Record) error {
		if !reflect.DeepEqual(r, recs[i]) {
			t.Errorf("record %d:\n got %+v\nwant %+v", i, r, recs[i])
		}
		i++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if i != len(recs) || i != 71 {
		t.Errorf("%d records read back of %d", i, len(recs))
	}
}

func TestReadRecordsErrors(t *testing.T) {
	const ok = `{"provider":"` + KernelFile + `","id":14,"version":1,"opcode":0,"timestamp":"2026-03-02T10:15:00Z","pid":1,"tid":2,"props":{"FileObject":{"u64":"0x10"}}}`
	for _, tc := range []struct{ in, want string }{
		{"# comment\n\n" + ok + "\n{", "replay line 4"},
		{`{"provider":"nope","id":1,"timestamp":"2026-03-02T10:15:00Z","props":{}}`, "guid"},
		{`{"provider":"` + KernelFile + `","id":1,"timestamp":"yesterday","props":{}}`, "timestamp"},
		{`{"provider":"` + KernelFile + `","id":1,"extra":1,"props":{}}`, "unknown field"},
		{`{"provider":"` + KernelFile + `","props":{"a":{"u32":1,"u16":2}}}`, "one member"},
		{`{"provider":"` + KernelFile + `","props":{"a":{"u16":70000}}}`, "out of range"},
		{`{"provider":"` + KernelFile + `","props":{"a":{"u8":-1}}}`, "invalid syntax"},
		{`{"provider":"` + KernelFile + `","props":{"a":{"x64":1}}}`, "unknown type"},
		{`{"provider":"` + KernelFile + `","props":{"a":{"bin":"zz"}}}`, "invalid byte"},
		{`{"provider":"` + KernelFile + `","props":{"a":{"ip":"300.1.1.1"}}}`, "ParseAddr"},
		{`{"provider":"` + KernelFile + `","props":{"a":{"time":"noon"}}}`, "parsing time"},
		{`{"provider":"` + KernelFile + `","props":{"a":{"f32":1e300}}}`, "overflows"},
		{`{"provider":"` + KernelFile + `","props":{"a":{"arr":[{"u8":1},{"q":2}]}}}`, "[1]"},
		{`{"provider":"` + KernelFile + `","props":{"a":{"str":1}}}`, "str"},
	} {
		err := ReadRecords(strings.NewReader(tc.in), func(*Record) error { return nil })
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one saying %q", tc.in, err, tc.want)
		}
	}
	stop := errors.New("stop")
	var n int
	err := ReadRecords(strings.NewReader(ok+"\n"+ok+"\n"), func(r *Record) error {
		n++
		if r.Props["FileObject"] != uint64(0x10) || r.Timestamp != time.Date(2026, 3, 2, 10, 15, 0, 0, time.UTC) {
			t.Errorf("record %+v", r)
		}
		return stop
	})
	if err != stop || n != 1 {
		t.Errorf("fn's error: %v after %d records", err, n)
	}
}
