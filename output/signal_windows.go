package output

import (
	"strconv"
	"syscall"
)

// Windows has no signals and no errno for its events (the ETW adapter
// reports NTSTATUS exit codes, not signals or errnos): numbers are shown
// as numbers.

func signalName(s syscall.Signal) string { return "SIG" + strconv.Itoa(int(s)) }

func errnoName(e syscall.Errno) string { return "errno " + strconv.Itoa(int(e)) }
