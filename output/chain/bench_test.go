package chain

import (
	"os"
	"path/filepath"
	"testing"
)

// A typical exec record as the encoder writes it (about 1 KiB).
var benchRecord = []byte(`{"@timestamp":"2026-11-27T10:00:00.123456789Z","ecs":{"version":"9.4.0"},"event":{"kind":"event","category":["process"],"type":["start"],"action":"exec","module":"vigil","dataset":"vigil.process","sequence":1,"created":"2026-11-27T10:00:00.124Z"},"host":{"name":"vm","id":"3d1219c7c4c5404aaa1f6d2a48adfda4","boot":{"id":"bda3ee17-bc75-4572-b908-574507dc72b0"}},"agent":{"type":"vigil","version":"0.1.0","id":"fe8efbf0-2e7e-4d44-ad49-aa3832b7c480"},"user":{"id":"1000"},"process":{"entity_id":"WtxxCYqK8V7oJg_ufk1TqwW0","pid":11436,"name":"git","executable":"/usr/bin/git","args":["git","commit","-m","change"],"args_count":4,"command_line":"git commit -m change","working_directory":"/home/u/src","start":"2026-11-27T10:00:00.1Z","user":{"id":"1000"},"parent":{"entity_id":"64yAuVFo8UYbd2vW85Fx0fWK","pid":11429,"name":"claude","executable":"/usr/bin/node"}},"gen_ai":{"agent":{"name":"claude-code"}},"Vigil":{"tree":{"root":{"entity_id":"WtxxCYqK8V7oJg_ufk1TqwW0","pid":11400}},"process":{"source":"kernel"}}}`)

// BenchmarkChainAppend: canonical encoding + hash + HMAC (+ a checkpoint
// every 10,000 records) of one record.
func BenchmarkChainAppend(b *testing.B) {
	keyDir := filepath.Join(b.TempDir(), "keys")
	if _, _, err := Keygen(keyDir); err != nil {
		b.Fatal(err)
	}
	ks, err := OpenKeys(keyDir)
	if err != nil {
		b.Fatal(err)
	}
	c, _, err := New(Config{Keys: ks, EpochRecords: 10000})
	if err != nil {
		b.Fatal(err)
	}
	var out []byte
	b.ReportAllocs()
	b.SetBytes(int64(len(benchRecord)))
	for b.Loop() {
		if out, err = c.Append(out[:0], benchRecord); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(len(out)), "bytes/record")
}

// BenchmarkVerify: verify throughput over a sealed log.
func BenchmarkVerify(b *testing.B) {
	keyDir := filepath.Join(b.TempDir(), "keys")
	if _, _, err := Keygen(keyDir); err != nil {
		b.Fatal(err)
	}
	ks, _ := OpenKeys(keyDir)
	c, out, _ := New(Config{Keys: ks, EpochRecords: 10000})
	const n = 20000
	for range n {
		out, _ = c.Append(out, benchRecord)
	}
	out, _ = c.Seal(out)
	path := filepath.Join(b.TempDir(), "log.jsonl")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		b.Fatal(err)
	}
	pub, _ := ReadPublicKey(filepath.Join(keyDir, PubKeyFile))
	mac0, _ := ReadMACKey0(filepath.Join(keyDir, MACKey0File))
	b.ResetTimer()
	for b.Loop() {
		rep, err := (&Verifier{Pub: pub, MAC0: mac0}).Verify(path)
		if err != nil || !rep.OK() {
			b.Fatal(err, rep.Problems)
		}
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "records/s")
}
