package chain

import (
	"crypto/sha256"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
)

// RFC 6962 leaf and node hashes over SHA-256 digests, computed with
// sha256.Sum256 on a stack buffer: rfc6962.DefaultHasher allocates a
// hash state per call, and sealing computes about two per record.

func hashLeaf(h []byte) []byte {
	if len(h) != sha256.Size {
		return rfc6962.DefaultHasher.HashLeaf(h)
	}
	var b [1 + sha256.Size]byte
	b[0] = rfc6962.RFC6962LeafHashPrefix
	copy(b[1:], h)
	s := sha256.Sum256(b[:])
	return s[:]
}

func hashChildren(l, r []byte) []byte {
	if len(l) != sha256.Size || len(r) != sha256.Size {
		return rfc6962.DefaultHasher.HashChildren(l, r)
	}
	var b [1 + 2*sha256.Size]byte
	b[0] = rfc6962.RFC6962NodeHashPrefix
	copy(b[1:], l)
	copy(b[1+sha256.Size:], r)
	s := sha256.Sum256(b[:])
	return s[:]
}

var rangeFactory = &compact.RangeFactory{Hash: hashChildren}
