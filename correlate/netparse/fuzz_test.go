package netparse

import (
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"testing"
)

// parseDNS calls ParseDNS, turning a panic into a message naming the
// package that panicked.
func parseDNS(b []byte) (m *DNSMessage, panicked string, err error) {
	defer func() {
		if r := recover(); r != nil {
			panicked = fmt.Sprintf("%v\n%s", r, debug.Stack())
		}
	}()
	m, err = ParseDNS(b)
	return m, "", err
}

func FuzzParseDNS(f *testing.F) {
	for _, tc := range dnsCases(f) {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		b = b[:len(b):len(b)] // nothing past the end to read by mistake
		m, panicked, err := parseDNS(b)
		if panicked != "" {
			t.Fatalf("ParseDNS(% x) panicked: %s", b, panicked)
		}
		if err != nil {
			if m != nil {
				t.Fatalf("message %+v returned with error %v", m, err)
			}
			if len(b) < 12 && !errors.Is(err, ErrNotThis) {
				t.Fatalf("%d bytes: %v does not wrap ErrNotThis", len(b), err)
			}
			return
		}
		if m == nil {
			t.Fatal("nil message, nil error")
		}
		if len(m.Questions) == 0 {
			t.Fatal("message without a question")
		}
		if m.Response != (b[2]&0x80 != 0) || m.ID != uint16(b[0])<<8|uint16(b[1]) {
			t.Fatalf("header %#x %v does not match the bytes % x", m.ID, m.Response, b[:4])
		}
		if m.Response == (m.RCode == "") {
			t.Fatalf("Response %v with RCode %q", m.Response, m.RCode)
		}
		for _, q := range m.Questions {
			if q.Type == "" {
				t.Fatalf("question %+v without a type", q)
			}
		}
		for _, a := range m.Answers {
			if a.IP.IsValid() && (a.Data != a.IP.String() || (a.Type != "A" && a.Type != "AAAA")) {
				t.Fatalf("answer %+v: address and data disagree", a)
			}
			// (An A answer may carry a 16-byte address: TestParseDNSAddressLength.)
		}
	})
}

func FuzzParseHTTPRequest(f *testing.F) {
	for _, tc := range httpCases {
		f.Add([]byte(tc.in), uint(len(tc.in)/2))
	}
	f.Fuzz(func(t *testing.T, b []byte, cut uint) {
		r, err := ParseHTTPRequest(b)
		if err != nil {
			if r != nil {
				t.Fatalf("request %+v returned with error %v", r, err)
			}
			if !errors.Is(err, ErrNotThis) && !errors.Is(err, ErrTruncated) {
				t.Fatalf("error %v wraps neither ErrNotThis nor ErrTruncated", err)
			}
			return
		}
		if r == nil {
			t.Fatal("nil request, nil error")
		}
		if r.Method == "" || len(r.Method) > 16 || strings.TrimFunc(r.Method, func(c rune) bool { return c >= 'A' && c <= 'Z' }) != "" {
			t.Fatalf("method %q is not an upper-case token", r.Method)
		}
		if r.Version != "1.0" && r.Version != "1.1" {
			t.Fatalf("version %q", r.Version)
		}
		if r.Target == "" || strings.ContainsFunc(r.Target, func(c rune) bool { return c <= ' ' || c == 0x7f }) {
			t.Fatalf("target %q is empty or holds a space or control byte", r.Target)
		}
		// (Host may hold control bytes: TestParseHTTPRequestHostControlBytes.)
		if strings.Contains(r.Host, "\r\n") || strings.TrimSpace(r.Host) != r.Host {
			t.Fatalf("host %q", r.Host)
		}
		// A prefix says the same, or less (no Host yet), or fails.
		p, err := ParseHTTPRequest(b[:cut%uint(len(b)+1)])
		if err == nil && (p.Method != r.Method || p.Target != r.Target || p.Version != r.Version ||
			p.Host != "" && p.Host != r.Host) {
			t.Fatalf("prefix parses as %+v, the whole as %+v", p, r)
		}
	})
}

func FuzzParseClientHello(f *testing.F) {
	for _, tc := range tlsCases(f) {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseClientHello(b)
		if err != nil {
			if h != nil {
				t.Fatalf("hello %+v returned with error %v", h, err)
			}
			if !errors.Is(err, ErrNotThis) && !errors.Is(err, ErrTruncated) {
				t.Fatalf("error %v wraps neither ErrNotThis nor ErrTruncated", err)
			}
			return
		}
		if h == nil {
			t.Fatal("nil hello, nil error")
		}
		if len(b) < 11 || b[0] != 22 || b[5] != 1 {
			t.Fatalf("% x accepted as a ClientHello", b)
		}
		if n := h.ServerName; n != "" && (len(n) > 253 || strings.ContainsFunc(n, func(c rune) bool {
			return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_')
		})) {
			t.Fatalf("ServerName %q is not a host name", n)
		}
	})
}
