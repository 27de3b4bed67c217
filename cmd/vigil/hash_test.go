package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func sha256File(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// A written file is hashed after its writer closes it, and an executed
// binary is hashed too: both arrive as enrichment records whose hashes
// match the files; a binary run again is served from the cache, in the
// exec record itself.
func TestTraceHashes(t *testing.T) {
	requireBPF(t)
	dir := realPath(t, t.TempDir())
	target := filepath.Join(dir, "out.txt")
	out := filepath.Join(dir, "records.jsonl")
	// A copy of /bin/true in the test's directory: inside the vmtest
	// guests / is the host's over 9p beneath an overlay, where the kernel
	// names an executed file by the 9p device and stat by the overlay's,
	// so the hasher (rightly) would not vouch for the content.
	trueBin := filepath.Join(dir, "true")
	b, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(trueBin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	res := runVigil(t, "trace", "-o", out, "--", "sh", "-c",
		fmt.Sprintf("printf 'hashed content\\n' > %s; %s; sleep 0.5; %s again", target, trueBin, trueBin))
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	b, err = os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	docs := parseRecords(t, string(b))
	trueHash := sha256File(t, trueBin)

	var modState, fileHash, procHash, cachedExec string
	for _, d := range docs {
		switch {
		case d.str("event.action") == "modification" && d.str("file.path") == target:
			modState = d.str("Vigil.file.hash_state") + d.str("file.hash.sha256")
		case d.str("event.action") == "file_hash" && d.str("file.path") == target:
			fileHash = d.str("file.hash.sha256")
			if d.str("event.kind") != "enrichment" || d.str("process.entity_id") == "" {
				t.Errorf("file hash record: %v", d)
			}
		case d.str("event.action") == "process_hash" && d.str("process.executable") == trueBin:
			procHash = d.str("process.hash.sha256")
		case d.str("event.action") == "exec" && len(d.strs("process.args")) == 2 && d.strs("process.args")[1] == "again":
			cachedExec = d.str("process.hash.sha256")
		}
	}
	if modState == "" {
		t.Error("the modification record says nothing of the hash")
	}
	if want := sha256File(t, target); fileHash != want {
		t.Errorf("file hash %q, want %q", fileHash, want)
	}
	if procHash != trueHash {
		t.Errorf("process hash %q, want %q", procHash, trueHash)
	}
	if cachedExec != trueHash {
		t.Errorf("second exec of true: process.hash.sha256 %q, want the cached %q", cachedExec, trueHash)
	}
}
