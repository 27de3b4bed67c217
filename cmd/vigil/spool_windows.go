package main

import (
	"os"

	"golang.org/x/sys/windows"
)

// fileOwner: Windows files have owners by SID, not uid; the spool lives
// in the user's own profile, whose ACL keeps others out.
func fileOwner(os.FileInfo) (int, bool) { return 0, false }

// lockNow takes an exclusive lock on f without waiting.
func lockNow(f *os.File) error {
	ol := new(windows.Overlapped)
	return windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, ol)
}
