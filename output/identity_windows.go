package output

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
)

// hostIDs fills the machine id (MachineGuid, set at installation), a
// boot id (derived from the machine id and the boot time, which is the
// same for every reading during one boot, to the second) and the
// operating system.
func hostIDs(id *Identity) error {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, `SOFTWARE\Microsoft\Cryptography`, registry.QUERY_VALUE|registry.WOW64_64KEY)
	if err != nil {
		return fmt.Errorf("no machine id: %w", err)
	}
	defer k.Close()
	if id.HostID, _, err = k.GetStringValue("MachineGuid"); err != nil {
		return fmt.Errorf("no machine id: %w", err)
	}
	boot := time.Now().Add(-time.Duration(windows.DurationSinceBoot())).Unix()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(boot))
	sum := sha256.Sum256(append([]byte("vigil-boot\x00"+id.HostID+"\x00"), b[:]...))
	id.BootID = formatUUID(sum[:16])
	v := windows.RtlGetVersion()
	id.OS = OS{Type: "windows", Platform: "windows", Family: "windows",
		Kernel:  fmt.Sprintf("%d.%d.%d", v.MajorVersion, v.MinorVersion, v.BuildNumber),
		Version: fmt.Sprintf("%d.%d", v.MajorVersion, v.MinorVersion)}
	return nil
}
