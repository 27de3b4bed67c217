package output

import "fmt"

// hostIDs fills the machine id, the boot id and the operating system.
func hostIDs(id *Identity) error {
	var err error
	if id.BootID, err = readID("/proc/sys/kernel/random/boot_id"); err != nil {
		return err
	}
	id.HostID, err = readID("/etc/machine-id")
	if err != nil {
		if id.HostID, err = readID("/var/lib/dbus/machine-id"); err != nil {
			return fmt.Errorf("no machine id: %w", err)
		}
	}
	id.OS = OS{Type: "linux", Platform: "linux"}
	id.OS.Kernel, _ = readID("/proc/sys/kernel/osrelease")
	return nil
}

// BootID reads the kernel's boot id.
func BootID() (string, error) { return readID("/proc/sys/kernel/random/boot_id") }
