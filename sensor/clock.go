//go:build linux

package sensor

import (
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// BootClock converts CLOCK_BOOTTIME nanoseconds, the kernel's timestamps,
// to wall-clock time. Call Sync now and then to follow wall-clock steps.
type BootClock struct {
	offset atomic.Int64 // wall ns - boot ns
}

// NewBootClock returns a synced BootClock.
func NewBootClock() *BootClock {
	c := new(BootClock)
	c.Sync()
	return c
}

// Sync re-measures the offset between the wall clock and the boot clock,
// reading the boot clock on both sides of the wall clock and keeping the
// tightest of a few tries.
func (c *BootClock) Sync() {
	best, bestSpan := int64(0), int64(-1)
	for range 3 {
		var a, b unix.Timespec
		_ = unix.ClockGettime(unix.CLOCK_BOOTTIME, &a)
		wall := time.Now().UnixNano()
		_ = unix.ClockGettime(unix.CLOCK_BOOTTIME, &b)
		span := b.Nano() - a.Nano()
		if bestSpan < 0 || span < bestSpan {
			best, bestSpan = wall-(a.Nano()+span/2), span
		}
	}
	c.offset.Store(best)
}

// Time converts ns since boot to wall-clock time (UTC).
func (c *BootClock) Time(bootNS uint64) time.Time {
	return time.Unix(0, int64(bootNS)+c.offset.Load()).UTC()
}

// Now is the current boot-clock reading in ns.
func BootNow() uint64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts)
	return uint64(ts.Nano())
}
