package chain

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzCanonical: the parser never panics, and canonical form is a fixed
// point.
func FuzzCanonical(f *testing.F) {
	f.Add(benchRecord)
	f.Add([]byte(`{"a":[1,{"b":"\u00e9\n"}],"c":true}`))
	f.Add([]byte(`{"a":1,"a":2}`))
	f.Add([]byte(`{"x":1.5}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Canonical(b)
		if err != nil {
			return
		}
		c2, err := Canonical(c)
		if err != nil || !bytes.Equal(c, c2) {
			t.Fatalf("canonical form is not a fixed point: %q -> %q (%v)", c, c2, err)
		}
	})
}

// FuzzVerify: verify reads damaged logs without panicking, and never
// calls a damaged log verified.
func FuzzVerify(f *testing.F) {
	path, lines, keyDir := testLog(&testing.T{}, 3, 2)
	_ = path
	f.Add(bytes.Join(lines, nil))
	f.Add(lines[1])
	f.Add([]byte("{}\n\n{\"event\":{}}\n"))
	pub, _ := ReadPublicKey(filepath.Join(keyDir, PubKeyFile))
	mac0, _ := ReadMACKey0(filepath.Join(keyDir, MACKey0File))
	whole := bytes.Join(lines, nil)
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), "log")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		rep, err := (&Verifier{Pub: pub, MAC0: mac0}).Verify(p)
		if err != nil {
			return
		}
		// Lines are what verify reads: a missing last newline, or a CR
		// before a newline, changes no record.
		norm := func(x []byte) []byte {
			x = bytes.ReplaceAll(x, []byte("\r\n"), []byte("\n"))
			return bytes.TrimSuffix(x, []byte("\n"))
		}
		if rep.OK() && !bytes.Equal(norm(b), norm(whole)) {
			t.Fatalf("a log other than the one written verified: %q", b)
		}
	})
}
