//go:build windows && (amd64 || arm64)

package etw

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/vigilsec/vigil/sensor"
)

// The structures' sizes and offsets against the Windows SDK's on 64-bit
// Windows (layout64_windows.go checks the same at compile time), and the
// PEB offsets against golang.org/x/sys/windows's definitions.
func TestLayout(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want uintptr
	}{
		{"sizeof(EVENT_TRACE_PROPERTIES)", unsafe.Sizeof(eventTraceProperties{}), 120},
		{"EVENT_TRACE_PROPERTIES.EventsLost", unsafe.Offsetof(eventTraceProperties{}.EventsLost), 88},
		{"EVENT_TRACE_PROPERTIES.RealTimeBuffersLost", unsafe.Offsetof(eventTraceProperties{}.RealTimeBuffersLost), 100},
		{"EVENT_TRACE_PROPERTIES.LoggerNameOffset", unsafe.Offsetof(eventTraceProperties{}.LoggerNameOffset), 116},
		{"logger name after EVENT_TRACE_PROPERTIES", unsafe.Offsetof(traceProperties{}.name), 120},
		{"sizeof(EVENT_TRACE_LOGFILEW)", unsafe.Sizeof(eventTraceLogfile{}), 448},
		{"EVENT_TRACE_LOGFILEW.LogfileHeader", unsafe.Offsetof(eventTraceLogfile{}.LogfileHeader), 120},
		{"EVENT_TRACE_LOGFILEW.BufferCallback", unsafe.Offsetof(eventTraceLogfile{}.BufferCallback), 400},
		{"EVENT_TRACE_LOGFILEW.EventRecordCallback", unsafe.Offsetof(eventTraceLogfile{}.EventRecordCallback), 424},
		{"sizeof(TRACE_LOGFILE_HEADER)", unsafe.Sizeof(traceLogfileHeader{}), 280},
		{"TRACE_LOGFILE_HEADER.TimeZone", unsafe.Offsetof(traceLogfileHeader{}.TimeZone), 72},
		{"sizeof(EVENT_HEADER)", unsafe.Sizeof(eventHeader{}), 80},
		{"EVENT_HEADER.TimeStamp", unsafe.Offsetof(eventHeader{}.TimeStamp), 16},
		{"EVENT_HEADER.ProviderId", unsafe.Offsetof(eventHeader{}.ProviderID), 24},
		{"EVENT_HEADER.ActivityId", unsafe.Offsetof(eventHeader{}.ActivityID), 64},
		{"sizeof(EVENT_RECORD)", unsafe.Sizeof(eventRecord{}), 112},
		{"EVENT_RECORD.ExtendedData", unsafe.Offsetof(eventRecord{}.ExtendedData), 88},
		{"sizeof(EVENT_HEADER_EXTENDED_DATA_ITEM)", unsafe.Sizeof(eventHeaderExtendedDataItem{}), 16},
		{"sizeof(ENABLE_TRACE_PARAMETERS)", unsafe.Sizeof(enableTraceParameters{}), 48},
		{"ENABLE_TRACE_PARAMETERS.SourceId", unsafe.Offsetof(enableTraceParameters{}.SourceID), 12},
		{"TRACE_EVENT_INFO.DecodingSource", unsafe.Offsetof(traceEventInfo{}.DecodingSource), 48},
		{"TRACE_EVENT_INFO.TopLevelPropertyCount", unsafe.Offsetof(traceEventInfo{}.TopLevelPropertyCount), 104},
		{"TRACE_EVENT_INFO.EventPropertyInfoArray", unsafe.Offsetof(traceEventInfo{}.EventPropertyInfo), 112},
		{"sizeof(EVENT_PROPERTY_INFO)", unsafe.Sizeof(eventPropertyInfo{}), 24},
		{"EVENT_PROPERTY_INFO.count", unsafe.Offsetof(eventPropertyInfo{}.Count), 16},
		{"sizeof(PROCESS_BASIC_INFORMATION)", unsafe.Sizeof(processBasicInformation{}), unsafe.Sizeof(windows.PROCESS_BASIC_INFORMATION{})},
		{"PROCESS_BASIC_INFORMATION.PebBaseAddress", unsafe.Offsetof(processBasicInformation{}.PebBaseAddress),
			unsafe.Offsetof(windows.PROCESS_BASIC_INFORMATION{}.PebBaseAddress)},
		{"PEB.ProcessParameters", pebProcessParameters, unsafe.Offsetof(windows.PEB{}.ProcessParameters)},
		{"RTL_USER_PROCESS_PARAMETERS.CurrentDirectory", paramsCurrentDir, unsafe.Offsetof(windows.RTL_USER_PROCESS_PARAMETERS{}.CurrentDirectory)},
		{"RTL_USER_PROCESS_PARAMETERS.Environment", paramsEnvironment, unsafe.Offsetof(windows.RTL_USER_PROCESS_PARAMETERS{}.Environment)},
		{"RTL_USER_PROCESS_PARAMETERS.EnvironmentSize", paramsEnvironmentLen, unsafe.Offsetof(windows.RTL_USER_PROCESS_PARAMETERS{}.EnvironmentSize)},
	} {
		if c.got != c.want {
			t.Errorf("%s: %d, want %d", c.name, c.got, c.want)
		}
	}
}

// fieldsOf reads a TRACE_EVENT_INFO as TDH lays it out: the property
// array after the header, the names after it.
func TestFieldsOf(t *testing.T) {
	buf := make([]uint64, 64)
	raw := unsafe.Slice((*byte)(unsafe.Pointer(&buf[0])), len(buf)*8)
	info := (*traceEventInfo)(unsafe.Pointer(&buf[0]))
	info.PropertyCount, info.TopLevelPropertyCount = 2, 2
	props := unsafe.Slice(&info.EventPropertyInfo[0], 2)
	off := uint32(unsafe.Offsetof(info.EventPropertyInfo)) + 2*uint32(unsafe.Sizeof(eventPropertyInfo{}))
	for i, name := range []string{"dport", "daddr"} {
		props[i] = eventPropertyInfo{NameOffset: off, InType: []uint16{inUint16, inBinary}[i],
			OutType: []uint16{outPort, outIPv6}[i], Count: 1, Length: []uint16{0, 16}[i]}
		for _, c := range utf16.Encode([]rune(name)) {
			raw[off], raw[off+1] = byte(c), byte(c>>8)
			off += 2
		}
		off += 2
	}
	fields, err := fieldsOf(info, buf)
	if err != nil {
		t.Fatal(err)
	}
	want := []Field{{Name: "dport", InType: inUint16, OutType: outPort, Count: 1},
		{Name: "daddr", InType: inBinary, OutType: outIPv6, Count: 1, Length: 16}}
	if len(fields) != 2 || fields[0] != want[0] || fields[1] != want[1] {
		t.Errorf("fields %+v, want %+v", fields, want)
	}
	info.PropertyCount = 1000
	if _, err := fieldsOf(info, buf); err == nil {
		t.Error("a property count past the buffer was read")
	}
}

func TestReadProcessSelf(t *testing.T) {
	var c, e, k, u windows.Filetime
	if err := windows.GetProcessTimes(windows.CurrentProcess(), &c, &e, &k, &u); err != nil {
		t.Fatal(err)
	}
	created := FiletimeToTime(uint64(c.HighDateTime)<<32 | uint64(c.LowDateTime))
	t.Setenv(PropCorrelationID, "self-test")
	info, err := readProcess(uint32(os.Getpid()), created, true)
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	if args := SplitCommandLine(info.CommandLine); len(args) == 0 || !strings.EqualFold(filepath.Base(args[0]), filepath.Base(os.Args[0])) {
		t.Errorf("command line %q", info.CommandLine)
	}
	if !strings.EqualFold(strings.TrimSuffix(info.Cwd, `\`), strings.TrimSuffix(wd, `\`)) {
		t.Errorf("cwd %q, want %q", info.Cwd, wd)
	}
	if !strings.HasPrefix(info.SID, "S-1-") {
		t.Errorf("SID %q", info.SID)
	}
	// SetEnvironmentVariableW (t.Setenv) edits the block the PEB points to.
	if info.CorrelationID != "self-test" {
		t.Errorf("correlation id %q, want self-test", info.CorrelationID)
	}
	if _, err := readProcess(uint32(os.Getpid()), created.Add(time.Second), false); err == nil {
		t.Error("a process with another start time was read")
	}
}

// TestSessionLive runs a real session (Administrator, VIGIL_ETW_LIVE=1):
// a child cmd.exe, the tree's root, writes a file.
func TestSessionLive(t *testing.T) {
	if os.Getenv("VIGIL_ETW_LIVE") == "" || !windows.GetCurrentProcessToken().IsElevated() {
		t.Skip("needs Administrator and VIGIL_ETW_LIVE=1")
	}
	dir := t.TempDir()
	target := filepath.Join(dir, "vigil-etw.txt")
	scope := sensor.NewTreeScope(func(exe string, args []string) (uint32, bool) {
		return 1, strings.EqualFold(baseName(exe), "cmd.exe") && strings.Contains(strings.Join(args, " "), "vigil-etw")
	}, false, 0)
	s, err := Open(Config{Scope: scope, SessionName: "VigilTest"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var (
		mu  sync.Mutex
		evs []sensor.Event
	)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- s.Run(ctx, sensor.HandlerFunc(func(ev *sensor.Event) error {
			mu.Lock()
			evs = append(evs, *ev)
			mu.Unlock()
			return nil
		}))
	}()
	if out, err := exec.Command("cmd.exe", "/c", "echo vigil-etw> "+target+" && ping -n 2 127.0.0.1 >nul").CombinedOutput(); err != nil {
		t.Fatalf("cmd: %v %s", err, out)
	}
	time.Sleep(2 * time.Second)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	var sawExec, write, exit bool
	for i := range evs {
		ev := &evs[i]
		switch {
		case ev.Kind == sensor.KindExec && ev.Flags&sensor.FlagNewRoot != 0:
			sawExec = strings.EqualFold(baseName(ev.Executable), "cmd.exe")
		case ev.Kind == sensor.KindFile && ev.File.Op == sensor.FileWriteEnd:
			write = write || strings.EqualFold(ev.File.Path, target)
		case ev.Kind == sensor.KindExit:
			exit = true
		}
	}
	if !sawExec || !write || !exit {
		t.Errorf("exec %v, write %v, exit %v in %d events", sawExec, write, exit, len(evs))
	}
}
