//go:build linux

package sensor

import (
	"os"
	"testing"

	"github.com/vigilsec/vigil/internal/bpftest"
)

// The optional hooks are probed, not assumed: whatever the kernel, the
// probe says which load and why the others do not. Inside the Debian
// kernels the vmtest harness boots (VIGIL_VMTEST names the kernel), all
// three must be there: a probe that misses one there is a failure.
func TestProbeHooks(t *testing.T) {
	bpftest.Require(t)
	h := ProbeHooks()
	t.Logf("kernel hooks: %v", h)
	for _, x := range []struct {
		name string
		ok   bool
		err  error
	}{{"fentry", h.Fentry, h.FentryErr}, {"lsm", h.LSM, h.LSMErr}, {"kprobe", h.Kprobe, h.KprobeErr}} {
		if x.ok == (x.err != nil) {
			t.Errorf("%s: ok=%v with error %v", x.name, x.ok, x.err)
		}
		if k := os.Getenv("VIGIL_VMTEST"); k != "" && !x.ok {
			t.Errorf("%s missing on Debian %s, where it is available: %v", x.name, k, x.err)
		}
	}
	if h.LSM && !lsmActive() {
		t.Error("LSM reported although bpf is not an active LSM")
	}
}
