package etw

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/netip"
	"strconv"
	"time"
)

// The replay format: Records as JSON lines, for fixtures and captures.
// One record per line:
//
//	{"provider":"edd08927-9cc4-4e65-b970-c2560fb5c289","id":16,"version":1,"opcode":0,
//	 "timestamp":"2026-03-02T10:15:01.2345678Z","pid":7420,"tid":7424,"sid":"S-1-5-21-...",
//	 "props":{"FileObject":{"u64":"0xffffa50c1e2f0a10"},"IOSize":{"u32":4096},...}}
//
// provider is the GUID (canonical form, braces allowed), id, version and
// opcode the event descriptor's, timestamp RFC 3339 with up to ns, pid,
// tid and sid the header's. Each property is an object with one member
// whose name is the value's type:
//
//	u8 u16 u32 u64 i8 i16 i32 i64   a JSON number, or a string in Go syntax ("0x1f", "42")
//	f32 f64                         a JSON number
//	bool                            true or false
//	str                             a string (GUIDs and SIDs are strings too)
//	time                            an RFC 3339 string (FILETIME, SYSTEMTIME)
//	ip                              an address string (win:IPv4, win:IPv6)
//	bin                             hex digits
//	arr                             an array of such objects
//
// Ports are u16 in host order, as Props holds them. Blank lines and
// lines starting with '#' are skipped.

// MarshalJSON writes r in the replay format.
func (r *Record) MarshalJSON() ([]byte, error) {
	props := make(map[string]json.RawMessage, len(r.Props))
	for name, v := range r.Props {
		b, err := marshalValue(v)
		if err != nil {
			return nil, fmt.Errorf("property %s: %w", name, err)
		}
		props[name] = b
	}
	ts := ""
	if !r.Timestamp.IsZero() {
		ts = r.Timestamp.UTC().Format(time.RFC3339Nano)
	}
	return json.Marshal(recordJSON{Provider: r.Provider, ID: r.EventID, Version: r.Version, Opcode: r.Opcode,
		Timestamp: ts, PID: r.ProcessID, TID: r.ThreadID, SID: r.SID, Props: props})
}

type recordJSON struct {
	Provider  string                     `json:"provider"`
	ID        uint16                     `json:"id"`
	Version   uint8                      `json:"version"`
	Opcode    uint8                      `json:"opcode"`
	Timestamp string                     `json:"timestamp"`
	PID       uint32                     `json:"pid"`
	TID       uint32                     `json:"tid"`
	SID       string                     `json:"sid,omitempty"`
	Props     map[string]json.RawMessage `json:"props"`
}

func marshalValue(v any) ([]byte, error) {
	tagged := func(tag string, x any) ([]byte, error) { return json.Marshal(map[string]any{tag: x}) }
	switch x := v.(type) {
	case uint8:
		return tagged("u8", x)
	case uint16:
		return tagged("u16", x)
	case uint32:
		return tagged("u32", x)
	case uint64:
		if x > 1<<53 { // beyond what every JSON reader holds exactly: a pointer, most likely
			return tagged("u64", "0x"+strconv.FormatUint(x, 16))
		}
		return tagged("u64", x)
	case int8:
		return tagged("i8", x)
	case int16:
		return tagged("i16", x)
	case int32:
		return tagged("i32", x)
	case int64:
		return tagged("i64", x)
	case float32:
		return tagged("f32", x)
	case float64:
		return tagged("f64", x)
	case bool:
		return tagged("bool", x)
	case string:
		return tagged("str", x)
	case time.Time:
		return tagged("time", x.UTC().Format(time.RFC3339Nano))
	case netip.Addr:
		return tagged("ip", x.String())
	case []byte:
		return tagged("bin", hex.EncodeToString(x))
	case []any:
		elems := make([]json.RawMessage, len(x))
		for i, e := range x {
			b, err := marshalValue(e)
			if err != nil {
				return nil, err
			}
			elems[i] = b
		}
		return tagged("arr", elems)
	}
	return nil, fmt.Errorf("no replay type for %T", v)
}

// UnmarshalJSON reads a record in the replay format.
func (r *Record) UnmarshalJSON(b []byte) error {
	var j recordJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return err
	}
	provider, err := ParseGUID(j.Provider)
	if err != nil {
		return err
	}
	var ts time.Time
	if j.Timestamp != "" {
		if ts, err = time.Parse(time.RFC3339Nano, j.Timestamp); err != nil {
			return fmt.Errorf("timestamp: %w", err)
		}
	}
	props := make(Props, len(j.Props))
	for name, raw := range j.Props {
		v, err := unmarshalValue(raw)
		if err != nil {
			return fmt.Errorf("property %s: %w", name, err)
		}
		props[name] = v
	}
	*r = Record{Provider: provider, EventID: j.ID, Version: j.Version, Opcode: j.Opcode, Timestamp: ts.UTC(),
		ProcessID: j.PID, ThreadID: j.TID, SID: j.SID, Props: props}
	return nil
}

func unmarshalValue(raw json.RawMessage) (any, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, err
	}
	if len(obj) != 1 {
		return nil, fmt.Errorf("want one member naming the type, have %d", len(obj))
	}
	var tag string
	for tag = range obj {
	}
	return typedValue(tag, obj[tag])
}

func typedValue(tag string, v json.RawMessage) (any, error) {
	switch tag {
	case "u8", "u16", "u32", "u64":
		bits := map[string]int{"u8": 8, "u16": 16, "u32": 32, "u64": 64}[tag]
		n, err := strconv.ParseUint(numberText(v), 0, bits)
		if err != nil {
			return nil, err
		}
		switch bits {
		case 8:
			return uint8(n), nil
		case 16:
			return uint16(n), nil
		case 32:
			return uint32(n), nil
		}
		return n, nil
	case "i8", "i16", "i32", "i64":
		bits := map[string]int{"i8": 8, "i16": 16, "i32": 32, "i64": 64}[tag]
		n, err := strconv.ParseInt(numberText(v), 0, bits)
		if err != nil {
			return nil, err
		}
		switch bits {
		case 8:
			return int8(n), nil
		case 16:
			return int16(n), nil
		case 32:
			return int32(n), nil
		}
		return n, nil
	case "f32", "f64":
		var f float64
		if err := json.Unmarshal(v, &f); err != nil {
			return nil, err
		}
		if tag == "f32" {
			if math.Abs(f) > math.MaxFloat32 {
				return nil, fmt.Errorf("%v overflows f32", f)
			}
			return float32(f), nil
		}
		return f, nil
	case "bool":
		var b bool
		err := json.Unmarshal(v, &b)
		return b, err
	case "arr":
		return arrayValue(v)
	case "str", "time", "ip", "bin":
	default:
		return nil, fmt.Errorf("unknown type %q", tag)
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", tag, err)
	}
	switch tag {
	case "time":
		t, err := time.Parse(time.RFC3339Nano, s)
		return t.UTC(), err
	case "ip":
		return netip.ParseAddr(s)
	case "bin":
		return hex.DecodeString(s)
	}
	return s, nil
}

func arrayValue(v json.RawMessage) (any, error) {
	var elems []json.RawMessage
	if err := json.Unmarshal(v, &elems); err != nil {
		return nil, err
	}
	out := make([]any, len(elems))
	for i, e := range elems {
		x, err := unmarshalValue(e)
		if err != nil {
			return nil, fmt.Errorf("[%d]: %w", i, err)
		}
		out[i] = x
	}
	return out, nil
}

// numberText is a number's text, from a JSON number or string.
func numberText(v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	return string(v)
}

// ReadRecords reads Records in the replay format from r and passes each
// to fn (which may keep it). It stops at the first line that does not
// parse, naming the line, or at fn's first error, returned as it is.
func ReadRecords(r io.Reader, fn func(*Record) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	line := 0
	for sc.Scan() {
		line++
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 || text[0] == '#' {
			continue
		}
		rec := new(Record)
		if err := rec.UnmarshalJSON(text); err != nil {
			return fmt.Errorf("replay line %d: %w", line, err)
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("replay line %d: %w", line+1, err)
	}
	return nil
}

// WriteRecord writes r to w as one line of the replay format.
func WriteRecord(w io.Writer, r *Record) error {
	b, err := r.MarshalJSON()
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
