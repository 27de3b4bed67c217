package etw

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Providers, by GUID in canonical form (lowercase, no braces), as
// Record.Provider holds them. The GUIDs are those of the providers'
// registered manifests (logman query providers; jdu2600/Windows10EtwEvents
// manifest/*.tsv, repnz/etw-providers-docs Manifests-Win10-17134/*.xml).
const (
	KernelProcess = "22fb2cd6-0e7b-422b-a0c7-2fad1fd0e716" // Microsoft-Windows-Kernel-Process
	KernelFile    = "edd08927-9cc4-4e65-b970-c2560fb5c289" // Microsoft-Windows-Kernel-File
	KernelNetwork = "7dd42a49-5329-4832-8dfd-43d979153a88" // Microsoft-Windows-Kernel-Network
)

// ProviderName names a provider GUID ("" when it is none of the three).
func ProviderName(guid string) string {
	switch guid {
	case KernelProcess:
		return "Microsoft-Windows-Kernel-Process"
	case KernelFile:
		return "Microsoft-Windows-Kernel-File"
	case KernelNetwork:
		return "Microsoft-Windows-Kernel-Network"
	}
	return ""
}

// ParseGUID returns a GUID in canonical form: lowercase hex in the
// 8-4-4-4-12 groups, braces removed.
func ParseGUID(s string) (string, error) {
	g := strings.TrimSuffix(strings.TrimPrefix(s, "{"), "}")
	if len(g) != 36 {
		return "", fmt.Errorf("guid %q: want 36 characters", s)
	}
	for i := range len(g) {
		c := g[i]
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return "", fmt.Errorf("guid %q: want '-' at %d", s, i)
			}
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F':
		default:
			return "", fmt.Errorf("guid %q: %q is not a hex digit", s, c)
		}
	}
	return strings.ToLower(g), nil
}

// Record is one ETW event after its properties are decoded: what the
// EVENT_RECORD header says, and the properties by their manifest names.
type Record struct {
	Provider  string    // provider GUID, canonical form (see KernelProcess)
	EventID   uint16    // EVENT_DESCRIPTOR.Id
	Version   uint8     // EVENT_DESCRIPTOR.Version: selects the template
	Opcode    uint8     // EVENT_DESCRIPTOR.Opcode
	Timestamp time.Time // EVENT_HEADER.TimeStamp (system time)
	// ProcessID and ThreadID are EVENT_HEADER's: the context the event
	// was logged in. That is the acting process for Kernel-File, the
	// creator for Kernel-Process ProcessStart, and anything at all for
	// Kernel-Network (its PID property names the process).
	ProcessID uint32
	ThreadID  uint32
	SID       string // the logging thread's user (EVENT_HEADER_EXT_TYPE_SID), "S-1-..." or ""
	Props     Props
}

// Props are a record's properties by name. Values have the Go type of
// their TDH in-type (tdh.h TDH_IN_TYPE), refined by the out-type where
// the out-type changes the meaning:
//
//	Int8..Int64               int8, int16, int32, int64
//	UInt8, UInt16             uint8, uint16
//	UInt32, HexInt32          uint32
//	UInt64, HexInt64          uint64
//	Pointer, SizeT            uint64 (whatever the logger's pointer size)
//	Boolean                   bool
//	Float, Double             float32, float64
//	UnicodeString, AnsiString string (counted and char variants too)
//	FILETIME, SYSTEMTIME      time.Time (UTC; the zero FILETIME is the zero Time)
//	GUID                      string, canonical form
//	SID                       string, "S-1-..."
//	Binary                    []byte
//	UInt32 or Binary as win:IPv4, Binary as win:IPv6   netip.Addr
//	UInt16 as win:Port        uint16 in host order (the payload holds it big-endian)
//	fixed or counted arrays   []any of the element type
//
// Consumers add properties that no manifest has (see PropCommandLine).
type Props map[string]any

// Properties a consumer adds to Kernel-Process ProcessStart (1) and
// ProcessRundown (15) records: what it read from the live process,
// because the provider does not log it. A replay carries them in the
// record; a live Session reads them through [WithProcessReader] instead.
const (
	PropCommandLine   = "CommandLine"          // string: the command line as the process got it
	PropCwd           = "CurrentDirectory"     // string: the working directory at start
	PropUserSID       = "UserSID"              // string: the process token's user
	PropCorrelationID = "VIGIL_CORRELATION_ID" // string: the variable's value in the process's environment
	PropTraceparent   = "TRACEPARENT"          // string: likewise
)

// Errors a property lookup fails with.
var (
	ErrMissing  = errors.New("missing property")
	ErrBadType  = errors.New("property has the wrong type")
	ErrBadValue = errors.New("property value out of range")
)

// PropError names the property a lookup failed on.
type PropError struct {
	Name string
	Got  any // the value found (nil when missing)
	Err  error
}

func (e *PropError) Error() string {
	if e.Got == nil {
		return fmt.Sprintf("%s: %v", e.Name, e.Err)
	}
	return fmt.Sprintf("%s: %v (%T)", e.Name, e.Err, e.Got)
}

func (e *PropError) Unwrap() error { return e.Err }

// Uint returns an unsigned integer property of any width. Templates
// widen fields from one version to the next (Kernel-File's ThreadId is a
// Pointer in version 0 and IssuingThreadId a UInt32 in version 1), so
// any unsigned type is accepted, and signed ones when not negative.
func (p Props) Uint(name string) (uint64, error) {
	v, ok := p[name]
	if !ok {
		return 0, &PropError{Name: name, Err: ErrMissing}
	}
	switch x := v.(type) {
	case uint8:
		return uint64(x), nil
	case uint16:
		return uint64(x), nil
	case uint32:
		return uint64(x), nil
	case uint64:
		return x, nil
	case int8, int16, int32, int64:
		n := toInt64(x)
		if n < 0 {
			return 0, &PropError{Name: name, Got: v, Err: ErrBadValue}
		}
		return uint64(n), nil
	}
	return 0, &PropError{Name: name, Got: v, Err: ErrBadType}
}

func toInt64(v any) int64 {
	switch x := v.(type) {
	case int8:
		return int64(x)
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case int64:
		return x
	}
	return 0
}

// Uint32 returns an unsigned integer property that must fit 32 bits.
func (p Props) Uint32(name string) (uint32, error) {
	n, err := p.Uint(name)
	if err != nil {
		return 0, err
	}
	if n > 1<<32-1 {
		return 0, &PropError{Name: name, Got: p[name], Err: ErrBadValue}
	}
	return uint32(n), nil
}

// String returns a string property.
func (p Props) String(name string) (string, error) {
	v, ok := p[name]
	if !ok {
		return "", &PropError{Name: name, Err: ErrMissing}
	}
	s, ok := v.(string)
	if !ok {
		return "", &PropError{Name: name, Got: v, Err: ErrBadType}
	}
	return s, nil
}

// OptString returns a string property, or "" when it is missing. A
// present property of another type is an error.
func (p Props) OptString(name string) (string, error) {
	if _, ok := p[name]; !ok {
		return "", nil
	}
	return p.String(name)
}

// Time returns a FILETIME or SYSTEMTIME property.
func (p Props) Time(name string) (time.Time, error) {
	v, ok := p[name]
	if !ok {
		return time.Time{}, &PropError{Name: name, Err: ErrMissing}
	}
	t, ok := v.(time.Time)
	if !ok {
		return time.Time{}, &PropError{Name: name, Got: v, Err: ErrBadType}
	}
	return t, nil
}

// Addr returns an address property: a netip.Addr, or the 4 or 16 raw
// bytes of one in network order.
func (p Props) Addr(name string) (netip.Addr, error) {
	v, ok := p[name]
	if !ok {
		return netip.Addr{}, &PropError{Name: name, Err: ErrMissing}
	}
	switch x := v.(type) {
	case netip.Addr:
		if x.IsValid() {
			return x, nil
		}
	case []byte:
		if a, ok := netip.AddrFromSlice(x); ok {
			return a, nil
		}
	default:
		return netip.Addr{}, &PropError{Name: name, Got: v, Err: ErrBadType}
	}
	return netip.Addr{}, &PropError{Name: name, Got: v, Err: ErrBadValue}
}

// Port returns a win:Port property in host order (see Props).
func (p Props) Port(name string) (uint16, error) {
	v, ok := p[name]
	if !ok {
		return 0, &PropError{Name: name, Err: ErrMissing}
	}
	n, ok := v.(uint16)
	if !ok {
		return 0, &PropError{Name: name, Got: v, Err: ErrBadType}
	}
	return n, nil
}

// The FILETIME epoch (1601-01-01) in 100 ns units before the Unix epoch.
const filetimeUnixDiff = 116444736000000000

// FiletimeToTime converts a FILETIME (100 ns units since 1601, UTC) to
// time; 0 is the zero Time.
func FiletimeToTime(ft uint64) time.Time {
	if ft == 0 {
		return time.Time{}
	}
	if ft > 1<<63-1 {
		ft = 1<<63 - 1
	}
	d := int64(ft) - filetimeUnixDiff
	return time.Unix(d/1e7, d%1e7*100).UTC()
}

// TimeToFiletime converts time to a FILETIME; the zero Time is 0.
func TimeToFiletime(t time.Time) uint64 {
	if t.IsZero() {
		return 0
	}
	return uint64(t.Unix()*1e7 + int64(t.Nanosecond())/100 + filetimeUnixDiff)
}

// unixNS is t as ns since the Unix epoch (Event.KTime, Task.StartTime);
// times before 1970 (the zero Time, a garbled FILETIME) give 0.
func unixNS(t time.Time) uint64 {
	if t.Before(time.Unix(0, 0)) {
		return 0
	}
	if t.After(time.Unix(0, 1<<63-1)) {
		return 1<<63 - 1
	}
	return uint64(t.UnixNano())
}

// SIDString formats a binary SID as "S-1-5-21-...", the form
// ConvertSidToStringSidW gives; ok is false for bytes that are no SID.
func SIDString(b []byte) (s string, n int, ok bool) {
	if len(b) < 8 || b[0] != 1 {
		return "", 0, false
	}
	subs := int(b[1])
	n = 8 + 4*subs
	if subs > 15 || len(b) < n {
		return "", 0, false
	}
	var auth uint64
	for _, c := range b[2:8] {
		auth = auth<<8 | uint64(c)
	}
	out := make([]byte, 0, 16+11*subs)
	out = append(out, "S-1-"...)
	if auth >= 1<<32 {
		out = append(out, "0x"...)
		out = append(out, fmt.Sprintf("%012X", auth)...)
	} else {
		out = strconv.AppendUint(out, auth, 10)
	}
	for i := range subs {
		out = append(out, '-')
		out = strconv.AppendUint(out, uint64(binary.LittleEndian.Uint32(b[8+4*i:])), 10)
	}
	return string(out), n, true
}

// guidString formats a GUID's 16 bytes (Data1-3 little-endian) in
// canonical form.
func guidString(b []byte) string {
	return fmt.Sprintf("%08x-%04x-%04x-%x-%x", binary.LittleEndian.Uint32(b[0:4]),
		binary.LittleEndian.Uint16(b[4:6]), binary.LittleEndian.Uint16(b[6:8]), b[8:10], b[10:16])
}
