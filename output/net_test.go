package output

import (
	"encoding/json"
	"maps"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigilsec/vigil/correlate"
	"github.com/vigilsec/vigil/correlate/netparse"
	"github.com/vigilsec/vigil/sensor"
)

// wantNet is what a network record's line must say beyond the common
// fields. Between them, fields and json name every leaf under the
// network-related objects (netObjects) and event.outcome, event.start
// and event.end: any other leaf there is an error.
type wantNet struct {
	types  []string          // event.type
	fields map[string]string // scalar leaves: dotted path -> value as text
	json   map[string]string // array leaves: dotted path -> compact JSON (object keys sorted)
	// allocs is how many allocations Append may make for the record once
	// its buffer has grown (TestEncodeAllocs).
	allocs float64
}

// netObjects are the parts of a line a network record fills.
var netObjects = []string{"source", "destination", "network", "dns", "http", "url", "tls", "error", "Vigil.network",
	"event.outcome", "event.start", "event.end"}

// kv builds a field map from pairs; later maps win in merge.
func kv(pairs ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(pairs); i += 2 {
		m[pairs[i]] = pairs[i+1]
	}
	return m
}

func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		maps.Copy(out, m)
	}
	return out
}

func ep(ip string, port uint16) sensor.Endpoint {
	a := netip.MustParseAddr(ip)
	fam := uint16(sensor.FamilyInet)
	if a.Is6() {
		fam = sensor.FamilyInet6
	}
	return sensor.Endpoint{Family: fam, IP: a, Port: port}
}

const testSock = 0xffff8881_0456_7800

// netTestRecords is a history of network actions by a (an agent's shell).
func netTestRecords(a fileActor) []testRecord {
	const base = 62_000_000_000
	var recs []testRecord
	add := func(name string, ktime uint64, n sensor.Net, nr correlate.NetRecord, action string, wn wantNet) {
		ev := &sensor.Event{Kind: sensor.KindNet, KTime: ktime, Tree: a.proc.Tree, Task: a.task, Net: n}
		nrc := nr
		w := a.want
		w.action, w.kind, w.dataset, w.category = action, "event", "vigil.network", "network"
		w.net = &wn
		recs = append(recs, testRecord{name, &correlate.Record{
			Event: ev, Time: at(ktime), Process: a.proc, Parent: a.parent, Net: &nrc,
		}, w})
	}
	start := []string{"connection", "start"}
	src4 := kv("source.ip", "10.0.0.5", "source.port", "51514")
	dst := func(ip, port string) map[string]string {
		return kv("destination.ip", ip, "destination.address", ip, "destination.port", port)
	}
	tcp := func(typ string) map[string]string {
		return kv("network.transport", "tcp", "network.iana_number", "6", "network.type", typ,
			"network.direction", "egress", "Vigil.network.socket_type", "stream")
	}
	udp4 := kv("network.transport", "udp", "network.iana_number", "17", "network.type", "ipv4",
		"network.direction", "egress", "Vigil.network.socket_type", "dgram")
	connect := func(ret int64, dstEP sensor.Endpoint) sensor.Net {
		return sensor.Net{Op: sensor.NetConnect, Dst: dstEP, Src: ep("10.0.0.5", 51514), Cookie: testSock, Ret: ret, FD: 5,
			SockType: syscall.SOCK_STREAM, Protocol: syscall.IPPROTO_TCP}
	}

	// Connections.
	add("net connect", base+1, connect(0, ep("192.0.2.10", 443)), correlate.NetRecord{Domain: "api.example.test"},
		"connection_attempted", wantNet{types: start, fields: merge(src4, dst("192.0.2.10", "443"), tcp("ipv4"), kv(
			"event.outcome", "success", "destination.domain", "api.example.test"))})
	add("net connect in progress", base+2, connect(-int64(syscall.EINPROGRESS), ep("192.0.2.10", 443)),
		correlate.NetRecord{Domain: "api.example.test"}, "connection_attempted", wantNet{types: start,
			fields: merge(src4, dst("192.0.2.10", "443"), tcp("ipv4"), kv(
				"event.outcome", "unknown", "destination.domain", "api.example.test", "Vigil.network.in_progress", "true"))})
	refused := connect(-int64(syscall.ECONNREFUSED), ep("192.0.2.11", 8443))
	refused.Src = sensor.Endpoint{} // no local address bound
	add("net connect refused", base+3, refused, correlate.NetRecord{}, "connection_attempted", wantNet{types: start,
		fields: merge(dst("192.0.2.11", "8443"), tcp("ipv4"), kv(
			"event.outcome", "failure", "error.code", "ECONNREFUSED", "error.message", "connection refused"))})
	v6 := connect(0, ep("2001:db8::10", 443))
	v6.Src = ep("2001:db8::5", 40000)
	add("net connect IPv6", base+4, v6, correlate.NetRecord{Domain: "v6.example.test"}, "connection_attempted",
		wantNet{types: start, fields: merge(dst("2001:db8::10", "443"), tcp("ipv6"), kv(
			"source.ip", "2001:db8::5", "source.port", "40000", "event.outcome", "success",
			"destination.domain", "v6.example.test"))})
	unixNet := func(path string) sensor.Net {
		return sensor.Net{Op: sensor.NetConnect, Dst: sensor.Endpoint{Family: sensor.FamilyUnix, Path: path},
			Cookie: testSock + 1, FD: 6, SockType: syscall.SOCK_STREAM}
	}
	unixWant := func(addr string) wantNet {
		return wantNet{types: start, fields: kv("destination.address", addr, "network.direction", "egress",
			"event.outcome", "success", "Vigil.network.socket_type", "stream", "Vigil.network.family", "unix")}
	}
	add("net connect unix path", base+5, unixNet("/var/run/docker.sock"), correlate.NetRecord{},
		"connection_attempted", unixWant("/var/run/docker.sock"))
	// unixPath's "@" + name stays on the stack for short names (32 bytes).
	add("net connect unix abstract", base+6, unixNet("\x00dbus-vfs\"7"), correlate.NetRecord{},
		"connection_attempted", unixWant("@dbus-vfs\"7"))

	// DNS: the query a resolver library sends, and the answer it reads.
	resolver := kv("destination.ip", "127.0.0.53", "destination.address", "127.0.0.53", "destination.port", "53",
		"source.ip", "127.0.0.1", "source.port", "40001")
	dnsNet := func(op sensor.NetOp, flags sensor.NetFlags, bytes uint64) sensor.Net {
		return sensor.Net{Op: op, Flags: flags, Dst: ep("127.0.0.53", 53), Src: ep("127.0.0.1", 40001),
			Cookie: testSock + 2, Bytes: bytes, FD: 7, SockType: syscall.SOCK_DGRAM, Protocol: syscall.IPPROTO_UDP}
	}
	q := []netparse.DNSQuestion{{Name: "www.example.test", Type: "A"}}
	add("net dns lookup_requested", base+10, dnsNet(sensor.NetSendStart, 0, 34), correlate.NetRecord{Protocol: "dns",
		DNS: &netparse.DNSMessage{ID: 0x4d2, Questions: q}}, "lookup_requested", wantNet{
		types: []string{"protocol"}, allocs: 1, // dns.id: strconv.FormatUint
		fields: merge(resolver, udp4, kv("network.protocol", "dns", "Vigil.network.first_send_bytes", "34",
			"dns.id", "1234", "dns.type", "query", "dns.question.name", "www.example.test", "dns.question.type", "A"))})
	add("net dns lookup_result", base+11, dnsNet(sensor.NetDNSAnswer, sensor.NetPayloadCut, 1400), correlate.NetRecord{
		Protocol: "dns", DNS: &netparse.DNSMessage{ID: 0x4d2, Response: true, RCode: "NOERROR", Questions: q,
			Answers: []netparse.DNSAnswer{
				{Name: "www.example.test", Type: "CNAME", TTL: 30, Data: "edge.cdn.test"},
				{Name: "edge.cdn.test", Type: "A", TTL: 20, Data: "198.51.100.7", IP: netip.MustParseAddr("198.51.100.7")},
				{Name: "edge.cdn.test", Type: "AAAA", TTL: 20, Data: "2001:db8::7", IP: netip.MustParseAddr("2001:db8::7")},
				{Name: "edge.cdn.test", Type: "TXT", TTL: 5}, // data not decoded
			}}}, "lookup_result", wantNet{
		types: []string{"protocol"}, allocs: 1,
		fields: merge(resolver, udp4, kv("network.protocol", "dns", "Vigil.network.datagram_bytes", "1400",
			"Vigil.network.payload_truncated", "true", "dns.id", "1234", "dns.type", "answer", "dns.response_code", "NOERROR",
			"dns.question.name", "www.example.test", "dns.question.type", "A")),
		json: kv("dns.answers", `[{"data":"edge.cdn.test","name":"www.example.test","ttl":30,"type":"CNAME"},`+
			`{"data":"198.51.100.7","name":"edge.cdn.test","ttl":20,"type":"A"},`+
			`{"data":"2001:db8::7","name":"edge.cdn.test","ttl":20,"type":"AAAA"},`+
			`{"name":"edge.cdn.test","ttl":5,"type":"TXT"}]`,
			"dns.resolved_ip", `["198.51.100.7","2001:db8::7"]`),
	})
	add("net dns lookup_result NXDOMAIN", base+12, dnsNet(sensor.NetDNSAnswer, 0, 90), correlate.NetRecord{
		Protocol: "dns", DNS: &netparse.DNSMessage{ID: 7, Response: true, RCode: "NXDOMAIN",
			Questions: []netparse.DNSQuestion{{Name: "nope.example.test", Type: "AAAA"}}}}, "lookup_result", wantNet{
		types: []string{"protocol"}, // a one-digit dns.id needs no allocation
		fields: merge(resolver, udp4, kv("network.protocol", "dns", "Vigil.network.datagram_bytes", "90",
			"dns.id", "7", "dns.type", "answer", "dns.response_code", "NXDOMAIN",
			"dns.question.name", "nope.example.test", "dns.question.type", "AAAA"))})

	// First payloads of TCP connections.
	sendStart := func(dstEP sensor.Endpoint, flags sensor.NetFlags, bytes uint64) sensor.Net {
		return sensor.Net{Op: sensor.NetSendStart, Flags: flags, Dst: dstEP, Src: ep("10.0.0.5", 51514), Cookie: testSock,
			Bytes: bytes, FD: 5, SockType: syscall.SOCK_STREAM, Protocol: syscall.IPPROTO_TCP}
	}
	add("net http_request", base+20, sendStart(ep("192.0.2.10", 8080), 0, 180), correlate.NetRecord{
		Domain: "api.example.test", Protocol: "http", HTTP: &netparse.HTTPRequest{Method: "POST",
			Target: "/v1/items?token=[REDACTED]&x=1", Version: "1.1", Host: "api.example.test:8080"}}, "http_request", wantNet{
		types: []string{"protocol"}, allocs: 1, // netip.ParseAddrPort's error for a host name
		fields: merge(src4, dst("192.0.2.10", "8080"), tcp("ipv4"), kv("destination.domain", "api.example.test",
			"network.protocol", "http", "Vigil.network.first_send_bytes", "180",
			"http.version", "1.1", "http.request.method", "POST", "url.scheme", "http", "url.domain", "api.example.test",
			"url.port", "8080", "url.path", "/v1/items", "url.query", "token=[REDACTED]&x=1"))})
	add("net http_request HTTP/1.0 without Host", base+21, sendStart(ep("192.0.2.10", 80), sensor.NetPayloadCut, 4096),
		correlate.NetRecord{Protocol: "http", HTTP: &netparse.HTTPRequest{Method: "GET", Target: "/", Version: "1.0"}},
		"http_request", wantNet{types: []string{"protocol"},
			fields: merge(src4, dst("192.0.2.10", "80"), tcp("ipv4"), kv("network.protocol", "http",
				"Vigil.network.first_send_bytes", "4096", "Vigil.network.payload_truncated", "true",
				"http.version", "1.0", "http.request.method", "GET", "url.scheme", "http", "url.port", "80", "url.path", "/"))})
	hello := &netparse.ClientHello{Version: 0x0303, ServerName: "api.example.test"}
	add("net tls_client_hello", base+22, sendStart(ep("192.0.2.10", 443), sensor.NetPayloadCut, 1508), correlate.NetRecord{
		Domain: "api.example.test", Protocol: "tls", TLS: hello}, "tls_client_hello", wantNet{types: []string{"protocol"},
		fields: merge(src4, dst("192.0.2.10", "443"), tcp("ipv4"), kv("destination.domain", "api.example.test",
			"network.protocol", "tls", "Vigil.network.first_send_bytes", "1508", "Vigil.network.payload_truncated", "true",
			"tls.client.server_name", "api.example.test"))})

	// Send totals.
	first := uint64(base + 22)
	flow := func(flags sensor.NetFlags, bytes, packets uint64) sensor.Net {
		n := sendStart(ep("192.0.2.10", 443), flags, bytes)
		n.Op, n.Packets, n.First = sensor.NetSendEnd, packets, first
		return n
	}
	tlsFlow := correlate.NetRecord{Domain: "api.example.test", Protocol: "tls", TLS: hello, Start: at(first)}
	flowWant := func(types []string, bytes, packets, reportedAt string, end uint64) wantNet {
		return wantNet{types: types, fields: merge(dst("192.0.2.10", "443"), tcp("ipv4"), kv(
			"source.ip", "10.0.0.5", "source.port", "51514", "source.bytes", bytes, "source.packets", packets,
			"network.bytes", bytes, "network.packets", packets, "network.protocol", "tls",
			"destination.domain", "api.example.test",
			"event.start", at(first).Format(time.RFC3339Nano),
			"event.end", at(end).Format(time.RFC3339Nano),
			"Vigil.network.bytes_sent", bytes, "Vigil.network.sends", packets, "Vigil.network.reported_at", reportedAt))}
	}
	endTypes, infoTypes := []string{"connection", "end"}, []string{"connection", "info"}
	add("net network_flow at interval", base+30_000_000_000, flow(sensor.NetInterim, 64_000, 40), tlsFlow,
		"network_flow", flowWant(infoTypes, "64000", "40", "interval", base+30_000_000_000))
	add("net network_flow at close", base+40_000_000_000, flow(0, 1<<40, 1_000_000), tlsFlow,
		"network_flow", flowWant(endTypes, "1099511627776", "1000000", "close", base+40_000_000_000))
	add("net network_flow at exit", base+41_000_000_000, flow(sensor.NetAtExit, 1, 1), tlsFlow,
		"network_flow", flowWant(endTypes, "1", "1", "exit", base+41_000_000_000))
	add("net network_flow at descriptor reuse", base+42_000_000_000, flow(sensor.NetStale, 10, 2), tlsFlow,
		"network_flow", flowWant(endTypes, "10", "2", "descriptor_reuse", base+42_000_000_000))
	// A UDP socket that sent elsewhere: its totals so far, no protocol.
	udpFlow := flow(sensor.NetDestChange, 300, 3)
	udpFlow.Dst, udpFlow.Src, udpFlow.SockType, udpFlow.Protocol = ep("198.51.100.7", 3478), ep("10.0.0.5", 50000),
		syscall.SOCK_DGRAM, syscall.IPPROTO_UDP
	add("net network_flow at destination change", base+43_000_000_000, udpFlow, correlate.NetRecord{Start: at(first)},
		"network_flow", wantNet{types: endTypes, fields: merge(udp4, kv(
			"destination.ip", "198.51.100.7", "destination.address", "198.51.100.7", "destination.port", "3478",
			"source.ip", "10.0.0.5", "source.port", "50000", "source.bytes", "300", "source.packets", "3",
			"network.bytes", "300", "network.packets", "3",
			"event.start", at(first).Format(time.RFC3339Nano),
			"event.end", at(base+43_000_000_000).Format(time.RFC3339Nano),
			"Vigil.network.bytes_sent", "300", "Vigil.network.sends", "3", "Vigil.network.reported_at", "destination_change"))})
	return recs
}

// flatten collects the leaves under v: scalars, and arrays as a whole.
func flatten(prefix string, v any, out map[string]any) {
	if m, ok := v.(map[string]any); ok {
		for k, x := range m {
			flatten(prefix+"."+k, x, out)
		}
		return
	}
	out[prefix] = v
}

// checkNet checks the fields network records have: exactly as wanted in
// a network record, absent from every other.
func checkNet(t *testing.T, doc map[string]any, tr testRecord) {
	t.Helper()
	d := docFields{t, doc}
	w := tr.want.net
	if w == nil {
		for _, f := range []string{"source", "destination", "network", "dns", "http", "url", "tls", "Vigil.network"} {
			d.absent(f)
		}
		if tr.rec.Event.Kind == sensor.KindNet {
			t.Error("network record without a wantNet")
		}
		return
	}
	d.absent("file")
	d.absent("Vigil.file")
	v, _ := lookup(doc, "event.type")
	got, _ := v.([]any)
	if len(got) != len(w.types) {
		t.Errorf("event.type = %v, want %q", v, w.types)
	}
	for i := range min(len(got), len(w.types)) {
		if got[i] != w.types[i] {
			t.Errorf("event.type = %v, want %q", v, w.types)
		}
	}
	leaves := map[string]any{}
	for _, obj := range netObjects {
		if v, ok := lookup(doc, obj); ok {
			flatten(obj, v, leaves)
		}
	}
	for _, path := range slices.Sorted(maps.Keys(leaves)) {
		_, isField := w.fields[path]
		want, isJSON := w.json[path]
		switch {
		case isField:
			d.is(path, w.fields[path])
		case isJSON:
			b, _ := json.Marshal(leaves[path])
			if string(b) != want {
				t.Errorf("%s = %s\nwant %s", path, b, want)
			}
		default:
			t.Errorf("%s = %v, not expected", path, leaves[path])
		}
	}
	for path := range w.fields {
		if _, ok := leaves[path]; !ok {
			t.Errorf("%s missing, want %q", path, w.fields[path])
		}
	}
	for path := range w.json {
		if _, ok := leaves[path]; !ok {
			t.Errorf("%s missing, want %s", path, w.json[path])
		}
	}
}

// TestNetRecordsCovered makes sure the record table holds every network
// action, event.action and report reason the encoder can write.
func TestNetRecordsCovered(t *testing.T) {
	ops := map[sensor.NetOp]bool{}
	seen := map[string]bool{}
	for _, tr := range testRecords() {
		if tr.rec.Event.Kind != sensor.KindNet {
			continue
		}
		ops[tr.rec.Event.Net.Op] = true
		seen[tr.want.action] = true
		seen["reported_at "+tr.want.net.fields["Vigil.network.reported_at"]] = true
		seen["outcome "+tr.want.net.fields["event.outcome"]] = true
	}
	for _, op := range []sensor.NetOp{sensor.NetConnect, sensor.NetSendStart, sensor.NetSendEnd, sensor.NetDNSAnswer} {
		if !ops[op] {
			t.Errorf("no test record of a %v", op)
		}
	}
	for _, s := range []string{"connection_attempted", "lookup_requested", "lookup_result", "http_request",
		"tls_client_hello", "network_flow", "reported_at close", "reported_at exit", "reported_at interval",
		"reported_at destination_change", "reported_at descriptor_reuse", "outcome success", "outcome failure",
		"outcome unknown"} {
		if !seen[s] {
			t.Errorf("no test record with %s", s)
		}
	}
}

// netRecord returns the shared test record with this name.
func netRecord(t *testing.T, name string) testRecord {
	t.Helper()
	for _, tr := range testRecords() {
		if tr.name == name {
			return tr
		}
	}
	t.Fatalf("no test record %q", name)
	return testRecord{}
}

// TestNetAllocs reports allocations per network record kind.
func TestNetAllocs(t *testing.T) {
	enc := NewEncoder(testIdentity, testNow)
	buf := make([]byte, 0, 8<<10)
	var lines []string
	for _, tr := range testRecords() {
		if tr.want.net == nil {
			continue
		}
		buf = enc.Append(buf[:0], tr.rec)
		n := testing.AllocsPerRun(50, func() { buf = enc.Append(buf[:0], tr.rec) })
		lines = append(lines, tr.name+": "+strconv.FormatFloat(n, 'f', -1, 64))
	}
	sort.Strings(lines)
	t.Logf("allocs/op:\n%s", strings.Join(lines, "\n"))
}

// TestNetHTTPURL checks url.* for request targets and Host headers of
// many shapes, each line passing ECS validation.
func TestNetHTTPURL(t *testing.T) {
	schema := loadSchema(t)
	base := netRecord(t, "net http_request")
	for _, tc := range []struct {
		name, target, host  string
		domain, path, query string
		port                string
	}{
		{"origin form", "/a/b", "h.example.test", "h.example.test", "/a/b", "", "8080"},
		{"host with port", "/", "h.example.test:8080", "h.example.test", "/", "", "8080"},
		{"IPv4 host with port", "/x?y", "192.0.2.10:8080", "192.0.2.10", "/x", "y", "8080"},
		{"IPv6 host with port", "/", "[2001:db8::10]:8080", "2001:db8::10", "/", "", "8080"},
		{"IPv6 host", "/", "[2001:db8::10]", "2001:db8::10", "/", "", "8080"},
		{"no Host", "/only?path=1", "", "", "/only", "path=1", "8080"},
		{"empty query", "/q?", "h.test", "h.test", "/q", "", "8080"},
		{"asterisk form", "*", "h.test", "h.test", "*", "", "8080"},
		{"absolute form", "http://origin.example.test/a?b=c", "origin.example.test", "origin.example.test", "/a", "b=c", ""},
		{"absolute form, no path", "http://origin.example.test", "", "origin.example.test", "/", "", ""},
		{"absolute form, query only", "http://origin.example.test?b=c", "", "origin.example.test", "/", "b=c", ""},
		{"quotes and escapes", `/"\` + "\x01é", `h"\.test`, `h"\.test`, `/"\` + "\x01é", "", "8080"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nr := *base.rec.Net
			nr.HTTP = &netparse.HTTPRequest{Method: "GET", Target: tc.target, Version: "1.1", Host: tc.host}
			rec := *base.rec
			rec.Net = &nr
			line := NewEncoder(testIdentity, testNow).Append(nil, &rec)
			schema.Check(t, line)
			d := docFields{t, decodeLine(t, line)}
			d.is("url.domain", tc.domain)
			d.is("url.path", tc.path)
			d.is("url.query", tc.query)
			if tc.port != "" {
				d.is("url.port", tc.port)
			}
			d.is("url.scheme", "http")
		})
	}
}

// TestNetHTTPURLAbsoluteForm: a request to a proxy names its origin in
// the target; url.* describes that URL, not the proxy's socket.
func TestNetHTTPURLAbsoluteForm(t *testing.T) {
	schema := loadSchema(t)
	base := netRecord(t, "net http_request")
	for _, tc := range []struct{ target, domain, port, scheme string }{
		{"http://origin.test/a", "origin.test", "80", "http"},
		{"http://origin.test:8081/a", "origin.test", "8081", "http"},
		{"https://origin.test/a", "origin.test", "443", "https"},
		{"http://[REDACTED]@origin.test/a", "origin.test", "80", "http"},
		{"http://user@origin.test:81/a", "origin.test", "81", "http"},
	} {
		nr := *base.rec.Net
		nr.HTTP = &netparse.HTTPRequest{Method: "GET", Target: tc.target, Version: "1.1"}
		rec := *base.rec
		ev := *rec.Event
		ev.Net.Dst = ep("192.0.2.30", 3128)
		rec.Event, rec.Net = &ev, &nr
		line := NewEncoder(testIdentity, testNow).Append(nil, &rec)
		schema.Check(t, line)
		d := docFields{t, decodeLine(t, line)}
		d.is("url.domain", tc.domain)
		d.is("url.port", tc.port)
		d.is("url.scheme", tc.scheme)
	}
}

// TestNetEdgeCases encodes network records with little known, each line
// passing ECS validation.
func TestNetEdgeCases(t *testing.T) {
	schema := loadSchema(t)
	base := netRecord(t, "net connect")
	for _, tc := range []struct {
		name   string
		mod    func(*sensor.Net, *correlate.NetRecord)
		absent []string
		is     map[string]string
	}{
		{"unnamed unix socket", func(n *sensor.Net, nr *correlate.NetRecord) {
			n.Dst, n.Src, n.Protocol, nr.Domain = sensor.Endpoint{Family: sensor.FamilyUnix}, sensor.Endpoint{}, 0, ""
		}, []string{"destination.address", "destination.ip", "source", "network.type", "network.transport"}, nil},
		{"unknown errno", func(n *sensor.Net, _ *correlate.NetRecord) { n.Ret = -4000 },
			nil, kv("error.code", "errno 4000", "event.outcome", "failure")},
		{"raw socket, no protocol", func(n *sensor.Net, _ *correlate.NetRecord) {
			n.SockType, n.Protocol = syscall.SOCK_RAW, 0
		}, []string{"network.transport", "network.iana_number"}, kv("Vigil.network.socket_type", "raw")},
		{"seqpacket", func(n *sensor.Net, _ *correlate.NetRecord) { n.SockType = syscall.SOCK_SEQPACKET },
			nil, kv("Vigil.network.socket_type", "seqpacket")},
		{"IPv4-mapped IPv6 socket", func(n *sensor.Net, _ *correlate.NetRecord) {
			n.Dst.Family = sensor.FamilyInet6 // the sensor unmaps the address
		}, nil, kv("destination.ip", "192.0.2.10")},
		{"TLS hello without a name", func(n *sensor.Net, nr *correlate.NetRecord) {
			n.Op, nr.Protocol, nr.TLS = sensor.NetSendStart, "tls", &netparse.ClientHello{Version: 0x0303}
		}, []string{"tls"}, kv("event.action", "tls_client_hello", "network.protocol", "tls")},
		{"send start of unknown bytes", func(n *sensor.Net, _ *correlate.NetRecord) { n.Op = sensor.NetSendStart },
			[]string{"event.outcome"}, kv("event.action", "network_send")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := *base.rec.Event
			nr := *base.rec.Net
			tc.mod(&ev.Net, &nr)
			rec := *base.rec
			rec.Event, rec.Net = &ev, &nr
			line := NewEncoder(testIdentity, testNow).Append(nil, &rec)
			schema.Check(t, line)
			doc := decodeLine(t, line)
			d := docFields{t, doc}
			for _, p := range tc.absent {
				d.absent(p)
			}
			for p, v := range tc.is {
				d.is(p, v)
			}
		})
	}
}

// TestNetEmptyDestination: a record with no destination address (an
// unnamed AF_UNIX peer, totals of a socket that never had one) has no
// destination object rather than an empty one.
func TestNetEmptyDestination(t *testing.T) {
	base := netRecord(t, "net connect unix path")
	ev := *base.rec.Event
	ev.Net.Dst.Path = ""
	rec := *base.rec
	rec.Event = &ev
	line := NewEncoder(testIdentity, testNow).Append(nil, &rec)
	if v, ok := lookup(decodeLine(t, line), "destination"); ok {
		t.Errorf("destination = %v, want it absent", v)
	}
}
