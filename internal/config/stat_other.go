//go:build !linux

package config

import "os"

// FileID is a file's device and inode (Linux's; the Linux sensor matches
// agent binaries by them).
type FileID struct{ Dev, Ino uint64 }

type fileStat FileID

// statFile checks that path exists; elsewhere agents are matched by name.
func statFile(path string, out *fileStat) error {
	_, err := os.Stat(path)
	*out = fileStat{}
	return err
}
