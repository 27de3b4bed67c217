//go:build unix

package output

import (
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// signalNames holds every signal's name, computed once so encoding a
// record never allocates: "SIGKILL" for 9, "SIG40" for an unnamed
// real-time signal.
var signalNames = func() (names [65]string) {
	for i := range names {
		if names[i] = unix.SignalName(syscall.Signal(i)); names[i] == "" {
			names[i] = "SIG" + strconv.Itoa(i)
		}
	}
	return names
}()

// signalName names a signal.
func signalName(s syscall.Signal) string {
	if s >= 0 && int(s) < len(signalNames) {
		return signalNames[s]
	}
	return "SIG" + strconv.Itoa(int(s))
}

// errnoName is "ENOENT" for ENOENT, or the number when unnamed.
func errnoName(e syscall.Errno) string {
	if n := unix.ErrnoName(e); n != "" {
		return n
	}
	return "errno " + strconv.Itoa(int(e))
}
