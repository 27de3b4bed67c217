package output

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestFormatUUID(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		want string
	}{
		{make([]byte, 16), "00000000-0000-4000-8000-000000000000"},
		{[]byte(strings.Repeat("\xff", 16)), "ffffffff-ffff-4fff-bfff-ffffffffffff"},
		{[]byte("\x01\x23\x45\x67\x89\xab\xcd\xef\x01\x23\x45\x67\x89\xab\xcd\xef"), "01234567-89ab-4def-8123-456789abcdef"},
		{[]byte("\x01\x02"), "01020000-0000-4000-8000-000000000000"}, // short input is zero-padded
	} {
		got := formatUUID(tc.in)
		if got != tc.want {
			t.Errorf("formatUUID(%x) = %s, want %s", tc.in, got, tc.want)
		}
		if !uuidV4.MatchString(got) {
			t.Errorf("formatUUID(%x) = %s: not a version-4 UUID", tc.in, got)
		}
	}
}

func TestReadID(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if got, err := readID(write("ok", "  abc123\n")); err != nil || got != "abc123" {
		t.Errorf("readID = %q, %v; want abc123", got, err)
	}
	if _, err := readID(write("blank", " \n\t")); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("blank file: error %v, want empty", err)
	}
	if _, err := readID(filepath.Join(dir, "missing")); !os.IsNotExist(unwrapAll(err)) {
		t.Errorf("missing file: error %v", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

func TestHostIdentity(t *testing.T) {
	a, err := HostIdentity("1.2.3")
	if err != nil {
		t.Skipf("host has no identity files: %v", err)
	}
	b, err := HostIdentity("1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	if a.AgentVersion != "1.2.3" || a.HostName == "" || a.HostID == "" || a.BootID == "" {
		t.Errorf("incomplete identity %+v", a)
	}
	sum := sha256.Sum256([]byte("vigil-agent\x00" + a.HostID))
	if want := formatUUID(sum[:16]); a.AgentID != want {
		t.Errorf("AgentID %s, want %s", a.AgentID, want)
	}
	if a.AgentID != b.AgentID {
		t.Errorf("AgentID not stable: %s, %s", a.AgentID, b.AgentID)
	}
	if a.EphemeralID == b.EphemeralID {
		t.Errorf("EphemeralID repeated: %s", a.EphemeralID)
	}
	for _, id := range []string{a.AgentID, a.EphemeralID, b.EphemeralID} {
		if !uuidV4.MatchString(id) {
			t.Errorf("%s is not a version-4 UUID", id)
		}
	}
	boot, err := BootID()
	if err != nil || boot != a.BootID {
		t.Errorf("BootID() = %q, %v; want %q", boot, err, a.BootID)
	}
}
