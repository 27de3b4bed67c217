package correlate

import (
	"os"
	"syscall"
)

// statID identifies the content at path now.
func statID(path string) (fileID, bool, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return fileID{}, false, err
	}
	regular := st.Mode&syscall.S_IFMT == syscall.S_IFREG
	return fileID{dev: st.Dev, ino: st.Ino, size: st.Size, mtime: st.Mtim.Nano()}, regular, nil
}

// fstatID identifies the content of the open file f.
func fstatID(f *os.File) (fileID, error) {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return fileID{}, err
	}
	return fileID{dev: st.Dev, ino: st.Ino, size: st.Size, mtime: st.Mtim.Nano()}, nil
}
