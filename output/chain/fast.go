package chain

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
)

// errNoFastPath: the record is not shaped for in-place sealing.
var errNoFastPath = errors.New("record not shaped for in-place sealing")

// AppendCanonical seals a record that is already in canonical form, has
// a "Vigil" object and an "event" object with an "action" and a "kind",
// and whose event.sequence is the chain's next one (Vigil's encoder
// writes exactly such records). It splices the integrity fields into
// the record without parsing it, and otherwise falls back to Append.
func (c *Chain) AppendCanonical(dst, record []byte) ([]byte, error) {
	dst, err := c.sealCanonical(dst, record)
	if err != nil {
		return dst, err
	}
	return c.endEpochIfDue(dst)
}

// sealCanonical seals a record as AppendCanonical does, without ending
// the epoch.
func (c *Chain) sealCanonical(dst, record []byte) ([]byte, error) {
	record = bytes.TrimSuffix(record, []byte("\n"))
	vigilAt, hashAt, err := c.splicePoints(record)
	if err != nil {
		return c.sealRecord(dst, record)
	}
	return c.splice(dst, record, vigilAt, hashAt)
}

// Splice says where a canonical record's integrity fields go, as its
// encoder knows without searching: VigilAt just inside the top-level
// "Vigil" object, HashAt at the comma before event's "kind"; Sequence is
// the record's event.sequence.
type Splice struct {
	VigilAt, HashAt int
	Sequence        uint64
}

// AppendCanonicalAt is AppendCanonical for a record whose splice points
// its encoder reports. They are checked, not trusted: a record they do
// not fit is sealed the slow way.
func (c *Chain) AppendCanonicalAt(dst, record []byte, sp Splice) ([]byte, error) {
	dst, err := c.sealCanonicalAt(dst, record, sp)
	if err != nil {
		return dst, err
	}
	return c.endEpochIfDue(dst)
}

// AppendPlanned seals a record as AppendCanonicalAt does, and ends the
// epoch after it exactly when told: for a writer that numbers records
// before the chain seals them, deciding epoch ends with a Planner.
func (c *Chain) AppendPlanned(dst, record []byte, sp Splice, checkpoint bool) ([]byte, error) {
	if sp.Sequence != c.seq+1 {
		// The planner and the chain disagree: sealing would renumber a
		// record whose sequence its writer already handed out.
		return dst, fmt.Errorf("planned sequence %d, the chain's next is %d", sp.Sequence, c.seq+1)
	}
	dst, err := c.sealCanonicalAt(dst, record, sp)
	if err != nil || !checkpoint {
		return dst, err
	}
	return c.Checkpoint(dst)
}

func (c *Chain) sealCanonicalAt(dst, record []byte, sp Splice) ([]byte, error) {
	record = bytes.TrimSuffix(record, []byte("\n"))
	if sp.Sequence != c.seq+1 || sp.VigilAt >= sp.HashAt || sp.HashAt >= len(record) ||
		!bytes.HasPrefix(record, []byte(`{"@timestamp":`)) ||
		!bytes.HasSuffix(record[:sp.VigilAt], []byte(`,"Vigil":{`)) ||
		bytes.HasPrefix(record[sp.VigilAt:], []byte(`"chain"`)) ||
		!bytes.HasPrefix(record[sp.HashAt:], []byte(`,"kind":`)) {
		return c.sealCanonical(dst, record)
	}
	return c.splice(dst, record, sp.VigilAt, sp.HashAt)
}

// splice seals record, putting Vigil.chain at vigilAt and event.hash at
// hashAt.
func (c *Chain) splice(dst, record []byte, vigilAt, hashAt int) ([]byte, error) {
	c.seq++
	c.hash = sha256.Sum256(record)
	h := &c.hash
	var chainJSON [200]byte
	cj := append(chainJSON[:0], `"chain":{"epoch":`...)
	cj = strconv.AppendUint(cj, c.cfg.Keys.Epoch(), 10)
	cj = append(cj, `,"hmac":"`...)
	cj = hex.AppendEncode(cj, c.macOf(c.seq, c.prev[:], h[:], c.sum[:0]))
	cj = append(cj, `","prev":"`...)
	if c.hexOf != c.prev { // the last record's hash, usually encoded already
		hex.Encode(c.hex[:], c.prev[:])
		c.hexOf = c.prev
	}
	cj = append(cj, c.hex[:]...)
	cj = append(cj, `"}`...)
	if record[vigilAt] != '}' {
		cj = append(cj, ',')
	}
	dst = append(dst, record[:vigilAt]...)
	dst = append(dst, cj...)
	dst = append(dst, record[vigilAt:hashAt]...)
	dst = append(dst, `,"hash":"`...)
	hex.Encode(c.hex[:], h[:])
	c.hexOf = *h
	dst = append(dst, c.hex[:]...)
	dst = append(dst, '"')
	dst = append(dst, record[hashAt:]...)
	dst = append(dst, '\n')
	if err := c.tree.Append(c.th.hashLeaf(h[:]), nil); err != nil {
		return dst, fmt.Errorf("merkle tree: %w", err)
	}
	c.prev = *h
	c.inEpoch++
	return dst, nil
}

// splicePoints finds where Vigil.chain goes (just inside the top-level
// "Vigil" object: "chain" sorts before every other Vigil member) and where
// event.hash goes (before event's "kind"), and checks event.sequence. In
// canonical form a quote inside a string is escaped, so these byte
// patterns only match keys.
func (c *Chain) splicePoints(r []byte) (vigilAt, hashAt int, err error) {
	if !bytes.HasPrefix(r, []byte(`{"@timestamp":`)) {
		return 0, 0, errNoFastPath
	}
	v := bytes.Index(r, []byte(`,"Vigil":{`))
	e := bytes.Index(r, []byte(`,"event":{"action":`))
	if v < 0 || e < 0 || v > e {
		return 0, 0, errNoFastPath
	}
	vigilAt = v + len(`,"Vigil":{`)
	if bytes.HasPrefix(r[vigilAt:], []byte(`"chain"`)) {
		return 0, 0, errNoFastPath
	}
	k := bytes.Index(r[e:], []byte(`,"kind":`))
	if k < 0 || bytes.Contains(r[e:e+k], []byte(`,"hash":`)) {
		return 0, 0, errNoFastPath
	}
	hashAt = e + k
	s := bytes.Index(r[e:], []byte(`,"sequence":`))
	if s < 0 {
		return 0, 0, errNoFastPath
	}
	digits := r[e+s+len(`,"sequence":`):]
	n := 0
	for n < len(digits) && digits[n] >= '0' && digits[n] <= '9' {
		n++
	}
	if seq, err := strconv.ParseUint(string(digits[:n]), 10, 64); err != nil || seq != c.seq+1 {
		return 0, 0, errNoFastPath
	}
	return vigilAt, hashAt, nil
}
