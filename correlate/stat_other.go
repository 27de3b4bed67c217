//go:build !linux

package correlate

import "os"

// statID identifies the content at path now. Device and inode come from
// the platform where it has them (statDevIno); size and modification
// time tell contents apart.
func statID(path string) (fileID, bool, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileID{}, false, err
	}
	return infoID(fi), fi.Mode().IsRegular(), nil
}

// fstatID identifies the content of the open file f.
func fstatID(f *os.File) (fileID, error) {
	fi, err := f.Stat()
	if err != nil {
		return fileID{}, err
	}
	return infoID(fi), nil
}

func infoID(fi os.FileInfo) fileID {
	dev, ino := statDevIno(fi)
	return fileID{dev: dev, ino: ino, size: fi.Size(), mtime: fi.ModTime().UnixNano()}
}
