package chain

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// run writes n records through c into buf.
func run(t *testing.T, c *Chain, buf []byte, n int, seal bool) []byte {
	t.Helper()
	var err error
	for i := range n {
		rec := fmt.Sprintf(`{"@timestamp":"2026-11-27T10:00:00Z","ecs":{"version":"9.4.0"},"event":{"kind":"event","action":"exec"},"process":{"pid":%d}}`, i)
		if buf, err = c.Append(buf, []byte(rec)); err != nil {
			t.Fatal(err)
		}
	}
	if seal {
		if buf, err = c.Seal(buf); err != nil {
			t.Fatal(err)
		}
	}
	return buf
}

func restartLog(t *testing.T, sealFirst bool) (*Report, []byte) {
	t.Helper()
	dir := t.TempDir()
	keyDir := filepath.Join(dir, "keys")
	if _, _, err := Keygen(keyDir); err != nil {
		t.Fatal(err)
	}
	cfg := func() Config {
		ks, err := OpenKeys(keyDir) // a new process reads the key file anew
		if err != nil {
			t.Fatal(err)
		}
		return Config{Keys: ks, ID: Identity{HostID: "hid"}, EpochRecords: 7, Now: time.Now}
	}
	c, log, err := New(cfg())
	if err != nil {
		t.Fatal(err)
	}
	log = run(t, c, log, 10, sealFirst) // without a seal: killed
	c2, start, err := Resume(cfg(), bytes.NewReader(log))
	if err != nil {
		t.Fatal(err)
	}
	log = run(t, c2, append(log, start...), 10, true)
	path := filepath.Join(dir, "log.jsonl")
	if err := os.WriteFile(path, log, 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err := verifier(t, keyDir).Verify(path)
	if err != nil {
		t.Fatal(err)
	}
	return rep, log
}

// A clean restart continues the chain and verifies as a restart.
func TestResumeAfterSeal(t *testing.T) {
	rep, _ := restartLog(t, true)
	if !rep.OK() || rep.Restarts != 1 || rep.Crashes != 0 {
		t.Errorf("restarts %d crashes %d problems %v", rep.Restarts, rep.Crashes, rep.Problems)
	}
}

// A run killed without a seal, then restarted, verifies as a crash.
func TestResumeAfterCrash(t *testing.T) {
	rep, log := restartLog(t, false)
	if !rep.OK() || rep.Crashes != 1 || rep.Restarts != 0 {
		t.Errorf("restarts %d crashes %d problems %v", rep.Restarts, rep.Crashes, rep.Problems)
	}
	if !bytes.Contains(log, []byte(`"clean":false`)) {
		t.Error("the resumed run's start record does not say the last run was not sealed")
	}
}

// Resuming an empty log starts a new chain.
func TestResumeEmpty(t *testing.T) {
	keyDir := filepath.Join(t.TempDir(), "keys")
	if _, _, err := Keygen(keyDir); err != nil {
		t.Fatal(err)
	}
	ks, err := OpenKeys(keyDir)
	if err != nil {
		t.Fatal(err)
	}
	c, start, err := Resume(Config{Keys: ks}, bytes.NewReader(nil))
	if err != nil || c.Sequence() != 1 || !bytes.Contains(start, []byte(`"chain_start"`)) {
		t.Fatalf("resume of nothing: seq %d, %v", c.Sequence(), err)
	}
}

// Keys with looser permissions are refused; keygen refuses to replace keys.
func TestKeyPermissions(t *testing.T) {
	keyDir := filepath.Join(t.TempDir(), "keys")
	if _, _, err := Keygen(keyDir); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Keygen(keyDir); err == nil {
		t.Error("keygen replaced existing keys")
	}
	if err := os.Chmod(filepath.Join(keyDir, MACKeyFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenKeys(keyDir); err == nil {
		t.Error("a world-readable MAC key was accepted")
	}
	_ = os.Chmod(filepath.Join(keyDir, MACKeyFile), 0o600)
	_ = os.Chmod(keyDir, 0o755)
	if _, err := OpenKeys(keyDir); err == nil {
		t.Error("a world-readable key directory was accepted")
	}
}

// Forward security: the key on disk after an epoch change cannot make
// the previous epoch's MACs, and the old key is gone from the file.
func TestKeyEvolution(t *testing.T) {
	keyDir := filepath.Join(t.TempDir(), "keys")
	_, k0, err := Keygen(keyDir)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := OpenKeys(keyDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := ks.Evolve(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(keyDir, MACKeyFile))
	if bytes.Contains(b, []byte(fmt.Sprintf("%x", k0))) {
		t.Error("the old key is still in the key file")
	}
	ks2, err := OpenKeys(keyDir)
	if err != nil || ks2.Epoch() != 1 || !bytes.Equal(ks2.mac, KeyForEpoch(k0, 1)) {
		t.Errorf("reloaded key: epoch %d, %v", ks2.Epoch(), err)
	}
}
