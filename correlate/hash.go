package correlate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Hash states, as records report them.
const (
	HashDone        = "done"        // the hash is in the record
	HashPending     = "pending"     // being computed; an enrichment record follows
	HashTooLarge    = "too_large"   // larger than the size cap: not hashed
	HashQueueFull   = "queue_full"  // the hasher was behind: not hashed
	HashUnavailable = "unavailable" // the file is gone, changed, or unreadable
	HashAbandoned   = "abandoned"   // Vigil stopped before it was done
)

// HashConfig bounds the hasher.
type HashConfig struct {
	MaxSize     int64 // larger files are not hashed; default 64 MiB
	BytesPerSec int64 // average read rate; default 64 MiB/s
	Queue       int   // files waiting at most; default 1024
	CacheSize   int   // hashes remembered; default 16384
}

// fileID names a file's content: device, inode, size and modification
// time. Any write changes size or mtime, so a cached hash is only reused
// for content that has not changed since.
type fileID struct {
	dev, ino uint64
	size     int64
	mtime    int64
}

type inodeID struct{ dev, ino uint64 }

// HashJob is a file to hash and what to report it with.
type HashJob struct {
	Path    string
	ID      fileID
	Process Process // a copy, to name the process in the enrichment record
	Exec    bool    // the binary of Process, not a written file
	Time    time.Time
}

// HashResult is a finished job.
type HashResult struct {
	HashJob
	SHA256 string
	State  string
}

// Hasher computes SHA-256 digests of files off the event path, with a
// size cap, a rate limit and a bounded queue, and caches them by content
// identity. Results are collected with Results.
type Hasher struct {
	cfg     HashConfig
	jobs    chan HashJob
	mu      sync.Mutex
	cache   map[fileID]string
	order   []fileID
	next    int
	last    map[inodeID]fileID // the newest hashed content of each inode: what it held before a change
	results []HashResult
	ready   atomic.Int32
	pending atomic.Int64 // jobs queued or being hashed
	reads   atomic.Int64 // files read and hashed (the rest came from the cache)
	wg      sync.WaitGroup
	stop    chan struct{}
}

// NewHasher starts a hasher; Close stops it.
func NewHasher(cfg HashConfig) *Hasher {
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = 64 << 20
	}
	if cfg.BytesPerSec <= 0 {
		cfg.BytesPerSec = 64 << 20
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 1024
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = 16384
	}
	h := &Hasher{
		cfg:   cfg,
		jobs:  make(chan HashJob, cfg.Queue),
		cache: make(map[fileID]string),
		last:  make(map[inodeID]fileID),
		stop:  make(chan struct{}),
	}
	h.wg.Add(1)
	go h.run()
	return h
}

// Request asks for the hash of the file at path, which must still be the
// inode (dev, ino) the kernel reported (0, 0: any). It returns the hash
// at once when the content is cached, and otherwise a state: pending (a
// HashResult follows), too_large, queue_full or unavailable. previous is
// the last hash Vigil knew for this inode before the current content, if
// any.
func (h *Hasher) Request(job HashJob, dev, ino uint64) (sum, state, previous string) {
	id, regular, err := statID(job.Path)
	if err != nil || !regular || (ino != 0 && (id.ino != ino || id.dev != dev)) {
		return "", HashUnavailable, ""
	}
	job.ID = id
	h.mu.Lock()
	sum, ok := h.cache[id]
	previous = h.previousLocked(id.dev, id.ino)
	h.mu.Unlock()
	if ok {
		return sum, HashDone, ""
	}
	if id.size > h.cfg.MaxSize {
		return "", HashTooLarge, previous
	}
	h.pending.Add(1)
	select {
	case h.jobs <- job:
		return "", HashPending, previous
	default:
		h.pending.Add(-1)
		return "", HashQueueFull, previous
	}
}

// Previous is the last hash Vigil knew for an inode, or "".
func (h *Hasher) Previous(dev, ino uint64) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.previousLocked(dev, ino)
}

func (h *Hasher) previousLocked(dev, ino uint64) string {
	if id, ok := h.last[inodeID{dev, ino}]; ok {
		return h.cache[id]
	}
	return ""
}

func (h *Hasher) run() {
	defer h.wg.Done()
	for {
		select {
		case <-h.stop:
			return
		case job := <-h.jobs:
			select {
			case <-h.stop:
				// Close's deadline passed while this job was taken.
				h.mu.Lock()
				h.results = append(h.results, HashResult{HashJob: job, State: HashAbandoned})
				h.mu.Unlock()
				h.ready.Store(1)
				h.pending.Add(-1)
				return
			default:
			}
			// The same content is often queued many times before its
			// first hash is done (a binary exec'd in a burst, as git is):
			// the later jobs take the first one's result.
			h.mu.Lock()
			sum, ok := h.cache[job.ID]
			h.mu.Unlock()
			if !ok {
				sum = h.hash(job)
			}
			h.finish(job, sum)
			h.pending.Add(-1)
		}
	}
}

// hash reads the file if it still has the identity it was queued with,
// keeping the average read rate under the limit.
func (h *Hasher) hash(job HashJob) string {
	f, err := os.Open(job.Path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if id, err := fstatID(f); err != nil || id != job.ID {
		return "" // changed again since: this content is gone
	}
	h.reads.Add(1)
	start := time.Now()
	d := sha256.New()
	n, err := io.Copy(d, io.LimitReader(f, h.cfg.MaxSize+1))
	if err != nil || n != job.ID.size {
		return ""
	}
	if pause := time.Duration(float64(n)/float64(h.cfg.BytesPerSec)*float64(time.Second)) - time.Since(start); pause > 0 {
		select {
		case <-time.After(pause):
		case <-h.stop:
		}
	}
	return hex.EncodeToString(d.Sum(nil))
}

func (h *Hasher) finish(job HashJob, sum string) {
	res := HashResult{HashJob: job, SHA256: sum, State: HashDone}
	if sum == "" {
		res.State = HashUnavailable
	}
	h.mu.Lock()
	if sum != "" {
		h.remember(job.ID, sum)
	}
	h.results = append(h.results, res)
	h.mu.Unlock()
	h.ready.Store(1)
}

// remember caches a hash, forgetting the oldest once full.
func (h *Hasher) remember(id fileID, sum string) {
	h.last[inodeID{id.dev, id.ino}] = id
	if _, ok := h.cache[id]; ok {
		return
	}
	if len(h.order) < h.cfg.CacheSize {
		h.order = append(h.order, id)
	} else {
		old := h.order[h.next]
		if h.last[inodeID{old.dev, old.ino}] == old {
			delete(h.last, inodeID{old.dev, old.ino})
		}
		delete(h.cache, old)
		h.order[h.next] = id
		h.next = (h.next + 1) % h.cfg.CacheSize
	}
	h.cache[id] = sum
}

// Results takes the finished jobs. It is cheap when there are none.
func (h *Hasher) Results() []HashResult {
	if h.ready.Load() == 0 {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ready.Store(0)
	out := h.results
	h.results = nil
	return out
}

// Close finishes the queued jobs until ctx ends, then stops; jobs not
// done by then are returned as abandoned results with the rest.
func (h *Hasher) Close(ctx context.Context) ([]HashResult, error) {
	for h.pending.Load() > 0 && ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Millisecond):
		}
	}
	close(h.stop)
	h.wg.Wait()
	out := h.Results()
	for {
		select {
		case job := <-h.jobs:
			out = append(out, HashResult{HashJob: job, State: HashAbandoned})
		default:
			if err := ctx.Err(); err != nil && !errors.Is(err, context.Canceled) {
				return out, fmt.Errorf("hasher: %w", err)
			}
			return out, nil
		}
	}
}
