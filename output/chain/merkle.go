package chain

import (
	"crypto/sha256"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
)

// RFC 6962 leaf and node hashes over SHA-256 digests, computed with
// sha256.Sum256 on a stack buffer (rfc6962.DefaultHasher allocates a hash
// state per call), into 32-byte slices cut from small slabs: sealing
// makes about two tree hashes per record, and the compact range keeps
// some of them, so each would otherwise be an allocation of its own.

// slabHashes is how many hashes one slab holds. A hash the range keeps
// pins its slab; the range keeps at most one hash per tree level, so the
// slabs held stay O(log n) at 1 KiB each.
const slabHashes = 32

// treeHasher hashes leaves and nodes of one tree. Not safe for
// concurrent use: each chain and each verification has its own.
type treeHasher struct {
	slab []byte
	rf   compact.RangeFactory
}

func newTreeHasher() *treeHasher {
	t := &treeHasher{}
	t.rf.Hash = t.hashChildren
	return t
}

// newRange is an empty compact range from leaf 0 hashed by t.
func (t *treeHasher) newRange() *compact.Range { return t.rf.NewEmptyRange(0) }

// put copies a digest into the slab and returns it.
func (t *treeHasher) put(s *[sha256.Size]byte) []byte {
	if len(t.slab) < sha256.Size {
		t.slab = make([]byte, slabHashes*sha256.Size)
	}
	h := t.slab[:sha256.Size:sha256.Size]
	t.slab = t.slab[sha256.Size:]
	copy(h, s[:])
	return h
}

func (t *treeHasher) hashLeaf(h []byte) []byte {
	if len(h) != sha256.Size {
		return rfc6962.DefaultHasher.HashLeaf(h)
	}
	var b [1 + sha256.Size]byte
	b[0] = rfc6962.RFC6962LeafHashPrefix
	copy(b[1:], h)
	s := sha256.Sum256(b[:])
	return t.put(&s)
}

func (t *treeHasher) hashChildren(l, r []byte) []byte {
	if len(l) != sha256.Size || len(r) != sha256.Size {
		return rfc6962.DefaultHasher.HashChildren(l, r)
	}
	var b [1 + 2*sha256.Size]byte
	b[0] = rfc6962.RFC6962NodeHashPrefix
	copy(b[1:], l)
	copy(b[1+sha256.Size:], r)
	s := sha256.Sum256(b[:])
	return t.put(&s)
}
