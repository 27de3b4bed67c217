//go:build linux

package vmtest

import (
	"fmt"
	"strconv"
	"strings"
)

// GuestConfig is what the guest init reads from ConfigPath in the
// initramfs.
type GuestConfig struct {
	// Kernel names the kernel the guest runs (e.g. "6.1"); the program
	// sees it in MarkerEnv.
	Kernel string `json:"kernel"`
	// Modules are the initramfs paths of the modules to load, in order.
	Modules []string `json:"modules"`
	// ModuleTree is the host directory of the kernel's modules (with the
	// modules.dep vmtest/setup made), shown at /lib/modules/Release so
	// the kernel can load further modules on demand through modprobe.
	ModuleTree string `json:"module_tree"`
	Release    string `json:"release"`
	// Path, Args, Dir and Env describe the program: Args[0] is its
	// argv[0]; Dir its working directory; Env its whole environment.
	Path string   `json:"path"`
	Args []string `json:"args"`
	Dir  string   `json:"dir"`
	Env  []string `json:"env"`
	// TmpBinds are host files and directories under /tmp the guest shows,
	// read-only, in its own tmpfs /tmp (the program, usually in go test's
	// build directory, and its working directory). /tmp is a real tmpfs, not the overlay, so the files
	// tests create there have the device and inode numbers the kernel
	// reports for them.
	TmpBinds []string `json:"tmp_binds,omitempty"`
	// TmpBindSources maps a TmpBinds path that is a symlink on the host to
	// the host path it resolves to, which the guest binds from.
	TmpBindSources map[string]string `json:"tmp_bind_sources,omitempty"`
}

const (
	// ConfigPath is where the guest init finds its GuestConfig.
	ConfigPath = "/vmtest.json"
	// MarkerEnv is set to the kernel's name in the program's environment.
	MarkerEnv = "VIGIL_VMTEST"
	// HostTag is the 9p mount tag of the host's root file system.
	HostTag = "hostroot"
	// ExitPort is the I/O port of qemu's isa-debug-exit device.
	ExitPort = 0xf4
	// exitLinePrefix starts the line the guest init prints on the
	// console once the program is done: "vmtest: exit status N".
	exitLinePrefix = "vmtest: exit status "
)

// MaxExitCode is the largest exit code the exit port carries.
const MaxExitCode = 254

// PortValue is the byte the guest writes to ExitPort for exit code code.
// It is code+1, so qemu exits with 2×(code+1)+1 ≥ 3: its own exit codes
// (0 for a power-off or a reset, 1 for an error) never look like a
// program's.
func PortValue(code int) byte {
	if code < 0 || code > MaxExitCode {
		code = MaxExitCode
	}
	return byte(code + 1)
}

// exitFromQemu maps qemu's exit status back to the program's exit code;
// ok is false when qemu did not exit through the exit port.
func exitFromQemu(status int) (code int, ok bool) {
	if status < 3 || status%2 == 0 || status > 2*(MaxExitCode+1)+1 {
		return 0, false
	}
	return (status-1)/2 - 1, true
}

// ExitLine is the console line the guest prints for exit code code.
func ExitLine(code int) string { return exitLinePrefix + strconv.Itoa(code) }

// exitFromConsole finds the exit line in the guest console log.
func exitFromConsole(log string) (code int, ok bool) {
	i := strings.LastIndex(log, exitLinePrefix)
	if i < 0 {
		return 0, false
	}
	rest := log[i+len(exitLinePrefix):]
	if j := strings.IndexAny(rest, "\r\n"); j >= 0 {
		rest = rest[:j]
	}
	code, err := strconv.Atoi(rest)
	if err != nil || code < 0 || code > MaxExitCode {
		return 0, false
	}
	return code, true
}

// ExitError is returned by Run when the guest did not report the
// program's exit: a kernel panic, a hang, a failed boot or init. Console
// holds the guest console log.
type ExitError struct {
	Kernel  string
	Reason  string
	Console string
	Qemu    string // qemu's own stderr
}

func (e *ExitError) Error() string {
	return fmt.Sprintf("vmtest: kernel %s: %s", e.Kernel, e.Reason)
}
