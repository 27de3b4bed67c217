package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// vigil trace --key-dir seals its records; vigil verify passes on the
// file as written and names a changed record.
func TestTraceKeyDirVerify(t *testing.T) {
	requireBPF(t)
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	res := runVigil(t, "keygen", "--dir", keys)
	if res.code != 0 || !strings.Contains(res.stdout, "public key:") || !strings.Contains(res.stdout, "initial MAC key:") {
		t.Fatalf("keygen: %d %s %s", res.code, res.stdout, res.stderr)
	}
	if st, err := os.Stat(keys); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("key directory mode: %v %v", st, err)
	}
	out := filepath.Join(dir, "records.jsonl")
	if res := runVigil(t, "trace", "--key-dir", keys, "-o", out, "--", "sh", "-c", "/bin/true; /bin/false || true"); res.code != 0 {
		t.Fatalf("trace: %d %s", res.code, res.stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range parseRecords(t, string(b)) { // ECS-valid, sequences 1..N
		if d.str("event.hash") == "" || d.str("Vigil.chain.hmac") == "" {
			t.Fatalf("record without integrity fields: %v", d)
		}
	}
	if res := runVigil(t, "verify", "--key-dir", keys, out); res.code != 0 || !strings.Contains(res.stdout, "verified") {
		t.Fatalf("verify of an untouched log: %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	// The same with the keys given as values, as a verifier off the host would.
	pub, _ := os.ReadFile(filepath.Join(keys, "sign.pub"))
	mac0, _ := os.ReadFile(filepath.Join(keys, "mac0.key"))
	if res := runVigil(t, "verify", "--pub", strings.TrimSpace(string(pub)), "--mac-key", strings.TrimSpace(string(mac0)), out); res.code != 0 {
		t.Fatalf("verify with --pub/--mac-key: %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	lines := bytes.SplitAfter(b, []byte("\n"))
	lines[2] = bytes.Replace(lines[2], []byte(`"event":{`), []byte(`"event":{"reason":"x",`), 1)
	if err := os.WriteFile(out, bytes.Join(lines, nil), 0o600); err != nil {
		t.Fatal(err)
	}
	res = runVigil(t, "verify", "--key-dir", keys, out)
	if res.code != 1 || !strings.Contains(res.stdout, "sequence 3: modified") {
		t.Errorf("verify of a changed record: %d\n%s", res.code, res.stdout)
	}
	// A wrong key is named as such.
	other := filepath.Join(dir, "other")
	runVigil(t, "keygen", "--dir", other)
	if res := runVigil(t, "verify", "--key-dir", other, out); res.code != 1 || !strings.Contains(res.stdout, "wrong_key") {
		t.Errorf("verify with another host's keys: %d\n%s", res.code, res.stdout)
	}
}
