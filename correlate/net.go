package correlate

import (
	"net/netip"
	"time"

	"github.com/vigilsec/vigil/correlate/netparse"
	"github.com/vigilsec/vigil/sensor"
)

// NetRecord is what a network event says beyond the kernel's facts: the
// destination's name, and what the socket's first payload was.
type NetRecord struct {
	// Domain names the destination address, from a DNS answer a tracked
	// process received earlier ("" when none was seen).
	Domain string
	// Protocol is "dns", "http" or "tls" when the first payload parsed
	// as such; "" otherwise.
	Protocol string
	DNS      *netparse.DNSMessage  // a DNS query (send start) or answer
	HTTP     *netparse.HTTPRequest // first payload was an HTTP request
	TLS      *netparse.ClientHello // first payload was a TLS ClientHello
	Start    time.Time             // flows: when the first send happened
}

// socketState is what the table remembers of a socket between its first
// send and its totals.
type socketState struct {
	// dst is where a Unix socket was connected (the kernel reports no
	// destination for sends on a connected Unix socket).
	dst      sensor.Endpoint
	protocol string
	http     *netparse.HTTPRequest
	tls      *netparse.ClientHello
	dns      *netparse.DNSMessage
}

// unknownDst: neither an address nor a path.
func unknownDst(e *sensor.Endpoint) bool { return !e.IP.IsValid() && e.Path == "" }

// maxSocketStates bounds the Unix socket destinations a process's table
// entry remembers (connected sockets that never sent stay until it exits).
const maxSocketStates = 1024

// maxDNSNames bounds the address-to-name cache.
const maxDNSNames = 65536

// dnsCache maps addresses to the names DNS answers gave them, forgetting
// the oldest entry once full.
type dnsCache struct {
	names map[netip.Addr]string
	order []netip.Addr
	next  int
}

func (c *dnsCache) put(ip netip.Addr, name string) {
	if c.names == nil {
		c.names = make(map[netip.Addr]string)
	}
	if _, ok := c.names[ip]; ok {
		c.names[ip] = name
		return
	}
	if len(c.order) < maxDNSNames {
		c.order = append(c.order, ip)
	} else {
		delete(c.names, c.order[c.next])
		c.order[c.next] = ip
		c.next = (c.next + 1) % maxDNSNames
	}
	c.names[ip] = name
}

func (c *dnsCache) get(ip netip.Addr) string { return c.names[ip] }

// handleNet fills t.rec for a network event; false means no record.
func (t *Table) handleNet(ev *sensor.Event) bool {
	p := t.subject(ev)
	n := &ev.Net
	t.net = NetRecord{}
	t.rec.Process, t.rec.Parent, t.rec.Net = p, p.Parent, &t.net
	if n.Dst.IP.IsValid() {
		t.net.Domain = t.dns.get(n.Dst.IP)
	}
	switch n.Op {
	case sensor.NetConnect:
		if n.Dst.Family == sensor.FamilyUnix && n.Dst.Path != "" && n.Ret == 0 && len(p.sockets) < maxSocketStates {
			if p.sockets == nil {
				p.sockets = make(map[uint64]*socketState)
			}
			p.sockets[n.Cookie] = &socketState{dst: n.Dst}
		}
		return true
	case sensor.NetSendStart:
		st := &socketState{}
		if old := p.sockets[n.Cookie]; old != nil {
			st.dst = old.dst
		}
		if unknownDst(&n.Dst) && st.dst.Family != 0 {
			n.Dst = st.dst
		}
		if m, err := netparse.ParseDNS(n.Payload); err == nil && !m.Response && n.Dst.Port == 53 {
			st.protocol, st.dns = "dns", m
		} else if h, err := netparse.ParseHTTPRequest(n.Payload); err == nil {
			h.Target = t.cfg.Redactor.String(h.Target)
			st.protocol, st.http = "http", h
		} else if c, err := netparse.ParseClientHello(n.Payload); err == nil {
			st.protocol, st.tls = "tls", c
		}
		if p.sockets == nil {
			p.sockets = make(map[uint64]*socketState)
		}
		p.sockets[n.Cookie] = st
		if st.protocol == "" {
			return false
		}
		t.net.Protocol, t.net.DNS, t.net.HTTP, t.net.TLS = st.protocol, st.dns, st.http, st.tls
		return true
	case sensor.NetSendEnd:
		if st := p.sockets[n.Cookie]; st != nil {
			if unknownDst(&n.Dst) && st.dst.Family != 0 {
				n.Dst = st.dst
			}
			t.net.Protocol, t.net.HTTP, t.net.TLS = st.protocol, st.http, st.tls
			if st.dns != nil {
				t.net.DNS = st.dns
			}
			if n.Flags&sensor.NetInterim == 0 {
				delete(p.sockets, n.Cookie) // the last report of this socket
			}
		}
		t.net.Start = t.cfg.Times.Time(n.First)
		return true
	case sensor.NetDNSAnswer:
		m, err := netparse.ParseDNS(n.Payload)
		if err != nil || !m.Response {
			t.stats.UnparsedDNS++
			return false
		}
		asked := m.Questions[0].Name
		for _, a := range m.Answers {
			if a.IP.IsValid() {
				t.dns.put(a.IP, asked)
			}
		}
		t.net.Protocol, t.net.DNS = "dns", m
		return true
	}
	return false
}
