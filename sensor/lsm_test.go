//go:build linux

package sensor_test

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigilsec/vigil/correlate"
	"github.com/vigilsec/vigil/internal/bpftest"
	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/output"
	"github.com/vigilsec/vigil/sensor"
)

// The sensor says which path its records come from, and picks the LSM
// programs exactly where the probe says the kernel runs them. Inside the
// Debian kernels of the vmtest matrix (VIGIL_VMTEST) it must.
func TestLSMChosenWhereOffered(t *testing.T) {
	bpftest.Require(t)
	h := sensor.ProbeHooks()
	if k := os.Getenv("VIGIL_VMTEST"); k != "" && !h.LSM {
		t.Fatalf("BPF LSM missing on Debian %s, where it is available: %v", k, h.LSMErr)
	}
	for _, c := range []struct {
		mode sensor.LSMMode
		want string // "" when New must fail
	}{
		{sensor.LSMAuto, map[bool]string{true: "lsm+tracepoints", false: "tracepoints"}[h.LSM]},
		{sensor.LSMOff, "tracepoints"},
		{sensor.LSMRequire, map[bool]string{true: "lsm+tracepoints", false: ""}[h.LSM]},
	} {
		s, err := sensor.New(sensor.Config{LSM: c.mode})
		if c.want == "" {
			if err == nil || !strings.Contains(err.Error(), "lsm = require") {
				s.Close()
				t.Errorf("lsm %v on a kernel without BPF LSM: New gave %v, want a refusal", c.mode, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("lsm %v: %v", c.mode, err)
		}
		using, why := s.LSM()
		t.Logf("lsm %v: records from %s (LSM programs in use: %v; %v)", c.mode, s.Path(), using, why)
		if s.Path() != c.want || using != (why == nil) {
			t.Errorf("lsm %v: path %s, in use %v, why %v; want path %s", c.mode, s.Path(), using, why, c.want)
		}
		s.Close()
	}
}

// hookFixture is what hookops connects to, alive for the whole test, and
// its working directory (the same path for every run, emptied between).
type hookFixture struct {
	dir  string
	argv []string
}

func newHookFixture(t *testing.T) *hookFixture {
	t.Helper()
	base := t.TempDir()
	if r, err := filepath.EvalSymlinks(base); err == nil {
		base = r
	}
	tcp, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tcp.Close() })
	go func() {
		for {
			c, err := tcp.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = c.Read(make([]byte, 16)); c.Close() }()
		}
	}()
	// Bound, not listening: a connect is refused.
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	refused := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	udp, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { udp.Close() })
	sock := filepath.Join(base, "s.sock")
	ul, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ul.Close() })
	go func() {
		for {
			c, err := ul.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	bin := testenv.Program(t, "github.com/vigilsec/vigil/sensor/testprogs/hookops")
	dir := filepath.Join(base, "w")
	return &hookFixture{dir: dir, argv: []string{bin, dir, tcp.Addr().String(), refused, udp.LocalAddr().String(), sock}}
}

// run runs hookops once under a sensor in mode and returns its events
// and the sensor's path.
func (f *hookFixture) run(t *testing.T, mode sensor.LSMMode) ([]sensor.Event, string) {
	t.Helper()
	if err := os.RemoveAll(f.dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(f.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return sensor.RunTracked(t, sensor.Config{LSM: mode}, f.argv...)
}

// The removals, renames and connects of one program, recorded through the
// tracepoint path and, where the kernel runs them, the LSM programs: the
// LSM run's records of every call that reached the kernel's hook carry
// the kernel's names and addresses (and say so), the tracepoint run's
// none; and the ECS records of the two runs are the same, field for
// field, but for the path source of the names the LSM hooks gave.
func TestLSMAndTracepointsSameRecords(t *testing.T) {
	bpftest.Require(t)
	h := sensor.ProbeHooks()
	if k := os.Getenv("VIGIL_VMTEST"); k != "" && !h.LSM {
		t.Fatalf("BPF LSM missing on Debian %s, where it is available: %v", k, h.LSMErr)
	}
	f := newHookFixture(t)
	tpEvents, path := f.run(t, sensor.LSMOff)
	if path != "tracepoints" {
		t.Fatalf("lsm off: records from %s", path)
	}
	for _, ev := range tpEvents {
		if ev.File.Flags&sensor.FilePathKernel != 0 || ev.Net.Flags&sensor.NetAddrKernel != 0 {
			t.Errorf("tracepoint path, yet a record from an LSM hook: %+v", ev)
		}
	}
	tpDocs := ecsDocs(t, tpEvents)
	checkHookRecords(t, f, tpDocs, "resolved")
	if !h.LSM {
		t.Skipf("tracepoint path checked; the kernel runs no BPF LSM programs, so there is no LSM path to compare: %v", h.LSMErr)
	}

	lsmEvents, path := f.run(t, sensor.LSMRequire)
	t.Logf("records from %s and from tracepoints", path)
	kernelNames := 0
	for _, ev := range lsmEvents {
		switch {
		case ev.Kind == sensor.KindFile && (ev.File.Op == sensor.FileUnlink || ev.File.Op == sensor.FileRmdir || ev.File.Op == sensor.FileRename):
			// Every call that reached the hook; a missing name does not.
			if hooked := ev.File.Ret != -int64(syscall.ENOENT); hooked != (ev.File.Flags&sensor.FilePathKernel != 0) {
				t.Errorf("LSM path: %v %s%s ret %d flags %#x", ev.File.Op, ev.File.Dir, ev.File.Path, ev.File.Ret, ev.File.Flags)
			}
			if ev.File.Flags&sensor.FilePathKernel != 0 {
				kernelNames++
			}
		case ev.Kind == sensor.KindNet && ev.Net.Op == sensor.NetConnect:
			if ev.Net.Flags&sensor.NetAddrKernel == 0 {
				t.Errorf("LSM path: connect without the kernel's address: %+v", ev.Net)
			}
		}
	}
	if kernelNames != 8 {
		t.Errorf("LSM path: %d removals and renames named by the kernel, want 8", kernelNames)
	}
	lsmDocs := ecsDocs(t, lsmEvents)
	checkHookRecords(t, f, lsmDocs, "kernel")
	if len(lsmDocs) != len(tpDocs) {
		t.Fatalf("%d records on the LSM path, %d on the tracepoint path", len(lsmDocs), len(tpDocs))
	}
	for i := range tpDocs {
		a, b := tpDocs[i], lsmDocs[i]
		if a["Vigil.file.path_source"] == "resolved" && b["Vigil.file.path_source"] == "kernel" {
			delete(a, "Vigil.file.path_source")
			delete(b, "Vigil.file.path_source")
		}
		if diff := docDiff(a, b); diff != "" {
			t.Errorf("record %d (%v %v) differs between the paths (tracepoints / LSM):\n%s", i, a["event.action"], a["file.path"], diff)
		}
	}
}

// checkHookRecords checks the records of hookops's removals, renames and
// connects, in order; source is the path source of the names a hook saw.
func checkHookRecords(t *testing.T, f *hookFixture, docs []map[string]any, source string) {
	t.Helper()
	d := f.dir
	want := []string{
		"rename success " + d + "/d/a.txt -> " + d + "/d/b.txt " + source,
		"rename success " + d + "/d/b.txt -> " + d + "/c.txt " + source,
		"rename failure " + d + "/d -> " + d + "/full " + source,
		"deletion success " + d + "/c.txt " + source,
		"deletion success " + d + "/full/x " + source,
		"deletion failure " + d + "/nope resolved",
		"deletion failure " + d + "/d " + source,
		"deletion success " + d + "/full " + source,
		"deletion success " + d + "/d " + source,
		"connection_attempted success " + f.argv[2],
		"connection_attempted failure " + f.argv[3],
		"connection_attempted success " + f.argv[4],
		"connection_attempted success unix:" + f.argv[5],
	}
	var got []string
	for _, doc := range docs {
		s := fmt.Sprint(doc["event.action"], " ", doc["event.outcome"], " ")
		switch doc["event.action"] {
		case "rename":
			got = append(got, s+fmt.Sprint(doc["Vigil.file.old_path"], " -> ", doc["file.path"], " ", doc["Vigil.file.path_source"]))
		case "deletion":
			got = append(got, s+fmt.Sprint(doc["file.path"], " ", doc["Vigil.file.path_source"]))
		case "connection_attempted":
			if _, ok := doc["destination.ip"]; !ok {
				got = append(got, s+fmt.Sprint("unix:", doc["destination.address"]))
			} else {
				got = append(got, s+net.JoinHostPort(fmt.Sprint(doc["destination.ip"]), fmt.Sprint(doc["destination.port"])))
			}
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("records:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// ecsDocs turns events into ECS records (the daemon's table and encoder)
// and flattens each to dotted keys, without the fields that differ from
// run to run whatever the path: times, process ids and starts, entity ids,
// sequence, inodes, ephemeral ports.
func ecsDocs(t *testing.T, evs []sensor.Event) []map[string]any {
	t.Helper()
	id := output.Identity{HostName: "h", BootID: "b"}
	tab, err := correlate.NewTable(correlate.Config{BootID: id.BootID, Times: sensor.NewBootClock()})
	if err != nil {
		t.Fatal(err)
	}
	enc := output.NewEncoder(id, func() time.Time { return time.Unix(0, 0) })
	var docs []map[string]any
	for i := range evs {
		r := tab.Handle(&evs[i])
		if r == nil {
			continue
		}
		var doc map[string]any
		if err := json.Unmarshal(enc.Append(nil, r), &doc); err != nil {
			t.Fatal(err)
		}
		flat := make(map[string]any)
		flatten("", doc, flat)
		for k, v := range flat {
			if s, ok := v.(string); ok {
				// The Go runtime reads /proc/self/cgroup and the like.
				flat[k] = procPID.ReplaceAllString(s, "/proc/PID$1")
			}
		}
		for k := range flat {
			if volatileField(k) {
				delete(flat, k)
			}
		}
		docs = append(docs, flat)
	}
	return docs
}

var procPID = regexp.MustCompile(`/proc/[0-9]+(/|$)`)

func volatileField(k string) bool {
	for _, p := range []string{"@timestamp", "event.created", "event.sequence", "event.start", "event.end", "event.duration",
		"source.port", "file.inode", "Vigil.file.start"} {
		if k == p {
			return true
		}
	}
	// process.pid, process.parent.entity_id, Vigil.tree.root.pid, ...
	for _, s := range []string{".pid", ".entity_id", ".start", ".end", ".uptime", ".thread.id", ".ppid"} {
		if (strings.HasPrefix(k, "process.") || strings.HasPrefix(k, "Vigil.tree.")) && strings.HasSuffix(k, s) {
			return true
		}
	}
	return false
}

func flatten(prefix string, v any, out map[string]any) {
	if m, ok := v.(map[string]any); ok {
		for k, x := range m {
			if prefix != "" {
				k = prefix + "." + k
			}
			flatten(k, x, out)
		}
		return
	}
	out[prefix] = v
}

// docDiff lists the fields two flattened records disagree on.
func docDiff(a, b map[string]any) string {
	var keys []string
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var out strings.Builder
	for _, k := range keys {
		x, y := fmt.Sprint(a[k]), fmt.Sprint(b[k])
		if _, ok := a[k]; !ok {
			x = "(absent)"
		}
		if _, ok := b[k]; !ok {
			y = "(absent)"
		}
		if x != y {
			fmt.Fprintf(&out, "  %s: %s / %s\n", k, x, y)
		}
	}
	return out.String()
}

// What the LSM path is for: a thread rewrites the sockaddr of a connect
// under way, after the kernel copied it. The tracepoint path, reading the
// process's memory at the exit, records the decoy; the LSM path records
// where the connection went.
func TestLSMConnectRewrittenAddress(t *testing.T) {
	bpftest.Require(t)
	h := sensor.ProbeHooks()
	if k := os.Getenv("VIGIL_VMTEST"); k != "" && !h.LSM {
		t.Fatalf("BPF LSM missing on Debian %s, where it is available: %v", k, h.LSMErr)
	}
	bin := testenv.Program(t, "github.com/vigilsec/vigil/sensor/testprogs/connectrace")
	dir := t.TempDir()
	real, decoy := filepath.Join(dir, "real.sock"), filepath.Join(dir, "fake.sock")
	dests := func(mode sensor.LSMMode) []string {
		if err := os.RemoveAll(real); err != nil {
			t.Fatal(err)
		}
		evs, _ := sensor.RunTracked(t, sensor.Config{LSM: mode}, bin, real, decoy)
		var out []string
		for _, ev := range evs {
			if ev.Kind == sensor.KindNet && ev.Net.Op == sensor.NetConnect {
				out = append(out, ev.Net.Dst.Path)
			}
		}
		return out
	}
	if got := dests(sensor.LSMOff); !slices.Equal(got, []string{real, decoy}) {
		t.Errorf("tracepoint path: connects to %q, want the real socket, then the decoy written over it", got)
	}
	if !h.LSM {
		t.Skipf("tracepoint path checked; the kernel runs no BPF LSM programs: %v", h.LSMErr)
	}
	if got := dests(sensor.LSMRequire); !slices.Equal(got, []string{real, real}) {
		t.Errorf("LSM path: connects to %q, want the real socket twice", got)
	}
}
