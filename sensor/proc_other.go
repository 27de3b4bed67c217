//go:build !linux

package sensor

import "errors"

// ErrNoProcfs: process snapshots come from /proc, which only Linux has;
// the adapters for other platforms learn processes from their events.
var ErrNoProcfs = errors.New("sensor: reading processes from procfs needs Linux")

// ReadProc fails: see ErrNoProcfs.
func ReadProc(string) ([]Snapshot, error) { return nil, ErrNoProcfs }

// ReadProcess fails: see ErrNoProcfs.
func ReadProcess(string, uint32) (Snapshot, error) { return Snapshot{}, ErrNoProcfs }

// Alive reports true: without procfs a process's exit is only known from
// its event.
func Alive(string, uint32, uint64) bool { return true }
