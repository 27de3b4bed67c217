// Package chain makes Vigil's records tamper-evident and checks them.
//
// Every record gets, in canonical form (canonical.go): event.sequence,
// event.hash (SHA-256 of the canonical record without event.hash and
// Vigil.chain) and Vigil.chain {epoch, prev, hmac}: the previous record's
// hash and an HMAC-SHA256 over (sequence, previous hash, own hash) under
// the current epoch's key. Keys evolve one way at each epoch's end (keys.go),
// so a host taken later cannot forge earlier records. Each epoch ends with
// a checkpoint record holding the RFC 6962 Merkle root of every record
// hash so far, signed with Ed25519. A chain starts with a chain_start
// record (naming the run before it, when resumed) and a clean stop ends
// it with a seal, so a restart or a crash is told apart from tampering.
package chain

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"strconv"
	"time"

	"github.com/transparency-dev/merkle/compact"
)

// Identity names the host and the Vigil instance in chain records and
// checkpoint signatures.
type Identity struct {
	HostName, HostID, BootID string
	AgentID, AgentVersion    string
	OSType, OSPlatform       string // host.os.type and host.os.platform
}

// Config sets up a Chain.
type Config struct {
	Keys         *KeyStore
	ID           Identity
	EpochRecords int           // records per epoch; default 10000
	EpochPeriod  time.Duration // longest epoch; default 60s
	Now          func() time.Time
}

// Chain seals records. It is not safe for concurrent use.
type Chain struct {
	cfg        Config
	seq        uint64
	prev       [32]byte
	tree       *compact.Range
	th         *treeHasher
	inEpoch    int
	epochStart time.Time
	body       []byte
	p          parser
	hm         hash.Hash // HMAC under the current epoch's key
	hmEpoch    uint64
	hash, sum  [sha256.Size]byte // the record's hash and HMAC being made
	hexOf      [sha256.Size]byte // what hex encodes
	hex        [2 * sha256.Size]byte
	scratch    [8 + 2*sha256.Size]byte // off the heap: hash.Hash calls make locals escape
}

// macOf is the HMAC of a record under the current epoch's key, with the
// HMAC state reused until the key changes.
func (c *Chain) macOf(seq uint64, prev, h []byte, out []byte) []byte {
	if c.hm == nil || c.hmEpoch != c.cfg.Keys.Epoch() {
		c.hm, c.hmEpoch = hmac.New(sha256.New, c.cfg.Keys.mac), c.cfg.Keys.Epoch()
	}
	c.hm.Reset()
	b := append(binary.BigEndian.AppendUint64(c.scratch[:0], seq), prev...)
	c.hm.Write(append(b, h...))
	return c.hm.Sum(out)
}

func (c Config) withDefaults() Config {
	if c.EpochRecords <= 0 {
		c.EpochRecords = 10000
	}
	if c.EpochPeriod <= 0 {
		c.EpochPeriod = time.Minute
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// New starts a new chain and returns it with its chain_start record.
func New(cfg Config) (*Chain, []byte, error) {
	cfg = cfg.withDefaults()
	th := newTreeHasher()
	c := &Chain{cfg: cfg, th: th, tree: th.newRange(), epochStart: cfg.Now()}
	line, err := c.control("chain_start", map[string]*node{
		"chain_start": object(map[string]*node{"epoch": number(cfg.Keys.Epoch())}),
	})
	return c, line, err
}

// Sequence is the sequence number of the last sealed record.
func (c *Chain) Sequence() uint64 { return c.seq }

// Append seals one encoded record (a JSON object without integrity
// fields; its event.sequence is replaced) and appends it, newline
// terminated, to dst — followed by a checkpoint when the epoch is over.
func (c *Chain) Append(dst, record []byte) ([]byte, error) {
	dst, err := c.sealRecord(dst, record)
	if err != nil {
		return dst, err
	}
	return c.endEpochIfDue(dst)
}

// sealRecord parses, numbers and seals one record, without ending the
// epoch.
func (c *Chain) sealRecord(dst, record []byte) ([]byte, error) {
	n, err := c.p.parse(record)
	if err != nil {
		return dst, err
	}
	return c.seal(dst, n)
}

// endEpochIfDue appends a checkpoint when the epoch has had its records
// or its time.
func (c *Chain) endEpochIfDue(dst []byte) ([]byte, error) {
	if c.inEpoch >= c.cfg.EpochRecords || c.cfg.Now().Sub(c.epochStart) >= c.cfg.EpochPeriod {
		return c.Checkpoint(dst)
	}
	return dst, nil
}

// Planner numbers records and decides where epochs end ahead of the
// chain, by the chain's rules (EpochRecords, EpochPeriod), for a writer
// that encodes records on one goroutine and seals them with
// AppendPlanned on another: the sequence it gives each record is the
// one the chain will give it, and after a record whose Next says
// checkpoint the writer passes checkpoint=true, so the checkpoint takes
// the sequence the planner skipped.
type Planner struct {
	seq     uint64
	inEpoch int
	start   time.Time
	cfg     Config
}

// Planner starts planning from the chain's state now; the chain must be
// sealed only through AppendPlanned from then on.
func (c *Chain) Planner() *Planner {
	return &Planner{seq: c.seq, inEpoch: c.inEpoch, start: c.epochStart, cfg: c.cfg}
}

// Next numbers the next record and says whether a checkpoint follows it.
func (p *Planner) Next() (seq uint64, checkpoint bool) {
	p.seq++
	seq = p.seq
	p.inEpoch++
	if now := p.cfg.Now(); p.inEpoch >= p.cfg.EpochRecords || now.Sub(p.start) >= p.cfg.EpochPeriod {
		p.seq++ // the checkpoint's
		p.inEpoch, p.start = 0, now
		checkpoint = true
	}
	return seq, checkpoint
}

// Sequence is the sequence of the last record (or checkpoint) planned.
func (p *Planner) Sequence() uint64 { return p.seq }

// Checkpoint ends the epoch: a signed checkpoint record, then the MAC
// key moves to the next epoch.
func (c *Chain) Checkpoint(dst []byte) ([]byte, error) {
	now := c.cfg.Now()
	size := c.tree.End()
	root, err := c.tree.GetRootHash(nil)
	if err != nil {
		return dst, fmt.Errorf("checkpoint: %w", err)
	}
	sig := ed25519.Sign(c.cfg.Keys.sign, CheckpointMessage(c.cfg.ID.HostID, size, root, now))
	line, err := c.control("checkpoint", map[string]*node{
		"checkpoint": object(map[string]*node{
			"size":       number(size),
			"root":       str(hex.EncodeToString(root)),
			"time":       str(now.UTC().Format(time.RFC3339Nano)),
			"signature":  str(base64.StdEncoding.EncodeToString(sig)),
			"public_key": str(hex.EncodeToString(c.cfg.Keys.Public())),
		}),
	})
	if err != nil {
		return dst, err
	}
	dst = append(dst, line...)
	if err := c.cfg.Keys.Evolve(); err != nil {
		return dst, err
	}
	c.inEpoch, c.epochStart = 0, now
	return dst, nil
}

// Seal ends the chain cleanly: a final checkpoint, then a seal record.
func (c *Chain) Seal(dst []byte) ([]byte, error) {
	dst, err := c.Checkpoint(dst)
	if err != nil {
		return dst, err
	}
	line, err := c.control("seal", map[string]*node{
		"seal": object(map[string]*node{"records": number(c.seq + 1)}),
	})
	return append(dst, line...), err
}

// CheckpointMessage is what a checkpoint's Ed25519 signature covers.
func CheckpointMessage(host string, size uint64, root []byte, t time.Time) []byte {
	return fmt.Appendf(nil, "vigil-checkpoint-v1\n%s\n%d\n%x\n%s\n", host, size, root, t.UTC().Format(time.RFC3339Nano))
}

// mac is the HMAC of a record under an epoch key.
func mac(key []byte, seq uint64, prev, hash []byte) []byte {
	m := hmac.New(sha256.New, key)
	var s [8]byte
	binary.BigEndian.PutUint64(s[:], seq)
	m.Write(s[:])
	m.Write(prev)
	m.Write(hash)
	return m.Sum(nil)
}

// seal numbers, hashes and MACs a parsed record and appends it.
func (c *Chain) seal(dst []byte, n *node) ([]byte, error) {
	c.seq++
	setPath(n, "event.sequence", number(c.seq))
	c.body = appendCanonical(c.body[:0], n, true)
	h := sha256.Sum256(c.body)
	setPath(n, "event.hash", str(hex.EncodeToString(h[:])))
	setPath(n, "Vigil.chain", object(map[string]*node{
		"epoch": number(c.cfg.Keys.Epoch()),
		"prev":  str(hex.EncodeToString(c.prev[:])),
		"hmac":  str(hex.EncodeToString(c.macOf(c.seq, c.prev[:], h[:], nil))),
	}))
	dst = appendCanonical(dst, n, false)
	dst = append(dst, '\n')
	if err := c.tree.Append(c.th.hashLeaf(h[:]), nil); err != nil {
		return dst, fmt.Errorf("merkle tree: %w", err)
	}
	c.prev = h
	c.inEpoch++
	return dst, nil
}

// control builds and seals one of the chain's own records.
func (c *Chain) control(action string, vigil map[string]*node) ([]byte, error) {
	now := c.cfg.Now().UTC().Format(time.RFC3339Nano)
	id := c.cfg.ID
	n := object(map[string]*node{
		"@timestamp": str(now),
		"ecs":        object(map[string]*node{"version": str("9.4.0")}),
		"event": object(map[string]*node{
			"kind": str("state"), "action": str(action), "module": str("vigil"),
			"dataset": str("vigil.chain"), "created": str(now),
		}),
		"host":  c.host(),
		"agent": object(map[string]*node{"type": str("vigil"), "id": str(id.AgentID), "version": str(id.AgentVersion)}),
		"Vigil": object(vigil),
	})
	return c.seal(nil, n)
}

// host is the host object of the chain's records.
func (c *Chain) host() *node {
	id := c.cfg.ID
	m := map[string]*node{
		"name": str(id.HostName), "id": str(id.HostID),
		"boot": object(map[string]*node{"id": str(id.BootID)}),
	}
	if id.OSType != "" {
		m["os"] = object(map[string]*node{"type": str(id.OSType), "platform": str(id.OSPlatform)})
	}
	return object(m)
}

func object(m map[string]*node) *node {
	n := &node{kind: 'o'}
	for k, v := range m {
		if v.kind == 's' && v.str == "" {
			continue // an empty identity field is left out
		}
		n.pairs = append(n.pairs, pair{k, v})
	}
	return n
}

func str(s string) *node    { return &node{kind: 's', str: s} }
func number(v uint64) *node { return &node{kind: 'n', num: strconv.FormatUint(v, 10)} }

// setPath sets a dotted path in an object, creating objects on the way.
func setPath(n *node, path string, v *node) {
	for {
		i := 0
		for i < len(path) && path[i] != '.' {
			i++
		}
		k := path[:i]
		if i == len(path) {
			n.set(k, v)
			return
		}
		next := n.get(k)
		if next == nil || next.kind != 'o' {
			next = &node{kind: 'o'}
			n.set(k, next)
		}
		n, path = next, path[i+1:]
	}
}

// getPath reads a dotted path.
func getPath(n *node, path string) *node {
	for n != nil {
		i := 0
		for i < len(path) && path[i] != '.' {
			i++
		}
		n = n.get(path[:i])
		if i == len(path) {
			return n
		}
		path = path[i+1:]
	}
	return nil
}
