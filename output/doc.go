// Package output turns correlated records into Elastic Common Schema 9.4
// documents, one JSON object per line. Field names and types follow
// ECS; Vigil's own fields (tree membership, truncation, loss) live under
// the custom namespace "Vigil".
//
// The encoder appends to a caller's buffer with a fixed field order and
// no reflection, so encoding a record allocates nothing.
package output
