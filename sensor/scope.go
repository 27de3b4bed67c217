//go:build linux

package sensor

import (
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// scopeFilter is user space's view of the kernel's scope_filter map
// (bpf/include/maps.h): a counting filter over the tracked map's keys
// that the sys_exit dispatcher reads before anything else, so an
// untracked process's syscall costs one array read. Inserts into the
// tracked map from user space add to it here, with atomic adds on the
// memory-mapped array: the kernel adds and subtracts concurrently, and a
// read-modify-write through the bpf syscall would lose its updates.
type scopeFilter struct {
	mem []byte // SCOPE_SLOTS counters of 8 bytes
}

func mapScopeFilter(m *ebpf.Map) (*scopeFilter, error) {
	size := int(m.MaxEntries()) * int(m.ValueSize())
	if m.ValueSize() != 8 || m.MaxEntries()&(m.MaxEntries()-1) != 0 {
		return nil, fmt.Errorf("scope filter: %d slots of %d bytes, want a power of two of 8", m.MaxEntries(), m.ValueSize())
	}
	mem, err := unix.Mmap(m.FD(), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("map the scope filter: %w", err)
	}
	return &scopeFilter{mem: mem}, nil
}

func (f *scopeFilter) slot(tgid uint32) *uint64 {
	n := uint32(len(f.mem) / 8)
	return (*uint64)(unsafe.Pointer(&f.mem[(tgid&(n-1))*8]))
}

// add counts a new key of the tracked map.
func (f *scopeFilter) add(tgid uint32) { atomic.AddUint64(f.slot(tgid), 1) }

// count is the slot's count for tgid (tests).
func (f *scopeFilter) count(tgid uint32) uint64 { return atomic.LoadUint64(f.slot(tgid)) }

func (f *scopeFilter) close() error {
	if f == nil || f.mem == nil {
		return nil
	}
	err := unix.Munmap(f.mem)
	f.mem = nil
	return err
}

// trackInsert puts pid in the tracked map as the kernel's track_insert
// does: a new key is counted in the filter, an existing one only updated.
func (s *Sensor) trackInsert(pid uint32, v *vigilTree) error {
	err := s.objs.Tracked.Update(pid, v, ebpf.UpdateNoExist)
	if errors.Is(err, ebpf.ErrKeyExist) {
		return s.objs.Tracked.Update(pid, v, ebpf.UpdateExist)
	}
	if err != nil {
		return err
	}
	s.scope.add(pid)
	return nil
}
