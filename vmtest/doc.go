//go:build linux

// Package vmtest runs a Linux program, typically a Go test binary, inside
// one of the Debian kernels cached under .cache/vmtest, under qemu, and
// reports the program's exit status exactly.
//
// The host side (Run, used by cmd/vmrun as `go test -exec`) writes an
// initramfs holding the guest init (cmd/vminit, a static Go binary), the
// kernel modules the guest needs to reach the host's root file system,
// and a GuestConfig. The guest mounts the host's / read-only over 9p
// beneath a tmpfs overlay, so the program runs in its own directory with
// its own environment and sees the host's files, as root.
//
// The contract: Run returns the program's exit code only when the guest
// reported it (through qemu's isa-debug-exit device, or the exit line on
// the guest console); a kernel panic, a hang past the timeout, a boot or
// init failure, or a missing exit line is an error carrying the guest's
// console log, never a pass.
package vmtest
