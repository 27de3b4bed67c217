// Package testenv holds what Vigil's tests need around the code under
// test: trigger programs built once per test binary, and small local
// servers (a TCP sink, a DNS server) for network tests.
package testenv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

var progs struct {
	sync.Mutex
	dir   string
	built map[string]string
}

// PrebuiltEnv names a directory of test programs built beforehand, for
// test binaries run where building is too slow (the vmtest guests): each
// program under its base name, the test collector as "otelcol". When it is
// set, Program and OTelCollector use those and never build; a program
// missing there fails the test.
const PrebuiltEnv = "VIGIL_TESTPROGS"

// prebuilt returns the prebuilt binary called name, or "" when
// PrebuiltEnv is not set.
func prebuilt(t testing.TB, name string) string {
	dir := os.Getenv(PrebuiltEnv)
	if dir == "" {
		return ""
	}
	bin := filepath.Join(dir, name)
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s=%s: no prebuilt %s: %v", PrebuiltEnv, dir, name, err)
	}
	return bin
}

// Program builds the main package at importPath (e.g.
// "github.com/vigilsec/vigil/sensor/testprogs/netops") once per test
// binary and returns the binary's path (see PrebuiltEnv).
func Program(t testing.TB, importPath string) string {
	t.Helper()
	if bin := prebuilt(t, path.Base(importPath)); bin != "" {
		return bin
	}
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

// Rsyslog starts a real rsyslogd (Debian's rsyslog package) listening on
// TCP at a free loopback port, writing each message's MSG part as a line
// to the returned file. It fails the test when rsyslogd is missing and
// the environment requires real servers (CI, VIGIL_REQUIRE_BPF).
func Rsyslog(t testing.TB) (addr, out string) {
	t.Helper()
	rsyslogd, err := exec.LookPath("rsyslogd")
	if err != nil {
		if os.Getenv("CI") != "" || os.Getenv("VIGIL_REQUIRE_BPF") != "" {
			t.Fatal("rsyslogd is not installed (apt-get install rsyslog)")
		}
		t.Skip("rsyslogd not installed")
	}
	dir := t.TempDir()
	addr = FreeAddr(t)
	port := addr[strings.LastIndexByte(addr, ':')+1:]
	out = filepath.Join(dir, "out.log")
	conf := filepath.Join(dir, "rsyslog.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`global(workDirectory=%q)
module(load="imtcp")
template(name="msgonly" type="string" string="%%msg%%\n")
ruleset(name="vigil") { action(type="omfile" file=%q template="msgonly") }
input(type="imtcp" address="127.0.0.1" port="%s" ruleset="vigil")
`, dir, out, port)), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(rsyslogd, "-n", "-f", conf, "-i", filepath.Join(dir, "pid"))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr, out
		}
		if time.Now().After(deadline) {
			t.Fatal("rsyslogd did not listen")
		}
	}
}

// OTelCollector starts a real OpenTelemetry Collector OTLP/HTTP receiver
// (test/otelcol, built from the go.opentelemetry.io/collector modules in
// its own Go module) on addr. It appends every request it receives, as
// OTLP/JSON, one per line, to the returned file. stop kills it; the
// test's cleanup does too.
func OTelCollector(t testing.TB, addr string) (out string, stop func()) {
	t.Helper()
	bin := collectorBinary(t)
	out = filepath.Join(t.TempDir(), "otlp.jsonl")
	cmd := exec.Command(bin, "-http", addr, "-out", out)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() { once.Do(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }) }
	t.Cleanup(stop)
	ready := make(chan error, 1)
	go func() {
		buf := make([]byte, 6)
		_, err := io.ReadFull(stdout, buf)
		if err == nil && string(buf) != "ready\n" {
			err = fmt.Errorf("said %q", buf)
		}
		ready <- err
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatalf("otelcol did not start: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("otelcol did not start within 30s")
	}
	return out, stop
}

var collector struct {
	sync.Mutex
	bin string
}

func collectorBinary(t testing.TB) string {
	t.Helper()
	collector.Lock()
	defer collector.Unlock()
	if collector.bin != "" {
		return collector.bin
	}
	if bin := prebuilt(t, "otelcol"); bin != "" {
		return bin
	}
	_, self, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(self), "..", "..", "test", "otelcol")
	dir, err := os.MkdirTemp("", "vigil-otelcol-")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "otelcol")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = src
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the test collector (%s): %v\n%s", src, err, out)
	}
	collector.bin = bin
	return bin
}

// FreeAddr returns a loopback TCP address nothing listens on (yet): for a
// server a test starts later, or never.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// OTLPLog is one log record as OTelCollector wrote it. Attribute values
// are as OTLP/JSON has them: strings, int64s as decimal strings, arrays
// as []any.
type OTLPLog struct {
	Resource map[string]any
	Body     string
	Time     string // time_unix_nano
	Observed string // observed_time_unix_nano
	Severity string
	Event    string
	Attrs    map[string]any
}

// ReadOTLP reads the log records in an OTelCollector output file.
func ReadOTLP(t testing.TB, path string) []OTLPLog {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	type kv struct {
		Key   string         `json:"key"`
		Value map[string]any `json:"value"`
	}
	var out []OTLPLog
	for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var req struct {
			ResourceLogs []struct {
				Resource struct {
					Attributes []kv `json:"attributes"`
				} `json:"resource"`
				ScopeLogs []struct {
					LogRecords []struct {
						TimeUnixNano         string `json:"timeUnixNano"`
						ObservedTimeUnixNano string `json:"observedTimeUnixNano"`
						SeverityText         string `json:"severityText"`
						EventName            string `json:"eventName"`
						Body                 struct {
							StringValue string `json:"stringValue"`
						} `json:"body"`
						Attributes []kv `json:"attributes"`
					} `json:"logRecords"`
				} `json:"scopeLogs"`
			} `json:"resourceLogs"`
		}
		if err := json.Unmarshal(line, &req); err != nil {
			t.Fatalf("collector output %s: %v", path, err)
		}
		kvMap := func(kvs []kv) map[string]any {
			m := map[string]any{}
			for _, a := range kvs {
				m[a.Key] = anyValue(a.Value)
			}
			return m
		}
		for _, rl := range req.ResourceLogs {
			for _, sl := range rl.ScopeLogs {
				for _, lr := range sl.LogRecords {
					out = append(out, OTLPLog{
						Resource: kvMap(rl.Resource.Attributes), Body: lr.Body.StringValue,
						Time: lr.TimeUnixNano, Observed: lr.ObservedTimeUnixNano,
						Severity: lr.SeverityText, Event: lr.EventName, Attrs: kvMap(lr.Attributes),
					})
				}
			}
		}
	}
	return out
}

func anyValue(v map[string]any) any {
	for k, x := range v {
		if k == "arrayValue" {
			var out []any
			vals, _ := x.(map[string]any)["values"].([]any)
			for _, e := range vals {
				out = append(out, anyValue(e.(map[string]any)))
			}
			return out
		}
		return x
	}
	return nil
}
