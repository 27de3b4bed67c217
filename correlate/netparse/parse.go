package netparse

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"golang.org/x/net/dns/dnsmessage"
)

// Errors the parsers return.
var (
	ErrTruncated = errors.New("message continues past the captured bytes")
	ErrNotThis   = errors.New("not this protocol")
)

// DNSQuestion is one question of a DNS message.
type DNSQuestion struct {
	Name string // without the trailing dot
	Type string // "A", "AAAA", ...
}

// DNSAnswer is one answer record.
type DNSAnswer struct {
	Name string
	Type string
	TTL  uint32
	Data string     // the address, or the name for CNAME/PTR/NS
	IP   netip.Addr // A and AAAA records
}

// DNSMessage is a parsed DNS message.
type DNSMessage struct {
	ID        uint16
	Response  bool
	RCode     string // "NOERROR", "NXDOMAIN", ... (responses)
	Questions []DNSQuestion
	Answers   []DNSAnswer
}

// ParseDNS parses a DNS message (UDP payload): its header, questions and
// answers. The authority and additional sections are not read, so a head
// cut short within them still gives the answers. Answers of types other
// than A, AAAA, CNAME, PTR and NS are named but their data is not read.
func ParseDNS(b []byte) (*DNSMessage, error) {
	if len(b) < 12 {
		return nil, fmt.Errorf("dns: %w: %d bytes", ErrNotThis, len(b))
	}
	var p dnsmessage.Parser
	h, err := p.Start(b)
	if err != nil {
		return nil, fmt.Errorf("dns: %w", err)
	}
	m := &DNSMessage{ID: h.ID, Response: h.Response}
	if h.Response {
		m.RCode = rcodeName(h.RCode)
	}
	for {
		q, err := p.Question()
		if errors.Is(err, dnsmessage.ErrSectionDone) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("dns: question: %w", err)
		}
		m.Questions = append(m.Questions, DNSQuestion{Name: dnsName(q.Name), Type: dnsType(q.Type)})
	}
	if len(m.Questions) == 0 {
		return nil, fmt.Errorf("dns: %w: no question", ErrNotThis)
	}
	for {
		ah, err := p.AnswerHeader()
		if errors.Is(err, dnsmessage.ErrSectionDone) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("dns: answer: %w", err)
		}
		ans := DNSAnswer{Name: dnsName(ah.Name), Type: dnsType(ah.Type), TTL: ah.TTL}
		switch ah.Type {
		case dnsmessage.TypeA, dnsmessage.TypeAAAA:
			// An A record holds 4 bytes and an AAAA record 16: the
			// parser refuses other lengths.
			var ip netip.Addr
			if ah.Type == dnsmessage.TypeA {
				r, err := p.AResource()
				if err != nil {
					return nil, fmt.Errorf("dns: answer %s: %w", ans.Name, err)
				}
				ip = netip.AddrFrom4(r.A)
			} else {
				r, err := p.AAAAResource()
				if err != nil {
					return nil, fmt.Errorf("dns: answer %s: %w", ans.Name, err)
				}
				ip = netip.AddrFrom16(r.AAAA)
			}
			ans.IP, ans.Data = ip, ip.String()
		case dnsmessage.TypeCNAME:
			r, err := p.CNAMEResource()
			if err != nil {
				return nil, fmt.Errorf("dns: answer %s: %w", ans.Name, err)
			}
			ans.Data = dnsName(r.CNAME)
		case dnsmessage.TypePTR:
			r, err := p.PTRResource()
			if err != nil {
				return nil, fmt.Errorf("dns: answer %s: %w", ans.Name, err)
			}
			ans.Data = dnsName(r.PTR)
		case dnsmessage.TypeNS:
			r, err := p.NSResource()
			if err != nil {
				return nil, fmt.Errorf("dns: answer %s: %w", ans.Name, err)
			}
			ans.Data = dnsName(r.NS)
		default:
			if err := p.SkipAnswer(); err != nil {
				return nil, fmt.Errorf("dns: answer %s: %w", ans.Name, err)
			}
		}
		m.Answers = append(m.Answers, ans)
	}
	return m, nil
}

// dnsName is a name as written in messages, without the root's dot.
func dnsName(n dnsmessage.Name) string {
	s := n.String()
	if len(s) > 1 {
		s = strings.TrimSuffix(s, ".")
	}
	return s
}

// dnsTypes are the mnemonics of the record types agents' traffic carries.
var dnsTypes = map[dnsmessage.Type]string{
	dnsmessage.TypeA: "A", dnsmessage.TypeNS: "NS", dnsmessage.TypeCNAME: "CNAME",
	dnsmessage.TypeSOA: "SOA", dnsmessage.TypePTR: "PTR", dnsmessage.TypeMX: "MX",
	dnsmessage.TypeTXT: "TXT", dnsmessage.TypeAAAA: "AAAA", dnsmessage.TypeSRV: "SRV",
	dnsmessage.TypeOPT: "OPT", dnsmessage.TypeSVCB: "SVCB", dnsmessage.TypeHTTPS: "HTTPS",
	dnsmessage.TypeWKS: "WKS", dnsmessage.TypeHINFO: "HINFO", dnsmessage.TypeMINFO: "MINFO",
	dnsmessage.TypeAXFR: "AXFR", dnsmessage.TypeALL: "ANY", dnsmessage.Type(43): "DS",
	dnsmessage.Type(46): "RRSIG", dnsmessage.Type(47): "NSEC", dnsmessage.Type(48): "DNSKEY",
	dnsmessage.Type(52): "TLSA", dnsmessage.Type(257): "CAA",
}

// dnsType is a record type's mnemonic, or TYPEn (RFC 3597) for others.
func dnsType(t dnsmessage.Type) string {
	if s, ok := dnsTypes[t]; ok {
		return s
	}
	return "TYPE" + strconv.Itoa(int(t))
}

// rcodeName is the standard mnemonic of a DNS response code.
func rcodeName(c dnsmessage.RCode) string {
	switch c {
	case dnsmessage.RCodeSuccess:
		return "NOERROR"
	case dnsmessage.RCodeFormatError:
		return "FORMERR"
	case dnsmessage.RCodeServerFailure:
		return "SERVFAIL"
	case dnsmessage.RCodeNameError:
		return "NXDOMAIN"
	case dnsmessage.RCodeNotImplemented:
		return "NOTIMP"
	case dnsmessage.RCodeRefused:
		return "REFUSED"
	}
	return fmt.Sprintf("RCODE%d", uint16(c))
}

// HTTPRequest is the start of an HTTP/1.x request.
type HTTPRequest struct {
	Method  string
	Target  string // request target as sent: path and query, or an absolute URL
	Version string // "1.0" or "1.1"
	Host    string // Host header, if it was within the captured bytes
}

// ParseHTTPRequest reads an HTTP/1.x request line and, if captured, the
// Host header.
func ParseHTTPRequest(b []byte) (*HTTPRequest, error) {
	line, rest, ok := bytes.Cut(b, []byte("\r\n"))
	if !ok {
		if len(b) > 0 && isToken(firstWord(b)) && len(b) >= 4 {
			return nil, fmt.Errorf("http: %w", ErrTruncated)
		}
		return nil, fmt.Errorf("http: %w", ErrNotThis)
	}
	parts := strings.Split(string(line), " ")
	if len(parts) != 3 || !isToken([]byte(parts[0])) || parts[1] == "" ||
		(parts[2] != "HTTP/1.1" && parts[2] != "HTTP/1.0") {
		return nil, fmt.Errorf("http: %w", ErrNotThis)
	}
	for _, c := range []byte(parts[1]) {
		if c <= ' ' || c == 0x7f {
			return nil, fmt.Errorf("http: %w: control byte in target", ErrNotThis)
		}
	}
	r := &HTTPRequest{Method: parts[0], Target: parts[1], Version: parts[2][len("HTTP/"):]}
	for len(rest) > 0 {
		var h []byte
		h, rest, ok = bytes.Cut(rest, []byte("\r\n"))
		if !ok || len(h) == 0 {
			break // end of headers, or a header cut short
		}
		name, value, found := bytes.Cut(h, []byte(":"))
		if found && strings.EqualFold(string(name), "host") {
			if host := strings.TrimSpace(string(value)); validHostPort(host) {
				r.Host = host
			}
			break
		}
	}
	return r, nil
}

func firstWord(b []byte) []byte {
	if i := bytes.IndexByte(b, ' '); i >= 0 {
		return b[:i]
	}
	return b
}

// isToken: an HTTP method is a token of upper-case letters here.
func isToken(b []byte) bool {
	if len(b) == 0 || len(b) > 16 {
		return false
	}
	for _, c := range b {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}

// ClientHello is what Vigil reads of a TLS ClientHello.
type ClientHello struct {
	Version    uint16 // legacy_version of the hello (0x0303 for TLS 1.2 and 1.3)
	ServerName string // SNI host name, "" when the hello has none
}

// ParseClientHello reads a TLS record holding a ClientHello and returns
// its server name (SNI).
func ParseClientHello(b []byte) (*ClientHello, error) {
	// Record: type(1)=22 handshake, version(2), length(2).
	if len(b) < 5 || b[0] != 22 || b[1] != 3 {
		return nil, fmt.Errorf("tls: %w", ErrNotThis)
	}
	// The record says how long it is: less captured means cut.
	recordCut := len(b)-5 < int(binary.BigEndian.Uint16(b[3:5]))
	r := reader{b: b[5:]}
	// Handshake: type(1)=1 client_hello, length(3).
	if t, ok := r.u8(); !ok || t != 1 {
		return nil, fmt.Errorf("tls: %w: not a ClientHello", ErrNotThis)
	}
	if _, ok := r.skip(3); !ok {
		return nil, fmt.Errorf("tls: %w", ErrTruncated)
	}
	h := &ClientHello{}
	v, ok := r.u16()
	if !ok {
		return nil, fmt.Errorf("tls: %w", ErrTruncated)
	}
	h.Version = v
	if _, ok := r.skip(32); !ok { // random
		return nil, fmt.Errorf("tls: %w", ErrTruncated)
	}
	for _, lenBytes := range []int{1, 2, 1} { // session id, cipher suites, compression
		if _, ok := r.vector(lenBytes); !ok {
			return nil, fmt.Errorf("tls: %w", ErrTruncated)
		}
	}
	if r.empty() {
		if recordCut {
			return nil, fmt.Errorf("tls: %w", ErrTruncated)
		}
		return h, nil // no extensions
	}
	before := r
	exts, ok := r.vector(2)
	if !ok {
		// Read what was captured of the extensions, after their length.
		exts = reader{b: before.rest()}
		if len(exts.b) < 2 {
			return nil, fmt.Errorf("tls: %w", ErrTruncated)
		}
		exts.b = exts.b[2:]
	}
	for !exts.empty() {
		typ, ok1 := exts.u16()
		body, ok2 := exts.vector(2)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("tls: server name: %w", ErrTruncated)
		}
		if typ != 0 { // server_name
			continue
		}
		list, ok := body.vector(2)
		for ok && !list.empty() {
			nameType, ok1 := list.u8()
			name, ok2 := list.vector(2)
			if !ok1 || !ok2 {
				return nil, fmt.Errorf("tls: server name: %w", ErrNotThis)
			}
			if nameType == 0 {
				if !validHost(name.b) {
					return nil, fmt.Errorf("tls: server name: %w: not a host name", ErrNotThis)
				}
				h.ServerName = string(name.b)
				return h, nil
			}
		}
		return nil, fmt.Errorf("tls: server name: %w", ErrNotThis)
	}
	if !ok {
		return nil, fmt.Errorf("tls: %w", ErrTruncated)
	}
	return h, nil
}

// validHostPort accepts "name", "name:port", "ip:port" and "[v6]:port".
func validHostPort(s string) bool {
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return false
		}
		if _, err := netip.ParseAddr(s[1:end]); err != nil {
			return false
		}
		s = s[end+1:]
		if s == "" {
			return true
		}
		if s[0] != ':' {
			return false
		}
		return validPort(s[1:])
	}
	host, port, hasPort := strings.Cut(s, ":")
	if hasPort && !validPort(port) {
		return false
	}
	return validHost([]byte(host))
}

func validPort(s string) bool {
	if s == "" || len(s) > 5 {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func validHost(b []byte) bool {
	if len(b) == 0 || len(b) > 253 {
		return false
	}
	for _, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

// reader walks a byte slice without ever reading past its end.
type reader struct{ b []byte }

func (r *reader) empty() bool  { return len(r.b) == 0 }
func (r *reader) rest() []byte { return r.b }

func (r *reader) skip(n int) ([]byte, bool) {
	if n < 0 || len(r.b) < n {
		return nil, false
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out, true
}

func (r *reader) u8() (byte, bool) {
	b, ok := r.skip(1)
	if !ok {
		return 0, false
	}
	return b[0], true
}

func (r *reader) u16() (uint16, bool) {
	b, ok := r.skip(2)
	if !ok {
		return 0, false
	}
	return binary.BigEndian.Uint16(b), true
}

// vector reads a length-prefixed byte string with a lenBytes-long length.
func (r *reader) vector(lenBytes int) (reader, bool) {
	hdr, ok := r.skip(lenBytes)
	if !ok {
		return reader{}, false
	}
	n := 0
	for _, c := range hdr {
		n = n<<8 | int(c)
	}
	body, ok := r.skip(n)
	return reader{b: body}, ok
}
