//go:build linux

package vmtest

import (
	"bytes"
	"os"

	"golang.org/x/sys/unix"
)

// kvmUsable reports whether KVM can run the guest: /dev/kvm must create a
// VM and the CPU must advertise hardware virtualisation (vmx or svm). A
// /dev/kvm node alone is not enough: under a nested hypervisor without
// those flags it creates VMs that then fail to emulate the kernel's
// first cmpxchg16b and hang.
func kvmUsable() bool {
	info, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return false
	}
	for _, line := range bytes.Split(info, []byte{'\n'}) {
		if !bytes.HasPrefix(line, []byte("flags")) {
			continue
		}
		flags := bytes.Fields(line)
		has := func(f string) bool {
			for _, x := range flags {
				if string(x) == f {
					return true
				}
			}
			return false
		}
		if !has("vmx") && !has("svm") {
			return false
		}
		break
	}
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	const kvmCreateVM = 0xae01 // _IO(KVMIO, 0x01)
	fd, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), kvmCreateVM, 0)
	if errno != 0 {
		return false
	}
	unix.Close(int(fd))
	return true
}
