// Package testenv holds what Vigil's tests need around the code under
// test: trigger programs built once per test binary, and small local
// servers (a TCP sink, a DNS server) for network tests.
package testenv

import (
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

var progs struct {
	sync.Mutex
	dir   string
	built map[string]string
}

// Program builds the main package at importPath (e.g.
// "github.com/vigilsec/vigil/sensor/testprogs/netops") once per test
// binary and returns the binary's path.
func Program(t testing.TB, importPath string) string {
	t.Helper()
	progs.Lock()
	defer progs.Unlock()
	if bin, ok := progs.built[importPath]; ok {
		return bin
	}
	if progs.dir == "" {
		dir, err := os.MkdirTemp("", "vigil-testprogs-")
		if err != nil {
			t.Fatal(err)
		}
		progs.dir, progs.built = dir, map[string]string{}
	}
	bin := filepath.Join(progs.dir, importPath[strings.LastIndexByte(importPath, '/')+1:])
	out, err := exec.Command("go", "build", "-o", bin, importPath).CombinedOutput()
	if err != nil {
		t.Fatalf("go build %s: %v\n%s", importPath, err, out)
	}
	progs.built[importPath] = bin
	return bin
}

// Sink accepts TCP connections on addr and reads each to its end; with
// a reply, it answers once after the first read.
func Sink(t testing.TB, addr string, reply []byte) net.Addr {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
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
			go func() {
				defer c.Close()
				if reply != nil {
					buf := make([]byte, 4096)
					if _, err := c.Read(buf); err == nil {
						_, _ = c.Write(reply)
					}
				}
				_, _ = io.Copy(io.Discard, c)
			}()
		}
	}()
	return ln.Addr()
}

// DNSServer answers A queries for name with ip on addr (UDP), and
// NXDOMAIN-free empty answers for anything else.
func DNSServer(t testing.TB, addr, name string, ip netip.Addr) {
	t.Helper()
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatalf("DNS server on %s: %v", addr, err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var q layers.DNS
			if q.DecodeFromBytes(buf[:n], gopacket.NilDecodeFeedback) != nil || len(q.Questions) == 0 {
				continue
			}
			resp := q
			resp.QR, resp.RA, resp.ANCount, resp.Answers = true, true, 0, nil
			if string(q.Questions[0].Name) == name && q.Questions[0].Type == layers.DNSTypeA {
				resp.Answers = []layers.DNSResourceRecord{{
					Name: []byte(name), Type: layers.DNSTypeA, Class: layers.DNSClassIN, TTL: 60, IP: ip.AsSlice(),
				}}
				resp.ANCount = 1
			}
			sb := gopacket.NewSerializeBuffer()
			if resp.SerializeTo(sb, gopacket.SerializeOptions{FixLengths: true}) == nil {
				_, _ = pc.WriteTo(sb.Bytes(), from)
			}
		}
	}()
}
