package netparse

import (
	"bytes"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/gopacket/layers"
)

type dnsCase struct {
	name      string
	in        []byte
	err       bool // any error (ErrNotThis or gopacket's)
	notThis   bool // the error must wrap ErrNotThis
	id        uint16
	response  bool
	rcode     layers.DNSResponseCode
	questions []DNSQuestion
	answers   []DNSAnswer
}

func dnsCases(t testing.TB) []dnsCase {
	a := func(s string) netip.Addr { return netip.MustParseAddr(s) }
	q := func(name, typ string) []DNSQuestion { return []DNSQuestion{{Name: name, Type: typ}} }
	cut := dnsAnswer(t, 9, "cut.example.test", layers.DNSTypeA, aRecord("cut.example.test", "192.0.2.9", 5))
	return []dnsCase{
		{name: "query A", in: dnsQuery(t, 0xbeef, "api.example.test", layers.DNSTypeA),
			id: 0xbeef, questions: q("api.example.test", "A")},
		{name: "query AAAA", in: dnsQuery(t, 1, "api.example.test", layers.DNSTypeAAAA),
			id: 1, questions: q("api.example.test", "AAAA")},
		{name: "hand-written query", in: handQuery, id: 0x1234, questions: q("example.com", "A")},
		{name: "answer A", in: dnsAnswer(t, 7, "api.example.test", layers.DNSTypeA, aRecord("api.example.test", "192.0.2.10", 300)),
			id: 7, response: true, questions: q("api.example.test", "A"),
			answers: []DNSAnswer{{Name: "api.example.test", Type: "A", TTL: 300, Data: "192.0.2.10", IP: a("192.0.2.10")}}},
		{name: "answer AAAA", in: dnsAnswer(t, 8, "v6.example.test", layers.DNSTypeAAAA,
			aaaaRecord("v6.example.test", "2001:db8::10", 60), aaaaRecord("v6.example.test", "2001:db8::11", 60)),
			id: 8, response: true, questions: q("v6.example.test", "AAAA"),
			answers: []DNSAnswer{
				{Name: "v6.example.test", Type: "AAAA", TTL: 60, Data: "2001:db8::10", IP: a("2001:db8::10")},
				{Name: "v6.example.test", Type: "AAAA", TTL: 60, Data: "2001:db8::11", IP: a("2001:db8::11")},
			}},
		{name: "answer CNAME chain", in: dnsAnswer(t, 0xffff, "www.example.test", layers.DNSTypeA,
			cnameRecord("www.example.test", "edge.cdn.test", 30),
			cnameRecord("edge.cdn.test", "edge-7.pop.cdn.test", 20),
			aRecord("edge-7.pop.cdn.test", "198.51.100.7", 10)),
			id: 0xffff, response: true, questions: q("www.example.test", "A"),
			answers: []DNSAnswer{
				{Name: "www.example.test", Type: "CNAME", TTL: 30, Data: "edge.cdn.test"},
				{Name: "edge.cdn.test", Type: "CNAME", TTL: 20, Data: "edge-7.pop.cdn.test"},
				{Name: "edge-7.pop.cdn.test", Type: "A", TTL: 10, Data: "198.51.100.7", IP: a("198.51.100.7")},
			}},
		{name: "hand-written answer with compressed names", in: handAnswer, id: 0x1234, response: true,
			questions: q("example.com", "A"),
			answers: []DNSAnswer{
				{Name: "example.com", Type: "A", TTL: 3600, Data: "192.0.2.1", IP: a("192.0.2.1")},
				{Name: "example.com", Type: "A", TTL: 60, Data: "198.51.100.7", IP: a("198.51.100.7")},
			}},
		{name: "NXDOMAIN", in: dnsBytes(t, &layers.DNS{ID: 3, QR: true, RD: true, RA: true,
			ResponseCode: layers.DNSResponseCodeNXDomain,
			Questions:    []layers.DNSQuestion{question("nope.example.test", layers.DNSTypeA)},
			Authorities: []layers.DNSResourceRecord{{Name: []byte("example.test"), Type: layers.DNSTypeSOA,
				Class: layers.DNSClassIN, TTL: 900, SOA: layers.DNSSOA{MName: []byte("ns.example.test"),
					RName: []byte("hostmaster.example.test"), Serial: 1, Refresh: 2, Retry: 3, Expire: 4, Minimum: 5}}},
		}), id: 3, response: true, rcode: layers.DNSResponseCodeNXDomain, questions: q("nope.example.test", "A")},
		{name: "no question", in: dnsBytes(t, &layers.DNS{ID: 4, QR: true}), err: true, notThis: true},
		{name: "empty", in: nil, err: true, notThis: true},
		{name: "11 bytes", in: handQuery[:11], err: true, notThis: true},
		{name: "header only, question missing", in: handQuery[:12], err: true},
		{name: "cut inside the question", in: handQuery[:20], err: true},
		{name: "answer cut short", in: cut[:len(cut)-2], err: true},
		{name: "garbage", in: []byte("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"), err: true},
		{name: "HTTP request", in: []byte("GET / HTTP/1.1\r\nHost: example.test\r\n\r\n"), err: true},
		{name: "label pointing at itself", in: append(slices.Clone(handQuery[:12]), 0xc0, 0x0c, 0, 1, 0, 1), err: true},
	}
}

func TestParseDNS(t *testing.T) {
	rcodes := map[layers.DNSResponseCode]string{} // response code -> RCode seen
	for _, tc := range dnsCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ParseDNS(tc.in)
			if tc.err {
				if err == nil {
					t.Fatalf("ParseDNS = %+v, want an error", m)
				}
				if m != nil {
					t.Errorf("message %+v returned with error %v", m, err)
				}
				if tc.notThis && !errors.Is(err, ErrNotThis) {
					t.Errorf("error %v does not wrap ErrNotThis", err)
				}
				if !strings.HasPrefix(err.Error(), "dns: ") {
					t.Errorf("error %q lacks the dns: prefix", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseDNS: %v", err)
			}
			if m.ID != tc.id || m.Response != tc.response {
				t.Errorf("id %#x response %v, want %#x %v", m.ID, m.Response, tc.id, tc.response)
			}
			switch {
			case !tc.response && m.RCode != "":
				t.Errorf("query has RCode %q", m.RCode)
			case tc.response && m.RCode == "":
				t.Error("response without RCode")
			case tc.response:
				if seen, ok := rcodes[tc.rcode]; ok && seen != m.RCode {
					t.Errorf("RCode %q, another response with the same code had %q", m.RCode, seen)
				}
				rcodes[tc.rcode] = m.RCode
			}
			if !slices.Equal(m.Questions, tc.questions) {
				t.Errorf("questions %+v, want %+v", m.Questions, tc.questions)
			}
			if !slices.Equal(m.Answers, tc.answers) {
				t.Errorf("answers %+v\nwant %+v", m.Answers, tc.answers)
			}
		})
	}
	// Different codes read differently (their spelling: TestParseDNSResponseCodeNames).
	if ok, nx := rcodes[layers.DNSResponseCodeNoErr], rcodes[layers.DNSResponseCodeNXDomain]; ok == nx {
		t.Errorf("NOERROR and NXDOMAIN both read as %q", ok)
	}
}

// TestParseDNSResponseCodeNames checks RCode uses the names the field
// documents ("NOERROR", "NXDOMAIN"), which are also the names ECS gives
// as dns.response_code values.
func TestParseDNSResponseCodeNames(t *testing.T) {
	for _, tc := range []struct {
		code layers.DNSResponseCode
		want string
	}{
		{layers.DNSResponseCodeNoErr, "NOERROR"},
		{layers.DNSResponseCodeFormErr, "FORMERR"},
		{layers.DNSResponseCodeServFail, "SERVFAIL"},
		{layers.DNSResponseCodeNXDomain, "NXDOMAIN"},
		{layers.DNSResponseCodeNotImp, "NOTIMP"},
		{layers.DNSResponseCodeRefused, "REFUSED"},
	} {
		m, err := ParseDNS(dnsBytes(t, &layers.DNS{ID: 1, QR: true, ResponseCode: tc.code,
			Questions: []layers.DNSQuestion{question("a.test", layers.DNSTypeA)}}))
		if err != nil {
			t.Fatal(err)
		}
		if m.RCode != tc.want {
			t.Errorf("rcode %d: RCode %q, want %q", tc.code, m.RCode, tc.want)
		}
	}
}

// TestParseDNSCut cuts DNS messages at every length, as the sensor's
// 512-byte head cuts large answers: each prefix must give an error, not
// a panic.
func TestParseDNSCut(t *testing.T) {
	big := slices.Clone(handAnswer[:29])
	big[7] = 40 // ancount
	for i := range 40 {
		big = append(big, 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, byte(i))
	}
	if m, err := ParseDNS(big); err != nil || len(m.Answers) != 40 {
		t.Fatalf("whole answer: %v", err)
	}
	for _, msg := range [][]byte{big, handQuery, handAnswer} {
		for n := 12; n < len(msg); n++ {
			// Cut with capacity n (a panic past it) and with the rest of
			// msg beyond the length (read silently if not checked).
			for _, b := range [][]byte{msg[:n:n], msg[:n]} {
				m, panicked, err := parseDNS(b)
				if panicked != "" {
					t.Errorf("%d of %d bytes, cap %d: panic: %s", n, len(msg), cap(b), strings.SplitN(panicked, "\n", 2)[0])
				} else if err == nil {
					t.Errorf("%d of %d bytes, cap %d: %+v, want an error", n, len(msg), cap(b), m)
				}
			}
		}
	}
}

// TestParseDNSAddressLength: an A record's data is 4 bytes and an AAAA
// record's 16; other lengths are malformed and give no address.
func TestParseDNSAddressLength(t *testing.T) {
	a16 := slices.Clone(handAnswer[:29])
	a16[7] = 2
	a16 = append(a16, 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 16)
	a16 = append(a16, netip.MustParseAddr("2001:db8::1").AsSlice()...)
	a16 = append(a16, 0xc0, 0x0c, 0, 28, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1)
	m, err := ParseDNS(a16)
	if err != nil {
		return // rejecting the message is fine too
	}
	for _, a := range m.Answers {
		if a.IP.IsValid() && (a.Type == "A") != a.IP.Is4() {
			t.Errorf("answer %+v: address of the wrong family", a)
		}
	}
}

// TestParseHTTPRequestHostControlBytes: a Host value is a host name and
// port; one holding control bytes (a bare LF, which many servers take
// as a line end) is not read as this request's host.
func TestParseHTTPRequestHostControlBytes(t *testing.T) {
	for _, in := range []string{
		"GET / HTTP/1.1\r\nHost: a.test\nX: evil.test\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a.\x00test\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a.test\x1b[2J\r\n\r\n",
	} {
		r, err := ParseHTTPRequest([]byte(in))
		if err == nil && strings.ContainsFunc(r.Host, func(c rune) bool { return c < ' ' || c == 0x7f }) {
			t.Errorf("%q: Host %q", in, r.Host)
		}
	}
}

type httpCase struct {
	name                          string
	in                            string
	err                           error // ErrNotThis or ErrTruncated; nil for success
	method, target, version, host string
}

var httpCases = []httpCase{
	{name: "GET with Host", in: "GET /index.html HTTP/1.1\r\nHost: www.example.test\r\nAccept: */*\r\n\r\n",
		method: "GET", target: "/index.html", version: "1.1", host: "www.example.test"},
	{name: "POST with query and port", in: "POST /v1/items?x=1&y=2 HTTP/1.1\r\nHost: api.example.test:8080\r\nContent-Length: 2\r\n\r\n{}",
		method: "POST", target: "/v1/items?x=1&y=2", version: "1.1", host: "api.example.test:8080"},
	{name: "absolute-form target (proxy)", in: "GET http://origin.example.test:81/a/b?c=d HTTP/1.1\r\nHost: origin.example.test:81\r\nProxy-Connection: keep-alive\r\n\r\n",
		method: "GET", target: "http://origin.example.test:81/a/b?c=d", version: "1.1", host: "origin.example.test:81"},
	{name: "HTTP/1.0 without Host", in: "GET / HTTP/1.0\r\n\r\n", method: "GET", target: "/", version: "1.0"},
	{name: "HTTP/1.0 with Host", in: "HEAD /x HTTP/1.0\r\nHost: old.example.test\r\n\r\n",
		method: "HEAD", target: "/x", version: "1.0", host: "old.example.test"},
	{name: "lower-case host header", in: "GET / HTTP/1.1\r\nhost: lower.example.test\r\n\r\n",
		method: "GET", target: "/", version: "1.1", host: "lower.example.test"},
	{name: "Host after other headers", in: "PUT /up HTTP/1.1\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\nX-Host-Ish: decoy.test\r\nHOST:   late.example.test  \r\n\r\n",
		method: "PUT", target: "/up", version: "1.1", host: "late.example.test"},
	{name: "no headers yet", in: "DELETE /r/1 HTTP/1.1\r\n", method: "DELETE", target: "/r/1", version: "1.1"},
	{name: "cut inside headers", in: "GET /p HTTP/1.1\r\nUser-Agent: x\r\nAcc",
		method: "GET", target: "/p", version: "1.1"},
	{name: "cut inside the Host header", in: "GET /p HTTP/1.1\r\nHost: www.exam",
		method: "GET", target: "/p", version: "1.1"},
	{name: "Host after the end of headers is body", in: "POST / HTTP/1.1\r\nA: b\r\n\r\nHost: body.test\r\n",
		method: "POST", target: "/", version: "1.1"},
	{name: "cut before the first CRLF", in: "GET /very/long/path?q=", err: ErrTruncated},
	{name: "cut after the version", in: "GET / HTTP/1.1", err: ErrTruncated},
	{name: "cut between CR and LF", in: "GET / HTTP/1.1\r", err: ErrTruncated},
	{name: "a method only", in: "OPTIONS", err: ErrTruncated},
	{name: "three bytes", in: "GET", err: ErrNotThis},
	{name: "empty", in: "", err: ErrNotThis},
	{name: "non-HTTP text", in: "hello world\r\n", err: ErrNotThis},
	{name: "SSH banner", in: "SSH-2.0-OpenSSH_9.6\r\n", err: ErrNotThis},
	{name: "binary", in: "\x00\x01\x02\x03\x04\x05\r\n", err: ErrNotThis},
	{name: "TLS bytes", in: "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n", err: ErrNotThis},
	{name: "TLS bytes without CRLF", in: "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", err: ErrNotThis},
	{name: "double space", in: "GET  / HTTP/1.1\r\nHost: a.test\r\n\r\n", err: ErrNotThis},
	{name: "lower-case method", in: "get / HTTP/1.1\r\n\r\n", err: ErrNotThis},
	{name: "HTTP/2 preface", in: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", err: ErrNotThis},
	{name: "HTTP/1.2", in: "GET / HTTP/1.2\r\n\r\n", err: ErrNotThis},
	{name: "response, not request", in: "HTTP/1.1 200 OK\r\n\r\n", err: ErrNotThis},
	{name: "empty target", in: "GET  HTTP/1.1\r\n\r\n", err: ErrNotThis},
	{name: "tab in target", in: "GET /a\tb HTTP/1.1\r\n\r\n", err: ErrNotThis},
	{name: "NUL in target", in: "GET /a\x00b HTTP/1.1\r\n\r\n", err: ErrNotThis},
	{name: "DEL in target", in: "GET /a\x7fb HTTP/1.1\r\n\r\n", err: ErrNotThis},
	{name: "ESC in target", in: "GET /\x1b[2J HTTP/1.1\r\n\r\n", err: ErrNotThis},
	{name: "method longer than 16", in: "ABCDEFGHIJKLMNOPQ / HTTP/1.1\r\n\r\n", err: ErrNotThis},
}

func TestParseHTTPRequest(t *testing.T) {
	for _, tc := range httpCases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseHTTPRequest([]byte(tc.in))
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("ParseHTTPRequest = %+v, %v; want an error wrapping %v", r, err, tc.err)
				}
				if r != nil {
					t.Errorf("request %+v returned with error %v", r, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseHTTPRequest: %v", err)
			}
			want := HTTPRequest{Method: tc.method, Target: tc.target, Version: tc.version, Host: tc.host}
			if *r != want {
				t.Errorf("got %+v, want %+v", *r, want)
			}
		})
	}
}

// TestParseHTTPRequestPrefixes cuts a request at every length: each
// prefix either fails as truncated or not-this, or says what the whole
// request says (Host possibly still unknown) — never something else.
func TestParseHTTPRequestPrefixes(t *testing.T) {
	full := []byte("GET /v1/x?y=z HTTP/1.1\r\nUser-Agent: t\r\nHost: h.example.test\r\nAccept: */*\r\n\r\n")
	whole, err := ParseHTTPRequest(full)
	if err != nil {
		t.Fatal(err)
	}
	firstLine := bytes.Index(full, []byte("\r\n")) + 2
	for n := range len(full) {
		r, err := ParseHTTPRequest(full[:n])
		switch {
		case n < 4 && !errors.Is(err, ErrNotThis):
			t.Errorf("%d bytes: %+v, %v; want ErrNotThis", n, r, err)
		case n >= 4 && n < firstLine && !errors.Is(err, ErrTruncated):
			t.Errorf("%d bytes: %+v, %v; want ErrTruncated", n, r, err)
		case n >= firstLine && err != nil:
			t.Errorf("%d bytes: %v", n, err)
		case r != nil && (r.Method != whole.Method || r.Target != whole.Target || r.Version != whole.Version ||
			r.Host != "" && r.Host != whole.Host):
			t.Errorf("%d bytes: %+v, whole request %+v", n, r, whole)
		}
	}
}

type tlsCase struct {
	name string
	in   []byte
	err  error // nil, ErrNotThis or ErrTruncated
	sni  string
}

func tlsCases(t testing.TB) []tlsCase {
	hello := helloWithSNI(t)
	bare := helloWithoutSNI(t)
	l := layout(t, hello)
	if l.sniNameOff == 0 {
		t.Fatal("crypto/tls hello has no server_name extension")
	}
	mod := func(b []byte, f func([]byte)) []byte {
		b = slices.Clone(b)
		f(b)
		return b
	}
	cases := []tlsCase{
		{name: "full hello", in: hello, sni: testSNI},
		{name: "hello without SNI", in: bare},
		// Cuts that keep server_name whole: TestParseClientHelloCut.
		{name: "cut inside server_name", in: hello[:l.sniExtEnd-3], err: ErrTruncated},
		{name: "cut inside the extension length", in: hello[:l.extsStart+1], err: ErrTruncated},
		{name: "cut inside the random", in: hello[:20], err: ErrTruncated},
		{name: "cut inside the cipher suites", in: hello[:l.extsStart-4], err: ErrTruncated},
		{name: "record header only", in: hello[:5], err: ErrNotThis},
		{name: "handshake header cut", in: hello[:7], err: ErrTruncated},
		{name: "hello without SNI cut to 256 bytes", in: bare[:256], err: ErrTruncated},
		{name: "application data record", in: mod(hello, func(b []byte) { b[0] = 23 }), err: ErrNotThis},
		{name: "alert record", in: []byte{21, 3, 3, 0, 2, 2, 40}, err: ErrNotThis},
		{name: "SSLv2-style record version", in: mod(hello, func(b []byte) { b[1] = 2 }), err: ErrNotThis},
		{name: "ServerHello", in: mod(hello, func(b []byte) { b[5] = 2 }), err: ErrNotThis},
		{name: "slash in host name", in: mod(hello, func(b []byte) { b[l.sniNameOff+3] = '/' }), err: ErrNotThis},
		{name: "NUL in host name", in: mod(hello, func(b []byte) { b[l.sniNameOff] = 0 }), err: ErrNotThis},
		{name: "UTF-8 in host name", in: mod(hello, func(b []byte) { b[l.sniNameOff+1] = 0xc3 }), err: ErrNotThis},
		{name: "server_name list length past the extension", in: mod(hello, func(b []byte) { b[l.sniNameOff-5] = 0xff }),
			err: ErrNotThis},
		{name: "empty", err: ErrNotThis},
		{name: "HTTP", in: []byte("GET / HTTP/1.1\r\n\r\n"), err: ErrNotThis},
	}
	// Hand-made hellos: no extensions at all; and a server_name list
	// whose first entry is of an unknown type, then a host name.
	cases = append(cases, tlsCase{name: "no extensions", in: handHello(nil)})
	cases = append(cases, tlsCase{name: "unknown name type first", sni: "a.te", in: handHello([]byte{
		0, 0, 0, 13, 0, 11, // server_name, extension length, list length
		7, 0, 1, 'x', // name type 7
		0, 0, 4, 'a', '.', 't', 'e', // host_name
	})})
	cases = append(cases, tlsCase{name: "other extensions, none server_name", in: handHello([]byte{
		0, 10, 0, 4, 0, 2, 0, 0x1d, // supported_groups: x25519
		0, 23, 0, 0, // extended_master_secret
	})})
	cases = append(cases, tlsCase{name: "empty server_name list", err: ErrNotThis, in: handHello([]byte{0, 0, 0, 2, 0, 0})})
	cases = append(cases, tlsCase{name: "extension length past the end", err: ErrTruncated,
		in: handHello([]byte{0, 0, 0, 40, 0, 2})})
	return cases
}

// handHello is a ClientHello record with no session id, one cipher suite
// and the given extensions (nil: no extensions block).
func handHello(exts []byte) []byte {
	body := []byte{3, 3}
	body = append(body, make([]byte, 32)...)
	body = append(body, 0, 0, 2, 0x13, 0x01, 1, 0)
	if exts != nil {
		body = append(body, byte(len(exts)>>8), byte(len(exts)))
		body = append(body, exts...)
	}
	hs := append([]byte{1, 0, byte(len(body) >> 8), byte(len(body))}, body...)
	return append([]byte{22, 3, 1, byte(len(hs) >> 8), byte(len(hs))}, hs...)
}

func TestParseClientHello(t *testing.T) {
	for _, tc := range tlsCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			h, err := ParseClientHello(tc.in)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("ParseClientHello = %+v, %v; want an error wrapping %v", h, err, tc.err)
				}
				if h != nil {
					t.Errorf("hello %+v returned with error %v", h, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseClientHello: %v", err)
			}
			if h.ServerName != tc.sni {
				t.Errorf("ServerName %q, want %q", h.ServerName, tc.sni)
			}
			if h.Version != 0x0303 {
				t.Errorf("Version %#04x, want 0x0303", h.Version)
			}
		})
	}
}

// TestParseClientHelloPrefixes cuts a real hello at every length: the
// parser may report the cut, but never a wrong name.
func TestParseClientHelloPrefixes(t *testing.T) {
	hello := helloWithSNI(t)
	l := layout(t, hello)
	for n := range len(hello) {
		h, err := ParseClientHello(hello[:n])
		switch {
		case n == l.extsStart:
			continue // TestParseClientHelloCutAtExtensions
		case err == nil && h.ServerName != testSNI:
			t.Errorf("%d of %d bytes: ServerName %q, want %q or ErrTruncated", n, len(hello), h.ServerName, testSNI)
		case err != nil && n > 5 && !errors.Is(err, ErrTruncated):
			t.Errorf("%d bytes: %v, want ErrTruncated", n, err)
		}
	}
}

// TestParseClientHelloCut reads hellos cut after their server_name
// extension, as the sensor's 256-byte payload head cuts every real
// ClientHello (crypto/tls writes 1.5 KB, server_name first among the
// extensions, ending at byte 133). The name must be found.
func TestParseClientHelloCut(t *testing.T) {
	hello := helloWithSNI(t)
	l := layout(t, hello)
	for _, n := range []int{256, 512, l.sniExtEnd, l.sniExtEnd + 1, len(hello) - 1} {
		h, err := ParseClientHello(hello[:n])
		if err != nil || h.ServerName != testSNI {
			t.Errorf("%d of %d bytes: %+v, %v; want ServerName %q", n, len(hello), h, err, testSNI)
		}
	}
	// Read 2 bytes off, this hello's empty first extension and the
	// padding after it look like a server_name extension naming
	// evil.test; its real server_name is good.test.
	crafted := handHello([]byte{
		0, 23, 0, 0, // extended_master_secret, empty
		0, 21, 0, 12, 0, 0, 9, 'e', 'v', 'i', 'l', '.', 't', 'e', 's', 't', // padding holding a decoy
		0, 0, 0, 14, 0, 12, 0, 0, 9, 'g', 'o', 'o', 'd', '.', 't', 'e', 's', 't', // server_name
		0, 10, 0, 4, 0, 2, 0, 0x1d, // supported_groups
	})
	if h, err := ParseClientHello(crafted); err != nil || h.ServerName != "good.test" {
		t.Fatalf("whole crafted hello: %+v, %v", h, err)
	}
	h, err := ParseClientHello(crafted[:len(crafted)-3])
	if err == nil && h.ServerName != "good.test" || err != nil && !errors.Is(err, ErrTruncated) {
		t.Errorf("crafted hello cut short: %+v, %v; want good.test or ErrTruncated", h, err)
	}
}

// TestParseClientHelloCutAtExtensions cuts a hello where its extensions
// would start.
func TestParseClientHelloCutAtExtensions(t *testing.T) {
	hello := helloWithSNI(t)
	h, err := ParseClientHello(hello[:layout(t, hello).extsStart])
	if !errors.Is(err, ErrTruncated) {
		t.Errorf("ParseClientHello = %+v, %v; want ErrTruncated", h, err)
	}
}
