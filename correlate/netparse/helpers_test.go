package netparse

import (
	"crypto/tls"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// dnsBytes serializes a DNS message with gopacket, filling in the counts.
func dnsBytes(t testing.TB, d *layers.DNS) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, d); err != nil {
		t.Fatalf("serialize DNS: %v", err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func question(name string, typ layers.DNSType) layers.DNSQuestion {
	return layers.DNSQuestion{Name: []byte(name), Type: typ, Class: layers.DNSClassIN}
}

func aRecord(name, ip string, ttl uint32) layers.DNSResourceRecord {
	return layers.DNSResourceRecord{Name: []byte(name), Type: layers.DNSTypeA, Class: layers.DNSClassIN, TTL: ttl,
		IP: net.ParseIP(ip).To4()}
}

func aaaaRecord(name, ip string, ttl uint32) layers.DNSResourceRecord {
	return layers.DNSResourceRecord{Name: []byte(name), Type: layers.DNSTypeAAAA, Class: layers.DNSClassIN, TTL: ttl,
		IP: net.ParseIP(ip)}
}

func cnameRecord(name, target string, ttl uint32) layers.DNSResourceRecord {
	return layers.DNSResourceRecord{Name: []byte(name), Type: layers.DNSTypeCNAME, Class: layers.DNSClassIN, TTL: ttl,
		CNAME: []byte(target)}
}

// dnsQuery is a recursive query for one name.
func dnsQuery(t testing.TB, id uint16, name string, typ layers.DNSType) []byte {
	return dnsBytes(t, &layers.DNS{ID: id, RD: true, OpCode: layers.DNSOpCodeQuery,
		Questions: []layers.DNSQuestion{question(name, typ)}})
}

// dnsAnswer is a NOERROR response to a query for name.
func dnsAnswer(t testing.TB, id uint16, name string, typ layers.DNSType, answers ...layers.DNSResourceRecord) []byte {
	return dnsBytes(t, &layers.DNS{ID: id, QR: true, RD: true, RA: true, OpCode: layers.DNSOpCodeQuery,
		ResponseCode: layers.DNSResponseCodeNoErr,
		Questions:    []layers.DNSQuestion{question(name, typ)}, Answers: answers})
}

// handQuery is a query for "example.com" A, written out by hand.
var handQuery = []byte{
	0x12, 0x34, // id
	0x01, 0x00, // flags: RD
	0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // qd 1, an 0, ns 0, ar 0
	7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0,
	0x00, 0x01, 0x00, 0x01, // type A, class IN
}

// handAnswer answers handQuery with two A records whose names point back
// at the question (compression), written out by hand.
var handAnswer = []byte{
	0x12, 0x34, // id
	0x81, 0x80, // flags: QR, RD, RA, NOERROR
	0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, // qd 1, an 2
	7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0,
	0x00, 0x01, 0x00, 0x01,
	0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x0e, 0x10, 0x00, 0x04, 192, 0, 2, 1, // TTL 3600
	0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x3c, 0x00, 0x04, 198, 51, 100, 7, // TTL 60
}

// clientHello runs a crypto/tls client against a pipe and returns the
// first TLS record it sends: a real ClientHello.
func clientHello(t testing.TB, cfg *tls.Config) []byte {
	t.Helper()
	c, s := net.Pipe()
	got := make(chan []byte, 1)
	go func() {
		defer s.Close()
		hdr := make([]byte, 5)
		if _, err := io.ReadFull(s, hdr); err != nil {
			got <- nil
			return
		}
		body := make([]byte, binary.BigEndian.Uint16(hdr[3:]))
		if _, err := io.ReadFull(s, body); err != nil {
			got <- nil
			return
		}
		got <- append(hdr, body...)
	}()
	cl := tls.Client(c, cfg)
	_ = cl.SetDeadline(time.Now().Add(10 * time.Second))
	_ = cl.Handshake() // fails once the other end closes
	_ = cl.Close()
	rec := <-got
	if rec == nil {
		t.Fatal("no ClientHello record read from the pipe")
	}
	return rec
}

const testSNI = "sni.example.test"

func helloWithSNI(t testing.TB) []byte {
	return clientHello(t, &tls.Config{ServerName: testSNI})
}

func helloWithoutSNI(t testing.TB) []byte {
	return clientHello(t, &tls.Config{InsecureSkipVerify: true})
}

// helloLayout is where the parts of a ClientHello record start.
type helloLayout struct {
	extsStart  int // offset of the extensions' 2-byte length (end of compression methods)
	sniExtEnd  int // offset just past the server_name extension, 0 if none
	sniNameOff int // offset of the host name's first byte, 0 if none
}

// layout walks a well-formed ClientHello record (test input only).
func layout(t testing.TB, b []byte) helloLayout {
	t.Helper()
	o := 5 + 4 + 2 + 32
	o += 1 + int(b[o])                           // session id
	o += 2 + int(binary.BigEndian.Uint16(b[o:])) // cipher suites
	o += 1 + int(b[o])                           // compression methods
	l := helloLayout{extsStart: o}
	end := o + 2 + int(binary.BigEndian.Uint16(b[o:]))
	for o += 2; o < end; {
		typ, n := binary.BigEndian.Uint16(b[o:]), int(binary.BigEndian.Uint16(b[o+2:]))
		if typ == 0 {
			l.sniExtEnd = o + 4 + n
			l.sniNameOff = o + 4 + 2 + 1 + 2 // list length, name type, name length
		}
		o += 4 + n
	}
	if end != len(b) {
		t.Fatalf("extensions end at %d, record at %d", end, len(b))
	}
	return l
}
