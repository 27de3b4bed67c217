//go:build linux

package store

import (
	"os"

	"golang.org/x/sys/unix"
)

// writeBack starts writeback of [behind, size) and waits for the window
// before it, [from, behind), started last time and so mostly written by
// now, then drops that window from the page cache. It returns where the
// next window starts; closed reports a segment closed meanwhile (by a
// rotation, which synced it).
func writeBack(f *os.File, behind, size, from int64) (next int64, closed bool, werr error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return from, true, nil
	}
	cerr := rc.Control(func(fd uintptr) {
		// sync_file_range waits and reports writeback errors in place of
		// the next fsync (it advances the file's error cursor), so an
		// error here is a failed sync.
		if err := unix.SyncFileRange(int(fd), behind, size-behind, unix.SYNC_FILE_RANGE_WRITE); err != nil {
			werr = err
			return
		}
		from = max(from, 0)
		to := behind &^ (pageSize - 1)
		if to <= from {
			return
		}
		const wait = unix.SYNC_FILE_RANGE_WAIT_BEFORE | unix.SYNC_FILE_RANGE_WRITE | unix.SYNC_FILE_RANGE_WAIT_AFTER
		if err := unix.SyncFileRange(int(fd), from, to-from, wait); err != nil {
			werr = err
			return
		}
		_ = unix.Fadvise(int(fd), from, to-from, unix.FADV_DONTNEED)
		from = to
	})
	if cerr != nil {
		return from, true, nil
	}
	return from, false, werr
}

// dropCache tells the kernel that f's bytes [from, to), already on disk,
// will not be read again soon (POSIX_FADV_DONTNEED): records are written
// once and read later, if at all, by a shipper or verify. Without it a
// burst of records fills the page cache with them, pushing the host's
// own files out, and each new record costs a freshly allocated page;
// with it the pages just written are reused for the next records. It
// is advice: a failure changes nothing but the cache.
func dropCache(f *os.File, from, to int64) {
	if to <= from {
		return
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	// Control holds the descriptor open: a concurrent Close cannot make
	// the advice land on a reused descriptor number.
	_ = rc.Control(func(fd uintptr) {
		_ = unix.Fadvise(int(fd), from, to-from, unix.FADV_DONTNEED)
	})
}
