package sensor

import "time"

// WallClock is the time source of event streams whose timestamps
// (Event.KTime, Task.StartTime) are ns since the Unix epoch: the adapters
// for platforms without a boot clock in their records (sensor/etw,
// sensor/esf).
type WallClock struct{}

// Time converts ns since the Unix epoch to time (UTC).
func (WallClock) Time(ns uint64) time.Time { return time.Unix(0, int64(ns)).UTC() }
