package output

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// hostIDs fills the machine id (the platform UUID, kern.uuid), the boot
// id (kern.bootsessionuuid, new at every boot) and the operating system.
func hostIDs(id *Identity) error {
	var err error
	if id.HostID, err = unix.Sysctl("kern.uuid"); err != nil || id.HostID == "" {
		return fmt.Errorf("no machine id (sysctl kern.uuid): %v", err)
	}
	if id.BootID, err = unix.Sysctl("kern.bootsessionuuid"); err != nil || id.BootID == "" {
		return fmt.Errorf("no boot id (sysctl kern.bootsessionuuid): %v", err)
	}
	id.OS = OS{Type: "macos", Platform: "darwin", Family: "darwin"}
	id.OS.Kernel, _ = unix.Sysctl("kern.osrelease")
	id.OS.Version, _ = unix.Sysctl("kern.osproductversion")
	return nil
}
