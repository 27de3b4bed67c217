package correlate

import (
	"os"
	"syscall"

	"github.com/vigilsec/vigil/sensor"
)

// statDevIno gives the device in the events' layout (Linux's dev_t, see
// sensor.Mkdev): macOS puts the major number in the top byte.
func statDevIno(fi os.FileInfo) (dev, ino uint64) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		d := uint32(st.Dev)
		return sensor.Mkdev(d>>24, d&0xffffff), st.Ino
	}
	return 0, 0
}
