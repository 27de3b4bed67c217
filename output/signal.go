package output

import (
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// signalName is "SIGKILL" for 9, or "SIG" + the number when unnamed.
func signalName(s syscall.Signal) string {
	if n := unix.SignalName(s); n != "" {
		return n
	}
	return "SIG" + strconv.Itoa(int(s))
}
