//go:build linux

package vmtest_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilsec/vigil/vmtest"
	"github.com/vigilsec/vigil/vmtest/testprogs/probe/output"
)

// These tests boot real guests: each run is one boot (5–8 s here, in
// software emulation). They skip when the kernel cache is not set up
// (vmtest/setup), except in CI, where that is a failure.

var kernels = []string{"6.1", "6.12"}

var built struct {
	once              sync.Once
	dir               string
	vmrun, probe, err string
}

// tools builds vmrun, vminit (static) and the probe once per test binary.
func tools(t *testing.T) (vmrun, probe string) {
	t.Helper()
	requireSetup(t)
	built.once.Do(func() {
		dir, err := os.MkdirTemp("", "vmtest-tools-")
		if err != nil {
			built.err = err.Error()
			return
		}
		built.dir = dir
		for _, b := range []struct{ out, pkg string }{
			{"vmrun", "./cmd/vmrun"},
			{"vminit", "./cmd/vminit"},
			{"probe", "./testprogs/probe"},
		} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(dir, b.out), b.pkg)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				built.err = "go build " + b.pkg + ": " + err.Error() + "\n" + string(out)
				return
			}
		}
		built.vmrun, built.probe = filepath.Join(dir, "vmrun"), filepath.Join(dir, "probe")
	})
	if built.err != "" {
		t.Fatal(built.err)
	}
	return built.vmrun, built.probe
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

func requireSetup(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("boots virtual machines: skipped in -short mode")
	}
	wd, _ := os.Getwd()
	cache := vmtest.DefaultCache(wd)
	var missing []string
	for _, k := range kernels {
		if _, err := vmtest.FindKernel(cache, k); err != nil {
			missing = append(missing, err.Error())
		}
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		missing = append(missing, "qemu-system-x86_64 not installed")
	}
	if len(missing) == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("vmtest is not set up in CI (run vmtest/setup): %s", strings.Join(missing, "; "))
	}
	t.Skipf("vmtest not set up (run vmtest/setup; in CI this fails): %s", strings.Join(missing, "; "))
}

type run struct {
	code           int
	stdout, stderr []byte
	elapsed        time.Duration
}

// vmrun runs the probe (or another program) through the runner.
func vmrun(t *testing.T, kernel string, extraEnv []string, args ...string) run {
	t.Helper()
	runner, _ := tools(t)
	cmd := exec.Command(runner, append([]string{"-kernel", kernel}, args...)...)
	cmd.Env = append(os.Environ(), extraEnv...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := run{stdout: out.Bytes(), stderr: errb.Bytes(), elapsed: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("vmrun: %v", err)
	}
	t.Logf("kernel %s: %q: exit %d in %v", kernel, args, r.code, r.elapsed.Round(time.Millisecond))
	return r
}

func TestExitCodes(t *testing.T) {
	_, probe := tools(t)
	for _, k := range kernels {
		for _, code := range []string{"0", "1", "3"} {
			t.Run(k+"/"+code, func(t *testing.T) {
				t.Parallel()
				r := vmrun(t, k, nil, probe, "exit", code)
				if got := r.code; got != atoi(code) {
					t.Fatalf("exit %d, want %s\nstderr:\n%s", got, code, r.stderr)
				}
			})
		}
	}
}

func TestOutputIntact(t *testing.T) {
	_, probe := tools(t)
	for _, k := range kernels {
		t.Run(k, func(t *testing.T) {
			t.Parallel()
			r := vmrun(t, k, nil, probe, "output")
			if r.code != 0 {
				t.Fatalf("exit %d\nstderr:\n%s", r.code, r.stderr)
			}
			if want := output.Stdout(); !bytes.Equal(r.stdout, want) {
				t.Errorf("stdout: %d bytes, want %d; first difference at %d", len(r.stdout), len(want), firstDiff(r.stdout, want))
			}
			if want := output.Stderr(); !bytes.Equal(r.stderr, want) {
				t.Errorf("stderr %q, want %q", r.stderr, want)
			}
		})
	}
}

func TestEnvironment(t *testing.T) {
	_, probe := tools(t)
	dir := t.TempDir()
	runner, _ := tools(t)
	wd, _ := os.Getwd()
	cmd := exec.Command(runner, "-kernel", "6.12", probe, "env")
	cmd.Dir = dir // outside the repository: name the cache
	cmd.Env = append(os.Environ(), "VMTEST_CACHE="+vmtest.DefaultCache(wd))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("vmrun: %v\n%s", err, stderrOf(err))
	}
	if want := "marker=6.12 cwd=" + dir + " uid=0\n"; string(out) != want {
		t.Fatalf("got %q, want %q", out, want)
	}
}

func TestKernelPanicFails(t *testing.T) {
	_, probe := tools(t)
	r := vmrun(t, "6.12", nil, probe, "panic")
	if r.code == 0 {
		t.Fatal("a guest kernel panic passed")
	}
	for _, want := range []string{"guest stopped without reporting an exit status", "Kernel panic", "sysrq"} {
		if !bytes.Contains(r.stderr, []byte(want)) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
}

func TestHangTimesOut(t *testing.T) {
	_, probe := tools(t)
	r := vmrun(t, "6.12", nil, "-timeout", "25s", probe, "hang")
	if r.code == 0 {
		t.Fatal("a hang passed")
	}
	if !bytes.Contains(r.stderr, []byte("timed out after 25s")) || !bytes.Contains(r.stderr, []byte("guest console")) {
		t.Errorf("stderr lacks the timeout and the console:\n%s", r.stderr)
	}
	if r.elapsed > 40*time.Second {
		t.Errorf("took %v to stop a 25 s run", r.elapsed)
	}
}

// A failing test binary run by go test -exec in the guest fails go test,
// and -json output comes through as valid events.
func TestGoTestFailureIsFailure(t *testing.T) {
	runner, _ := tools(t)
	cmd := exec.Command("go", "test", "-count=1", "-json", "-exec", runner, "./testprogs/gotest")
	cmd.Env = append(os.Environ(), "VMTEST_KERNEL=6.1", "VMTEST_PROBE_FAIL=1")
	out, err := cmd.Output()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() == 0 {
		t.Fatalf("go test passed with a failing test (err %v):\n%s", err, out)
	}
	results := map[string]string{}
	sawKernel := false
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var ev struct{ Action, Test, Output string }
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("not a test2json event: %q: %v", sc.Bytes(), err)
		}
		if ev.Action == "pass" || ev.Action == "fail" || ev.Action == "skip" {
			results[ev.Test] = ev.Action
		}
		if strings.Contains(ev.Output, `kernel "6.1"`) {
			sawKernel = true
		}
	}
	if results["TestPass"] != "pass" || results["TestFail"] != "fail" || results[""] != "fail" {
		t.Errorf("results %v, want TestPass pass, TestFail and the package fail:\n%s", results, out)
	}
	if !sawKernel {
		t.Errorf("TestPass did not log the guest's marker:\n%s", out)
	}
}

func stderrOf(err error) []byte {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.Stderr
	}
	return nil
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
