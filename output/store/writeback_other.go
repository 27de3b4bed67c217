//go:build !linux

package store

import (
	"errors"
	"os"
)

// writeBack makes [from, size) durable. Without sync_file_range and
// fadvise (Linux) there is no range to start or page cache to drop: the
// whole file is synced.
func writeBack(f *os.File, behind, size, from int64) (next int64, closed bool, werr error) {
	if err := f.Sync(); err != nil {
		if errors.Is(err, os.ErrClosed) {
			return from, true, nil
		}
		return from, false, err
	}
	return size &^ (pageSize - 1), false, nil
}

// dropCache does nothing where the page cache cannot be advised.
func dropCache(*os.File, int64, int64) {}
