//go:build windows && (amd64 || arm64)

package etw

import "unsafe"

// The SDK's sizes and offsets on 64-bit Windows: each pair of arrays has
// a negative length, and the build fails, unless the two agree.
var (
	_ [120 - unsafe.Sizeof(eventTraceProperties{})]byte
	_ [unsafe.Sizeof(eventTraceProperties{}) - 120]byte
	_ [104 - unsafe.Offsetof(eventTraceProperties{}.LoggerThreadID)]byte
	_ [unsafe.Offsetof(eventTraceProperties{}.LoggerThreadID) - 104]byte

	_ [48 - unsafe.Sizeof(eventTraceHeader{})]byte
	_ [unsafe.Sizeof(eventTraceHeader{}) - 48]byte
	_ [88 - unsafe.Sizeof(eventTrace{})]byte
	_ [unsafe.Sizeof(eventTrace{}) - 88]byte
	_ [280 - unsafe.Sizeof(traceLogfileHeader{})]byte
	_ [unsafe.Sizeof(traceLogfileHeader{}) - 280]byte
	_ [248 - unsafe.Offsetof(traceLogfileHeader{}.BootTime)]byte
	_ [unsafe.Offsetof(traceLogfileHeader{}.BootTime) - 248]byte

	_ [448 - unsafe.Sizeof(eventTraceLogfile{})]byte
	_ [unsafe.Sizeof(eventTraceLogfile{}) - 448]byte
	_ [424 - unsafe.Offsetof(eventTraceLogfile{}.EventRecordCallback)]byte
	_ [unsafe.Offsetof(eventTraceLogfile{}.EventRecordCallback) - 424]byte
	_ [440 - unsafe.Offsetof(eventTraceLogfile{}.Context)]byte
	_ [unsafe.Offsetof(eventTraceLogfile{}.Context) - 440]byte

	_ [80 - unsafe.Sizeof(eventHeader{})]byte
	_ [unsafe.Sizeof(eventHeader{}) - 80]byte
	_ [40 - unsafe.Offsetof(eventHeader{}.EventDescriptor)]byte
	_ [unsafe.Offsetof(eventHeader{}.EventDescriptor) - 40]byte
	_ [112 - unsafe.Sizeof(eventRecord{})]byte
	_ [unsafe.Sizeof(eventRecord{}) - 112]byte
	_ [86 - unsafe.Offsetof(eventRecord{}.UserDataLength)]byte
	_ [unsafe.Offsetof(eventRecord{}.UserDataLength) - 86]byte
	_ [96 - unsafe.Offsetof(eventRecord{}.UserData)]byte
	_ [unsafe.Offsetof(eventRecord{}.UserData) - 96]byte
	_ [16 - unsafe.Sizeof(eventHeaderExtendedDataItem{})]byte
	_ [unsafe.Sizeof(eventHeaderExtendedDataItem{}) - 16]byte

	_ [48 - unsafe.Sizeof(enableTraceParameters{})]byte
	_ [unsafe.Sizeof(enableTraceParameters{}) - 48]byte
	_ [32 - unsafe.Offsetof(enableTraceParameters{}.EnableFilterDesc)]byte
	_ [unsafe.Offsetof(enableTraceParameters{}.EnableFilterDesc) - 32]byte
	_ [16 - unsafe.Sizeof(eventFilterDescriptor{})]byte
	_ [unsafe.Sizeof(eventFilterDescriptor{}) - 16]byte

	_ [112 - unsafe.Offsetof(traceEventInfo{}.EventPropertyInfo)]byte
	_ [unsafe.Offsetof(traceEventInfo{}.EventPropertyInfo) - 112]byte
	_ [100 - unsafe.Offsetof(traceEventInfo{}.PropertyCount)]byte
	_ [unsafe.Offsetof(traceEventInfo{}.PropertyCount) - 100]byte
	_ [24 - unsafe.Sizeof(eventPropertyInfo{})]byte
	_ [unsafe.Sizeof(eventPropertyInfo{}) - 24]byte

	_ [48 - unsafe.Sizeof(processBasicInformation{})]byte
	_ [unsafe.Sizeof(processBasicInformation{}) - 48]byte
)
