package fsperm

import (
	"fmt"

	"golang.org/x/sys/windows"
)

// privateSDDL grants full control to SYSTEM and Administrators only,
// inherited by everything below, with inheritance from the parent cut
// (P): %ProgramData%'s default ACL lets Users read what is created in it,
// and Windows ignores Unix modes.
const privateSDDL = "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"

// Private replaces dir's DACL with one that admits only SYSTEM and
// Administrators.
func Private(dir string) error {
	sd, err := windows.SecurityDescriptorFromString(privateSDDL)
	if err != nil {
		return fmt.Errorf("private %s: %w", dir, err)
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return fmt.Errorf("private %s: %w", dir, err)
	}
	err = windows.SetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, dacl, nil)
	if err != nil {
		return fmt.Errorf("private %s: %w", dir, err)
	}
	return nil
}
