//go:build linux

// Command netops makes a known sequence of network calls, for the
// sensor's tests to match the records against. Each flag adds a step;
// steps run in the order below.
//
//	netops [-slow ADDR] [-tcp ADDR -bytes N] [-dns SERVER -name NAME -port P]
//	       [-http ADDR] [-tls ADDR -sni NAME] [-udp ADDR] [-unix PATH]
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"
)

func main() {
	tcpAddr := flag.String("tcp", "", "connect and send -bytes bytes in chunks of 1000")
	nbytes := flag.Int("bytes", 0, "bytes to send on -tcp")
	dnsServer := flag.String("dns", "", "resolve -name through this DNS server (ip:port)")
	name := flag.String("name", "", "name to resolve")
	port := flag.Int("port", 0, "after resolving, connect to the answer at this port")
	httpAddr := flag.String("http", "", "send one HTTP request")
	tlsAddr := flag.String("tls", "", "start a TLS handshake")
	sni := flag.String("sni", "", "TLS server name")
	udpAddr := flag.String("udp", "", "send three datagrams (10, 20, 30 bytes) with sendto")
	unixPath := flag.String("unix", "", "connect to a unix socket and send 5 bytes")
	slow := flag.String("slow", "", "connect, send 3 bytes, wait 600ms, send 2 more, close")
	flag.Parse()
	if *slow != "" {
		if err := slowSend(*slow); err != nil {
			fmt.Fprintln(os.Stderr, "netops:", err)
			os.Exit(1)
		}
	}
	if err := run(*tcpAddr, *nbytes, *dnsServer, *name, *port, *httpAddr, *tlsAddr, *sni, *udpAddr, *unixPath); err != nil {
		fmt.Fprintln(os.Stderr, "netops:", err)
		os.Exit(1)
	}
}

func run(tcpAddr string, nbytes int, dnsServer, name string, port int, httpAddr, tlsAddr, sni, udpAddr, unixPath string) error {
	if tcpAddr != "" {
		c, err := net.Dial("tcp", tcpAddr)
		if err != nil {
			return err
		}
		chunk := make([]byte, 1000)
		for left := nbytes; left > 0; left -= len(chunk) {
			if left < len(chunk) {
				chunk = chunk[:left]
			}
			if _, err := c.Write(chunk); err != nil {
				return err
			}
		}
		c.Close()
	}
	if dnsServer != "" {
		r := &net.Resolver{
			PreferGo: true,
			Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "udp", dnsServer)
			},
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ips, err := r.LookupIP(ctx, "ip4", name)
		if err != nil {
			return fmt.Errorf("resolve %s: %w", name, err)
		}
		if port != 0 {
			c, err := net.Dial("tcp", net.JoinHostPort(ips[0].String(), strconv.Itoa(port)))
			if err != nil {
				return err
			}
			c.Close()
		}
	}
	if httpAddr != "" {
		c, err := net.Dial("tcp", httpAddr)
		if err != nil {
			return err
		}
		req := "GET /v1/items?api_key=s3cret&page=2 HTTP/1.1\r\nHost: api.vigil.test\r\nUser-Agent: netops\r\n\r\n"
		if _, err := c.Write([]byte(req)); err != nil {
			return err
		}
		buf := make([]byte, 512)
		_, _ = c.Read(buf)
		c.Close()
	}
	if tlsAddr != "" {
		d := &net.Dialer{Timeout: 5 * time.Second}
		c, err := tls.DialWithDialer(d, "tcp", tlsAddr, &tls.Config{ServerName: sni, InsecureSkipVerify: true})
		if err == nil {
			c.Close()
		}
	}
	if udpAddr != "" {
		dst, err := net.ResolveUDPAddr("udp", udpAddr)
		if err != nil {
			return err
		}
		c, err := net.ListenUDP("udp", nil)
		if err != nil {
			return err
		}
		for _, n := range []int{10, 20, 30} {
			if _, err := c.WriteTo(make([]byte, n), dst); err != nil {
				return err
			}
		}
		c.Close()
	}
	if unixPath != "" {
		c, err := net.Dial("unix", unixPath)
		if err != nil {
			return err
		}
		if _, err := c.Write([]byte("hello")); err != nil {
			return err
		}
		c.Close()
	}
	return nil
}

func slowSend(addr string) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Write([]byte("abc")); err != nil {
		return err
	}
	time.Sleep(600 * time.Millisecond)
	_, err = c.Write([]byte("de"))
	return err
}
