// Package store keeps records on the host: append-only JSONL segment
// files under a data directory, one directory per day (UTC), rotated by
// size and age. A segment is written as NAME.active.jsonl; rotation
// syncs it, makes it read-only and renames it to NAME.jsonl (sealed).
// Records are written whole, and a failed write is rolled back to the
// last whole record, so a segment never holds half a record. Retention
// deletes sealed segments older than a policy, except those under a
// legal hold.
//
// Local files are not WORM against root: someone with root on the host
// can still delete or rewrite them. Their changes are detectable
// (output/chain); only copies off the host keep the records themselves.
package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vigilsec/vigil/internal/fsperm"
)

// Config sets up a Store.
type Config struct {
	Dir       string        // data directory (created 0700)
	MaxBytes  int64         // rotate after this many bytes; default 64 MiB
	MaxAge    time.Duration // rotate after this long; default 1h
	SyncEvery time.Duration // fsync what was written at least this often, off the write path; default 1s (negative: never)
	// WriteBehind: every this many bytes written, start writing them
	// back, and drop the window before them from the page cache once it
	// is on disk; default 8 MiB (negative: leave writeback to the kernel
	// and drop only at each fsync). Needs SyncEvery.
	WriteBehind int64
	Retention   time.Duration // delete sealed segments older than this; 0 keeps everything
	Now         func() time.Time
}

// Store is the segment writer. Write is safe for one writer at a time;
// Enforce may run concurrently.
//
// Durability: a goroutine fsyncs the active segment every SyncEvery when
// it was written to, so a record that reached Write is on disk within
// SyncEvery (plus the fsync itself) even when nothing is written after
// it, and Write never waits for the disk. A failed background fsync is
// returned by the next Write or Sync.
//
// Page cache: the same goroutine writes back every WriteBehind bytes as
// they are written and drops them from the page cache once they are on
// disk, so the records' dirty and cached pages stay within about two
// windows however fast they come: the writer is not throttled by a
// backlog of dirty pages, the host's own files are not pushed out, and
// the pages of one window are reused for the next. Writeback that
// fails is reported like a failed fsync.
type Store struct {
	cfg    Config
	mu     sync.Mutex
	f      *os.File
	name   string // active file path
	size   int64
	opened time.Time
	dirty  bool // written since the last fsync began
	// dropped: the active segment's bytes before this offset are on disk
	// and out of the page cache.
	dropped int64
	// behind: writeback of the active segment's bytes before this offset
	// has been started.
	behind int64
	// Failed writes (disk full): records not stored since the last
	// successful write.
	droppedWrites uint64
	droppedBytes  uint64
	// written: bytes written since Open, over all segments; durable: how
	// many of them an fsync has put on disk.
	written, durable uint64

	syncErr  error  // a background fsync's failure, not yet returned
	syncs    uint64 // fsyncs of written segments, rotation's included
	stopSync chan struct{}
	kick     chan struct{} // a write-behind window is full
	syncDone chan struct{}
	stopOnce sync.Once
}

const (
	activeSuffix = ".active.jsonl"
	sealedSuffix = ".jsonl"
	holdsDir     = "holds"
)

// Open opens a store, sealing any segment a previous run left active.
func Open(cfg Config) (*Store, error) {
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 64 << 20
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = time.Hour
	}
	if cfg.SyncEvery == 0 {
		cfg.SyncEvery = time.Second
	}
	if cfg.WriteBehind == 0 {
		cfg.WriteBehind = 8 << 20
	}
	if cfg.SyncEvery < 0 {
		cfg.WriteBehind = -1
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if err := fsperm.Private(cfg.Dir); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	s := &Store{cfg: cfg}
	active, err := s.segments(activeSuffix)
	if err != nil {
		return nil, err
	}
	for _, a := range active {
		if err := sealFile(a); err != nil {
			return nil, err
		}
	}
	if cfg.SyncEvery > 0 {
		s.stopSync, s.syncDone = make(chan struct{}), make(chan struct{})
		s.kick = make(chan struct{}, 1)
		go s.syncLoop()
	}
	return s, nil
}

// syncLoop fsyncs the active segment every SyncEvery while it is written
// to, and writes it back each time Write fills a write-behind window,
// until Close.
func (s *Store) syncLoop() {
	defer close(s.syncDone)
	t := time.NewTicker(s.cfg.SyncEvery)
	defer t.Stop()
	for {
		var err error
		select {
		case <-s.stopSync:
			return
		case <-t.C:
			err = s.syncActive()
		case <-s.kick:
			err = s.writeBehind()
		}
		if err != nil {
			s.mu.Lock()
			if s.syncErr == nil {
				s.syncErr = err
			}
			s.mu.Unlock()
		}
	}
}

// writeBehind starts writeback of what was written since it last ran,
// then waits for the window before that (started last time, so mostly
// written by now) and drops it from the page cache. Like syncActive it
// runs without the write lock.
func (s *Store) writeBehind() error {
	s.mu.Lock()
	f, name, size, behind, from := s.f, s.name, s.size, s.behind, s.dropped
	s.mu.Unlock()
	if f == nil || size <= behind {
		return nil
	}
	from, closed, werr := writeBack(f, behind, size, from)
	if closed {
		return nil // closed by a rotation, which synced it
	}
	if werr != nil {
		return fmt.Errorf("store: write back %s: %w", name, werr)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == f {
		s.behind = max(s.behind, size)
		s.dropped = max(s.dropped, from)
	}
	return nil
}

// syncActive fsyncs the active segment if it was written to since its
// last fsync, then drops what that fsync put on disk from the page cache.
// The write lock is not held during either: Write goes on into the page
// cache meanwhile. A segment rotated (and so synced and closed) in
// between needs nothing more.
func (s *Store) syncActive() error {
	s.mu.Lock()
	f, name, dirty, size, from, written := s.f, s.name, s.dirty, s.size, s.dropped, s.written
	s.dirty = false
	s.mu.Unlock()
	if f == nil || !dirty {
		return nil
	}
	err := f.Sync()
	if errors.Is(err, os.ErrClosed) {
		return nil
	}
	if err == nil {
		dropCache(f, from, size)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		if s.f == f {
			s.dirty = true // try again at the next tick
		}
		return fmt.Errorf("store: sync %s: %w", name, err)
	}
	if s.f == f {
		s.dropped = max(s.dropped, size&^(pageSize-1))
		s.behind = max(s.behind, size)
	}
	s.durable = max(s.durable, written)
	s.syncs++
	return nil
}

// pageSize rounds what is dropped from the page cache down to whole pages
// (the kernel keeps a partly covered page anyway).
const pageSize = 4096

// Syncs is how many fsyncs of written segments have completed.
func (s *Store) Syncs() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.syncs
}

// Durable reports how many bytes were written since Open, over all
// segments, and how many of them are known to be on disk (an fsync
// covering them returned).
func (s *Store) Durable() (written, durable uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.written, s.durable
}

// Segments lists every segment, sealed and active, in write order: the
// order to verify them in.
func (s *Store) Segments() ([]string, error) { return List(s.cfg.Dir) }

// List lists the segments of a data directory in write order, changing
// nothing.
func List(dir string) ([]string, error) {
	all, err := (&Store{cfg: Config{Dir: dir}}).segments(sealedSuffix)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(all, func(a, b string) int { return strings.Compare(segmentKey(a), segmentKey(b)) })
	return all, nil
}

// segmentKey orders segments by their start time stamp and counter.
func segmentKey(path string) string {
	base := filepath.Base(path)
	base = strings.TrimSuffix(strings.TrimSuffix(base, activeSuffix), sealedSuffix)
	return base
}

func (s *Store) segments(suffix string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(s.cfg.Dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == holdsDir {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(d.Name(), suffix) && strings.HasPrefix(d.Name(), "segment-") {
			out = append(out, path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: list segments: %w", err)
	}
	return out, nil
}

// Write appends whole records. On failure the segment is cut back to
// its last whole record and the records are counted as dropped.
func (s *Store) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	if s.f != nil && (s.size >= s.cfg.MaxBytes || now.Sub(s.opened) >= s.cfg.MaxAge) {
		if err := s.rotateLocked(); err != nil {
			return 0, err
		}
	}
	if s.f == nil {
		if err := s.openLocked(now); err != nil {
			s.drop(p)
			return 0, err
		}
	}
	n, err := s.f.Write(p)
	if err != nil {
		// Roll back to the last whole record; nothing half-written stays.
		_ = s.f.Truncate(s.size)
		_, _ = s.f.Seek(s.size, 0)
		s.drop(p)
		return 0, fmt.Errorf("store: write %s: %w", s.name, err)
	}
	s.size += int64(n)
	s.written += uint64(n)
	s.dirty = true
	if s.cfg.WriteBehind > 0 && s.size-s.behind >= s.cfg.WriteBehind {
		select {
		case s.kick <- struct{}{}:
		default: // the goroutine has one pending already
		}
	}
	if err := s.syncErr; err != nil {
		// Written, but an earlier fsync failed: what it covered may not
		// be on disk.
		s.syncErr = nil
		return n, err
	}
	return n, nil
}

func (s *Store) drop(p []byte) {
	s.droppedWrites++
	s.droppedBytes += uint64(len(p))
}

// Dropped reports and resets what failed writes lost: write calls and
// bytes (lines are whole records).
func (s *Store) Dropped() (writes, bytes uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	writes, bytes = s.droppedWrites, s.droppedBytes
	s.droppedWrites, s.droppedBytes = 0, 0
	return writes, bytes
}

// IsDiskFull reports whether err is the disk (or quota) running out.
func IsDiskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

func (s *Store) openLocked(now time.Time) error {
	day := filepath.Join(s.cfg.Dir, now.UTC().Format("2006-01-02"))
	if err := os.MkdirAll(day, 0o700); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	name := filepath.Join(day, fmt.Sprintf("segment-%s%s", now.UTC().Format("20060102T150405.000000000Z"), activeSuffix))
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	s.f, s.name, s.size, s.opened, s.dirty, s.dropped, s.behind = f, name, 0, now, false, 0, 0
	return nil
}

// Rotate seals the active segment now.
func (s *Store) Rotate() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rotateLocked()
}

func (s *Store) rotateLocked() error {
	if s.f == nil {
		return nil
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("store: sync: %w", err)
	}
	if s.dirty {
		s.syncs++
		s.dirty = false
	}
	s.durable = s.written
	dropCache(s.f, s.dropped, s.size)
	if err := s.f.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	name := s.name
	s.f, s.name = nil, ""
	return sealFile(name)
}

// sealFile makes an active segment read-only and gives it its sealed name.
func sealFile(active string) error {
	if err := os.Chmod(active, 0o400); err != nil {
		return fmt.Errorf("store: seal %s: %w", active, err)
	}
	sealed := strings.TrimSuffix(active, activeSuffix) + sealedSuffix
	if err := os.Rename(active, sealed); err != nil {
		return fmt.Errorf("store: seal %s: %w", active, err)
	}
	d, err := os.Open(filepath.Dir(active))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Close stops the background fsync, then syncs and seals the active
// segment.
func (s *Store) Close() error {
	s.stopOnce.Do(func() {
		if s.stopSync != nil {
			close(s.stopSync)
			<-s.syncDone
		}
	})
	if err := s.Rotate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.syncErr
	s.syncErr = nil
	return err
}

// Sync forces what was written to disk now, and returns a background
// fsync's failure not yet returned.
func (s *Store) Sync() error {
	err := s.syncActive()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		err = s.syncErr
	}
	s.syncErr = nil
	return err
}
