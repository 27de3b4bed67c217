package correlate

import (
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/vigilsec/vigil/internal/redact"
	"github.com/vigilsec/vigil/sensor"
)

const testSocket = 0xffff8881_0000_4400 // a socket's file, as the Cookie

func netEv(tk sensor.Task, at uint64, n sensor.Net) *sensor.Event {
	return &sensor.Event{Kind: sensor.KindNet, KTime: at, Task: tk, Net: n}
}

func inet(ip string, port uint16) sensor.Endpoint {
	a := netip.MustParseAddr(ip)
	fam := uint16(sensor.FamilyInet)
	if a.Is6() {
		fam = sensor.FamilyInet6
	}
	return sensor.Endpoint{Family: fam, IP: a, Port: port}
}

// dnsWire serializes a DNS message with gopacket.
func dnsWire(t testing.TB, d *layers.DNS) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, d); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func dnsQ(name string) []layers.DNSQuestion {
	return []layers.DNSQuestion{{Name: []byte(name), Type: layers.DNSTypeA, Class: layers.DNSClassIN}}
}

// dnsA is an answer to an A query for name with these records.
func dnsA(t testing.TB, name string, rrs ...layers.DNSResourceRecord) []byte {
	return dnsWire(t, &layers.DNS{ID: 0x4d2, QR: true, RD: true, RA: true, Questions: dnsQ(name), Answers: rrs})
}

func rrA(name, ip string) layers.DNSResourceRecord {
	return layers.DNSResourceRecord{Name: []byte(name), Type: layers.DNSTypeA, Class: layers.DNSClassIN, TTL: 300,
		IP: net.ParseIP(ip).To4()}
}

// dnsAnswerEv is a datagram from the resolver at 127.0.0.53.
func dnsAnswerEv(tk sensor.Task, at uint64, payload []byte) *sensor.Event {
	return netEv(tk, at, sensor.Net{Op: sensor.NetDNSAnswer, Dst: inet("127.0.0.53", 53), Src: inet("127.0.0.1", 40001),
		Cookie: testSocket + 1, Bytes: uint64(len(payload)), SockType: syscall.SOCK_DGRAM, Protocol: syscall.IPPROTO_UDP,
		Payload: payload})
}

func sendStart(tk sensor.Task, at uint64, dst sensor.Endpoint, cookie uint64, payload string) *sensor.Event {
	return netEv(tk, at, sensor.Net{Op: sensor.NetSendStart, Dst: dst, Src: inet("10.0.0.5", 51514), Cookie: cookie,
		Bytes: uint64(len(payload)), SockType: syscall.SOCK_STREAM, Protocol: syscall.IPPROTO_TCP, Payload: []byte(payload)})
}

func sendEnd(tk sensor.Task, at uint64, dst sensor.Endpoint, cookie uint64, first uint64) *sensor.Event {
	return netEv(tk, at, sensor.Net{Op: sensor.NetSendEnd, Dst: dst, Src: inet("10.0.0.5", 51514), Cookie: cookie,
		Bytes: 4096, Packets: 3, First: first, SockType: syscall.SOCK_STREAM, Protocol: syscall.IPPROTO_TCP})
}

// curl is a process the network tests run in.
func curl(t *testing.T, tab *Table) (sensor.Task, *Process) {
	t.Helper()
	tk := task(300, 1, sec(1), "curl")
	tab.Handle(execEv(tk, sec(1.5), "/usr/bin/curl", "/home/u", "curl", "https://api.example.test/"))
	p := tab.ByPID(300)
	if p == nil {
		t.Fatal("curl not in the table")
	}
	return tk, p
}

func TestNetDNSAnswerNamesConnect(t *testing.T) {
	tab, _ := newTestTable(t, nil)
	tk, p := curl(t, tab)

	ev := dnsAnswerEv(tk, sec(2), dnsA(t, "api.example.test", rrA("api.example.test", "192.0.2.10")))
	rec := tab.Handle(ev)
	if rec == nil || rec.Net == nil {
		t.Fatalf("DNS answer: record %+v", rec)
	}
	if rec.Event != ev || rec.Process != p || rec.Net.Protocol != "dns" || rec.Net.HTTP != nil || rec.Net.TLS != nil {
		t.Errorf("DNS answer record %+v, net %+v", rec, rec.Net)
	}
	m := rec.Net.DNS
	if m == nil || !m.Response || m.ID != 0x4d2 || len(m.Questions) != 1 || m.Questions[0].Name != "api.example.test" ||
		len(m.Answers) != 1 || m.Answers[0].IP != netip.MustParseAddr("192.0.2.10") {
		t.Fatalf("DNS message %+v", m)
	}
	if got := tab.dns.get(netip.MustParseAddr("192.0.2.10")); got != "api.example.test" {
		t.Errorf("cache: 192.0.2.10 is %q", got)
	}

	rec = tab.Handle(netEv(tk, sec(3), sensor.Net{Op: sensor.NetConnect, Dst: inet("192.0.2.10", 443),
		Src: inet("10.0.0.5", 51514), Cookie: testSocket, SockType: syscall.SOCK_STREAM, Protocol: syscall.IPPROTO_TCP}))
	if rec == nil || rec.Net == nil || rec.Net.Domain != "api.example.test" || rec.Net.Protocol != "" || rec.Net.DNS != nil {
		t.Fatalf("connect to 192.0.2.10: %+v", rec)
	}
	if rec.Process != p || rec.File != nil {
		t.Errorf("connect record process %p file %v", rec.Process, rec.File)
	}
	rec = tab.Handle(netEv(tk, sec(3), sensor.Net{Op: sensor.NetConnect, Dst: inet("192.0.2.11", 443)}))
	if rec == nil || rec.Net.Domain != "" {
		t.Errorf("connect to an address no answer named: %+v", rec.Net)
	}
	// A record of another kind carries no network part.
	if rec := tab.Handle(exitEv(tk, sec(4), 0)); rec.Net != nil {
		t.Errorf("exit record with Net %+v", rec.Net)
	}
}

func TestNetDNSAnswerCNAMEChain(t *testing.T) {
	tab, _ := newTestTable(t, nil)
	tk, _ := curl(t, tab)
	cname := func(name, target string) layers.DNSResourceRecord {
		return layers.DNSResourceRecord{Name: []byte(name), Type: layers.DNSTypeCNAME, Class: layers.DNSClassIN, TTL: 60,
			CNAME: []byte(target)}
	}
	rec := tab.Handle(dnsAnswerEv(tk, sec(2), dnsA(t, "www.example.test",
		cname("www.example.test", "edge.cdn.test"), rrA("edge.cdn.test", "198.51.100.7"), rrA("edge.cdn.test", "198.51.100.8"))))
	if rec == nil || len(rec.Net.DNS.Answers) != 3 {
		t.Fatalf("CNAME answer: %+v", rec)
	}
	// Addresses are named after the name the process asked for.
	for _, ip := range []string{"198.51.100.7", "198.51.100.8"} {
		if got := tab.dns.get(netip.MustParseAddr(ip)); got != "www.example.test" {
			t.Errorf("cache: %s is %q, want www.example.test", ip, got)
		}
	}
	// A later answer renames an address.
	tab.Handle(dnsAnswerEv(tk, sec(3), dnsA(t, "other.example.test", rrA("other.example.test", "198.51.100.7"))))
	if got := tab.dns.get(netip.MustParseAddr("198.51.100.7")); got != "other.example.test" {
		t.Errorf("cache after a second answer: %q", got)
	}

	// NXDOMAIN: a record, and nothing cached.
	before := len(tab.dns.names)
	rec = tab.Handle(dnsAnswerEv(tk, sec(4), dnsWire(t, &layers.DNS{ID: 9, QR: true,
		ResponseCode: layers.DNSResponseCodeNXDomain, Questions: dnsQ("nope.example.test")})))
	if rec == nil || rec.Net.Protocol != "dns" || rec.Net.DNS.RCode == "" || len(rec.Net.DNS.Answers) != 0 {
		t.Errorf("NXDOMAIN: %+v", rec)
	}
	if len(tab.dns.names) != before {
		t.Errorf("NXDOMAIN changed the cache: %d names, was %d", len(tab.dns.names), before)
	}
}

func TestNetUnparsedDNS(t *testing.T) {
	tab, _ := newTestTable(t, nil)
	tk, _ := curl(t, tab)
	query := dnsWire(t, &layers.DNS{ID: 1, RD: true, Questions: dnsQ("a.example.test")})
	for i, payload := range [][]byte{
		[]byte("not a DNS datagram at all"),
		nil,
		query, // a query is not an answer
		{0x12, 0x34, 0x81, 0x80, 0, 0, 0, 0, 0, 0, 0, 0}, // no question
	} {
		if rec := tab.Handle(dnsAnswerEv(tk, sec(2), payload)); rec != nil {
			t.Errorf("payload %d: record %+v", i, rec)
		}
		if got := tab.Stats().UnparsedDNS; got != uint64(i+1) {
			t.Errorf("payload %d: UnparsedDNS = %d, want %d", i, got, i+1)
		}
	}
	if len(tab.dns.names) != 0 {
		t.Errorf("cache holds %v", tab.dns.names)
	}
}

func TestNetHTTPSendRedacted(t *testing.T) {
	tab, _ := newTestTable(t, func(c *Config) { c.Redactor = redact.Default() })
	tk, p := curl(t, tab)
	dst := inet("192.0.2.10", 8080)
	rec := tab.Handle(sendStart(tk, sec(2), dst, testSocket,
		"GET /v1?token=abc&x=1 HTTP/1.1\r\nUser-Agent: curl/8.5.0\r\nHost: api.example.test:8080\r\n\r\n"))
	if rec == nil || rec.Net == nil {
		t.Fatalf("HTTP send start: record %+v", rec)
	}
	h := rec.Net.HTTP
	if rec.Net.Protocol != "http" || h == nil || rec.Net.DNS != nil || rec.Net.TLS != nil {
		t.Fatalf("HTTP send start: net %+v", rec.Net)
	}
	if h.Method != "GET" || h.Target != "/v1?token=[REDACTED]&x=1" || h.Version != "1.1" || h.Host != "api.example.test:8080" {
		t.Errorf("request %+v", *h)
	}
	if !rec.Net.Start.IsZero() {
		t.Errorf("send start with Start %v", rec.Net.Start)
	}

	first := sec(2)
	rec = tab.Handle(sendEnd(tk, sec(5), dst, testSocket, first))
	if rec == nil || rec.Net == nil {
		t.Fatal("HTTP send end: no record")
	}
	if rec.Net.Protocol != "http" || rec.Net.HTTP != h {
		t.Errorf("send end: protocol %q request %+v", rec.Net.Protocol, rec.Net.HTTP)
	}
	if want := tab.cfg.Times.Time(first); !rec.Net.Start.Equal(want) {
		t.Errorf("send end Start %v, want %v", rec.Net.Start, want)
	}
	if len(p.sockets) != 0 {
		t.Errorf("socket state kept after its totals: %v", p.sockets)
	}
	// Without a redactor the target stays as sent.
	plain, _ := newTestTable(t, nil)
	tk2, _ := curl(t, plain)
	rec = plain.Handle(sendStart(tk2, sec(2), dst, testSocket, "GET /v1?token=abc&x=1 HTTP/1.1\r\n\r\n"))
	if rec == nil || rec.Net.HTTP.Target != "/v1?token=abc&x=1" {
		t.Errorf("no redactor: %+v", rec.Net.HTTP)
	}
}

func TestNetSendUnknownPayload(t *testing.T) {
	tab, _ := newTestTable(t, nil)
	tk, p := curl(t, tab)
	dst := inet("192.0.2.20", 22)
	if rec := tab.Handle(sendStart(tk, sec(2), dst, testSocket, "SSH-2.0-OpenSSH_9.6\r\n")); rec != nil {
		t.Fatalf("send start of unknown bytes: record %+v", rec)
	}
	if st := p.sockets[testSocket]; st == nil || st.protocol != "" {
		t.Errorf("socket state %+v", st)
	}
	first := sec(2) + 123_456_789
	rec := tab.Handle(sendEnd(tk, sec(9), dst, testSocket, first))
	if rec == nil || rec.Net == nil {
		t.Fatal("send end: no record")
	}
	n := rec.Net
	if n.Protocol != "" || n.HTTP != nil || n.TLS != nil || n.DNS != nil {
		t.Errorf("send end of unknown bytes: %+v", n)
	}
	if want := time.Unix(0, bootWall+int64(first)); !n.Start.Equal(want) {
		t.Errorf("Start %v, want %v", n.Start, want)
	}
	if want := time.Unix(0, bootWall+int64(sec(9))); !rec.Time.Equal(want) {
		t.Errorf("Time %v, want %v", rec.Time, want)
	}
	// Totals of a socket whose first send was never seen: a flow record.
	rec = tab.Handle(sendEnd(tk, sec(10), dst, testSocket+8, sec(9.5)))
	if rec == nil || rec.Net.Protocol != "" || rec.Net.Start.IsZero() {
		t.Errorf("send end without a start: %+v", rec)
	}
}

func TestNetDNSQuerySend(t *testing.T) {
	tab, _ := newTestTable(t, nil)
	tk, _ := curl(t, tab)
	query := string(dnsWire(t, &layers.DNS{ID: 77, RD: true, Questions: dnsQ("api.example.test")}))
	resolver := inet("127.0.0.53", 53)
	ev := sendStart(tk, sec(2), resolver, testSocket+1, query)
	ev.Net.SockType, ev.Net.Protocol = syscall.SOCK_DGRAM, syscall.IPPROTO_UDP
	rec := tab.Handle(ev)
	if rec == nil || rec.Net.Protocol != "dns" || rec.Net.DNS == nil || rec.Net.DNS.Response ||
		rec.Net.DNS.ID != 77 || rec.Net.DNS.Questions[0].Name != "api.example.test" {
		t.Fatalf("DNS query send start: %+v", rec)
	}
	rec = tab.Handle(sendEnd(tk, sec(3), resolver, testSocket+1, sec(2)))
	if rec == nil || rec.Net.Protocol != "dns" || rec.Net.DNS == nil || rec.Net.DNS.ID != 77 {
		t.Errorf("DNS query send end: %+v", rec)
	}
	// The same bytes to another port are not taken for DNS.
	if rec := tab.Handle(sendStart(tk, sec(4), inet("192.0.2.1", 5353), testSocket+2, query)); rec != nil {
		t.Errorf("DNS-shaped send to port 5353: %+v", rec.Net)
	}
	// A DNS answer sent to port 53 is not a query.
	answer := string(dnsA(t, "x.test", rrA("x.test", "192.0.2.3")))
	if rec := tab.Handle(sendStart(tk, sec(5), resolver, testSocket+3, answer)); rec != nil {
		t.Errorf("DNS answer sent to port 53: %+v", rec.Net)
	}
}

// tlsHello is a minimal ClientHello record naming sni.
func tlsHello(sni string) string {
	name := append([]byte{0, byte(len(sni) >> 8), byte(len(sni))}, sni...)
	list := append([]byte{byte(len(name) >> 8), byte(len(name))}, name...)
	ext := append([]byte{0, 0, byte(len(list) >> 8), byte(len(list))}, list...)
	body := append([]byte{3, 3}, make([]byte, 32)...)
	body = append(body, 0, 0, 2, 0x13, 0x01, 1, 0, byte(len(ext)>>8), byte(len(ext)))
	body = append(body, ext...)
	hs := append([]byte{1, 0, byte(len(body) >> 8), byte(len(body))}, body...)
	return string(append([]byte{22, 3, 1, byte(len(hs) >> 8), byte(len(hs))}, hs...))
}

func TestNetTLSSend(t *testing.T) {
	tab, _ := newTestTable(t, nil)
	tk, _ := curl(t, tab)
	tab.Handle(dnsAnswerEv(tk, sec(1.8), dnsA(t, "api.example.test", rrA("api.example.test", "192.0.2.10"))))
	dst := inet("192.0.2.10", 443)
	rec := tab.Handle(sendStart(tk, sec(2), dst, testSocket, tlsHello("api.example.test")))
	if rec == nil || rec.Net.Protocol != "tls" || rec.Net.TLS == nil || rec.Net.TLS.ServerName != "api.example.test" ||
		rec.Net.Domain != "api.example.test" {
		t.Fatalf("TLS send start: %+v", rec)
	}
	rec = tab.Handle(sendEnd(tk, sec(3), dst, testSocket, sec(2)))
	if rec == nil || rec.Net.Protocol != "tls" || rec.Net.TLS == nil || rec.Net.Domain != "api.example.test" {
		t.Errorf("TLS send end: %+v", rec)
	}
}

func TestNetPartialKeepsProcess(t *testing.T) {
	tab, _ := newTestTable(t, nil)
	tk, p := curl(t, tab)
	tk.EUID = 0
	tab.Handle(sendStart(tk, sec(2), inet("192.0.2.10", 80), testSocket, "GET / HTTP/1.1\r\n\r\n"))
	if p.EUID != 0 || p.UID != 1000 || p.Name != "curl" {
		t.Fatalf("a full header did not refresh the process: %+v", p)
	}
	interim := &sensor.Event{Kind: sensor.KindNet, Partial: true, KTime: sec(3),
		Task: sensor.Task{PID: 300, TID: 300, StartTime: sec(1)},
		Net: sensor.Net{Op: sensor.NetSendEnd, Flags: sensor.NetInterim, Dst: inet("192.0.2.10", 80), Cookie: testSocket,
			Bytes: 100, Packets: 1, First: sec(2)}}
	rec := tab.Handle(interim)
	if rec == nil || rec.Process != p {
		t.Fatalf("interim totals: %+v", rec)
	}
	if p.UID != 1000 || p.GID != 1000 || p.EUID != 0 || p.EGID != 1000 || p.Name != "curl" || p.Executable != "/usr/bin/curl" {
		t.Errorf("a partial event changed the process: uid %d gid %d euid %d egid %d name %q",
			p.UID, p.GID, p.EUID, p.EGID, p.Name)
	}
	// A partial event of an unknown process infers it without credentials.
	rec = tab.Handle(&sensor.Event{Kind: sensor.KindNet, Partial: true, KTime: sec(3),
		Task: sensor.Task{PID: 301, TID: 301, StartTime: sec(2)},
		Net:  sensor.Net{Op: sensor.NetSendEnd, Flags: sensor.NetInterim, Cookie: testSocket + 5}})
	if rec == nil || rec.Process.Source != SourceInferred || rec.Process.UID != 0 || rec.Process.PID != 301 {
		t.Errorf("partial event of an unknown process: %+v", rec.Process)
	}
	checkInvariants(t, tab)
}

// TestNetInterimKeepsProtocol: interval totals of an open socket are
// followed by more, and by the final totals at close; all of them name
// the socket's protocol.
func TestNetInterimKeepsProtocol(t *testing.T) {
	tab, _ := newTestTable(t, nil)
	tk, _ := curl(t, tab)
	dst := inet("192.0.2.10", 80)
	tab.Handle(sendStart(tk, sec(2), dst, testSocket, "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n"))
	for i, at := range []uint64{sec(10), sec(20)} {
		ev := sendEnd(tk, at, dst, testSocket, sec(2))
		ev.Partial, ev.Task, ev.Net.Flags = true, sensor.Task{PID: tk.PID, TID: tk.PID, StartTime: tk.StartTime}, sensor.NetInterim
		if rec := tab.Handle(ev); rec == nil || rec.Net.Protocol != "http" {
			t.Errorf("interim report %d: %+v", i, rec.Net)
		}
	}
	if rec := tab.Handle(sendEnd(tk, sec(25), dst, testSocket, sec(2))); rec == nil || rec.Net.Protocol != "http" {
		t.Errorf("final report: %+v", rec.Net)
	}
}

func TestDNSCacheEvictsOldest(t *testing.T) {
	var c dnsCache
	addr := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}) }
	name := func(i int) string { return "h" + strconv.Itoa(i) + ".test" }
	if c.get(addr(0)) != "" {
		t.Fatal("empty cache names an address")
	}
	for i := range maxDNSNames {
		c.put(addr(i), name(i))
	}
	if len(c.names) != maxDNSNames || c.get(addr(0)) != name(0) || c.get(addr(maxDNSNames-1)) != name(maxDNSNames-1) {
		t.Fatalf("full cache: %d names", len(c.names))
	}
	// Renaming a cached address evicts nothing and keeps its age.
	c.put(addr(5), "renamed.test")
	if len(c.names) != maxDNSNames || c.get(addr(0)) != name(0) || c.get(addr(5)) != "renamed.test" {
		t.Errorf("rename: %d names, addr 0 %q, addr 5 %q", len(c.names), c.get(addr(0)), c.get(addr(5)))
	}
	c.put(addr(maxDNSNames), name(maxDNSNames))
	if c.get(addr(0)) != "" || c.get(addr(1)) != name(1) || c.get(addr(maxDNSNames)) != name(maxDNSNames) {
		t.Errorf("one past full: addr 0 %q, addr 1 %q, newest %q", c.get(addr(0)), c.get(addr(1)), c.get(addr(maxDNSNames)))
	}
	if len(c.names) != maxDNSNames {
		t.Errorf("%d names after eviction", len(c.names))
	}
	// The oldest goes next, and so on around the ring.
	for i := 1; i <= 6; i++ {
		c.put(addr(maxDNSNames+i), name(maxDNSNames+i))
		if c.get(addr(i)) != "" || c.get(addr(i+1)) == "" {
			t.Fatalf("put %d past full: addr %d %q, addr %d %q", i+1, i, c.get(addr(i)), i+1, c.get(addr(i+1)))
		}
	}
	if len(c.names) != maxDNSNames || len(c.order) != maxDNSNames {
		t.Errorf("%d names, %d in order", len(c.names), len(c.order))
	}
}

// Sends on a connected Unix socket come without a destination: the
// totals name the path it was connected to.
func TestNetUnixSendNamesPath(t *testing.T) {
	tab, _ := newTestTable(t, nil)
	tk, p := curl(t, tab)
	sock := sensor.Endpoint{Family: sensor.FamilyUnix, Path: "/run/vigil/intent.sock"}
	tab.Handle(netEv(tk, sec(2), sensor.Net{Op: sensor.NetConnect, Dst: sock, Cookie: testSocket, SockType: syscall.SOCK_STREAM}))
	none := sensor.Endpoint{Family: sensor.FamilyUnix}
	tab.Handle(sendStart(tk, sec(3), none, testSocket, `{"v":1}`))
	rec := tab.Handle(sendEnd(tk, sec(4), none, testSocket, sec(3)))
	if rec == nil || rec.Event.Net.Dst != sock {
		t.Fatalf("send totals destination %+v, want %+v", rec.Event.Net.Dst, sock)
	}
	if len(p.sockets) != 0 {
		t.Errorf("%d socket states left after the last totals", len(p.sockets))
	}
	// A connect that failed, or an IP socket, is not remembered; nor
	// beyond the bound.
	tab.Handle(netEv(tk, sec(5), sensor.Net{Op: sensor.NetConnect, Dst: sock, Cookie: testSocket + 1, Ret: -2}))
	tab.Handle(netEv(tk, sec(5), sensor.Net{Op: sensor.NetConnect, Dst: inet("192.0.2.1", 80), Cookie: testSocket + 2}))
	for i := range maxSocketStates + 10 {
		tab.Handle(netEv(tk, sec(6), sensor.Net{Op: sensor.NetConnect, Dst: sock, Cookie: testSocket + 100 + uint64(i)}))
	}
	if _, ok := p.sockets[testSocket+1]; ok || len(p.sockets) != maxSocketStates {
		t.Errorf("%d socket states (failed connect kept: %v), want %d", len(p.sockets), ok, maxSocketStates)
	}
}
