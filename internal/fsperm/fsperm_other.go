//go:build !windows

package fsperm

// Private does nothing here: the directory was created 0700, which the
// mode bits enforce.
func Private(string) error { return nil }
