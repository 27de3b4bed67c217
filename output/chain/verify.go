package chain

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"os"
	"strconv"
	"time"

	"github.com/transparency-dev/merkle/compact"
)

// Problem kinds a verification reports.
const (
	ProblemDamaged   = "damaged"   // a line is not a record (cut, garbled)
	ProblemModified  = "modified"  // a record's content does not match its hash
	ProblemDeleted   = "deleted"   // records are missing before this one
	ProblemReordered = "reordered" // a record appears out of order, or twice
	ProblemBroken    = "chain"     // a record does not follow the one before it
	ProblemForged    = "forged"    // a record's HMAC does not verify
	ProblemEpoch     = "epoch"     // a record claims another epoch than its place
	ProblemWrongKey  = "wrong_key" // no record verifies: wrong MAC key
	ProblemSignature = "signature" // a checkpoint's signature or root is wrong
	ProblemTruncated = "truncated" // the log ends without a seal
)

// Problem is one finding, located by file, line and sequence number.
type Problem struct {
	File     string
	Line     int
	Sequence uint64
	Kind     string
	Msg      string
}

func (p Problem) String() string {
	return fmt.Sprintf("%s:%d: sequence %d: %s: %s", p.File, p.Line, p.Sequence, p.Kind, p.Msg)
}

// Report is the outcome of a verification.
type Report struct {
	Records     int // records read
	Checkpoints int // checkpoints verified
	Restarts    int // clean restarts (a seal, then a new start)
	Crashes     int // restarts without a seal before them
	Problems    []Problem
}

// OK reports whether nothing was found.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// Verifier checks logs against a public key and the initial MAC key.
type Verifier struct {
	Pub  ed25519.PublicKey
	MAC0 []byte

	keys   map[uint64][]byte
	rep    *Report
	file   string
	line   int
	seq    uint64 // last sequence accepted
	prev   []byte // last record hash
	epoch  uint64 // epoch the next record must claim
	sealed bool   // the last record was a seal
	macOK  int    // records whose HMAC verified
	th     *treeHasher
	lastCk uint64 // sequence of the last checkpoint
	p      parser

	// Reused per record, so the fast path does not allocate.
	hm           hash.Hash // HMAC under epoch hmEpoch's key
	hmEpoch      uint64
	digest       hash.Hash
	fields       [3][sha256.Size]byte // hash, prev and HMAC of the record read
	prevBuf, sum [sha256.Size]byte
	macIn        [8 + 2*sha256.Size]byte
}

// macOf is the HMAC of a record under epoch's key.
func (v *Verifier) macOf(epoch, seq uint64, prev, h []byte) []byte {
	if v.hm == nil || v.hmEpoch != epoch {
		v.hm, v.hmEpoch = hmac.New(sha256.New, v.key(epoch)), epoch
	}
	v.hm.Reset()
	b := append(binary.BigEndian.AppendUint64(v.macIn[:0], seq), prev...)
	v.hm.Write(append(b, h...))
	return v.hm.Sum(v.sum[:0])
}

// Verify checks files in order, as one log.
func (v *Verifier) Verify(paths ...string) (*Report, error) {
	v.rep, v.keys, v.hm = &Report{}, map[uint64][]byte{}, nil
	v.th = newTreeHasher()
	tree := v.th.newRange()
	started := false
	for _, path := range paths {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("verify: %w", err)
		}
		v.file, v.line = path, 0
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
		for sc.Scan() {
			v.line++
			if err := v.record(sc.Bytes(), &started, tree); err != nil {
				f.Close()
				return nil, err
			}
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("verify %s: %w", path, err)
		}
	}
	if !started {
		v.problem(0, ProblemTruncated, "no records")
	} else if !v.sealed {
		v.problem(v.seq, ProblemTruncated, fmt.Sprintf("the log ends at sequence %d without a seal: its tail was cut after the checkpoint at sequence %d, or Vigil is still writing it or stopped without sealing", v.seq, v.lastCk))
	}
	if v.rep.Records > 0 && v.macOK == 0 {
		v.rep.Problems = append([]Problem{{File: paths[0], Line: 1, Kind: ProblemWrongKey,
			Msg: "no record's HMAC verifies: the MAC key does not belong to this log"}}, v.rep.Problems...)
	}
	return v.rep, nil
}

func (v *Verifier) problem(seq uint64, kind, msg string) {
	v.rep.Problems = append(v.rep.Problems, Problem{File: v.file, Line: v.line, Sequence: seq, Kind: kind, Msg: msg})
}

func (v *Verifier) key(e uint64) []byte {
	if k, ok := v.keys[e]; ok {
		return k
	}
	k := KeyForEpoch(v.MAC0, e)
	v.keys[e] = k
	return k
}

// slowRecord parses a record and checks its content against its hash and
// its canonical form. stop means the line is not a usable record.
func (v *Verifier) slowRecord(line []byte) (sealed, bool) {
	n, err := v.p.parse(line)
	if err != nil {
		v.problem(v.seq+1, ProblemDamaged, fmt.Sprintf("line %d is not a record: %v", v.line, err))
		return sealed{}, true
	}
	r := sealed{n: n, action: strAt(n, "event.action"), dataset: strAt(n, "event.dataset")}
	var ok1, ok2 bool
	r.seq, ok1 = uintAt(n, "event.sequence")
	r.epoch, ok2 = uintAt(n, "Vigil.chain.epoch")
	var err1, err2, err3 error
	r.hash, err1 = hex.DecodeString(strAt(n, "event.hash"))
	r.prev, err2 = hex.DecodeString(strAt(n, "Vigil.chain.prev"))
	r.sum, err3 = hex.DecodeString(strAt(n, "Vigil.chain.hmac"))
	if !ok1 || !ok2 || err1 != nil || err2 != nil || err3 != nil || len(r.hash) != 32 || len(r.prev) != 32 {
		v.rep.Records++
		v.problem(v.seq+1, ProblemDamaged, "record lacks its integrity fields")
		return sealed{}, true
	}
	body := appendCanonical(nil, n, true)
	if h := sha256.Sum256(body); !bytes.Equal(h[:], r.hash) {
		// Chain on from the hash it claims, so only this record is named.
		v.problem(r.seq, ProblemModified, "the record's content does not match its event.hash")
	} else if canon := appendCanonical(nil, n, false); !bytes.Equal(canon, line) {
		v.problem(r.seq, ProblemModified, "the record is not in canonical form (it was rewritten)")
	}
	return r, false
}

// fastRecord takes a record sealed in place apart by its byte layout:
// the Vigil.chain fragment right after "Vigil":{ and event.hash right
// before event.kind. ok means the layout matched and the content hashes
// to its event.hash.
func (v *Verifier) fastRecord(line []byte) (sealed, bool) {
	const vigilKey, chainKey = `,"Vigil":{`, `"chain":{"epoch":`
	vi := bytes.Index(line, []byte(vigilKey))
	if vi < 0 || !bytes.HasPrefix(line[vi+len(vigilKey):], []byte(chainKey)) {
		return sealed{}, false
	}
	c := vi + len(vigilKey) + len(chainKey)
	var r sealed
	n := 0
	for c+n < len(line) && line[c+n] >= '0' && line[c+n] <= '9' {
		n++
	}
	epoch, err := strconv.ParseUint(string(line[c:c+n]), 10, 64)
	if err != nil {
		return sealed{}, false
	}
	r.epoch, c = epoch, c+n
	take := func(prefix string, dst *[sha256.Size]byte) []byte {
		if !bytes.HasPrefix(line[c:], []byte(prefix)) || c+len(prefix)+64 > len(line) {
			return nil
		}
		if _, err := hex.Decode(dst[:], line[c+len(prefix):c+len(prefix)+64]); err != nil {
			return nil
		}
		c += len(prefix) + 64
		return dst[:]
	}
	if r.sum = take(`,"hmac":"`, &v.fields[2]); r.sum == nil {
		return sealed{}, false
	}
	if r.prev = take(`","prev":"`, &v.fields[1]); r.prev == nil || !bytes.HasPrefix(line[c:], []byte(`"},`)) {
		return sealed{}, false
	}
	chainEnd := c + len(`"},`)
	ei := bytes.Index(line[chainEnd:], []byte(`,"event":{"action":"`))
	if ei < 0 {
		return sealed{}, false
	}
	ei += chainEnd
	hi := bytes.Index(line[ei:], []byte(`,"hash":"`))
	if hi < 0 {
		return sealed{}, false
	}
	hi += ei
	c = hi
	if r.hash = take(`,"hash":"`, &v.fields[0]); r.hash == nil || !bytes.HasPrefix(line[c:], []byte(`","kind":`)) {
		return sealed{}, false
	}
	hashEnd := c + 1
	// The body as it was hashed: the line without the two fragments.
	if v.digest == nil {
		v.digest = sha256.New()
	}
	d := v.digest
	d.Reset()
	d.Write(line[:vi+len(vigilKey)])
	d.Write(line[chainEnd:hi])
	d.Write(line[hashEnd:])
	if !bytes.Equal(d.Sum(v.sum[:0]), r.hash) {
		return sealed{}, false
	}
	event := line[ei:hi]
	if bytes.Equal(fieldBytes(event, `,"dataset":"`), []byte(chainDataset)) {
		r.dataset = chainDataset
		r.action = string(fieldBytes(event, `"action":"`))
	}
	s := bytes.Index(line[hashEnd:], []byte(`,"sequence":`))
	if s < 0 {
		return sealed{}, false
	}
	digits := line[hashEnd+s+len(`,"sequence":`):]
	n = 0
	for n < len(digits) && digits[n] >= '0' && digits[n] <= '9' {
		n++
	}
	if r.seq, err = strconv.ParseUint(string(digits[:n]), 10, 64); err != nil {
		return sealed{}, false
	}
	return r, true
}

// chainDataset is the event.dataset of the chain's own records.
const chainDataset = "vigil.chain"

// fieldBytes reads a string value after key in b (values without escapes).
func fieldBytes(b []byte, key string) []byte {
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return nil
	}
	rest := b[i+len(key):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 || bytes.IndexByte(rest[:j], '\\') >= 0 {
		return nil
	}
	return rest[:j]
}

func uintAt(n *node, path string) (uint64, bool) {
	x := getPath(n, path)
	if x == nil || x.kind != 'n' {
		return 0, false
	}
	u, err := strconv.ParseUint(x.num, 10, 64)
	return u, err == nil
}

func strAt(n *node, path string) string {
	if x := getPath(n, path); x != nil && x.kind == 's' {
		return x.str
	}
	return ""
}

// sealed is what a record's integrity fields say.
type sealed struct {
	seq, epoch      uint64
	hash, prev, sum []byte
	action, dataset string
	n               *node // the parsed record; nil on the fast path
}

func (v *Verifier) record(line []byte, started *bool, tree *compact.Range) error {
	// Fast path: a record sealed in place is checked without parsing it.
	// Anything unexpected, or a hash that does not match, goes through the
	// full parse for a precise report.
	r, ok := v.fastRecord(line)
	if !ok {
		var stop bool
		if r, stop = v.slowRecord(line); stop {
			return nil
		}
	}
	v.rep.Records++
	seq, epoch, hash, prev, sum := r.seq, r.epoch, r.hash, r.prev, r.sum
	action := r.action
	isChain := r.dataset == chainDataset
	n := r.n
	if isChain && n == nil {
		if n, _ = v.p.parse(line); n == nil {
			v.problem(seq, ProblemDamaged, "chain record cannot be read")
			return nil
		}
	}

	// The key it claims must prove it.
	if hmac.Equal(sum, v.macOf(epoch, seq, prev, hash)) {
		v.macOK++
	} else {
		v.problem(seq, ProblemForged, fmt.Sprintf("HMAC does not verify under epoch %d's key", epoch))
	}

	start := isChain && action == "chain_start"
	switch {
	case !*started:
		// The first record sets the epoch; a log normally begins with a
		// chain_start.
		*started = true
		v.epoch = epoch
		if seq != 1 && !start {
			v.problem(seq, ProblemDeleted, fmt.Sprintf("the log begins at sequence %d", seq))
		}
	case start:
		// A new run: after a seal it is a restart, otherwise a crash.
		if v.sealed {
			v.rep.Restarts++
		} else {
			v.rep.Crashes++
		}
		if seq != 1 {
			v.checkOrder(seq, prev)
			// Its keys must be at the epoch the log before it implies; keys
			// further on mean records after the last checkpoint are gone.
			if epoch != v.epoch {
				v.problem(seq, ProblemEpoch, fmt.Sprintf("the run before ended in epoch %d but this one starts in epoch %d: records after the last checkpoint are missing", v.epoch, epoch))
			}
		}
		v.epoch = epoch
	default:
		v.checkOrder(seq, prev)
		if epoch != v.epoch {
			v.problem(seq, ProblemEpoch, fmt.Sprintf("the record claims epoch %d but stands in epoch %d (made with another epoch's key?)", epoch, v.epoch))
		}
	}
	// Checkpoints: the Merkle root of everything before, signed.
	if isChain && action == "checkpoint" {
		v.checkpoint(n, tree, seq)
		v.epoch = epoch + 1
		v.lastCk = seq
	}
	if err := tree.Append(v.th.hashLeaf(hash), nil); err != nil {
		return fmt.Errorf("verify: merkle tree: %w", err)
	}
	v.seq, v.prev = seq, v.prevBuf[:copy(v.prevBuf[:], hash)]
	v.sealed = isChain && action == "seal"
	return nil
}

// checkOrder compares a record's place with the one before it.
func (v *Verifier) checkOrder(seq uint64, prev []byte) {
	switch {
	case seq == v.seq+1:
		if !bytes.Equal(prev, v.prev) {
			v.problem(seq, ProblemBroken, "the record does not follow the one before it (Vigil.chain.prev differs): a record was replaced or inserted")
		}
	case seq > v.seq+1:
		missing := seq - v.seq - 1
		v.problem(seq, ProblemDeleted, fmt.Sprintf("%d record(s) missing before it (sequences %d to %d)", missing, seq-missing, seq-1))
	default:
		v.problem(seq, ProblemReordered, fmt.Sprintf("sequence %d comes after %d: records reordered, duplicated or inserted", seq, v.seq))
	}
}

func (v *Verifier) checkpoint(n *node, tree *compact.Range, seq uint64) {
	v.rep.Checkpoints++
	size, _ := uintAt(n, "Vigil.checkpoint.size")
	root, _ := hex.DecodeString(strAt(n, "Vigil.checkpoint.root"))
	sig, _ := base64.StdEncoding.DecodeString(strAt(n, "Vigil.checkpoint.signature"))
	t, err := time.Parse(time.RFC3339Nano, strAt(n, "Vigil.checkpoint.time"))
	host := strAt(n, "host.id")
	if err != nil || !ed25519.Verify(v.Pub, CheckpointMessage(host, size, root, t), sig) {
		v.problem(seq, ProblemSignature, "the checkpoint's signature does not verify")
		return
	}
	if size != tree.End() {
		v.problem(seq, ProblemSignature, fmt.Sprintf("the checkpoint covers %d records, the log holds %d before it", size, tree.End()))
		return
	}
	if got, err := tree.GetRootHash(nil); err != nil || !bytes.Equal(got, root) {
		v.problem(seq, ProblemSignature, "the checkpoint's Merkle root differs from the records before it")
	}
}
