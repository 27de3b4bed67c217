package etw

import (
	"errors"
	"net/netip"
	"testing"
	"time"
)

func TestSIDString(t *testing.T) {
	for _, tc := range []struct {
		b    []byte
		want string
		n    int
	}{
		{[]byte{1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0}, "S-1-5-18", 12},
		{[]byte{1, 1, 0, 0, 0, 0, 0, 16, 0x00, 0x20, 0, 0, 0xff}, "S-1-16-8192", 12},
		{[]byte{1, 5, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0, 0xc7, 0xc5, 0xff, 0xd7, 0x7c, 0x1b, 0x54, 0xc8, 0x94, 0x58, 0xce, 0x01, 0xf5, 0x03, 0, 0},
			"S-1-5-21-3623863751-3360955260-30300308-1013", 28},
		{[]byte{1, 0, 0, 0, 0, 0, 0, 0}, "S-1-0", 8},
		{[]byte{1, 1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0}, "S-1-0x010000000000-1", 12},
	} {
		s, n, ok := SIDString(tc.b)
		if !ok || s != tc.want || n != tc.n {
			t.Errorf("SIDString(% x) = %q, %d, %v; want %q, %d", tc.b, s, n, ok, tc.want, tc.n)
		}
	}
	for _, b := range [][]byte{nil, {1, 1, 0, 0, 0, 0, 0, 5}, {2, 0, 0, 0, 0, 0, 0, 5}, {1, 16, 0, 0, 0, 0, 0, 5}} {
		if s, _, ok := SIDString(b); ok {
			t.Errorf("SIDString(% x) = %q, want rejected", b, s)
		}
	}
}

func TestFiletime(t *testing.T) {
	if got := FiletimeToTime(116444736000000000); !got.Equal(time.Unix(0, 0)) {
		t.Errorf("the Unix epoch's FILETIME is %v", got)
	}
	if !FiletimeToTime(0).IsZero() || TimeToFiletime(time.Time{}) != 0 {
		t.Error("0 and the zero Time differ")
	}
	ts := time.Date(2026, 3, 2, 10, 15, 0, 99988800, time.UTC)
	if got := FiletimeToTime(TimeToFiletime(ts)); !got.Equal(ts) {
		t.Errorf("round trip: %v, want %v", got, ts)
	}
	if unixNS(FiletimeToTime(1)) != 0 || unixNS(FiletimeToTime(1<<64-1)) == 0 {
		t.Error("FILETIMEs outside the Unix era are not clamped")
	}
}

func TestParseGUID(t *testing.T) {
	for in, want := range map[string]string{
		"{22FB2CD6-0E7B-422B-A0C7-2FAD1FD0E716}": KernelProcess,
		"EDD08927-9CC4-4E65-B970-C2560FB5C289":   KernelFile,
		"7dd42a49-5329-4832-8dfd-43d979153a88":   KernelNetwork,
	} {
		if got, err := ParseGUID(in); err != nil || got != want {
			t.Errorf("ParseGUID(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "22fb2cd6", "22fb2cd6x0e7b-422b-a0c7-2fad1fd0e716", "22fb2cd6-0e7b-422b-a0c7-2fad1fd0e71g"} {
		if _, err := ParseGUID(in); err == nil {
			t.Errorf("ParseGUID(%q) accepted", in)
		}
	}
}

func TestProps(t *testing.T) {
	p := Props{"u8": uint8(1), "i64": int64(7), "neg": int32(-1), "s": "x", "ip": []byte{10, 0, 0, 1},
		"bad": []byte{1, 2, 3}, "zero": netip.Addr{}, "port": uint16(443), "t": t0}
	if n, err := p.Uint("u8"); n != 1 || err != nil {
		t.Errorf("Uint(u8) = %d, %v", n, err)
	}
	if n, err := p.Uint("i64"); n != 7 || err != nil {
		t.Errorf("Uint(i64) = %d, %v", n, err)
	}
	if a, err := p.Addr("ip"); a != netip.MustParseAddr("10.0.0.1") || err != nil {
		t.Errorf("Addr(ip) = %v, %v", a, err)
	}
	for _, tc := range []struct {
		err  error
		want error
	}{
		{second(p.Uint("neg")), ErrBadValue},
		{second(p.Uint("s")), ErrBadType},
		{second(p.Uint("none")), ErrMissing},
		{second(p.String("u8")), ErrBadType},
		{second(p.Addr("bad")), ErrBadValue},
		{second(p.Addr("zero")), ErrBadValue},
		{second(p.Addr("s")), ErrBadType},
		{second(p.Port("u8")), ErrBadType},
		{second(p.Time("s")), ErrBadType},
		{second(p.OptString("u8")), ErrBadType},
	} {
		var pe *PropError
		if !errors.As(tc.err, &pe) || !errors.Is(tc.err, tc.want) {
			t.Errorf("error %v, want a *PropError for %v", tc.err, tc.want)
		}
	}
	if s, err := p.OptString("none"); s != "" || err != nil {
		t.Errorf("OptString(missing) = %q, %v", s, err)
	}
}

func second[T any](_ T, err error) error { return err }
