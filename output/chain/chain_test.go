package chain

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
)

// testLog writes a sealed log of n records with an epoch every `every`
// records, and returns its path, its lines and the keys' directory.
func testLog(t *testing.T, n, every int) (string, [][]byte, string) {
	t.Helper()
	dir := t.TempDir()
	keyDir := filepath.Join(dir, "keys")
	if _, _, err := Keygen(keyDir); err != nil {
		t.Fatal(err)
	}
	ks, err := OpenKeys(keyDir)
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	c, out, err := New(Config{Keys: ks, ID: Identity{HostName: "h", HostID: "hid", AgentID: "a"}, EpochRecords: every,
		Now: func() time.Time { clock = clock.Add(time.Millisecond); return clock }})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		rec := fmt.Sprintf(`{"@timestamp":"2026-11-27T10:00:00Z","ecs":{"version":"9.4.0"},"event":{"kind":"event","action":"exec","sequence":%d},"process":{"pid":%d,"args":["a","b\"c"]}}`, i+1, 100+i)
		if out, err = c.Append(out, []byte(rec)); err != nil {
			t.Fatal(err)
		}
	}
	if out, err = c.Seal(out); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "log.jsonl")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, bytes.SplitAfter(out, []byte("\n"))[:bytes.Count(out, []byte("\n"))], keyDir
}

func verifier(t *testing.T, keyDir string) *Verifier {
	t.Helper()
	pub, err := ReadPublicKey(filepath.Join(keyDir, PubKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	mac0, err := ReadMACKey0(filepath.Join(keyDir, MACKey0File))
	if err != nil {
		t.Fatal(err)
	}
	return &Verifier{Pub: pub, MAC0: mac0}
}

func writeLines(t *testing.T, lines [][]byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tampered.jsonl")
	if err := os.WriteFile(path, bytes.Join(lines, nil), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestVerifyUntouched(t *testing.T) {
	path, lines, keyDir := testLog(t, 25, 10)
	rep, err := verifier(t, keyDir).Verify(path)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("untouched log: %v", rep.Problems)
	}
	// chain_start + 25 records + 3 checkpoints (after 10, 20 and the seal's) + seal.
	if rep.Records != len(lines) || rep.Checkpoints != 3 {
		t.Errorf("records %d (lines %d), checkpoints %d", rep.Records, len(lines), rep.Checkpoints)
	}
}

// Each tampering is found, named, and placed at the right sequence.
func TestVerifyTampering(t *testing.T) {
	_, lines, keyDir := testLog(t, 25, 10)
	clone := func() [][]byte {
		out := make([][]byte, len(lines))
		for i, l := range lines {
			out[i] = bytes.Clone(l)
		}
		return out
	}
	seqOf := func(i int) uint64 { return uint64(i + 1) }
	// Line indexes: 0 chain_start, 1..10 records 1-10, 11 checkpoint, ...
	cases := []struct {
		name   string
		tamper func() [][]byte
		kind   string
		seq    uint64
	}{
		{"one byte changed", func() [][]byte {
			l := clone()
			l[5] = bytes.Replace(l[5], []byte(`"pid":104`), []byte(`"pid":105`), 1)
			return l
		}, ProblemModified, seqOf(5)},
		{"line deleted", func() [][]byte { l := clone(); return append(l[:7], l[8:]...) }, ProblemDeleted, seqOf(8)},
		{"lines swapped", func() [][]byte { l := clone(); l[3], l[4] = l[4], l[3]; return l }, ProblemDeleted, seqOf(4)},
		{"line inserted", func() [][]byte {
			l := clone()
			fake := bytes.Replace(l[6], []byte(`"pid":105`), []byte(`"pid":999`), 1)
			return append(l[:7], append([][]byte{fake}, l[7:]...)...)
		}, ProblemModified, seqOf(6)},
		{"tail cut after a checkpoint", func() [][]byte { return clone()[:13] }, ProblemTruncated, seqOf(12)},
		{"checkpoint signature altered", func() [][]byte {
			l := clone()
			ck := checkpointLine(t, l)
			i := bytes.Index(l[ck], []byte(`"signature":"`)) + len(`"signature":"`)
			l[ck][i] ^= 1
			return l
		}, ProblemModified, seqOf(checkpointLine(t, lines))},
		{"checkpoint re-signed by someone with the MAC key only", func() [][]byte {
			l := clone()
			ck := checkpointLine(t, l)
			l[ck] = reseal(t, l[ck], KeyForEpoch(mac0(t, keyDir), 0), 0, func(n *node) {
				setPath(n, "Vigil.checkpoint.signature", str("AAAA"))
			})
			return l
		}, ProblemSignature, seqOf(checkpointLine(t, lines))},
		{"record forged with a later epoch's key", func() [][]byte {
			l := clone()
			l[3] = reseal(t, l[3], KeyForEpoch(mac0(t, keyDir), 1), 1, func(n *node) {
				setPath(n, "process.pid", number(31337))
			})
			return l
		}, ProblemEpoch, seqOf(3)},
		{"record forged with a later epoch's key, claiming its own epoch", func() [][]byte {
			l := clone()
			l[3] = reseal(t, l[3], KeyForEpoch(mac0(t, keyDir), 1), 0, func(n *node) {
				setPath(n, "process.pid", number(31337))
			})
			return l
		}, ProblemForged, seqOf(3)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep, err := verifier(t, keyDir).Verify(writeLines(t, c.tamper()))
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK() {
				t.Fatal("tampering not detected")
			}
			p := rep.Problems[0]
			if p.Kind != c.kind || p.Sequence != c.seq {
				t.Errorf("first problem %v; want %s at sequence %d (all: %v)", p, c.kind, c.seq, rep.Problems)
			}
		})
	}
}

// checkpointLine is the index of the first checkpoint in lines.
func checkpointLine(t *testing.T, lines [][]byte) int {
	t.Helper()
	for i, l := range lines {
		if bytes.Contains(l, []byte(`"action":"checkpoint"`)) {
			return i
		}
	}
	t.Fatal("no checkpoint")
	return 0
}

func mac0(t *testing.T, keyDir string) []byte {
	t.Helper()
	k, err := ReadMACKey0(filepath.Join(keyDir, MACKey0File))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// reseal changes a record and seals it again as someone holding key
// would: a correct hash and an HMAC under key, claiming epoch.
func reseal(t *testing.T, line, key []byte, epoch uint64, change func(*node)) []byte {
	t.Helper()
	n, err := parse(bytes.TrimSuffix(line, []byte("\n")))
	if err != nil {
		t.Fatal(err)
	}
	change(n)
	seq, _ := uintAt(n, "event.sequence")
	prev, _ := hex.DecodeString(strAt(n, "Vigil.chain.prev"))
	h := sha256.Sum256(appendCanonical(nil, n, true))
	setPath(n, "event.hash", str(hex.EncodeToString(h[:])))
	setPath(n, "Vigil.chain.epoch", number(epoch))
	setPath(n, "Vigil.chain.hmac", str(hex.EncodeToString(mac(key, seq, prev, h[:]))))
	return append(appendCanonical(nil, n, false), '\n')
}

var _ = strings.Contains

// The in-place fast path seals exactly as the parsing path does.
func TestAppendCanonicalMatchesAppend(t *testing.T) {
	mk := func() *Chain {
		keyDir := filepath.Join(t.TempDir(), "keys")
		if _, _, err := Keygen(keyDir); err != nil {
			t.Fatal(err)
		}
		ks, err := OpenKeys(keyDir)
		if err != nil {
			t.Fatal(err)
		}
		// Same MAC key for both chains, so their outputs can be compared.
		copy(ks.mac, bytes.Repeat([]byte{7}, 32))
		c, _, err := New(Config{Keys: ks, ID: Identity{HostID: "h"}, EpochRecords: 1 << 30, Now: func() time.Time { return time.Unix(0, 0) }})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	slow, fast, at := mk(), mk(), mk()
	for i := range 5 {
		canon, err := Canonical(bytes.Replace(benchRecord, []byte(`"sequence":1`), []byte(fmt.Sprintf(`"sequence":%d`, i+2)), 1))
		if err != nil {
			t.Fatal(err)
		}
		a, err := slow.Append(nil, canon)
		if err != nil {
			t.Fatal(err)
		}
		b, err := fast.AppendCanonical(nil, append(canon, '\n'))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Fatalf("record %d:\nslow %s\nfast %s", i, a, b)
		}
		// Splice points as the encoder reports them, right and wrong:
		// wrong ones are caught and the record sealed the slow way.
		right := Splice{
			VigilAt:  bytes.Index(canon, []byte(`"Vigil":{`)) + len(`"Vigil":{`),
			HashAt:   bytes.Index(canon, []byte(`,"kind":"event"`)),
			Sequence: uint64(i + 2),
		}
		for _, sp := range []Splice{
			right,
			{right.VigilAt + 1, right.HashAt, right.Sequence},
			{right.VigilAt, right.HashAt - 1, right.Sequence},
			{right.VigilAt, right.HashAt, right.Sequence + 1},
			{right.HashAt, right.VigilAt, right.Sequence},
			{right.VigilAt, len(canon) + 5, right.Sequence},
			{0, 0, right.Sequence},
		} {
			c := mk()
			c.seq = at.seq
			c.prev = at.prev
			got, err := c.AppendCanonicalAt(nil, append(canon, '\n'), sp)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, a) {
				t.Fatalf("record %d, splice %+v:\ngot  %s\nwant %s", i, sp, got, a)
			}
		}
		if _, err := at.AppendCanonicalAt(nil, canon, right); err != nil {
			t.Fatal(err)
		}
	}
	// Not canonical, or the wrong sequence: the fast path falls back, and
	// the result is still sealed correctly.
	a, _ := slow.Append(nil, benchRecord)
	b, _ := fast.AppendCanonical(nil, benchRecord)
	if !bytes.Equal(a, b) {
		t.Errorf("fallback differs:\nslow %s\nfast %s", a, b)
	}
}

// The stack-buffer RFC 6962 hashes equal the library's, and so do the
// roots of ranges built with them: across many slabs, so a hash the
// range keeps is never overwritten by a later one.
func TestMerkleHashesMatchRFC6962(t *testing.T) {
	lib := (&compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}).NewEmptyRange(0)
	th := newTreeHasher()
	ours := th.newRange()
	hashLeaf := th.hashLeaf
	for i := range 3000 {
		h := sha256.Sum256([]byte{byte(i), byte(i >> 8)})
		want := rfc6962.DefaultHasher.HashLeaf(h[:])
		if got := hashLeaf(h[:]); !bytes.Equal(got, want) {
			t.Fatalf("leaf %d: %x, want %x", i, got, want)
		}
		if err := lib.Append(want, nil); err != nil {
			t.Fatal(err)
		}
		if err := ours.Append(hashLeaf(h[:]), nil); err != nil {
			t.Fatal(err)
		}
		a, _ := lib.GetRootHash(nil)
		b, _ := ours.GetRootHash(nil)
		if !bytes.Equal(a, b) {
			t.Fatalf("root after %d leaves differs", i+1)
		}
	}
	if got, want := hashLeaf([]byte("short")), rfc6962.DefaultHasher.HashLeaf([]byte("short")); !bytes.Equal(got, want) {
		t.Error("leaf of a non-digest input differs")
	}
}

// Numbers: integers, and decimal fractions in their shortest form
// (strconv.FormatFloat(v, 'f', -1, 64)), nothing else.
func TestCanonicalNumbers(t *testing.T) {
	for _, ok := range []string{"0", "-7", "12", "0.2", "-3.25", "1234.5", "0.0125"} {
		if _, err := Canonical([]byte(`{"n":` + ok + `}`)); err != nil {
			t.Errorf("%s refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"1.50", "1.", "1e5", "2E3", "0.0", "-0", "01", "1.5e2", ".5", "-"} {
		if _, err := Canonical([]byte(`{"n":` + bad + `}`)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
