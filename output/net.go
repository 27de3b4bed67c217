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

// netAction is the ECS event.type list and event.action of a network event.
func netAction(r *correlate.Record) (types []string, action string) {
	n := &r.Event.Net
	switch n.Op {
	case sensor.NetConnect:
		return []string{"connection", "start"}, "connection_attempted"
	case sensor.NetSendEnd:
		if n.Flags&sensor.NetInterim != 0 {
			return []string{"connection", "info"}, "network_flow"
		}
		return []string{"connection", "end"}, "network_flow"
	case sensor.NetDNSAnswer:
		return []string{"protocol"}, "lookup_result"
	}
	switch r.Net.Protocol { // send start
	case "dns":
		return []string{"protocol"}, "lookup_requested"
	case "http":
		return []string{"protocol"}, "http_request"
	case "tls":
		return []string{"protocol"}, "tls_client_hello"
	}
	return []string{"info"}, "network_send"
}

func (e *Encoder) netEventHead(r *correlate.Record) {
	j := &e.j
	types, action := netAction(r)
	j.str("kind", "event")
	j.strs("category", "network")
	j.strs("type", types...)
	j.str("action", action)
	j.str("module", "vigil")
	j.str("dataset", "vigil.network")
	n := &r.Event.Net
	switch n.Op {
	case sensor.NetConnect:
		switch {
		case n.Ret == 0:
			j.str("outcome", "success")
		case n.Ret == -int64(syscall.EINPROGRESS):
			j.str("outcome", "unknown")
		default:
			j.str("outcome", "failure")
		}
	case sensor.NetSendEnd:
		j.time("start", r.Net.Start)
		j.time("end", r.Time)
	}
}

// network writes source.*, destination.*, network.* and the protocol
// objects (dns, http, url, tls) of a network record.
func (e *Encoder) network(r *correlate.Record) {
	j := &e.j
	n := &r.Event.Net
	if n.Src.IP.IsValid() {
		j.open("source")
		e.ip("ip", n.Src.IP)
		j.uint("port", uint64(n.Src.Port))
		if n.Op == sensor.NetSendEnd {
			j.uint("bytes", n.Bytes)
			j.uint("packets", n.Packets)
		}
		j.close()
	}
	if n.Dst.IP.IsValid() || n.Dst.Path != "" || r.Net.Domain != "" {
		j.open("destination")
		switch {
		case n.Dst.IP.IsValid():
			e.ip("ip", n.Dst.IP)
			e.ip("address", n.Dst.IP)
			j.uint("port", uint64(n.Dst.Port))
		case n.Dst.Path != "":
			j.str("address", unixPath(n.Dst.Path))
		}
		j.strNonEmpty("domain", r.Net.Domain)
		j.close()
	}

	j.open("network")
	switch n.Protocol {
	case syscall.IPPROTO_TCP:
		j.str("transport", "tcp")
		j.str("iana_number", "6")
	case syscall.IPPROTO_UDP:
		j.str("transport", "udp")
		j.str("iana_number", "17")
	}
	switch n.Dst.Family {
	case sensor.FamilyInet:
		j.str("type", "ipv4")
	case sensor.FamilyInet6:
		j.str("type", "ipv6")
	}
	j.strNonEmpty("protocol", r.Net.Protocol)
	j.str("direction", "egress")
	if n.Op == sensor.NetSendEnd {
		j.uint("bytes", n.Bytes)
		j.uint("packets", n.Packets)
	}
	j.close()

	if n.Op == sensor.NetConnect && n.Ret < 0 && n.Ret != -int64(syscall.EINPROGRESS) {
		errno := syscall.Errno(-n.Ret)
		j.open("error")
		j.str("code", errnoName(errno))
		j.str("message", errno.Error())
		j.close()
	}
	if m := r.Net.DNS; m != nil && (n.Op == sensor.NetSendStart || n.Op == sensor.NetDNSAnswer) {
		e.dns(m)
	}
	if h := r.Net.HTTP; h != nil && n.Op == sensor.NetSendStart {
		e.http(h, n.Dst.Port)
	}
	if c := r.Net.TLS; c != nil && n.Op == sensor.NetSendStart && c.ServerName != "" {
		j.open("tls")
		j.open("client")
		j.str("server_name", c.ServerName)
		j.close()
		j.close()
	}
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
	j.str("id", strconv.FormatUint(uint64(m.ID), 10))
	if m.Response {
		j.str("type", "answer")
		j.strNonEmpty("response_code", m.RCode)
	} else {
		j.str("type", "query")
	}
	if len(m.Questions) > 0 {
		j.open("question")
		j.str("name", m.Questions[0].Name)
		j.str("type", m.Questions[0].Type)
		j.close()
	}
	if len(m.Answers) > 0 {
		j.key("answers")
		j.b = append(j.b, '[')
		for i, a := range m.Answers {
			if i > 0 {
				j.b = append(j.b, ',')
			}
			j.b = append(j.b, '{')
			j.begin()
			j.str("name", a.Name)
			j.str("type", a.Type)
			j.uint("ttl", uint64(a.TTL))
			j.strNonEmpty("data", a.Data)
			j.end()
		}
		j.b = append(j.b, ']')
		j.more = true
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
	}
	j.close()
}

func (e *Encoder) http(h *netparse.HTTPRequest, port uint16) {
	j := &e.j
	j.open("http")
	j.str("version", h.Version)
	j.open("request")
	j.str("method", h.Method)
	j.close()
	j.close()

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
	j.str("scheme", scheme)
	if host != "" {
		if hp, err := netip.ParseAddrPort(host); err == nil {
			e.ip("domain", hp.Addr())
		} else if name, _, ok := strings.Cut(host, ":"); ok && !strings.Contains(host, "]") {
			j.str("domain", name)
		} else {
			j.str("domain", strings.Trim(host, "[]"))
		}
	}
	j.uint("port", uint64(port))
	j.str("path", path)
	if query != "" {
		j.str("query", query)
	}
	j.close()
}

// vigilNet writes Vigil.network.*.
func (e *Encoder) vigilNet(r *correlate.Record) {
	j := &e.j
	n := &r.Event.Net
	j.open("network")
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
	switch n.Op {
	case sensor.NetConnect:
		if n.Ret == -int64(syscall.EINPROGRESS) {
			j.bool("in_progress", true)
		}
		if n.Dst.Family == sensor.FamilyUnix {
			j.str("family", "unix")
		}
	case sensor.NetSendEnd:
		j.uint("bytes_sent", n.Bytes)
		j.uint("sends", n.Packets)
		switch {
		case n.Flags&sensor.NetInterim != 0:
			j.str("reported_at", "interval")
		case n.Flags&sensor.NetAtExit != 0:
			j.str("reported_at", "exit")
		case n.Flags&sensor.NetDestChange != 0:
			j.str("reported_at", "destination_change")
		case n.Flags&sensor.NetStale != 0:
			j.str("reported_at", "descriptor_reuse")
		default:
			j.str("reported_at", "close")
		}
	case sensor.NetSendStart:
		j.uint("first_send_bytes", n.Bytes)
	case sensor.NetDNSAnswer:
		j.uint("datagram_bytes", n.Bytes)
	}
	if n.Flags&sensor.NetPayloadCut != 0 && n.Op != sensor.NetSendEnd {
		j.bool("payload_truncated", true)
	}
	j.close()
}
