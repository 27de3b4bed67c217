//go:build linux

package sensor

import (
	"fmt"
	"os"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
)

// Hooks says which optional kinds of BPF hook the running kernel lets
// the sensor load and attach. The sensor needs none of them: its
// programs are tracepoints (tp_btf) only. Distribution kernels usually
// have all three; some hardened kernels have none (kprobes compiled out,
// fentry and LSM programs refused).
type Hooks struct {
	Fentry bool // fentry/fexit programs (BPF trampolines)
	LSM    bool // BPF LSM programs (bpf in the active LSM list)
	Kprobe bool // kprobes

	// Why each missing one is missing.
	FentryErr, LSMErr, KprobeErr error
}

// ProbeHooks loads and attaches the smallest program of each optional
// hook type, and detaches it at once.
func ProbeHooks() Hooks {
	_ = rlimit.RemoveMemlock() // else a kernel before 5.11 reports EPERM for any program
	var h Hooks
	h.FentryErr = probeHook(ebpf.ProgramSpec{Type: ebpf.Tracing, AttachType: ebpf.AttachTraceFEntry, AttachTo: "bpf_fentry_test1"},
		func(p *ebpf.Program) (link.Link, error) { return link.AttachTracing(link.TracingOptions{Program: p}) })
	h.LSMErr = probeHook(ebpf.ProgramSpec{Type: ebpf.LSM, AttachType: ebpf.AttachLSMMac, AttachTo: "file_open"},
		func(p *ebpf.Program) (link.Link, error) { return link.AttachLSM(link.LSMOptions{Program: p}) })
	if h.LSMErr == nil && !lsmActive() {
		h.LSMErr = fmt.Errorf("bpf is not in the active LSM list (/sys/kernel/security/lsm); boot with lsm=...,bpf")
	}
	h.KprobeErr = probeHook(ebpf.ProgramSpec{Type: ebpf.Kprobe},
		func(p *ebpf.Program) (link.Link, error) { return link.Kprobe("vfs_read", p, nil) })
	h.Fentry, h.LSM, h.Kprobe = h.FentryErr == nil, h.LSMErr == nil, h.KprobeErr == nil
	return h
}

func probeHook(spec ebpf.ProgramSpec, attach func(*ebpf.Program) (link.Link, error)) error {
	spec.License = "GPL"
	spec.Instructions = asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()}
	prog, err := ebpf.NewProgram(&spec)
	if err != nil {
		return fmt.Errorf("load: %w", err)
	}
	defer prog.Close()
	l, err := attach(prog)
	if err != nil {
		return fmt.Errorf("attach: %w", err)
	}
	return l.Close()
}

// lsmActive reports whether the BPF LSM is among the active LSMs (its
// programs load without it, and then never run).
func lsmActive() bool {
	b, err := os.ReadFile("/sys/kernel/security/lsm")
	if err != nil {
		return false
	}
	for name := range strings.SplitSeq(strings.TrimSpace(string(b)), ",") {
		if name == "bpf" {
			return true
		}
	}
	return false
}

// String lists the hooks, and why a missing one is missing.
func (h Hooks) String() string {
	var b strings.Builder
	for _, x := range []struct {
		name string
		ok   bool
		err  error
	}{{"fentry", h.Fentry, h.FentryErr}, {"lsm", h.LSM, h.LSMErr}, {"kprobe", h.Kprobe, h.KprobeErr}} {
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		if x.ok {
			fmt.Fprintf(&b, "%s: yes", x.name)
		} else {
			fmt.Fprintf(&b, "%s: no (%v)", x.name, x.err)
		}
	}
	return b.String()
}
