//go:build linux

package sensor

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

func netEvents(evs []Event, pid uint32) []Event {
	var out []Event
	for _, ev := range evs {
		if ev.Kind == KindNet && ev.Task.PID == pid {
			out = append(out, ev)
		}
	}
	return out
}

func describeNet(evs []Event) string {
	var b bytes.Buffer
	for _, ev := range evs {
		n := ev.Net
		fmt.Fprintf(&b, "%s ret=%d dst=%v:%d %q src=%v:%d bytes=%d packets=%d proto=%d type=%d flags=%#x payload=%q\n",
			n.Op, n.Ret, n.Dst.IP, n.Dst.Port, n.Dst.Path, n.Src.IP, n.Src.Port, n.Bytes, n.Packets, n.Protocol, n.SockType, n.Flags, n.Payload)
	}
	return b.String()
}

func portOf(a net.Addr) uint16 { return uint16(a.(*net.TCPAddr).Port) }

// Real sockets against local servers: connect, exact send totals, the
// head of the first payload, DNS queries and answers, UNIX sockets.
func TestNetEvents(t *testing.T) {
	bin := testenv.Program(t, "github.com/vigilsec/vigil/sensor/testprogs/netops")
	tcp := testenv.Sink(t, "127.0.0.1:0", nil)
	httpd := testenv.Sink(t, "127.0.0.1:0", []byte("HTTP/1.1 204 No Content\r\n\r\n"))
	tlsd := testenv.Sink(t, "127.0.0.1:0", []byte("not TLS\r\n"))
	answerIP := netip.MustParseAddr("127.0.20.1")
	after := testenv.Sink(t, "127.0.20.1:0", nil)
	testenv.DNSServer(t, "127.0.10.53:53", "svc.vigil.test", answerIP)
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	sock := filepath.Join(t.TempDir(), "agent.sock")
	ul, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ul.Close()
	go func() {
		for {
			c, err := ul.Accept()
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, c)
			c.Close()
		}
	}()

	r := startSensor(t, Config{})
	cmd, tree := gated(t, r.Sensor, 1, bin,
		"-tcp", tcp.String(), "-bytes", "4500",
		"-dns", "127.0.10.53:53", "-name", "svc.vigil.test", "-port", strconv.Itoa(int(portOf(after))),
		"-http", httpd.String(),
		"-tls", tlsd.String(), "-sni", "sni.vigil.test",
		"-udp", udp.LocalAddr().String(),
		"-unix", sock)
	all := waitTree(t, r, cmd, tree)
	if !cmd.ProcessState.Success() {
		t.Fatalf("netops failed: %v", cmd.ProcessState)
	}
	evs := netEvents(all, tree.RootPID)
	find := func(what string, match func(*Net) bool) *Net {
		t.Helper()
		for i := range evs {
			if match(&evs[i].Net) {
				return &evs[i].Net
			}
		}
		t.Fatalf("no %s among:\n%s", what, describeNet(evs))
		return nil
	}
	to := func(a net.Addr) func(*Net) bool {
		ap := netip.MustParseAddrPort(a.String())
		return func(n *Net) bool { return n.Dst.IP == ap.Addr() && n.Dst.Port == ap.Port() }
	}
	op := func(o NetOp, m func(*Net) bool) func(*Net) bool {
		return func(n *Net) bool { return n.Op == o && m(n) }
	}
	inProgress := func(ret int64) bool { return ret == 0 || ret == -int64(syscall.EINPROGRESS) }

	// TCP: connect, then exactly 4500 bytes in five writes.
	c := find("TCP connect", op(NetConnect, to(tcp)))
	if !inProgress(c.Ret) || c.Protocol != syscall.IPPROTO_TCP || c.SockType != syscall.SOCK_STREAM ||
		c.Dst.Family != FamilyInet || c.Src.IP != netip.MustParseAddr("127.0.0.1") || c.Src.Port == 0 {
		t.Errorf("TCP connect: %+v", *c)
	}
	end := find("TCP totals", op(NetSendEnd, to(tcp)))
	if end.Bytes != 4500 || end.Packets != 5 || end.Cookie != c.Cookie || end.Flags != 0 || end.First == 0 {
		t.Errorf("TCP totals: %+v", *end)
	}

	// DNS: the query out, the answer back, then a connect to the answer.
	q := find("DNS query", op(NetSendStart, func(n *Net) bool { return n.Dst.Port == 53 }))
	if q.Dst.IP != netip.MustParseAddr("127.0.10.53") || q.Protocol != syscall.IPPROTO_UDP || !bytes.Contains(q.Payload, []byte("\x03svc\x05vigil\x04test\x00")) {
		t.Errorf("DNS query: %+v", *q)
	}
	a := find("DNS answer", func(n *Net) bool { return n.Op == NetDNSAnswer })
	if a.Dst.IP != netip.MustParseAddr("127.0.10.53") || a.Dst.Port != 53 || a.Bytes != uint64(len(a.Payload)) ||
		!bytes.Contains(a.Payload, answerIP.AsSlice()) {
		t.Errorf("DNS answer: %+v", *a)
	}
	find("connect to the answered address", op(NetConnect, to(after)))

	// HTTP: the request line and Host arrive as the payload head.
	h := find("HTTP first send", op(NetSendStart, to(httpd)))
	const req = "GET /v1/items?api_key=s3cret&page=2 HTTP/1.1\r\nHost: api.vigil.test\r\nUser-Agent: netops\r\n\r\n"
	if string(h.Payload) != req || h.Bytes != uint64(len(req)) || h.Flags&NetPayloadCut != 0 {
		t.Errorf("HTTP first send: %+v", *h)
	}
	if e := find("HTTP totals", op(NetSendEnd, to(httpd))); e.Bytes != uint64(len(req)) || e.Packets != 1 {
		t.Errorf("HTTP totals: %+v", *e)
	}

	// TLS: a ClientHello whose head carries the server name.
	tl := find("TLS first send", op(NetSendStart, to(tlsd)))
	if len(tl.Payload) == 0 || tl.Payload[0] != 22 || !bytes.Contains(tl.Payload, []byte("sni.vigil.test")) {
		t.Errorf("TLS first send: %+v", *tl)
	}

	// UDP: three sendto calls to one destination, 60 bytes.
	u := find("UDP totals", op(NetSendEnd, to(udp.LocalAddr())))
	if u.Bytes != 60 || u.Packets != 3 || u.Protocol != syscall.IPPROTO_UDP {
		t.Errorf("UDP totals: %+v", *u)
	}

	// UNIX: the path connected to, and 5 bytes.
	un := find("UNIX connect", func(n *Net) bool { return n.Op == NetConnect && n.Dst.Family == FamilyUnix })
	if un.Dst.Path != sock || !inProgress(un.Ret) {
		t.Errorf("UNIX connect: %+v", *un)
	}
	if e := find("UNIX totals", func(n *Net) bool { return n.Op == NetSendEnd && n.Dst.Family == FamilyUnix }); e.Bytes != 5 || e.Cookie != un.Cookie {
		t.Errorf("UNIX totals: %+v", *e)
	}
	// Only the tree's sockets: the servers in this test process are not recorded.
	for _, ev := range all {
		if ev.Kind == KindNet && ev.Tree != tree {
			t.Errorf("network record outside the tree: %+v", ev.Net)
		}
	}
}

// A destination beyond loopback: a TCP server in a network namespace
// reached over a veth pair this test creates (documentation addresses
// 198.51.100.0/24, only inside the pair).
func TestNetVeth(t *testing.T) {
	requireBPF(t)
	bin := testenv.Program(t, "github.com/vigilsec/vigil/sensor/testprogs/netops")
	server := vethServer(t)
	r := startSensor(t, Config{})
	cmd, tree := gated(t, r.Sensor, 1, bin, "-tcp", server.String(), "-bytes", "3000")
	all := waitTree(t, r, cmd, tree)
	if !cmd.ProcessState.Success() {
		t.Fatalf("netops failed: %v", cmd.ProcessState)
	}
	evs := netEvents(all, tree.RootPID)
	dst := netip.MustParseAddrPort(server.String())
	var connect, end *Net
	for i := range evs {
		n := &evs[i].Net
		if n.Dst.IP == dst.Addr() && n.Dst.Port == dst.Port() {
			switch n.Op {
			case NetConnect:
				connect = n
			case NetSendEnd:
				end = n
			}
		}
	}
	if connect == nil || end == nil {
		t.Fatalf("no connect or totals to %s:\n%s", dst, describeNet(evs))
	}
	if connect.Src.IP != netip.MustParseAddr("198.51.100.1") || end.Bytes != 3000 || end.Packets != 3 {
		t.Errorf("connect %+v, totals %+v", *connect, *end)
	}
}

// vethServer creates a network namespace joined to this one by a veth
// pair (198.51.100.1 here, 198.51.100.2 there) and runs a TCP sink in it.
func vethServer(t testing.TB) net.Addr {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	host, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	name := "vigiltest" + strconv.Itoa(os.Getpid())
	ns, err := netns.NewNamed(name) // switches this thread into it
	if err != nil {
		t.Fatalf("create network namespace: %v", err)
	}
	t.Cleanup(func() { ns.Close(); _ = netns.DeleteNamed(name) })
	if err := netns.Set(host); err != nil {
		t.Fatal(err)
	}
	hostIf, peerIf := "vgl"+strconv.Itoa(os.Getpid()%10000)+"a", "vgl"+strconv.Itoa(os.Getpid()%10000)+"b"
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: hostIf}, PeerName: peerIf}
	if err := netlink.LinkAdd(veth); err != nil {
		t.Fatalf("create veth pair: %v", err)
	}
	t.Cleanup(func() { _ = netlink.LinkDel(veth) })
	mustAddr := func(h *netlink.Handle, link, cidr string) {
		t.Helper()
		l, err := h.LinkByName(link)
		if err != nil {
			t.Fatal(err)
		}
		addr, _ := netlink.ParseAddr(cidr)
		if err := h.AddrAdd(l, addr); err != nil && !errors.Is(err, syscall.EEXIST) {
			t.Fatal(err)
		}
		if err := h.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
	}
	peer, err := netlink.LinkByName(peerIf)
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetNsFd(peer, int(ns)); err != nil {
		t.Fatal(err)
	}
	hh, err := netlink.NewHandle()
	if err != nil {
		t.Fatal(err)
	}
	defer hh.Close()
	mustAddr(hh, hostIf, "198.51.100.1/24")
	nh, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer nh.Close()
	mustAddr(nh, peerIf, "198.51.100.2/24")
	if lo, err := nh.LinkByName("lo"); err == nil {
		_ = nh.LinkSetUp(lo)
	}
	// The listening socket belongs to the namespace it is created in.
	if err := netns.Set(ns); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "198.51.100.2:0")
	if serr := netns.Set(host); serr != nil {
		t.Fatal(serr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	return ln.Addr()
}

// A connection that stays open is reported at the interval with its
// totals so far, then once more at close with the final totals.
func TestSendInterim(t *testing.T) {
	srv := testenv.Sink(t, "127.0.0.1:0", nil)
	ap := netip.MustParseAddrPort(srv.String())
	r := startSensor(t, Config{SendReportInterval: 150 * time.Millisecond})
	bin := testenv.Program(t, "github.com/vigilsec/vigil/sensor/testprogs/netops")
	cmd, tree := gated(t, r.Sensor, 1, bin, "-slow", srv.String())
	evs := netEvents(waitTree(t, r, cmd, tree), tree.RootPID)
	var interim, final []Net
	for _, ev := range evs {
		if ev.Net.Op == NetSendEnd && ev.Net.Dst.Port == ap.Port() {
			if ev.Net.Flags&NetInterim != 0 {
				interim = append(interim, ev.Net)
			} else {
				final = append(final, ev.Net)
			}
		}
	}
	if len(interim) == 0 || len(final) != 1 {
		t.Fatalf("%d interim and %d final reports:\n%s", len(interim), len(final), describeNet(evs))
	}
	if interim[0].Bytes != 3 || interim[0].Packets != 1 {
		t.Errorf("first interim report: %+v", interim[0])
	}
	if final[0].Bytes != 5 || final[0].Packets != 2 || final[0].Cookie != interim[0].Cookie {
		t.Errorf("final report: %+v", final[0])
	}
	for _, ev := range evs {
		if ev.Partial && (ev.Task.PID != tree.RootPID || NSToTicks(ev.Task.StartTime) != NSToTicks(tree.RootStart) || ev.Tree != tree) {
			t.Errorf("interim report names the process wrongly: %+v", ev.Task)
		}
	}
}

// IPv6: the destination and local addresses of a TCP connection over
// the IPv6 loopback.
func TestNetIPv6(t *testing.T) {
	bin := testenv.Program(t, "github.com/vigilsec/vigil/sensor/testprogs/netops")
	srv := testenv.Sink(t, "[::1]:0", nil)
	r := startSensor(t, Config{})
	cmd, tree := gated(t, r.Sensor, 1, bin, "-tcp", srv.String(), "-bytes", "10")
	evs := netEvents(waitTree(t, r, cmd, tree), tree.RootPID)
	ap := netip.MustParseAddrPort(srv.String())
	var connect, end *Net
	for i := range evs {
		n := &evs[i].Net
		if n.Dst.Port != ap.Port() {
			continue
		}
		switch n.Op {
		case NetConnect:
			connect = n
		case NetSendEnd:
			end = n
		}
	}
	if connect == nil || end == nil {
		t.Fatalf("no IPv6 connect or totals:\n%s", describeNet(evs))
	}
	if connect.Dst.Family != FamilyInet6 || connect.Dst.IP != ap.Addr() || connect.Src.IP != ap.Addr() || end.Bytes != 10 {
		t.Errorf("IPv6 connect %+v, totals %+v", *connect, *end)
	}
}
