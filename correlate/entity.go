package correlate

import (
	"crypto/sha256"
	"encoding/base64"
	"strconv"
)

// EntityID derives a process's entity id from the host's boot id, its
// process id and its start time in clock ticks since boot (the unit of
// /proc/PID/stat, see [sensor.NSToTicks]). Within one boot a PID can be
// reused only by a process that starts later, so the id never aliases; a
// reboot changes the boot id. The id is the unpadded URL-safe base64 of
// the first 18 bytes of SHA-256("vigil-entity\x00" boot_id "\x00" pid
// "\x00" ticks), decimal numbers: anyone holding the three facts can
// recompute it.
func EntityID(bootID string, pid uint32, startTicks uint64) string {
	var buf [128]byte
	b := append(buf[:0], "vigil-entity\x00"...)
	b = append(b, bootID...)
	b = append(b, 0)
	b = strconv.AppendUint(b, uint64(pid), 10)
	b = append(b, 0)
	b = strconv.AppendUint(b, startTicks, 10)
	sum := sha256.Sum256(b)
	return base64.RawURLEncoding.EncodeToString(sum[:18])
}
