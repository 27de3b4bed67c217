package etw

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"time"
	"unicode/utf16"
)

// TDH in-types (tdh.h TDH_IN_TYPE; winmeta.xml win:* types).
const (
	inUnicodeString               = 1
	inAnsiString                  = 2
	inInt8                        = 3
	inUint8                       = 4
	inInt16                       = 5
	inUint16                      = 6
	inInt32                       = 7
	inUint32                      = 8
	inInt64                       = 9
	inUint64                      = 10
	inFloat                       = 11
	inDouble                      = 12
	inBoolean                     = 13
	inBinary                      = 14
	inGUID                        = 15
	inPointer                     = 16
	inFiletime                    = 17
	inSystemtime                  = 18
	inSID                         = 19
	inHexInt32                    = 20
	inHexInt64                    = 21
	inManifestCountedString       = 22
	inManifestCountedAnsiString   = 23
	inManifestCountedBinary       = 25
	inCountedString               = 300
	inCountedAnsiString           = 301
	inReversedCountedString       = 302
	inReversedCountedAnsiString   = 303
	inNonNullTerminatedString     = 304
	inNonNullTerminatedAnsiString = 305
	inUnicodeChar                 = 306
	inAnsiChar                    = 307
	inSizeT                       = 308
	inHexDump                     = 309
	inWbemSID                     = 310
)

// TDH out-types that change how a value is read (tdh.h TDH_OUT_TYPE).
const (
	outPort = 22 // win:Port: a UInt16 in network byte order
	outIPv4 = 23 // win:IPv4: a UInt32 (or 4 bytes) in network byte order
	outIPv6 = 24 // win:IPv6: 16 bytes
)

// EVENT_PROPERTY_INFO.Flags (tdh.h PROPERTY_FLAGS).
const (
	propStruct      = 0x1
	propParamLength = 0x2 // length is the index of the property holding it
	propParamCount  = 0x4 // count is the index of the property holding it
)

// Field is one top-level property of an event's template, as
// TRACE_EVENT_INFO's EVENT_PROPERTY_INFO describes it (TdhGetEventInformation).
type Field struct {
	Name    string
	InType  uint16 // TDH_IN_TYPE
	OutType uint16 // TDH_OUT_TYPE
	Flags   uint32 // PROPERTY_FLAGS
	Count   uint16 // elements (1: a scalar), or with PropertyParamCount an index
	Length  uint16 // bytes (binary) or characters (strings), or with PropertyParamLength an index
}

// errUnsupported stops parsing at a property whose layout this package
// does not know (structs, unknown in-types): what came before is kept,
// since nothing after it can be located.
var errUnsupported = errors.New("unsupported property layout")

// maxElements bounds an array property's element count.
const maxElements = 1 << 16

// ParseUserData decodes an event's UserData by its template, into the
// Go types Props documents. ptrSize is 4 or 8: the logging process's
// pointer size (EVENT_HEADER_FLAG_32_BIT_HEADER). It fails when data is
// shorter than the template says; a property it cannot lay out (a
// struct, an unknown in-type) ends the parse without error, since no
// later property can be located. Binary values are copied: data may be
// reused once it returns.
func ParseUserData(fields []Field, data []byte, ptrSize int) (Props, error) {
	props := make(Props, len(fields))
	vals := make([]any, len(fields))
	for i, f := range fields {
		if f.Flags&propStruct != 0 {
			return props, nil
		}
		n, array := 1, false
		if f.Flags&propParamCount != 0 {
			c, err := refValue(fields, vals, i, int(f.Count))
			if err != nil {
				return props, err
			}
			n, array = c, true
		} else if f.Count > 1 {
			n, array = int(f.Count), true
		}
		length := int(f.Length)
		if f.Flags&propParamLength != 0 {
			l, err := refValue(fields, vals, i, length)
			if err != nil {
				return props, err
			}
			length = l
		}
		if n > maxElements {
			return props, fmt.Errorf("%s: %d elements", f.Name, n)
		}
		var elems []any
		for range n {
			v, used, err := parseValue(&f, length, data, ptrSize)
			if errors.Is(err, errUnsupported) {
				return props, nil
			}
			if err != nil {
				return props, fmt.Errorf("%s: %w", f.Name, err)
			}
			data = data[used:]
			if !array {
				vals[i] = v
				props[f.Name] = v
				break
			}
			elems = append(elems, v)
		}
		if array {
			vals[i] = elems
			props[f.Name] = elems
		}
	}
	return props, nil
}

// refValue is the value of the earlier property idx, which gives a
// length or count.
func refValue(fields []Field, vals []any, i, idx int) (int, error) {
	if idx >= i {
		return 0, fmt.Errorf("%s: refers to property %d, not an earlier one", fields[i].Name, idx)
	}
	var n uint64
	switch x := vals[idx].(type) {
	case uint8:
		n = uint64(x)
	case uint16:
		n = uint64(x)
	case uint32:
		n = uint64(x)
	case uint64:
		n = x
	default:
		return 0, fmt.Errorf("%s: length or count property %s is %T", fields[i].Name, fields[idx].Name, vals[idx])
	}
	if n > 1<<31 {
		return 0, fmt.Errorf("%s: length or count %d", fields[i].Name, n)
	}
	return int(n), nil
}

var errShort = errors.New("data ends early")

// parseValue decodes one value of f from the front of data and says how
// many bytes it took.
func parseValue(f *Field, length int, data []byte, ptrSize int) (v any, used int, err error) {
	need := func(n int) error {
		if n < 0 || len(data) < n {
			return fmt.Errorf("%w: need %d bytes, have %d", errShort, n, len(data))
		}
		return nil
	}
	switch f.InType {
	case inUnicodeString, inNonNullTerminatedString:
		if length > 0 || f.InType == inNonNullTerminatedString {
			if f.InType == inNonNullTerminatedString && length == 0 {
				length = len(data) / 2
			}
			if err := need(2 * length); err != nil {
				return nil, 0, err
			}
			return utf16String(data[:2*length]), 2 * length, nil
		}
		for i := 0; i+1 < len(data); i += 2 {
			if data[i] == 0 && data[i+1] == 0 {
				return utf16String(data[:i]), i + 2, nil
			}
		}
		return nil, 0, fmt.Errorf("%w: unterminated string", errShort)
	case inAnsiString, inNonNullTerminatedAnsiString:
		if length > 0 || f.InType == inNonNullTerminatedAnsiString {
			if f.InType == inNonNullTerminatedAnsiString && length == 0 {
				length = len(data)
			}
			if err := need(length); err != nil {
				return nil, 0, err
			}
			return ansiString(data[:length]), length, nil
		}
		for i, c := range data {
			if c == 0 {
				return ansiString(data[:i]), i + 1, nil
			}
		}
		return nil, 0, fmt.Errorf("%w: unterminated string", errShort)
	case inManifestCountedString, inCountedString, inReversedCountedString,
		inManifestCountedAnsiString, inCountedAnsiString, inReversedCountedAnsiString,
		inManifestCountedBinary:
		if err := need(2); err != nil {
			return nil, 0, err
		}
		n := int(binary.LittleEndian.Uint16(data))
		if f.InType == inReversedCountedString || f.InType == inReversedCountedAnsiString {
			n = int(binary.BigEndian.Uint16(data))
		}
		if err := need(2 + n); err != nil {
			return nil, 0, err
		}
		b := data[2 : 2+n]
		switch f.InType {
		case inManifestCountedBinary:
			return bytesOrAddr(f, b), 2 + n, nil
		case inManifestCountedAnsiString, inCountedAnsiString, inReversedCountedAnsiString:
			return ansiString(b), 2 + n, nil
		}
		return utf16String(b), 2 + n, nil
	case inInt8, inUint8, inAnsiChar:
		if err := need(1); err != nil {
			return nil, 0, err
		}
		switch f.InType {
		case inInt8:
			return int8(data[0]), 1, nil
		case inAnsiChar:
			return ansiString(data[:1]), 1, nil
		}
		return data[0], 1, nil
	case inInt16, inUint16, inUnicodeChar:
		if err := need(2); err != nil {
			return nil, 0, err
		}
		switch {
		case f.InType == inInt16:
			return int16(binary.LittleEndian.Uint16(data)), 2, nil
		case f.InType == inUnicodeChar:
			return utf16String(data[:2]), 2, nil
		case f.OutType == outPort:
			return binary.BigEndian.Uint16(data), 2, nil // the one byte swap: ports are logged in network order
		}
		return binary.LittleEndian.Uint16(data), 2, nil
	case inInt32, inUint32, inHexInt32, inFloat, inBoolean:
		if err := need(4); err != nil {
			return nil, 0, err
		}
		u := binary.LittleEndian.Uint32(data)
		switch {
		case f.InType == inInt32:
			return int32(u), 4, nil
		case f.InType == inFloat:
			return math.Float32frombits(u), 4, nil
		case f.InType == inBoolean:
			return u != 0, 4, nil
		case f.OutType == outIPv4:
			return netip.AddrFrom4([4]byte(data[:4])), 4, nil
		}
		return u, 4, nil
	case inInt64, inUint64, inHexInt64, inDouble:
		if err := need(8); err != nil {
			return nil, 0, err
		}
		u := binary.LittleEndian.Uint64(data)
		switch f.InType {
		case inInt64:
			return int64(u), 8, nil
		case inDouble:
			return math.Float64frombits(u), 8, nil
		}
		return u, 8, nil
	case inPointer, inSizeT:
		if err := need(ptrSize); err != nil {
			return nil, 0, err
		}
		if ptrSize == 4 {
			return uint64(binary.LittleEndian.Uint32(data)), 4, nil
		}
		return binary.LittleEndian.Uint64(data), 8, nil
	case inFiletime:
		if err := need(8); err != nil {
			return nil, 0, err
		}
		return FiletimeToTime(binary.LittleEndian.Uint64(data)), 8, nil
	case inSystemtime:
		if err := need(16); err != nil {
			return nil, 0, err
		}
		w := func(i int) int { return int(binary.LittleEndian.Uint16(data[2*i:])) }
		// wYear, wMonth, wDayOfWeek, wDay, wHour, wMinute, wSecond, wMilliseconds
		return time.Date(w(0), time.Month(w(1)), w(3), w(4), w(5), w(6), w(7)*1e6, time.UTC), 16, nil
	case inGUID:
		if err := need(16); err != nil {
			return nil, 0, err
		}
		return guidString(data[:16]), 16, nil
	case inSID, inWbemSID:
		skip := 0
		if f.InType == inWbemSID {
			skip = 2 * ptrSize // a TOKEN_USER precedes the SID
		}
		if err := need(skip); err != nil {
			return nil, 0, err
		}
		s, n, ok := SIDString(data[skip:])
		if !ok {
			return nil, 0, fmt.Errorf("%w: no SID", errShort)
		}
		return s, skip + n, nil
	case inBinary:
		if length == 0 && f.Flags&propParamLength == 0 {
			length = len(data) // an unsized binary is the rest of the event
		}
		if err := need(length); err != nil {
			return nil, 0, err
		}
		return bytesOrAddr(f, data[:length]), length, nil
	case inHexDump:
		if err := need(4); err != nil {
			return nil, 0, err
		}
		n := binary.LittleEndian.Uint32(data)
		if n > uint32(len(data)-4) {
			return nil, 0, fmt.Errorf("%w: hex dump of %d bytes", errShort, n)
		}
		return bytesOrAddr(f, data[4:4+n]), 4 + int(n), nil
	}
	return nil, 0, errUnsupported
}

// bytesOrAddr copies a binary value (the event's buffer is reused), as
// an address where the out-type says it is one.
func bytesOrAddr(f *Field, b []byte) any {
	if f.OutType == outIPv4 || f.OutType == outIPv6 {
		if a, ok := netip.AddrFromSlice(b); ok {
			return a
		}
	}
	return append([]byte(nil), b...)
}

// utf16String decodes little-endian UTF-16, ending at a NUL if one comes
// first; unpaired surrogates become U+FFFD.
func utf16String(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}

// ansiString decodes a string in the system's ANSI code page as Latin-1
// (exact for ASCII, which image names and paths in these events are in
// practice), ending at a NUL.
func ansiString(b []byte) string {
	r := make([]rune, 0, len(b))
	for _, c := range b {
		if c == 0 {
			break
		}
		r = append(r, rune(c))
	}
	return string(r)
}

// FixupFields corrects the out-types of Kernel-Network's address and
// port fields should a system's TDH not report them: the template
// declares daddr and saddr win:IPv4 (a UInt32) or win:IPv6 (16 bytes) and
// dport and sport win:Port, and the payload holds them in network order
// whatever TDH says; reading a port as little-endian turns 443 into 47873.
func FixupFields(provider string, fields []Field) {
	if provider != KernelNetwork {
		return
	}
	for i := range fields {
		f := &fields[i]
		switch f.Name {
		case "daddr", "saddr":
			switch {
			case f.InType == inUint32:
				f.OutType = outIPv4
			case f.InType == inBinary && f.Length == 16 && f.Flags&propParamLength == 0:
				f.OutType = outIPv6
			}
		case "dport", "sport":
			if f.InType == inUint16 {
				f.OutType = outPort
			}
		}
	}
}
