package output

import (
	"net/netip"
	"strconv"
	"strings"
	"syscall"

	"github.com/vigilsec/vigil/correlate"
	"github.com/vigilsec/vigil/correlate/netparse"
	"github.com/vigilsec/vigil/sensor"
)

var (
	typeConnStart = []string{"connection", "start"}
	typeConnInfo  = []string{"connection", "info"}
	typeConnEnd   = []string{"connection", "end"}
	typeProtocol  = []string{"protocol"}
)

// netAction is the ECS event.type list and event.action of a network event.
func netAction(r *correlate.Record) (types []string, action string) {
	n := &r.Event.Net
	switch n.Op {
	case sensor.NetConnect:
		return typeConnStart, "connection_attempted"
	case sensor.NetSendEnd:
		if n.Flags&sensor.NetInterim != 0 {
			return typeConnInfo, "network_flow"
		}
		return typeConnEnd, "network_flow"
	case sensor.NetDNSAnswer:
		return typeProtocol, "lookup_result"
	}
	switch r.Net.Protocol { // send start
	case "dns":
		return typeProtocol, "lookup_requested"
	case "http":
		return typeProtocol, "http_request"
	case "tls":
		return typeProtocol, "tls_client_hello"
	}
	return typeInfo, "network_send"
}

func netEvent(r *correlate.Record) eventFields {
	types, action := netAction(r)
	ev := eventFields{kind: "event", category: "network", types: types, action: action, dataset: "vigil.network"}
	n := &r.Event.Net
	switch n.Op {
	case sensor.NetConnect:
		switch {
		case n.Ret == 0:
			ev.outcome = "success"
		case n.Ret == -int64(syscall.EINPROGRESS):
			ev.outcome = "unknown"
		default:
			ev.outcome = "failure"
		}
	case sensor.NetSendEnd:
		ev.span, ev.start = true, r.Net.Start
	}
	return ev
}

// The objects of a network record, each written with its members in key
// order: source.*, destination.*, network.*, and the protocol objects
// (dns, http, url, tls).

func (e *Encoder) source(r *correlate.Record) {
	j := &e.j
	n := &r.Event.Net
	if !n.Src.IP.IsValid() {
		return
	}
	j.open("source")
	send := n.Op == sensor.NetSendEnd
	if send {
		j.uint("bytes", n.Bytes)
	}
	e.ip("ip", n.Src.IP)
	if send {
		j.uint("packets", n.Packets)
	}
	j.uint("port", uint64(n.Src.Port))
	j.close()
}

func (e *Encoder) destination(r *correlate.Record) {
	j := &e.j
	n := &r.Event.Net
	if !n.Dst.IP.IsValid() && n.Dst.Path == "" && r.Net.Domain == "" {
		return
	}
	j.open("destination")
	switch {
	case n.Dst.IP.IsValid():
		e.ip("address", n.Dst.IP)
		j.strNonEmpty("domain", r.Net.Domain)
		e.ip("ip", n.Dst.IP)
		j.uint("port", uint64(n.Dst.Port))
	case n.Dst.Path != "":
		j.str("address", unixPath(n.Dst.Path))
		j.strNonEmpty("domain", r.Net.Domain)
	default:
		j.strNonEmpty("domain", r.Net.Domain)
	}
	j.close()
}

func (e *Encoder) networkObject(r *correlate.Record) {
	j := &e.j
	n := &r.Event.Net
	send := n.Op == sensor.NetSendEnd
	j.open("network")
	if send {
		j.uint("bytes", n.Bytes)
	}
	j.str("direction", "egress")
	var transport string
	switch n.Protocol {
	case syscall.IPPROTO_TCP:
		transport = "tcp"
		j.str("iana_number", "6")
	case syscall.IPPROTO_UDP:
		transport = "udp"
		j.str("iana_number", "17")
	}
	if send {
		j.uint("packets", n.Packets)
	}
	j.strNonEmpty("protocol", r.Net.Protocol)
	j.strNonEmpty("transport", transport)
	switch n.Dst.Family {
	case sensor.FamilyInet:
		j.str("type", "ipv4")
	case sensor.FamilyInet6:
		j.str("type", "ipv6")
	}
	j.close()
}

func (e *Encoder) ip(k string, ip netip.Addr) {
	j := &e.j
	j.key(k)
	j.b = append(j.b, '"')
	j.b = ip.AppendTo(j.b)
	j.b = append(j.b, '"')
	j.more = true
}

// unixPath shows an abstract socket name ("\x00name") as "@name".
func unixPath(p string) string {
	if strings.HasPrefix(p, "\x00") {
		return "@" + p[1:]
	}
	return p
}

func (e *Encoder) dns(m *netparse.DNSMessage) {
	j := &e.j
	j.open("dns")
	if len(m.Answers) > 0 {
		j.key("answers")
		j.b = append(j.b, '[')
		for i, a := range m.Answers {
			if i > 0 {
				j.b = append(j.b, ',')
			}
			j.b = append(j.b, '{')
			j.begin()
			j.strNonEmpty("data", a.Data)
			j.str("name", a.Name)
			j.uint("ttl", uint64(a.TTL))
			j.str("type", a.Type)
			j.end()
		}
		j.b = append(j.b, ']')
		j.more = true
	}
	j.key("id")
	j.b = append(j.b, '"')
	j.b = strconv.AppendUint(j.b, uint64(m.ID), 10)
	j.b = append(j.b, '"')
	j.more = true
	if len(m.Questions) > 0 {
		j.open("question")
		j.str("name", m.Questions[0].Name)
		j.str("type", m.Questions[0].Type)
		j.close()
	}
	first := true
	for _, a := range m.Answers {
		if !a.IP.IsValid() {
			continue
		}
		if first {
			j.key("resolved_ip")
			j.b = append(j.b, '[')
			first = false
		} else {
			j.b = append(j.b, ',')
		}
		j.b = append(j.b, '"')
		j.b = a.IP.AppendTo(j.b)
		j.b = append(j.b, '"')
	}
	if !first {
		j.b = append(j.b, ']')
		j.more = true
	}
	if m.Response {
		j.strNonEmpty("response_code", m.RCode)
		j.str("type", "answer")
	} else {
		j.str("type", "query")
	}
	j.close()
}

func (e *Encoder) httpObject(h *netparse.HTTPRequest) {
	j := &e.j
	j.open("http")
	j.open("request")
	j.str("method", h.Method)
	j.close()
	j.str("version", h.Version)
	j.close()
}

// url writes url.* of an HTTP request.
func (e *Encoder) url(h *netparse.HTTPRequest, port uint16) {
	j := &e.j
	scheme, host, port, path := "http", h.Host, port, h.Target
	if i := strings.Index(path, "://"); i > 0 && !strings.HasPrefix(path, "/") {
		// Absolute form (a request to a proxy): the URL names the origin.
		scheme, path = strings.ToLower(path[:i]), path[i+3:]
		end := strings.IndexAny(path, "/?#")
		if end < 0 {
			end = len(path)
		}
		host, path = path[:end], path[end:]
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		if at := strings.LastIndexByte(host, '@'); at >= 0 {
			host = host[at+1:] // userinfo is no part of the domain
		}
		port = 80
		if scheme == "https" {
			port = 443
		}
		if hp, err := netip.ParseAddrPort(host); err == nil {
			port = hp.Port()
		} else if name, p, ok := strings.Cut(host, ":"); ok && !strings.Contains(host, "]") {
			if n, err := strconv.ParseUint(p, 10, 16); err == nil {
				port = uint16(n)
			}
			host = name
		}
	}
	path, query, _ := strings.Cut(path, "?")
	j.open("url")
	if host != "" {
		if hp, err := netip.ParseAddrPort(host); err == nil {
			e.ip("domain", hp.Addr())
		} else if name, _, ok := strings.Cut(host, ":"); ok && !strings.Contains(host, "]") {
			j.str("domain", name)
		} else {
			j.str("domain", strings.Trim(host, "[]"))
		}
	}
	j.str("path", path)
	j.uint("port", uint64(port))
	if query != "" {
		j.str("query", query)
	}
	j.str("scheme", scheme)
	j.close()
}

// vigilNet writes Vigil.network.*, its members in key order.
func (e *Encoder) vigilNet(r *correlate.Record) {
	j := &e.j
	n := &r.Event.Net
	j.open("network")
	var reportedAt string
	switch n.Op {
	case sensor.NetConnect:
		if n.Dst.Family == sensor.FamilyUnix {
			j.str("family", "unix")
		}
		if n.Ret == -int64(syscall.EINPROGRESS) {
			j.bool("in_progress", true)
		}
	case sensor.NetSendEnd:
		j.uint("bytes_sent", n.Bytes)
		switch {
		case n.Flags&sensor.NetInterim != 0:
			reportedAt = "interval"
		case n.Flags&sensor.NetAtExit != 0:
			reportedAt = "exit"
		case n.Flags&sensor.NetDestChange != 0:
			reportedAt = "destination_change"
		case n.Flags&sensor.NetStale != 0:
			reportedAt = "descriptor_reuse"
		case n.Flags&sensor.NetAtStop != 0:
			reportedAt = "stop"
		default:
			reportedAt = "close"
		}
	case sensor.NetSendStart:
		j.uint("first_send_bytes", n.Bytes)
	case sensor.NetDNSAnswer:
		j.uint("datagram_bytes", n.Bytes)
	}
	if n.Flags&sensor.NetPayloadCut != 0 && n.Op != sensor.NetSendEnd {
		j.bool("payload_truncated", true)
	}
	j.strNonEmpty("reported_at", reportedAt)
	if n.Op == sensor.NetSendEnd {
		j.uint("sends", n.Packets)
	}
	switch n.SockType {
	case syscall.SOCK_STREAM:
		j.str("socket_type", "stream")
	case syscall.SOCK_DGRAM:
		j.str("socket_type", "dgram")
	case syscall.SOCK_SEQPACKET:
		j.str("socket_type", "seqpacket")
	case syscall.SOCK_RAW:
		j.str("socket_type", "raw")
	}
	j.close()
}
