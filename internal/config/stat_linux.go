package config

import "golang.org/x/sys/unix"

// FileID is a file's device (user-space dev_t) and inode.
type FileID struct{ Dev, Ino uint64 }

type fileStat FileID

func statFile(path string, out *fileStat) error {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return err
	}
	out.Dev, out.Ino = st.Dev, st.Ino
	return nil
}
