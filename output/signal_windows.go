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

// devMajor and devMinor use Linux's dev_t layout; events from the ETW
// adapter carry no device number.
func devMajor(dev uint64) uint32 { return uint32((dev>>8)&0xfff | (dev>>32)&^0xfff) }
func devMinor(dev uint64) uint32 { return uint32(dev&0xff | (dev>>12)&^0xff) }
