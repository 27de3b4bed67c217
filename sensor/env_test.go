//go:build linux

package sensor

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/testenv"
)

func execenvProgram(t testing.TB) string {
	return testenv.Program(t, "github.com/vigilsec/vigil/sensor/testprogs/execenv")
}

// execWith finds the exec record whose arguments are exactly args.
func execWith(t testing.TB, evs []Event, args ...string) Event {
	t.Helper()
	for _, ev := range evs {
		if ev.Kind == KindExec && slices.Equal(ev.Args, args) {
			return ev
		}
	}
	t.Fatalf("no exec of %q in:\n%s", args, dump(evs))
	return Event{}
}

type idsWant struct {
	corr, trace, span string
	flags             Flags // of FlagEnvTruncated, FlagCorrelationIDInvalid, FlagTraceparentInvalid
}

func checkIDs(t testing.TB, what string, ev Event, want idsWant) {
	t.Helper()
	const idFlags = FlagEnvTruncated | FlagCorrelationIDInvalid | FlagTraceparentInvalid
	if ev.CorrelationID != want.corr || ev.TraceID != want.trace || ev.SpanID != want.span || ev.Flags&idFlags != want.flags {
		t.Errorf("%s: correlation id %q, trace id %q, span id %q, flags %#x; want %q, %q, %q, %#x",
			what, ev.CorrelationID, ev.TraceID, ev.SpanID, ev.Flags&idFlags, want.corr, want.trace, want.span, want.flags)
	}
}

// A tracked process that starts one child with VIGIL_CORRELATION_ID and
// another with TRACEPARENT: the children's execs carry the ids, and so do
// the grandchildren's that inherit the environment; a grandchild exec'd
// with a cleared environment carries none (the process table keeps the
// ids it inherited; see correlate).
func TestExecCorrelationIDs(t *testing.T) {
	execenv := execenvProgram(t)
	r := startSensor(t, Config{})
	script := `VIGIL_CORRELATION_ID=abc-123 /bin/sh -c 'env -i /bin/true cleared-corr; /bin/true inherited-corr'
TRACEPARENT=` + testTraceparent + ` /bin/sh -c 'env -i /bin/true cleared-tp; /bin/true inherited-tp'
/bin/true plain`
	cmd, tree := gated(t, r.Sensor, 1, execenv, "PATH=/usr/bin:/bin", "--", "/bin/sh", "-c", script)
	evs := waitTree(t, r, cmd, tree)

	corr := idsWant{corr: "abc-123"}
	tp := idsWant{trace: testTraceID, span: testSpanID}
	checkIDs(t, "root", execWith(t, evs, "/bin/sh", "-c", script), idsWant{})
	checkIDs(t, "child with a correlation id", execWith(t, evs, "/bin/sh", "-c", "env -i /bin/true cleared-corr; /bin/true inherited-corr"), corr)
	checkIDs(t, "env -i (inherited environment)", execWith(t, evs, "env", "-i", "/bin/true", "cleared-corr"), corr)
	checkIDs(t, "grandchild with a cleared environment", execWith(t, evs, "/bin/true", "cleared-corr"), idsWant{})
	checkIDs(t, "grandchild with the inherited environment", execWith(t, evs, "/bin/true", "inherited-corr"), corr)
	checkIDs(t, "child with a traceparent", execWith(t, evs, "/bin/sh", "-c", "env -i /bin/true cleared-tp; /bin/true inherited-tp"), tp)
	checkIDs(t, "grandchild with a cleared environment (traceparent)", execWith(t, evs, "/bin/true", "cleared-tp"), idsWant{})
	checkIDs(t, "grandchild with the inherited environment (traceparent)", execWith(t, evs, "/bin/true", "inherited-tp"), tp)
	checkIDs(t, "sibling without ids", execWith(t, evs, "/bin/true", "plain"), idsWant{})
}

// The environment scan's edges, one tracked exec each: where the names
// are found, what is too far to look at (flagged), and junk (dropped and
// flagged by the decoder).
func TestExecCorrelationIDsScan(t *testing.T) {
	execenv := execenvProgram(t)
	const corr = "VIGIL_CORRELATION_ID="
	tpEnv := "TRACEPARENT=" + testTraceparent
	both := idsWant{corr: "abc-123", trace: testTraceID, span: testSpanID}
	// A string of 255 bytes fills one read exactly; the next read starts
	// at its NUL.
	str255 := "X=" + strings.Repeat("y", 253)
	cases := []struct {
		name string
		env  []string
		want idsWant
	}{
		{"empty environment", nil, idsWant{}},
		{"both, first", []string{corr + "abc-123", tpEnv, "HOME=/"}, both},
		{"both, last", []string{"HOME=/", "PATH=/bin", tpEnv, corr + "abc-123"}, both},
		{"after long strings within the bound", []string{"@pad:20000", "@pad:1000", "@many:500", corr + "abc-123", tpEnv}, both},
		{"after a string of exactly one read", []string{str255, corr + "abc-123"}, idsWant{corr: "abc-123"}},
		{"name inside a long string, at a read boundary", []string{str255 + corr + "evil", "HOME=/"}, idsWant{}},
		{"name not at the start", []string{"X" + corr + "x", "X" + tpEnv}, idsWant{}},
		{"first occurrence counts", []string{corr + "first", corr + "second"}, idsWant{corr: "first"}},
		{"beyond the byte bound", []string{"@pad:40000", corr + "far", tpEnv}, idsWant{flags: FlagEnvTruncated}},
		{"beyond the step bound", []string{"@many:1100", corr + "far"}, idsWant{flags: FlagEnvTruncated}},
		{"one found, the other maybe beyond", []string{corr + "abc-123", "@pad:40000", tpEnv}, idsWant{corr: "abc-123", flags: FlagEnvTruncated}},
		{"both found before a huge rest", []string{corr + "abc-123", tpEnv, "@pad:40000"}, both},
		{"malformed traceparent", []string{"TRACEPARENT=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", corr + "abc-123"},
			idsWant{corr: "abc-123", flags: FlagTraceparentInvalid}},
		{"uppercase traceparent", []string{strings.ToUpper(tpEnv[:12]) + strings.ToUpper(testTraceparent)}, idsWant{flags: FlagTraceparentInvalid}},
		{"traceparent version ff", []string{"TRACEPARENT=ff" + testTraceparent[2:]}, idsWant{flags: FlagTraceparentInvalid}},
		{"traceparent of a later version", []string{"TRACEPARENT=01" + testTraceparent[2:] + "-more-fields"}, idsWant{trace: testTraceID, span: testSpanID}},
		{"correlation id too long", []string{corr + strings.Repeat("a", 200), tpEnv}, idsWant{trace: testTraceID, span: testSpanID, flags: FlagCorrelationIDInvalid}},
		{"correlation id of 128 bytes", []string{corr + strings.Repeat("a", 128)}, idsWant{corr: strings.Repeat("a", 128)}},
		{"correlation id with a space", []string{corr + "abc 123"}, idsWant{flags: FlagCorrelationIDInvalid}},
		{"empty values", []string{corr, "TRACEPARENT="}, idsWant{}},
	}
	r := startSensor(t, Config{})
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			marker := "case-" + strconv.Itoa(i)
			args := append(append([]string{execenv}, tc.env...), "--", "/bin/true", marker)
			cmd, tree := gated(t, r.Sensor, uint32(100+i), args...)
			evs := waitTree(t, r, cmd, tree)
			checkIDs(t, tc.name, execWith(t, evs, "/bin/true", marker), tc.want)
		})
	}
}

// Untracked processes: nothing is read, even in trace-all mode where
// their execs are recorded.
func TestExecCorrelationIDsUntracked(t *testing.T) {
	execenv := execenvProgram(t)
	r := startSensor(t, Config{TraceAll: true})
	marker := "untracked-" + strconv.Itoa(os.Getpid())
	err := exec.Command(execenv, "VIGIL_CORRELATION_ID=abc-123", "TRACEPARENT="+testTraceparent, "@pad:40000", "--", "/bin/true", marker).Run()
	if err != nil {
		t.Fatal(err)
	}
	evs := r.col.waitFor(t, "the untracked exec", func(evs []Event) bool {
		return slices.ContainsFunc(evs, func(ev Event) bool {
			return ev.Kind == KindExec && slices.Equal(ev.Args, []string{"/bin/true", marker})
		})
	})
	ev := execWith(t, evs, "/bin/true", marker)
	if !ev.Tree.IsZero() {
		t.Fatalf("exec is tracked: tree %+v", ev.Tree)
	}
	checkIDs(t, "untracked exec", ev, idsWant{})
}

// A tree found at start-up: TrackTree reads the ids from /proc/PID/environ
// of the processes it tracks.
func TestBootstrapCorrelationIDs(t *testing.T) {
	requireBPF(t)
	execenv := execenvProgram(t)
	dir := t.TempDir()
	ready := filepath.Join(dir, "ready")
	cmd := exec.Command(execenv, "PATH=/usr/bin:/bin", "VIGIL_CORRELATION_ID=boot-1", "TRACEPARENT="+testTraceparent, "--",
		"/bin/sh", "-c", fmt.Sprintf(`sleep 60 & env -i /bin/sleep 61 & touch %s; wait`, ready))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); _ = cmd.Wait() })
	root := uint32(cmd.Process.Pid)

	// Wait until both children run their own programs.
	var snaps []Snapshot
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the tree did not start: %+v", snaps)
		}
		if _, err := os.Stat(ready); err != nil {
			continue
		}
		var err error
		if snaps, err = ReadProc("/proc"); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, s := range Descendants(snaps, root) {
			if len(s.Args) == 2 && (s.Args[0] == "sleep" || s.Args[0] == "/bin/sleep") {
				n++
			}
		}
		if n == 2 {
			break
		}
	}

	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	members, err := s.TrackTree("/proc", snaps, root, Tree{RootPID: root, RootStart: snaps[0].Task.StartTime, Agent: 1})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]idsWant{
		"/bin/sh":    {corr: "boot-1", trace: testTraceID, span: testSpanID},
		"sleep":      {corr: "boot-1", trace: testTraceID, span: testSpanID},
		"/bin/sleep": {}, // exec'd with a cleared environment: correlate gives it its parent's
	}
	seen := 0
	for _, m := range members {
		if len(m.Args) == 0 {
			continue
		}
		w, ok := want[m.Args[0]]
		if !ok {
			continue
		}
		seen++
		if got := (idsWant{corr: m.CorrelationID, trace: m.TraceID, span: m.SpanID}); got != w {
			t.Errorf("%q: ids %+v, want %+v", m.Args, got, w)
		}
	}
	if seen != 3 {
		t.Errorf("found %d of the 3 processes among the members: %+v", seen, members)
	}
	// ReadProc alone reads no environment.
	for _, sn := range snaps {
		if sn.CorrelationID != "" || sn.TraceID != "" {
			t.Errorf("ReadProc read the environment of %d", sn.Task.PID)
		}
	}
}
