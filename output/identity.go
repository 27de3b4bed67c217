package output

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
)

// HostIdentity reads the host's name, machine id and boot id, and derives
// this installation's agent id from the machine id (stable across
// restarts, distinct per host). version is Vigil's version.
func HostIdentity(version string) (Identity, error) {
	id := Identity{AgentVersion: version}
	var err error
	if id.HostName, err = os.Hostname(); err != nil {
		return id, fmt.Errorf("read host name: %w", err)
	}
	if err := hostIDs(&id); err != nil {
		return id, err
	}
	sum := sha256.Sum256([]byte("vigil-agent\x00" + id.HostID))
	id.AgentID = formatUUID(sum[:16])
	var eph [16]byte
	if _, err := rand.Read(eph[:]); err != nil {
		return id, fmt.Errorf("ephemeral id: %w", err)
	}
	id.EphemeralID = formatUUID(eph[:])
	return id, nil
}

func readID(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("read %s: empty", path)
	}
	return s, nil
}

// formatUUID formats 16 bytes as a version-4-shaped UUID string.
func formatUUID(b []byte) string {
	var u [16]byte
	copy(u[:], b)
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	h := hex.EncodeToString(u[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
