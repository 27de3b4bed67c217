package main

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/testenv"
)

// Network records of a traced program as ECS: the DNS question and the
// answer, a later connect named by that answer, an HTTP request with its
// query secret redacted, a TLS server name, and exact send totals.
func TestTraceNetwork(t *testing.T) {
	requireBPF(t)
	bin := testenv.Program(t, "github.com/vigilsec/vigil/sensor/testprogs/netops")
	tcp := testenv.Sink(t, "127.0.0.1:0", nil)
	httpd := testenv.Sink(t, "127.0.0.1:0", []byte("HTTP/1.1 204 No Content\r\n\r\n"))
	tlsd := testenv.Sink(t, "127.0.0.1:0", []byte("not TLS\r\n"))
	after := testenv.Sink(t, "127.0.21.1:0", nil)
	testenv.DNSServer(t, "127.0.11.53:53", "svc.vigil.test", netip.MustParseAddr("127.0.21.1"))
	out := filepath.Join(t.TempDir(), "records.jsonl")
	res := runVigil(t, "trace", "-o", out, "--", bin,
		"-tcp", tcp.String(), "-bytes", "4500",
		"-dns", "127.0.11.53:53", "-name", "svc.vigil.test", "-port", strconv.Itoa(after.(*net.TCPAddr).Port),
		"-http", httpd.String(),
		"-tls", tlsd.String(), "-sni", "sni.vigil.test")
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "s3cret") {
		t.Error("the API key in the URL reached the records")
	}
	docs := parseRecords(t, string(b))
	var nets []doc
	for _, d := range docs {
		if slices.Contains(d.strs("event.category"), "network") {
			nets = append(nets, d)
		}
	}
	find := func(action string, match func(doc) bool) doc {
		t.Helper()
		for _, d := range nets {
			if d.str("event.action") == action && match(d) {
				return d
			}
		}
		var got []string
		for _, d := range nets {
			got = append(got, d.String())
		}
		t.Fatalf("no matching %s among:\n%s", action, strings.Join(got, "\n"))
		return nil
	}
	dst := func(a net.Addr) func(doc) bool {
		ap := netip.MustParseAddrPort(a.String())
		return func(d doc) bool {
			return d.str("destination.ip") == ap.Addr().String() && d.num("destination.port") == int64(ap.Port())
		}
	}

	q := find("lookup_requested", func(d doc) bool { return true })
	if q.str("dns.question.name") != "svc.vigil.test" || q.str("dns.question.type") != "A" || q.str("dns.type") != "query" ||
		q.str("destination.ip") != "127.0.11.53" || q.str("network.transport") != "udp" || q.str("network.protocol") != "dns" {
		t.Errorf("DNS query record: %v", q)
	}
	a := find("lookup_result", func(d doc) bool { return true })
	if a.str("dns.response_code") != "NOERROR" || !slices.Equal(a.strs("dns.resolved_ip"), []string{"127.0.21.1"}) {
		t.Errorf("DNS answer record: %v", a)
	}
	if c := find("connection_attempted", dst(after)); c.str("destination.domain") != "svc.vigil.test" {
		t.Errorf("connect to the answered address lacks destination.domain: %v", c)
	}
	h := find("http_request", dst(httpd))
	if h.str("url.domain") != "api.vigil.test" || h.str("url.path") != "/v1/items" ||
		h.str("url.query") != "api_key=[REDACTED]&page=2" || h.str("http.request.method") != "GET" || h.str("http.version") != "1.1" {
		t.Errorf("HTTP record: %v", h)
	}
	if s := find("tls_client_hello", dst(tlsd)); s.str("tls.client.server_name") != "sni.vigil.test" {
		t.Errorf("TLS record: %v", s)
	}
	f := find("network_flow", dst(tcp))
	if f.num("source.bytes") != 4500 || f.num("source.packets") != 5 || f.num("network.bytes") != 4500 ||
		f.str("network.transport") != "tcp" || f.str("network.direction") != "egress" || f.str("Vigil.network.reported_at") != "close" ||
		f.str("event.start") == "" || !slices.Equal(f.strs("event.type"), []string{"connection", "end"}) {
		t.Errorf("flow record: %v", f)
	}
	if c := find("connection_attempted", dst(tcp)); c.str("source.ip") != "127.0.0.1" || c.num("source.port") <= 0 {
		t.Errorf("connect record: %v", c)
	}
}
