//go:build linux

package sensor

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/features"
	"golang.org/x/sys/unix"
)

// FeatureError says which kernel feature or privilege the sensor needs
// and does not have, with a hint where the fix is known.
type FeatureError struct {
	Missing string // what is missing, in words
	Hint    string // how to get it, if known
	Err     error  // underlying error, if any
}

func (e *FeatureError) Error() string {
	msg := "sensor: missing " + e.Missing
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	if e.Hint != "" {
		msg += " (" + e.Hint + ")"
	}
	return msg
}

func (e *FeatureError) Unwrap() error { return e.Err }

// Probe checks, in order, everything the sensor needs from the process
// and the kernel, and returns a *FeatureError for the first thing missing.
func Probe() error {
	if err := probePrivileges(); err != nil {
		return err
	}
	if _, err := btf.LoadKernelSpec(); err != nil {
		return &FeatureError{
			Missing: "kernel BTF",
			Hint:    "the kernel must be built with CONFIG_DEBUG_INFO_BTF=y and expose /sys/kernel/btf/vmlinux",
			Err:     err,
		}
	}
	if err := features.HaveMapType(ebpf.RingBuf); err != nil {
		return &FeatureError{Missing: "BPF ring buffer maps", Hint: "needs Linux 5.8 or later", Err: err}
	}
	if err := probeTPBTF(); err != nil {
		return &FeatureError{Missing: "BTF-enabled raw tracepoint programs (tp_btf)", Hint: "needs Linux 5.5 or later with BTF", Err: err}
	}
	return nil
}

// probeTPBTF loads the smallest tp_btf program on a tracepoint the sensor
// uses. The library's generic Tracing probe loads an fentry program, which
// fails on kernels without BPF trampolines even though tp_btf works.
func probeTPBTF() error {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:       ebpf.Tracing,
		AttachType: ebpf.AttachTraceRawTp,
		AttachTo:   "sched_process_fork",
		License:    "GPL",
		Instructions: asm.Instructions{
			asm.Mov.Imm(asm.R0, 0),
			asm.Return(),
		},
	})
	if err != nil {
		return err
	}
	return prog.Close()
}

// probePrivileges wants CAP_SYS_ADMIN, or CAP_BPF with CAP_PERFMON, in the
// effective set.
func probePrivileges() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return &FeatureError{Missing: "capabilities", Err: fmt.Errorf("capget: %w", err)}
	}
	has := func(c int) bool { return data[c/32].Effective&(1<<(uint(c)%32)) != 0 }
	if has(unix.CAP_SYS_ADMIN) || (has(unix.CAP_BPF) && has(unix.CAP_PERFMON)) {
		return nil
	}
	return &FeatureError{
		Missing: "privileges to load BPF programs",
		Hint:    "run as root, or grant CAP_BPF and CAP_PERFMON (plus CAP_SYS_RESOURCE on kernels before 5.11)",
		Err:     ErrNotPermitted,
	}
}

// ErrNotPermitted is wrapped by the FeatureError returned when the process
// lacks the privileges to load BPF programs.
var ErrNotPermitted = errors.New("operation not permitted")
