//go:build linux

package sensor

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The kernel's ring buffer record header: a length word whose top bits
// say busy (reserved, not committed yet) and discard, and the page offset
// of the record, which only the kernel uses.
const (
	ringHdrSize    = 8
	ringBusyBit    = 1 << 31
	ringDiscardBit = 1 << 30
)

// ringReader reads a BPF ring buffer map.
//
// It maps the data pages once. The kernel also lets a reader map them
// twice in a row, so that a record crossing the end of the buffer reads
// as one piece (cilium/ebpf's reader does), but the kernel inserts every
// page of a ring buffer mapping when it is made, so the second copy is
// resident memory of the daemon as much as the first: 16 MiB more RSS for
// the default buffer, for the few records that cross the end. Those are
// copied here into a buffer of the reader's own.
//
// A record that does not cross the end is handed out in place, without a
// copy: the kernel does not reuse its space until the consumer position
// moves past it, which happens only at the next call to next (or on
// release), so a record is valid until then, the same lifetime a reused
// copy buffer gives.
type ringReader struct {
	cons    []byte // the consumer position's page, read-write
	prod    []byte // the producer position's page, then the data, read-only
	consPos *uint64
	prodPos *uint64
	data    []byte
	mask    uint64
	pending uint64 // consumer position once the record handed out is released
	held    bool
	wrapped []byte // a record that crosses the end, copied
	crossed uint64 // how many did
	expired bool   // a wait ran out; reported once the buffer is empty
	pollFds [1]unix.PollFd
}

var (
	errRingClosed = errors.New("ring buffer reader closed")
	errRingBusy   = errors.New("ring buffer record not committed yet")
)

func newRingReader(fd, size int) (*ringReader, error) {
	page := os.Getpagesize()
	if size < page || size&(size-1) != 0 {
		return nil, fmt.Errorf("ring buffer size %d: not a power of two of at least a page", size)
	}
	cons, err := unix.Mmap(fd, 0, page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("map ring buffer consumer page: %w", err)
	}
	prod, err := unix.Mmap(fd, int64(page), page+size, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		_ = unix.Munmap(cons)
		return nil, fmt.Errorf("map ring buffer data: %w", err)
	}
	r := &ringReader{
		cons:    cons,
		prod:    prod,
		consPos: (*uint64)(unsafe.Pointer(&cons[0])),
		prodPos: (*uint64)(unsafe.Pointer(&prod[0])),
		data:    prod[page:],
		mask:    uint64(size - 1),
		pollFds: [1]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}},
	}
	r.pending = atomic.LoadUint64(r.consPos)
	return r, nil
}

// availableBytes is what the producer has placed beyond the records
// handed out so far, committed or not.
func (r *ringReader) availableBytes() int {
	if r.data == nil {
		return 0
	}
	return int(atomic.LoadUint64(r.prodPos) - r.pending)
}

// release gives the space of the record handed out last back to the
// kernel.
func (r *ringReader) release() {
	if r.held {
		atomic.StoreUint64(r.consPos, r.pending)
		r.held = false
	}
}

// next returns the next committed record. When there is none it waits
// up to wait for one (not at all if wait is not positive), then returns
// os.ErrDeadlineExceeded; after a wait that ran out it returns the
// records that came in meanwhile and then os.ErrDeadlineExceeded, without
// waiting again. The record is valid until the next call to
// next, release or close. The clock is read only when the buffer is
// found empty: a reader that keeps up with a busy producer never reads
// it.
func (r *ringReader) next(wait time.Duration) ([]byte, error) {
	if r.data == nil {
		return nil, errRingClosed
	}
	r.release()
	var deadline time.Time
	for {
		rec, err := r.take()
		if rec != nil || err != nil {
			if errors.Is(err, errRingBusy) {
				// Reserved and not committed yet: it will be, or be
				// discarded, before the program that reserved it
				// returns. Records behind it wait, in order.
				runtime.Gosched()
				continue
			}
			return rec, err
		}
		if wait <= 0 || r.expired {
			// The last wait ran out and what came in meanwhile has been
			// read: say so now, so the caller flushes what it holds
			// even while records keep trickling in.
			r.expired = false
			return nil, os.ErrDeadlineExceeded
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(wait)
		}
		left := time.Until(deadline)
		if left <= 0 {
			r.expired = true
			continue
		}
		// Records sent with BPF_RB_NO_WAKEUP arrive without a wakeup:
		// the wait's end is what brings them in.
		ms := int((left + time.Millisecond - 1) / time.Millisecond)
		if _, err := unix.Poll(r.pollFds[:], ms); err != nil && !errors.Is(err, unix.EINTR) {
			return nil, fmt.Errorf("poll ring buffer: %w", err)
		}
		if time.Until(deadline) <= 0 {
			r.expired = true
		}
	}
}

// take returns the next committed record, or nil if there is none yet.
func (r *ringReader) take() ([]byte, error) {
	cons := r.pending
	for {
		prod := atomic.LoadUint64(r.prodPos)
		if prod == cons {
			return nil, nil
		}
		if prod-cons < ringHdrSize {
			return nil, fmt.Errorf("ring buffer: %d bytes, less than a record header", prod-cons)
		}
		// The length word is read atomically: the kernel commits a
		// record by clearing the busy bit with an exchange, after the
		// record's data is in place.
		start := cons & r.mask
		hdr := atomic.LoadUint32((*uint32)(unsafe.Pointer(&r.data[start])))
		if hdr&ringBusyBit != 0 {
			return nil, errRingBusy
		}
		n := uint64(hdr &^ (ringBusyBit | ringDiscardBit))
		total := ringHdrSize + (n+7)&^7
		if prod-cons < total {
			return nil, fmt.Errorf("ring buffer: record of %d bytes, %d available", n, prod-cons)
		}
		cons += total
		if hdr&ringDiscardBit != 0 {
			atomic.StoreUint64(r.consPos, cons)
			r.pending = cons
			continue
		}
		r.pending, r.held = cons, true
		at := (start + ringHdrSize) & r.mask
		size := uint64(len(r.data))
		if at+n <= size {
			return r.data[at : at+n : at+n], nil
		}
		// Crosses the end of the buffer: copy the two pieces.
		r.crossed++
		if uint64(cap(r.wrapped)) < n {
			r.wrapped = make([]byte, n)
		}
		rec := r.wrapped[:n]
		k := copy(rec, r.data[at:])
		copy(rec[k:], r.data)
		return rec, nil
	}
}

// close unmaps the buffer; the map's file descriptor stays its owner's.
func (r *ringReader) close() error {
	if r.data == nil {
		return nil
	}
	r.release()
	err := errors.Join(unix.Munmap(r.prod), unix.Munmap(r.cons))
	r.cons, r.prod, r.data = nil, nil, nil
	return err
}
