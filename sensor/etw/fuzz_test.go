package etw

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/vigilsec/vigil/sensor"
)

// fuzzReader hands out values from fuzz bytes, zeros once they run out.
type fuzzReader struct{ b []byte }

func (r *fuzzReader) byte() byte {
	if len(r.b) == 0 {
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *fuzzReader) u32() uint32 {
	return uint32(r.byte()) | uint32(r.byte())<<8 | uint32(r.byte())<<16 | uint32(r.byte())<<24
}

func (r *fuzzReader) str() string {
	n := int(r.byte() % 24)
	if n > len(r.b) {
		n = len(r.b)
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

var (
	fuzzIDs   = []uint16{1, 2, 15, 12, 13, 14, 16, 26, 27, 10, 28, 29, 42, 58, 17, 5}
	fuzzPIDs  = []uint32{0, 4, 5112, 7420, 8012, 8100}
	fuzzNames = []string{"ProcessID", "ParentProcessID", "CreateTime", "ImageName", "ExitCode", PropCommandLine, PropCwd,
		PropCorrelationID, PropTraceparent, PropUserSID, "FileObject", "CreateOptions", "FileName", "IOSize", "IOFlags",
		"IssuingThreadId", "FilePath", "PID", "size", "daddr", "saddr", "dport", "sport"}
	fuzzStrings = []string{`\Device\HarddiskVolume3\claude.exe`, `\Device\HarddiskVolume3\x\y.txt`, `"a b" c\\"d`, "",
		`\??\UNC\s\h`, `\Device\Mup\`, `\`, `C:`, `\Device\HarddiskVolume3`, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "\xff\xfe"}
)

// value is a property value of any type Props may hold (or of none).
func (r *fuzzReader) value() any {
	switch r.byte() % 14 {
	case 0:
		return r.byte()
	case 1:
		return uint16(r.u32())
	case 2:
		return r.u32() % 9000
	case 3:
		return uint64(r.u32()) << (r.byte() % 40)
	case 4:
		return -int32(r.byte())
	case 5:
		return fuzzStrings[int(r.byte())%len(fuzzStrings)]
	case 6:
		return r.str()
	case 7:
		return time.Unix(int64(r.u32())*int64(r.byte()%3), 0)
	case 8:
		return netip.AddrFrom4([4]byte{r.byte(), r.byte(), r.byte(), r.byte()})
	case 9:
		var a [16]byte
		a[0], a[15] = r.byte(), r.byte()
		return netip.AddrFrom16(a)
	case 10:
		return []byte(r.str())
	case 11:
		return netip.Addr{}
	case 12:
		return r.byte()%2 == 0
	}
	return nil
}

// FuzzDecode builds streams of records from fuzz bytes: the three
// providers' event ids, a few pids (so processes meet), and properties of
// every type under the names the decoder reads. Decoding must never
// panic; errors must be *DecodeError; emitted events must be well formed.
func FuzzDecode(f *testing.F) {
	f.Add([]byte{0, 0, 1, 7420 % 256, 5, 0, 5, 0, 5, 0, 5})
	f.Add([]byte("\x00\x00\x02\x05\x02\x05\x01\x01\x0b\x11\x0c\x12\x04\x13\x0f\x14\x05\x15"))
	f.Add([]byte("\x01\x03\x03\x02\x0a\x00\x0b\x0b\x0c\x06\x0e\x0d\x0d\x00\x00\x00\x00"))
	f.Add([]byte("\x02\x09\x03\x13\x02\x10\x00\x11\x02\x12\x08\x01\x02\x03\x04\x13\x08\x01\x02\x03\x04\x14\x01\xbb\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &fuzzReader{data}
		scope := sensor.NewTreeScope(matchAgent, r.byte()%4 == 0, 1+int(r.byte()%8))
		d := NewDecoder(scope, WithDevices(deviceMap), WithLimits(Limits{Processes: 4, Files: 4, Aggregates: 2}),
			WithProcessReader(func(pid uint32, _ time.Time, env bool) (ProcessInfo, error) {
				if pid%3 == 0 {
					return ProcessInfo{}, errors.New("gone")
				}
				return ProcessInfo{CommandLine: `"C:\x y\claude.exe" a`, CorrelationID: "c-1", EnvTruncated: env}, nil
			}),
			WithSnapshots(func(sensor.Snapshot, sensor.Tree) {}))
		emit := func(ev *sensor.Event) error {
			switch ev.Kind {
			case sensor.KindFork, sensor.KindExec, sensor.KindExit, sensor.KindFile, sensor.KindNet, sensor.KindLoss:
			default:
				t.Fatalf("event of kind %v", ev.Kind)
			}
			if ev.Kind == sensor.KindExec && int(ev.Argc) != len(ev.Args) {
				t.Fatalf("exec Argc %d, %d args", ev.Argc, len(ev.Args))
			}
			return nil
		}
		ts := t0
		for len(r.b) > 0 {
			providers := []string{KernelProcess, KernelFile, KernelNetwork, "00000000-0000-0000-0000-000000000001"}
			rec := &Record{Provider: providers[r.byte()%4], EventID: fuzzIDs[int(r.byte())%len(fuzzIDs)],
				ProcessID: fuzzPIDs[int(r.byte())%len(fuzzPIDs)], ThreadID: 1, Props: Props{}}
			if c := r.byte(); c != 0xff {
				ts = ts.Add(time.Duration(c) * time.Millisecond)
				rec.Timestamp = ts
			}
			for n := r.byte() % 10; n > 0; n-- {
				rec.Props[fuzzNames[int(r.byte())%len(fuzzNames)]] = r.value()
			}
			if pid := rec.ProcessID; rec.Props["ProcessID"] == nil && r.byte()%2 == 0 {
				rec.Props["ProcessID"] = pid
			}
			if err := d.Decode(rec, emit); err != nil && !errors.As(err, new(*DecodeError)) {
				t.Fatalf("error %v is no *DecodeError", err)
			}
			if r.byte()%8 == 0 {
				if err := d.Interim(emit); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := d.ReportLoss(Counters{EventsLost: uint64(r.byte())}, emit); err != nil {
			t.Fatal(err)
		}
		if err := d.Close(emit); err != nil {
			t.Fatal(err)
		}
		if len(d.writes) != 0 || len(d.sends) != 0 || d.nWrites != 0 {
			t.Fatalf("Close left %d write and %d send totals (count %d)", len(d.writes), len(d.sends), d.nWrites)
		}
	})
}

// FuzzParseUserData parses fuzz bytes by a template made of fuzz bytes.
func FuzzParseUserData(f *testing.F) {
	f.Add([]byte{3, 8, 0, 0, 1, 14, 0, 2, 1, 0}, []byte{4, 0, 0, 0, 1, 2, 3, 4})
	f.Add([]byte{2, 1, 0, 0, 1, 6, 22, 0, 1}, []byte(tcpSend4Payload()))
	f.Add([]byte{1, 19, 0, 0, 1}, []byte{1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0})
	inTypes := []uint16{inUnicodeString, inAnsiString, inInt8, inUint8, inInt16, inUint16, inInt32, inUint32, inInt64,
		inUint64, inFloat, inDouble, inBoolean, inBinary, inGUID, inPointer, inFiletime, inSystemtime, inSID,
		inHexInt32, inHexInt64, inManifestCountedString, inManifestCountedAnsiString, inManifestCountedBinary,
		inCountedString, inReversedCountedAnsiString, inNonNullTerminatedString, inNonNullTerminatedAnsiString,
		inUnicodeChar, inAnsiChar, inSizeT, inHexDump, inWbemSID, 24}
	f.Fuzz(func(t *testing.T, tmpl, data []byte) {
		r := &fuzzReader{tmpl}
		n := int(r.byte() % 12)
		fields := make([]Field, n)
		for i := range fields {
			fields[i] = Field{Name: string(rune('a' + i)), InType: inTypes[int(r.byte())%len(inTypes)],
				OutType: []uint16{0, outPort, outIPv4, outIPv6}[r.byte()%4], Flags: uint32(r.byte() % 8),
				Count: uint16(r.byte() % 4), Length: uint16(r.byte() % 20)}
		}
		ptr := 8
		if len(data) > 0 && data[0]&1 == 1 {
			ptr = 4
		}
		props, err := ParseUserData(fields, data, ptr)
		if err == nil && len(props) > n {
			t.Fatalf("%d properties from %d fields", len(props), n)
		}
	})
}
