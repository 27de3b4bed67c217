//go:build windows

package etw

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/windows"
)

// The ETW controller and consumer APIs (evntrace.h, advapi32.dll) and TDH
// (tdh.h, tdh.dll), which golang.org/x/sys/windows does not wrap. The
// structures are the Windows SDK's on 64-bit Windows; their sizes and
// offsets are checked at compile time (layout64_windows.go) and by
// TestLayout.

var (
	modAdvapi32 = windows.NewLazySystemDLL("advapi32.dll")
	modTdh      = windows.NewLazySystemDLL("tdh.dll")

	procStartTraceW            = modAdvapi32.NewProc("StartTraceW")
	procControlTraceW          = modAdvapi32.NewProc("ControlTraceW")
	procEnableTraceEx2         = modAdvapi32.NewProc("EnableTraceEx2")
	procOpenTraceW             = modAdvapi32.NewProc("OpenTraceW")
	procProcessTrace           = modAdvapi32.NewProc("ProcessTrace")
	procCloseTrace             = modAdvapi32.NewProc("CloseTrace")
	procTdhGetEventInformation = modTdh.NewProc("TdhGetEventInformation")
)

const (
	// EVENT_TRACE_PROPERTIES.LogFileMode (evntrace.h; the ms flush timer
	// flag is in ntwmi.h, Windows 7 and later).
	eventTraceRealTimeMode          = 0x00000100
	eventTraceUseMSFlushTimer       = 0x00000010
	eventTraceNoPerProcessorBuffers = 0x10000000

	wnodeFlagTracedGUID = 0x00020000
	clientContextQPC    = 1 // Wnode.ClientContext: QPC timestamps, delivered as system time

	// ControlTraceW codes.
	eventTraceControlQuery = 0
	eventTraceControlStop  = 1

	// OpenTraceW's EVENT_TRACE_LOGFILEW.ProcessTraceMode.
	processTraceModeRealTime    = 0x00000100
	processTraceModeEventRecord = 0x10000000

	invalidProcessTraceHandle = ^uint64(0)

	// EnableTraceEx2.
	eventControlCodeEnableProvider = 1
	traceLevelVerbose              = 5
	enableTraceParametersVersion2  = 2
	eventEnablePropertySID         = 0x00000001
	eventFilterTypeEventID         = 0x80000200

	// EVENT_HEADER.Flags and extended data.
	eventHeaderFlag32BitHeader = 0x0020
	eventHeaderExtTypeSID      = 0x0002
)

// WNODE_HEADER (wmistr.h).
type wnodeHeader struct {
	BufferSize        uint32
	ProviderID        uint32
	HistoricalContext uint64
	TimeStamp         int64 // union with CountLost, KernelHandle
	GUID              windows.GUID
	ClientContext     uint32
	Flags             uint32
}

// EVENT_TRACE_PROPERTIES (evntrace.h).
type eventTraceProperties struct {
	Wnode               wnodeHeader
	BufferSize          uint32 // KB
	MinimumBuffers      uint32
	MaximumBuffers      uint32
	MaximumFileSize     uint32
	LogFileMode         uint32
	FlushTimer          uint32
	EnableFlags         uint32
	AgeLimit            int32 // union with FlushThreshold
	NumberOfBuffers     uint32
	FreeBuffers         uint32
	EventsLost          uint32
	BuffersWritten      uint32
	LogBuffersLost      uint32
	RealTimeBuffersLost uint32
	LoggerThreadID      uintptr // HANDLE
	LogFileNameOffset   uint32
	LoggerNameOffset    uint32
}

// traceProperties is EVENT_TRACE_PROPERTIES followed by the room the
// controller APIs write the session and log file names into.
type traceProperties struct {
	p       eventTraceProperties
	name    [1024]uint16
	logFile [1024]uint16
}

// newTraceProperties returns properties for ControlTraceW, with room
// for both names; StartTraceW of a real-time session takes no log file
// (LogFileNameOffset 0).
func newTraceProperties() *traceProperties {
	t := new(traceProperties)
	t.p.Wnode.BufferSize = uint32(unsafe.Sizeof(*t))
	t.p.LoggerNameOffset = uint32(unsafe.Offsetof(t.name))
	t.p.LogFileNameOffset = uint32(unsafe.Offsetof(t.logFile))
	return t
}

// EVENT_TRACE_HEADER (evntrace.h).
type eventTraceHeader struct {
	Size           uint16
	FieldTypeFlags uint16
	Version        uint32
	ThreadID       uint32
	ProcessID      uint32
	TimeStamp      int64
	GUID           windows.GUID
	ProcessorTime  uint64
}

// EVENT_TRACE (evntrace.h).
type eventTrace struct {
	Header           eventTraceHeader
	InstanceID       uint32
	ParentInstanceID uint32
	ParentGUID       windows.GUID
	MofData          uintptr
	MofLength        uint32
	ClientContext    uint32 // union with ETW_BUFFER_CONTEXT
}

// TRACE_LOGFILE_HEADER (evntrace.h).
type traceLogfileHeader struct {
	BufferSize         uint32
	Version            uint32
	ProviderVersion    uint32
	NumberOfProcessors uint32
	EndTime            int64
	TimerResolution    uint32
	MaximumFileSize    uint32
	LogFileMode        uint32
	BuffersWritten     uint32
	LogInstanceGUID    windows.GUID // union with StartBuffers, PointerSize, EventsLost, CpuSpeedInMHz
	LoggerName         uintptr
	LogFileName        uintptr
	TimeZone           windows.Timezoneinformation
	BootTime           int64
	PerfFreq           int64
	StartTime          int64
	ReservedFlags      uint32
	BuffersLost        uint32
}

// EVENT_TRACE_LOGFILEW (evntrace.h).
type eventTraceLogfile struct {
	LogFileName         *uint16
	LoggerName          *uint16
	CurrentTime         int64
	BuffersRead         uint32
	ProcessTraceMode    uint32 // union with LogFileMode
	CurrentEvent        eventTrace
	LogfileHeader       traceLogfileHeader
	BufferCallback      uintptr
	BufferSize          uint32
	Filled              uint32
	EventsLost          uint32
	EventRecordCallback uintptr // union with EventCallback
	IsKernelTrace       uint32
	Context             uintptr
}

// EVENT_DESCRIPTOR (evntprov.h).
type eventDescriptor struct {
	ID      uint16
	Version uint8
	Channel uint8
	Level   uint8
	Opcode  uint8
	Task    uint16
	Keyword uint64
}

// EVENT_HEADER (evntcons.h).
type eventHeader struct {
	Size            uint16
	HeaderType      uint16
	Flags           uint16
	EventProperty   uint16
	ThreadID        uint32
	ProcessID       uint32
	TimeStamp       int64
	ProviderID      windows.GUID
	EventDescriptor eventDescriptor
	ProcessorTime   uint64 // union with KernelTime, UserTime
	ActivityID      windows.GUID
}

// ETW_BUFFER_CONTEXT (evntcons.h).
type etwBufferContext struct {
	ProcessorNumber uint8
	Alignment       uint8
	LoggerID        uint16
}

// EVENT_RECORD (evntcons.h). The pointers are the consumer's buffers,
// valid during the callback only.
type eventRecord struct {
	EventHeader       eventHeader
	BufferContext     etwBufferContext
	ExtendedDataCount uint16
	UserDataLength    uint16
	ExtendedData      *eventHeaderExtendedDataItem
	UserData          unsafe.Pointer
	UserContext       unsafe.Pointer
}

// EVENT_HEADER_EXTENDED_DATA_ITEM (evntcons.h).
type eventHeaderExtendedDataItem struct {
	Reserved1 uint16
	ExtType   uint16
	Linkage   uint16 // Linkage : 1, Reserved2 : 15
	DataSize  uint16
	DataPtr   uint64
}

// EVENT_FILTER_DESCRIPTOR (evntprov.h).
type eventFilterDescriptor struct {
	Ptr  uint64
	Size uint32
	Type uint32
}

// ENABLE_TRACE_PARAMETERS (evntrace.h).
type enableTraceParameters struct {
	Version          uint32
	EnableProperty   uint32
	ControlFlags     uint32
	SourceID         windows.GUID
	EnableFilterDesc *eventFilterDescriptor
	FilterDescCount  uint32
}

// TRACE_EVENT_INFO (tdh.h), with its first EVENT_PROPERTY_INFO.
type traceEventInfo struct {
	ProviderGUID          windows.GUID
	EventGUID             windows.GUID
	EventDescriptor       eventDescriptor
	DecodingSource        uint32
	ProviderNameOffset    uint32
	LevelNameOffset       uint32
	ChannelNameOffset     uint32
	KeywordsNameOffset    uint32
	TaskNameOffset        uint32
	OpcodeNameOffset      uint32
	EventMessageOffset    uint32
	ProviderMessageOffset uint32
	BinaryXMLOffset       uint32
	BinaryXMLSize         uint32
	EventNameOffset       uint32 // union with ActivityIDNameOffset
	EventAttributesOffset uint32 // union with RelatedActivityIDNameOffset
	PropertyCount         uint32
	TopLevelPropertyCount uint32
	Flags                 uint32 // TEMPLATE_FLAGS, union with Tags
	EventPropertyInfo     [1]eventPropertyInfo
}

// EVENT_PROPERTY_INFO (tdh.h), its union as nonStructType.
type eventPropertyInfo struct {
	Flags         uint32 // PROPERTY_FLAGS
	NameOffset    uint32
	InType        uint16 // structType: StructStartIndex
	OutType       uint16 // structType: NumOfStructMembers
	MapNameOffset uint32
	Count         uint16 // union with countPropertyIndex
	Length        uint16 // union with lengthPropertyIndex
	Reserved      uint32 // union with Tags
}

// callStatus turns a ULONG Win32 status into an error.
func callStatus(r uintptr) error {
	if r == 0 {
		return nil
	}
	return windows.Errno(r)
}

// is64Bit: the structures above are the 64-bit layouts.
const is64Bit = unsafe.Sizeof(uintptr(0)) == 8

var errNot64Bit = errors.New("etw: 64-bit Windows only")

func startTrace(name *uint16, props *traceProperties) (uint64, error) {
	var h uint64
	r, _, _ := procStartTraceW.Call(uintptr(unsafe.Pointer(&h)), uintptr(unsafe.Pointer(name)), uintptr(unsafe.Pointer(props)))
	return h, callStatus(r)
}

func controlTrace(h uint64, name *uint16, props *traceProperties, code uint32) error {
	r, _, _ := procControlTraceW.Call(uintptr(h), uintptr(unsafe.Pointer(name)), uintptr(unsafe.Pointer(props)), uintptr(code))
	return callStatus(r)
}

// enableProvider enables a provider in the session with the user's SID
// in every event, and, where the system supports the filter (Windows 8.1
// and later), only the event ids given.
func enableProvider(h uint64, provider windows.GUID, keywords uint64, ids []uint16) error {
	params := &enableTraceParameters{Version: enableTraceParametersVersion2, EnableProperty: eventEnablePropertySID}
	var filter []byte
	if len(ids) > 0 {
		// EVENT_FILTER_EVENT_ID: FilterIn, Reserved, Count, Events[Count].
		filter = make([]byte, 4+2*len(ids))
		filter[0] = 1
		filter[2], filter[3] = byte(len(ids)), byte(len(ids)>>8)
		for i, id := range ids {
			filter[4+2*i], filter[5+2*i] = byte(id), byte(id>>8)
		}
		params.EnableFilterDesc = &eventFilterDescriptor{Ptr: uint64(uintptr(unsafe.Pointer(&filter[0]))),
			Size: uint32(len(filter)), Type: eventFilterTypeEventID}
		params.FilterDescCount = 1
	}
	call := func() error {
		r, _, _ := procEnableTraceEx2.Call(uintptr(h), uintptr(unsafe.Pointer(&provider)), eventControlCodeEnableProvider,
			traceLevelVerbose, uintptr(keywords), 0, 0, uintptr(unsafe.Pointer(params)))
		runtime.KeepAlive(filter)
		return callStatus(r)
	}
	err := call()
	if err != nil && len(ids) > 0 && (errors.Is(err, windows.ERROR_NOT_SUPPORTED) || errors.Is(err, windows.ERROR_INVALID_PARAMETER)) {
		// No event id filters here: take every event of the keywords; the
		// decoder ignores the ids it does not map.
		params.EnableFilterDesc, params.FilterDescCount = nil, 0
		err = call()
	}
	return err
}

func openTrace(lf *eventTraceLogfile) (uint64, error) {
	r, _, err := procOpenTraceW.Call(uintptr(unsafe.Pointer(lf)))
	if uint64(r) == invalidProcessTraceHandle {
		return 0, fmt.Errorf("OpenTraceW: %w", err)
	}
	return uint64(r), nil
}

// processTrace delivers the session's events to the callback until the
// session stops or the handle is closed. handles is on the heap: the
// callback runs Go code on this goroutine's stack, which may move.
func processTrace(handles *[1]uint64) error {
	r, _, _ := procProcessTrace.Call(uintptr(unsafe.Pointer(&handles[0])), 1, 0, 0)
	if err := callStatus(r); err != nil && !errors.Is(err, windows.ERROR_CANCELLED) {
		return err
	}
	return nil
}

func closeTrace(h uint64) error {
	r, _, _ := procCloseTrace.Call(uintptr(h))
	if err := callStatus(r); err != nil && !errors.Is(err, windows.ERROR_CTX_CLOSE_PENDING) {
		return err
	}
	return nil
}

// eventInformation returns TRACE_EVENT_INFO for rec's event, in buf
// (grown as needed; uint64s keep it aligned).
func eventInformation(rec *eventRecord, buf []uint64) (*traceEventInfo, []uint64, error) {
	for {
		size := uint32(len(buf) * 8)
		r, _, _ := procTdhGetEventInformation.Call(uintptr(unsafe.Pointer(rec)), 0, 0,
			uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&size)))
		err := callStatus(r)
		if errors.Is(err, windows.ERROR_INSUFFICIENT_BUFFER) && int(size) > len(buf)*8 {
			buf = make([]uint64, (size+7)/8)
			continue
		}
		if err != nil {
			return nil, buf, err
		}
		if size < uint32(unsafe.Offsetof(traceEventInfo{}.EventPropertyInfo)) {
			return nil, buf, fmt.Errorf("TRACE_EVENT_INFO of %d bytes", size)
		}
		return (*traceEventInfo)(unsafe.Pointer(&buf[0])), buf, nil
	}
}

// fieldsOf turns TRACE_EVENT_INFO's top-level properties into a template.
func fieldsOf(info *traceEventInfo, buf []uint64) ([]Field, error) {
	raw := unsafe.Slice((*byte)(unsafe.Pointer(&buf[0])), len(buf)*8)
	n := int(info.TopLevelPropertyCount)
	if int(info.PropertyCount) < n {
		return nil, fmt.Errorf("%d top-level properties of %d", n, info.PropertyCount)
	}
	end := int(unsafe.Offsetof(info.EventPropertyInfo)) + int(info.PropertyCount)*int(unsafe.Sizeof(eventPropertyInfo{}))
	if end > len(raw) {
		return nil, fmt.Errorf("%d properties overrun TRACE_EVENT_INFO", info.PropertyCount)
	}
	props := unsafe.Slice(&info.EventPropertyInfo[0], info.PropertyCount)
	fields := make([]Field, n)
	for i := range fields {
		p := &props[i]
		name, err := utf16At(raw, p.NameOffset)
		if err != nil {
			return nil, fmt.Errorf("property %d: %w", i, err)
		}
		fields[i] = Field{Name: name, InType: p.InType, OutType: p.OutType, Flags: p.Flags, Count: p.Count, Length: p.Length}
	}
	return fields, nil
}

// utf16At is the NUL-terminated UTF-16 string at off in b.
func utf16At(b []byte, off uint32) (string, error) {
	if int(off) >= len(b) || off%2 != 0 {
		return "", fmt.Errorf("name at %d of %d bytes", off, len(b))
	}
	s, _, err := parseValue(&Field{InType: inUnicodeString}, 0, b[off:], 8)
	if err != nil {
		return "", err
	}
	return s.(string), nil
}
