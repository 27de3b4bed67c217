package etw

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"reflect"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/vigilsec/vigil/sensor"
)

// payload builds an event's UserData as a provider logs it: little-endian
// integers, NUL-terminated UTF-16 strings, addresses and ports as their
// bytes in network order.
type payload []byte

func (p payload) u16(v uint16) payload { return binary.LittleEndian.AppendUint16(p, v) }
func (p payload) u32(v uint32) payload { return binary.LittleEndian.AppendUint32(p, v) }
func (p payload) u64(v uint64) payload { return binary.LittleEndian.AppendUint64(p, v) }
func (p payload) be16(v uint16) payload {
	return binary.BigEndian.AppendUint16(p, v)
}
func (p payload) raw(b ...byte) payload { return append(p, b...) }
func (p payload) str(s string) payload {
	for _, c := range utf16.Encode([]rune(s)) {
		p = p.u16(c)
	}
	return p.u16(0)
}
func (p payload) ansi(s string) payload { return append(append(p, s...), 0) }
func (p payload) filetime(t time.Time) payload {
	return p.u64(TimeToFiletime(t))
}

func f(name string, in, out uint16) Field {
	return Field{Name: name, InType: in, OutType: out, Count: 1}
}

// Kernel-Network 10 v0 (TCPv4 send) as TDH describes it, addresses
// win:IPv4 and ports win:Port.
var tcpSend4 = []Field{
	f("PID", inUint32, 0), f("size", inUint32, 0), f("daddr", inUint32, outIPv4), f("saddr", inUint32, outIPv4),
	f("dport", inUint16, outPort), f("sport", inUint16, outPort), f("startime", inUint32, 0), f("endtime", inUint32, 0),
	f("seqnum", inUint32, 0), f("connid", inUint32, 0),
}

func tcpSend4Payload() payload {
	return payload{}.u32(7420).u32(517).
		raw(203, 0, 113, 10).raw(192, 168, 1, 23). // daddr, saddr: network order
		be16(443).be16(50712).                     // dport, sport: network order
		u32(51234).u32(51236).u32(1).u32(0)
}

func TestNetworkPayload(t *testing.T) {
	props, err := ParseUserData(tcpSend4, tcpSend4Payload(), 8)
	if err != nil {
		t.Fatal(err)
	}
	want := Props{"PID": uint32(7420), "size": uint32(517),
		"daddr": netip.MustParseAddr("203.0.113.10"), "saddr": netip.MustParseAddr("192.168.1.23"),
		"dport": uint16(443), "sport": uint16(50712), // host order: swapped when parsed
		"startime": uint32(51234), "endtime": uint32(51236), "seqnum": uint32(1), "connid": uint32(0)}
	if !reflect.DeepEqual(props, want) {
		t.Errorf("TCPv4 send:\n got %v\nwant %v", props, want)
	}

	// A TDH that reports no out-types: FixupFields restores them from the
	// template's field names. Without it a port reads byte-swapped.
	bare := make([]Field, len(tcpSend4))
	for i, fl := range tcpSend4 {
		fl.OutType = 0
		bare[i] = fl
	}
	raw, _ := ParseUserData(bare, tcpSend4Payload(), 8)
	if raw["dport"] != uint16(47873) || raw["daddr"] != uint32(0x0a7100cb) {
		t.Errorf("without out-types: dport %v daddr %#x", raw["dport"], raw["daddr"])
	}
	FixupFields(KernelNetwork, bare)
	fixed, _ := ParseUserData(bare, tcpSend4Payload(), 8)
	if !reflect.DeepEqual(fixed, want) {
		t.Errorf("after FixupFields:\n got %v\nwant %v", fixed, want)
	}
	FixupFields(KernelFile, tcpSend4) // other providers: untouched
	if tcpSend4[4].OutType != outPort {
		t.Error("FixupFields changed another provider's fields")
	}

	// 28 v0, TCPv6 connect: 16-byte win:Binary addresses.
	v6 := []Field{
		f("PID", inUint32, 0), f("size", inUint32, 0),
		{Name: "daddr", InType: inBinary, OutType: outIPv6, Count: 1, Length: 16},
		{Name: "saddr", InType: inBinary, OutType: outIPv6, Count: 1, Length: 16},
		f("dport", inUint16, outPort), f("sport", inUint16, outPort),
		f("mss", inUint16, 0), f("sackopt", inUint16, 0), f("tsopt", inUint16, 0), f("wsopt", inUint16, 0),
		f("rcvwin", inUint32, 0), f("rcvwinscale", inUint16, 0), f("sndwinscale", inUint16, 0),
		f("seqnum", inUint32, 0), f("connid", inUint32, 0),
	}
	dst, src := netip.MustParseAddr("2001:db8::443").As16(), netip.MustParseAddr("2001:db8::1").As16()
	data := payload{}.u32(7420).u32(0).raw(dst[:]...).raw(src[:]...).be16(443).be16(50800).
		u16(1440).u16(1).u16(0).u16(1).u32(65535).u16(8).u16(8).u32(0).u32(0)
	props, err = ParseUserData(v6, data, 8)
	if err != nil {
		t.Fatal(err)
	}
	if props["daddr"] != netip.MustParseAddr("2001:db8::443") || props["sport"] != uint16(50800) || props["connid"] != uint32(0) {
		t.Errorf("TCPv6 connect: %v", props)
	}

	// The parsed record decodes to a connect with host-order ports.
	d, _ := newTestDecoder()
	collect(t, d, startRecord(1, 5112, claude, 5112, `\claude.exe`, "claude"))
	props, _ = ParseUserData(tcpSend4, tcpSend4Payload(), 8)
	conn := &Record{Provider: KernelNetwork, EventID: evTCPConnect4, Timestamp: at(2), Props: props}
	evs := collect(t, d, conn)
	if len(evs) != 1 || evs[0].Net.Dst.Port != 443 || evs[0].Net.Src.Port != 50712 {
		t.Errorf("connect from a parsed payload: %v", summaries(evs))
	}
}

// Kernel-Process 1 v3 from its bytes, through the decoder.
func TestProcessStartPayload(t *testing.T) {
	fields := []Field{
		f("ProcessID", inUint32, 0), f("ProcessSequenceNumber", inUint64, 0), f("CreateTime", inFiletime, 0),
		f("ParentProcessID", inUint32, 0), f("ParentProcessSequenceNumber", inUint64, 0), f("SessionID", inUint32, 0),
		f("Flags", inUint32, 0), f("ProcessTokenElevationType", inUint32, 0), f("ProcessTokenIsElevated", inUint32, 0),
		f("MandatoryLabel", inSID, 0), f("ImageName", inUnicodeString, 0), f("ImageChecksum", inUint32, 0),
		f("TimeDateStamp", inUint32, 0), f("PackageFullName", inUnicodeString, 0), f("PackageRelativeAppId", inUnicodeString, 0),
	}
	createTime := time.Date(2026, 3, 2, 10, 15, 0, 99988000, time.UTC)
	data := payload{}.u32(7420).u64(1001).filetime(createTime).u32(5112).u64(1000).u32(1).u32(0).u32(3).u32(0).
		raw(1, 1, 0, 0, 0, 0, 0, 16, 0x00, 0x20, 0, 0). // S-1-16-8192
		str(`\Device\HarddiskVolume3\Users\dev\AppData\Local\Programs\claude\claude.exe`).
		u32(0x5a1f3).u32(0x65f1a2b3).str("").str("")
	props, err := ParseUserData(fields, data, 8)
	if err != nil {
		t.Fatal(err)
	}
	if props["MandatoryLabel"] != "S-1-16-8192" || props["CreateTime"] != createTime || props["PackageRelativeAppId"] != "" ||
		props["ImageName"] != `\Device\HarddiskVolume3\Users\dev\AppData\Local\Programs\claude\claude.exe` {
		t.Fatalf("ProcessStart v3: %v", props)
	}
	props[PropCommandLine] = `"` + agentPath + `"`
	d, _ := newTestDecoder()
	evs := collect(t, d, &Record{Provider: KernelProcess, EventID: 1, Version: 3, Timestamp: createTime.Add(12 * time.Microsecond),
		ProcessID: 5112, ThreadID: 5208, SID: userSID, Props: props})
	want := sensor.Event{Kind: sensor.KindExec, Flags: sensor.FlagNewRoot, KTime: uint64(createTime.Add(12 * time.Microsecond).UnixNano()),
		Tree:       sensor.Tree{RootStart: uint64(createTime.UnixNano()), RootPID: 7420, Agent: 1},
		Task:       sensor.Task{PID: 7420, PPID: 5112, StartTime: uint64(createTime.UnixNano()), Comm: "claude.exe", SID: userSID},
		Executable: agentPath, Args: []string{agentPath}, Argc: 1, CommandLine: `"` + agentPath + `"`}
	if len(evs) != 1 || !reflect.DeepEqual(evs[0], want) {
		t.Errorf("exec:\n got %+v\nwant %+v", evs, want)
	}

	// 2 v0 ProcessStop: ImageName is an AnsiString.
	stop := []Field{
		f("ProcessID", inUint32, 0), f("CreateTime", inFiletime, 0), f("ExitTime", inFiletime, 0), f("ExitCode", inUint32, 0),
		f("TokenElevationType", inUint32, 0), f("HandleCount", inUint32, 0), f("CommitCharge", inUint64, 0),
		f("CommitPeak", inUint64, 0), f("ImageName", inAnsiString, 0),
	}
	data = payload{}.u32(7420).filetime(createTime).filetime(createTime.Add(time.Second)).u32(0xC0000005).
		u32(3).u32(100).u64(1 << 20).u64(2 << 20).ansi("claude.exe")
	props, err = ParseUserData(stop, data, 8)
	if err != nil {
		t.Fatal(err)
	}
	evs = collect(t, d, &Record{Provider: KernelProcess, EventID: 2, Timestamp: createTime.Add(time.Second), Props: props})
	if len(evs) != 1 || evs[0].NativeExit != 0xC0000005 || evs[0].Task.Comm != "claude.exe" {
		t.Errorf("exit: %+v", evs)
	}
}

// Kernel-File 12: version 1 from a 64-bit and a 32-bit logger, version 0.
func TestFileCreatePayload(t *testing.T) {
	v1 := []Field{
		f("Irp", inPointer, 0), f("FileObject", inPointer, 0), f("IssuingThreadId", inUint32, 0),
		f("CreateOptions", inUint32, 0), f("CreateAttributes", inUint32, 0), f("ShareAccess", inUint32, 0),
		f("FileName", inUnicodeString, 0),
	}
	name := `\Device\HarddiskVolume3\Users\dev\project\a.txt`
	data := payload{}.u64(0xffffa50c21a0c1a0).u64(0xffffa50c1e2f0a10).u32(7424).u32(0x05000060).u32(0x80).u32(7).str(name)
	props, err := ParseUserData(v1, data, 8)
	if err != nil {
		t.Fatal(err)
	}
	if props["FileObject"] != uint64(0xffffa50c1e2f0a10) || props["FileName"] != name || props["CreateOptions"] != uint32(0x05000060) {
		t.Errorf("Create v1: %v", props)
	}
	data = payload{}.u32(0x8a0c1a0).u32(0x8e2f0a10).u32(7424).u32(0x05000060).u32(0x80).u32(7).str(name)
	props, err = ParseUserData(v1, data, 4)
	if err != nil || props["FileObject"] != uint64(0x8e2f0a10) || props["FileName"] != name {
		t.Errorf("Create v1, 32-bit: %v %v", props, err)
	}
	v0 := []Field{
		f("Irp", inPointer, 0), f("ThreadId", inPointer, 0), f("FileObject", inPointer, 0),
		f("CreateOptions", inUint32, 0), f("CreateAttributes", inUint32, 0), f("ShareAccess", inUint32, 0),
		f("FileName", inUnicodeString, 0),
	}
	data = payload{}.u64(1).u64(0xffffb00000001234).u64(0xffffa50c1e2f0a10).u32(0x01000060).u32(0).u32(7).str(name)
	props, err = ParseUserData(v0, data, 8)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := newTestDecoder()
	collect(t, d, startRecord(1, 5112, claude, 5112, `\claude.exe`, "claude"))
	evs := collect(t, d, &Record{Provider: KernelFile, EventID: 12, Timestamp: at(2), ProcessID: claude, ThreadID: 7424, Props: props})
	if len(evs) != 1 || evs[0].File.Path != `C:\Users\dev\project\a.txt` || evs[0].Task.TID != 7424 {
		t.Errorf("Create v0: %v", summaries(evs))
	}
}

func TestParseUserDataTypes(t *testing.T) {
	fields := []Field{
		f("i8", inInt8, 0), f("i16", inInt16, 0), f("i32", inInt32, 0), f("i64", inInt64, 0),
		f("b", inBoolean, 0), f("f32", inFloat, 0), f("f64", inDouble, 0), f("g", inGUID, 0),
		f("st", inSystemtime, 0), f("hex", inHexInt64, 0), f("ft0", inFiletime, 0),
		f("len", inUint16, 0),
		{Name: "blob", InType: inBinary, Flags: propParamLength, Count: 1, Length: 11},
		f("n", inUint8, 0),
		{Name: "arr", InType: inUint16, Flags: propParamCount, Count: 13},
		{Name: "fixed", InType: inUint32, Count: 2},
		f("cs", inManifestCountedString, 0), f("ca", inCountedAnsiString, 0), f("c", inUnicodeChar, 0),
		f("wsid", inWbemSID, 0), f("sz", inSizeT, 0), f("dump", inHexDump, 0),
		{Name: "fixedstr", InType: inUnicodeString, Count: 1, Length: 3},
	}
	guid := []byte{0xd6, 0x2c, 0xfb, 0x22, 0x7b, 0x0e, 0x2b, 0x42, 0xa0, 0xc7, 0x2f, 0xad, 0x1f, 0xd0, 0xe7, 0x16}
	data := payload{}.raw(0xff).u16(0xfffe).u32(0xfffffffd).u64(1<<63|5).u32(1).u32(0x3fc00000).u64(0x4002000000000000).
		raw(guid...).
		u16(2026).u16(3).u16(1).u16(2).u16(10).u16(15).u16(30).u16(250). // SYSTEMTIME
		u64(0xdead).u64(0).
		u16(3).raw(9, 8, 7).
		raw(2).u16(10).u16(20).
		u32(1).u32(2).
		u16(4).raw('h', 0, 'i', 0).u16(2).raw('o', 'k').u16('Z').
		u64(0).u64(0).raw(1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0). // TOKEN_USER, then S-1-5-18
		u64(77).u32(2).raw(0xaa, 0xbb).
		u16('a').u16('b').u16(0)
	props, err := ParseUserData(fields, data, 8)
	if err != nil {
		t.Fatal(err)
	}
	want := Props{
		"i8": int8(-1), "i16": int16(-2), "i32": int32(-3), "i64": int64(-1<<63 + 5),
		"b": true, "f32": float32(1.5), "f64": 2.25, "g": KernelProcess,
		"st": time.Date(2026, 3, 2, 10, 15, 30, 250e6, time.UTC), "hex": uint64(0xdead), "ft0": time.Time{},
		"len": uint16(3), "blob": []byte{9, 8, 7}, "n": uint8(2), "arr": []any{uint16(10), uint16(20)},
		"fixed": []any{uint32(1), uint32(2)}, "cs": "hi", "ca": "ok", "c": "Z", "wsid": "S-1-5-18", "sz": uint64(77),
		"dump": []byte{0xaa, 0xbb}, "fixedstr": "ab",
	}
	if !reflect.DeepEqual(props, want) {
		t.Errorf("types:\n got %#v\nwant %#v", props, want)
	}
}

func TestParseUserDataErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fields []Field
		data   payload
	}{
		{"short integer", []Field{f("a", inUint32, 0)}, payload{}.raw(1, 2)},
		{"unterminated string", []Field{f("s", inUnicodeString, 0)}, payload{}.raw('a', 0, 'b')},
		{"unterminated ansi", []Field{f("s", inAnsiString, 0)}, payload{}.raw('a')},
		{"binary past the end", []Field{{Name: "b", InType: inBinary, Count: 1, Length: 9}}, payload{}.raw(1)},
		{"length from a later property", []Field{{Name: "b", InType: inBinary, Flags: propParamLength, Count: 1, Length: 1}, f("n", inUint8, 0)}, payload{}.raw(1, 1)},
		{"length from a string", []Field{f("s", inAnsiString, 0), {Name: "b", InType: inBinary, Flags: propParamLength, Count: 1, Length: 0}}, payload{}.ansi("x")},
		{"too many elements", []Field{f("n", inUint32, 0), {Name: "a", InType: inUint8, Flags: propParamCount, Count: 0}}, payload{}.u32(1 << 20)},
		{"no SID", []Field{f("s", inSID, 0)}, payload{}.raw(1, 5, 0, 0, 0, 0, 0, 5)},
		{"counted string past the end", []Field{f("s", inManifestCountedString, 0)}, payload{}.u16(10).raw('a', 0)},
		{"hex dump past the end", []Field{f("d", inHexDump, 0)}, payload{}.u32(5).raw(1)},
	} {
		if _, err := ParseUserData(tc.fields, tc.data, 8); err == nil {
			t.Errorf("%s: parsed", tc.name)
		}
	}
	// A layout the parser does not know ends the parse, keeping what came before.
	props, err := ParseUserData([]Field{f("a", inUint8, 0), {Name: "s", Flags: propStruct, Count: 1}, f("b", inUint8, 0)}, payload{}.raw(1, 2, 3), 8)
	if err != nil || !reflect.DeepEqual(props, Props{"a": uint8(1)}) {
		t.Errorf("struct: %v %v", props, err)
	}
	props, err = ParseUserData([]Field{f("a", inUint8, 0), f("x", 999, 0)}, payload{}.raw(1, 2), 8)
	if err != nil || !reflect.DeepEqual(props, Props{"a": uint8(1)}) {
		t.Errorf("unknown in-type: %v %v", props, err)
	}
	if _, err := ParseUserData([]Field{f("a", inUint32, 0)}, nil, 8); !errors.Is(err, errShort) {
		t.Errorf("error %v, want errShort", err)
	}
}
