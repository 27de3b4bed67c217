package correlate

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"testing"
)

// referenceEntityID recomputes an entity id from its documented recipe.
func referenceEntityID(boot string, pid uint32, ticks uint64) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("vigil-entity\x00%s\x00%d\x00%d", boot, pid, ticks)))
	return base64.RawURLEncoding.EncodeToString(sum[:18])
}

func TestEntityIDKnownValue(t *testing.T) {
	const boot = "0b3c8a52-7d61-4f0e-a6f4-2f8e9c1d0a77"
	got := EntityID(boot, 4242, 123456)
	want := referenceEntityID(boot, 4242, 123456)
	if got != want {
		t.Fatalf("EntityID = %q, want %q", got, want)
	}
	if len(got) != 24 { // 18 bytes, unpadded base64
		t.Errorf("len(EntityID) = %d, want 24", len(got))
	}
	if got != EntityID(boot, 4242, 123456) {
		t.Error("EntityID is not deterministic")
	}
}

func TestEntityIDInputs(t *testing.T) {
	const boot = "0b3c8a52-7d61-4f0e-a6f4-2f8e9c1d0a77"
	base := EntityID(boot, 100, 5000)
	tests := []struct {
		name  string
		boot  string
		pid   uint32
		ticks uint64
	}{
		{"other boot", "0b3c8a52-7d61-4f0e-a6f4-2f8e9c1d0a78", 100, 5000},
		{"empty boot", "", 100, 5000},
		{"other pid", boot, 101, 5000},
		{"pid reused later", boot, 100, 5001},
		{"zero ticks", boot, 100, 0},
		// The separators keep digit strings from running together.
		{"pid/ticks boundary", boot, 1005, 0},
		{"max values", boot, ^uint32(0), ^uint64(0)},
		{"long boot id", string(make([]byte, 300)), 100, 5000},
	}
	seen := map[string]string{base: "base"}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := EntityID(tc.boot, tc.pid, tc.ticks)
			if want := referenceEntityID(tc.boot, tc.pid, tc.ticks); got != want {
				t.Errorf("EntityID = %q, reference %q", got, want)
			}
			if prev, ok := seen[got]; ok {
				t.Errorf("EntityID %q collides with %s", got, prev)
			}
			seen[got] = tc.name
		})
	}
}

func TestSourceString(t *testing.T) {
	for s, want := range map[Source]string{SourceKernel: "kernel", SourceProc: "procfs", SourceInferred: "inferred"} {
		if got := s.String(); got != want {
			t.Errorf("Source(%d).String() = %q, want %q", s, got, want)
		}
	}
}

func BenchmarkEntityID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = EntityID(testBootID, 123456, 987654321)
	}
}
