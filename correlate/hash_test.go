package correlate

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/vigilsec/vigil/sensor"
)

// waitFor is how long a test waits for the hasher before failing.
const waitFor = 5 * time.Second

func sha256Hex(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

// writeTestFile writes data to path and returns its device and inode.
func writeTestFile(t testing.TB, path string, data []byte) (dev, ino uint64) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return statDevIno(t, path)
}

func statDevIno(t testing.TB, path string) (dev, ino uint64) {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Dev, st.Ino
}

// newTestHasher starts a hasher that is stopped when the test ends, even
// if a job is blocked in its rate limit.
func newTestHasher(t testing.TB, cfg HashConfig) *Hasher {
	t.Helper()
	h := NewHasher(cfg)
	t.Cleanup(func() {
		select {
		case <-h.stop:
			return // the test closed it
		default:
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		h.Close(ctx)
	})
	return h
}

// waitResults polls Results until n results arrived or the deadline passed.
func waitResults(t testing.TB, h *Hasher, n int) []HashResult {
	t.Helper()
	var out []HashResult
	deadline := time.Now().Add(waitFor)
	for len(out) < n {
		out = append(out, h.Results()...)
		if len(out) >= n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d hash results within %v, want %d: %+v", len(out), waitFor, n, out)
		}
		time.Sleep(time.Millisecond)
	}
	if len(out) > n {
		t.Fatalf("got %d hash results, want %d: %+v", len(out), n, out)
	}
	return out
}

// waitHashing waits until the worker has path open: past the point where
// a Close would still abandon the job (it is hashing it).
func waitHashing(t testing.TB, path string) {
	t.Helper()
	if r, err := filepath.EvalSymlinks(path); err == nil {
		path = r // what /proc/self/fd shows
	}
	deadline := time.Now().Add(waitFor)
	for {
		fds, _ := os.ReadDir("/proc/self/fd")
		for _, fd := range fds {
			if l, err := os.Readlink("/proc/self/fd/" + fd.Name()); err == nil && l == path {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the worker did not open %s within %v", path, waitFor)
		}
		time.Sleep(time.Millisecond)
	}
}

// hashOnce requests path's hash, expects it pending, and waits for it.
func hashOnce(t testing.TB, h *Hasher, path string) HashResult {
	t.Helper()
	if _, state, _ := h.Request(HashJob{Path: path}, 0, 0); state != HashPending {
		t.Fatalf("Request(%s) state %q, want pending", path, state)
	}
	res := waitResults(t, h, 1)[0]
	if res.Path != path || res.State != HashDone {
		t.Fatalf("result for %s: %+v", path, res)
	}
	return res
}

func expiredContext(t testing.TB) context.Context {
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	t.Cleanup(cancel)
	return ctx
}

func TestHasherDefaults(t *testing.T) {
	h := newTestHasher(t, HashConfig{})
	want := HashConfig{MaxSize: 64 << 20, BytesPerSec: 64 << 20, Queue: 1024, CacheSize: 16384}
	if h.cfg != want {
		t.Errorf("defaults %+v, want %+v", h.cfg, want)
	}
	if cap(h.jobs) != 1024 {
		t.Errorf("queue capacity %d, want 1024", cap(h.jobs))
	}
}

func TestHasherHashAndCache(t *testing.T) {
	h := newTestHasher(t, HashConfig{})
	path := filepath.Join(t.TempDir(), "bin")
	data := []byte("#!/bin/sh\necho hello\n")
	dev, ino := writeTestFile(t, path, data)
	want := sha256Hex(data)

	when := time.Unix(1_700_000_123, 456)
	proc := Process{EntityID: "e1", PID: 42, Executable: path, Args: []string{"bin", "-x"}}
	sum, state, prev := h.Request(HashJob{Path: path, Process: proc, Exec: true, Time: when}, dev, ino)
	if sum != "" || state != HashPending || prev != "" {
		t.Fatalf("first Request = %q %q %q, want pending", sum, state, prev)
	}
	res := waitResults(t, h, 1)[0]
	if res.State != HashDone || res.SHA256 != want {
		t.Errorf("result state %q sha %q, want done %s", res.State, res.SHA256, want)
	}
	if res.Path != path || !res.Exec || !res.Time.Equal(when) || res.Process.EntityID != "e1" ||
		res.Process.PID != 42 || res.Process.Executable != path || len(res.Process.Args) != 2 {
		t.Errorf("result job not preserved: %+v", res.HashJob)
	}
	if res.ID.dev != dev || res.ID.ino != ino || res.ID.size != int64(len(data)) {
		t.Errorf("result ID %+v, want dev %d ino %d size %d", res.ID, dev, ino, len(data))
	}
	if got := h.Previous(dev, ino); got != want {
		t.Errorf("Previous = %q, want %q", got, want)
	}
	if got := h.Results(); got != nil {
		t.Errorf("Results after taking them = %+v, want nil", got)
	}

	// Unchanged: the cache answers at once, with no previous hash, with or
	// without the inode check.
	for _, di := range [][2]uint64{{dev, ino}, {0, 0}} {
		sum, state, prev = h.Request(HashJob{Path: path}, di[0], di[1])
		if sum != want || state != HashDone || prev != "" {
			t.Errorf("cached Request(%v) = %q %q %q, want done %s", di, sum, state, prev, want)
		}
	}
	if got := h.Results(); got != nil {
		t.Errorf("a cached Request queued a job: %+v", got)
	}

	// Rewritten: new size and mtime, so pending, with the old hash.
	data2 := []byte("#!/bin/sh\necho something else entirely\n")
	if err := os.WriteFile(path, data2, 0o644); err != nil {
		t.Fatal(err)
	}
	sum, state, prev = h.Request(HashJob{Path: path}, dev, ino)
	if sum != "" || state != HashPending || prev != want {
		t.Fatalf("Request after rewrite = %q %q %q, want pending with previous %s", sum, state, prev, want)
	}
	res = waitResults(t, h, 1)[0]
	if want2 := sha256Hex(data2); res.State != HashDone || res.SHA256 != want2 {
		t.Errorf("rewritten result %q %q, want done %s", res.State, res.SHA256, want2)
	}
	if got := h.Previous(dev, ino); got != sha256Hex(data2) {
		t.Errorf("Previous after rewrite = %q, want the new hash", got)
	}
	if sum, state, _ = h.Request(HashJob{Path: path}, dev, ino); state != HashDone || sum != sha256Hex(data2) {
		t.Errorf("cached Request after rewrite = %q %q", sum, state)
	}
}

func TestHasherEmptyFile(t *testing.T) {
	h := newTestHasher(t, HashConfig{})
	path := filepath.Join(t.TempDir(), "empty")
	writeTestFile(t, path, nil)
	if res := hashOnce(t, h, path); res.SHA256 != sha256Hex(nil) {
		t.Errorf("empty file hash %q, want %q", res.SHA256, sha256Hex(nil))
	}
}

func TestHasherMaxSize(t *testing.T) {
	h := newTestHasher(t, HashConfig{MaxSize: 100})
	dir := t.TempDir()
	big := filepath.Join(dir, "big")
	dev, ino := writeTestFile(t, big, bytes.Repeat([]byte("a"), 101))
	if sum, state, prev := h.Request(HashJob{Path: big}, dev, ino); sum != "" || state != HashTooLarge || prev != "" {
		t.Errorf("Request of 101 bytes with MaxSize 100 = %q %q %q, want too_large", sum, state, prev)
	}
	// Exactly at the cap is hashed.
	edge := filepath.Join(dir, "edge")
	data := bytes.Repeat([]byte("b"), 100)
	writeTestFile(t, edge, data)
	if res := hashOnce(t, h, edge); res.SHA256 != sha256Hex(data) {
		t.Errorf("hash at the cap %q, want %q", res.SHA256, sha256Hex(data))
	}
	if got := h.Results(); got != nil {
		t.Errorf("too_large queued a job: %+v", got)
	}

	// A file that grows past the cap reports the hash of what it was.
	small := filepath.Join(dir, "grows")
	dev, ino = writeTestFile(t, small, []byte("small"))
	old := hashOnce(t, h, small).SHA256
	if err := os.WriteFile(small, bytes.Repeat([]byte("c"), 200), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, state, prev := h.Request(HashJob{Path: small}, dev, ino); state != HashTooLarge || prev != old {
		t.Errorf("Request after growing past the cap = %q previous %q, want too_large previous %s", state, prev, old)
	}
}

func TestHasherUnavailable(t *testing.T) {
	h := newTestHasher(t, HashConfig{})
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	dev, ino := writeTestFile(t, path, []byte("content"))
	ddev, dino := statDevIno(t, dir)
	for _, c := range []struct {
		name     string
		path     string
		dev, ino uint64
	}{
		{"missing", filepath.Join(dir, "missing"), 0, 0},
		{"directory", dir, ddev, dino},
		{"directory any inode", dir, 0, 0},
		{"wrong inode", path, dev, ino + 1},
		{"wrong device", path, dev + 1, ino},
	} {
		if sum, state, prev := h.Request(HashJob{Path: c.path}, c.dev, c.ino); sum != "" || state != HashUnavailable || prev != "" {
			t.Errorf("%s: Request = %q %q %q, want unavailable", c.name, sum, state, prev)
		}
	}
	if len(h.jobs) != 0 {
		t.Errorf("unavailable requests queued %d jobs", len(h.jobs))
	}
	// A wrong inode is refused even when the content is cached.
	hashOnce(t, h, path)
	if sum, state, _ := h.Request(HashJob{Path: path}, dev, ino+1); sum != "" || state != HashUnavailable {
		t.Errorf("cached file, wrong inode: %q %q, want unavailable", sum, state)
	}
}

func TestHasherQueueFull(t *testing.T) {
	// 1 KiB at 1 byte/s: the worker waits out its rate limit for the
	// rest of the test, so the one queue slot fills.
	h := newTestHasher(t, HashConfig{Queue: 1, BytesPerSec: 1})
	dir := t.TempDir()
	slow := filepath.Join(dir, "slow")
	writeTestFile(t, slow, bytes.Repeat([]byte("s"), 1024))
	if _, state, _ := h.Request(HashJob{Path: slow}, 0, 0); state != HashPending {
		t.Fatalf("first Request %q, want pending", state)
	}
	var pending []string
	full := false
	for i := range 3 {
		p := filepath.Join(dir, "f"+string(rune('a'+i)))
		writeTestFile(t, p, []byte(p))
		switch _, state, _ := h.Request(HashJob{Path: p}, 0, 0); state {
		case HashPending:
			pending = append(pending, p)
		case HashQueueFull:
			full = true
		default:
			t.Fatalf("Request(%s) = %q", p, state)
		}
		if full {
			break
		}
	}
	if !full {
		t.Fatalf("no queue_full with Queue 1 and a blocked worker; pending %v", pending)
	}
	if len(pending) > 1 {
		t.Errorf("%d jobs queued behind the blocked one with Queue 1", len(pending))
	}
	if got := h.Results(); got != nil {
		t.Errorf("results while the worker is blocked: %+v", got)
	}
}

func TestHasherChangedBeforeHashing(t *testing.T) {
	for _, change := range []struct {
		name string
		do   func(t *testing.T, path string)
	}{
		{"rewritten", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte("different, longer content"), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"same size, new mtime", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte("CONTENT"), 0o644); err != nil {
				t.Fatal(err)
			}
			future := time.Now().Add(time.Hour)
			if err := os.Chtimes(path, future, future); err != nil {
				t.Fatal(err)
			}
		}},
		{"replaced", func(t *testing.T, path string) {
			tmp := path + ".new"
			if err := os.WriteFile(tmp, []byte("content"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, path); err != nil {
				t.Fatal(err)
			}
		}},
		{"removed", func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(change.name, func(t *testing.T) {
			// The worker spends about a second on a 1 KiB file first.
			h := newTestHasher(t, HashConfig{BytesPerSec: 1024})
			dir := t.TempDir()
			slow := filepath.Join(dir, "slow")
			slowData := bytes.Repeat([]byte("s"), 1024)
			writeTestFile(t, slow, slowData)
			path := filepath.Join(dir, "f")
			dev, ino := writeTestFile(t, path, []byte("content"))
			if _, state, _ := h.Request(HashJob{Path: slow}, 0, 0); state != HashPending {
				t.Fatalf("slow Request %q", state)
			}
			if _, state, _ := h.Request(HashJob{Path: path, Time: time.Unix(5, 0)}, dev, ino); state != HashPending {
				t.Fatalf("Request %q", state)
			}
			change.do(t, path)
			// The worker takes jobs in order: while the slow one is not
			// done, f was not opened before the change.
			early := h.Results()
			if len(early) != 0 {
				t.Skipf("the slow job finished before the change was made (%+v): machine too slow", early)
			}
			got := waitResults(t, h, 2)
			if got[0].Path != slow || got[0].State != HashDone || got[0].SHA256 != sha256Hex(slowData) {
				t.Errorf("slow result %+v", got[0])
			}
			res := got[1]
			if res.Path != path || !res.Time.Equal(time.Unix(5, 0)) {
				t.Errorf("changed file's result names %q at %v", res.Path, res.Time)
			}
			if res.State != HashUnavailable || res.SHA256 != "" {
				t.Errorf("changed file: state %q sha %q, want unavailable and no hash", res.State, res.SHA256)
			}
			if got := h.Previous(dev, ino); got != "" {
				t.Errorf("Previous after a failed hash = %q, want none", got)
			}
			if change.name == "removed" {
				return
			}
			// Nothing was cached for the content that is gone: the
			// current content is hashed afresh.
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if res := hashOnce(t, h, path); res.SHA256 != sha256Hex(data) {
				t.Errorf("hash of the new content %q, want %q", res.SHA256, sha256Hex(data))
			}
		})
	}
}

// waitGoroutines polls until at most n goroutines run.
func waitGoroutines(t testing.TB, n int) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, want at most %d:\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(time.Millisecond)
	}
}

// blockedHasher returns a hasher whose worker is stuck in the rate limit
// of a 1 KiB job, with the queued jobs for the returned paths behind it.
func blockedHasher(t *testing.T, queued int) (h *Hasher, slow string, paths []string) {
	t.Helper()
	h = NewHasher(HashConfig{BytesPerSec: 1, Queue: queued + 1})
	dir := t.TempDir()
	slow = filepath.Join(dir, "slow")
	writeTestFile(t, slow, bytes.Repeat([]byte("s"), 1024))
	if _, state, _ := h.Request(HashJob{Path: slow}, 0, 0); state != HashPending {
		t.Fatalf("slow Request %q", state)
	}
	waitHashing(t, slow)
	for i := range queued {
		p := filepath.Join(dir, "q"+string(rune('a'+i)))
		writeTestFile(t, p, []byte(p))
		if _, state, _ := h.Request(HashJob{Path: p, Process: Process{PID: uint32(100 + i)}}, 0, 0); state != HashPending {
			t.Fatalf("Request(%s) = %q", p, state)
		}
		paths = append(paths, p)
	}
	return h, slow, paths
}

func TestHasherCloseExpired(t *testing.T) {
	before := runtime.NumGoroutine()
	h, slow, queued := blockedHasher(t, 3)
	out, err := h.Close(expiredContext(t))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close error %v, want deadline exceeded", err)
	}
	// Every job comes back once: the one being hashed (its rate limit
	// cut short), the queued ones abandoned.
	seen := map[string]HashResult{}
	for _, r := range out {
		if _, dup := seen[r.Path]; dup {
			t.Errorf("%s returned twice", r.Path)
		}
		seen[r.Path] = r
	}
	if len(seen) != len(queued)+1 {
		t.Errorf("Close returned %d jobs, want %d: %+v", len(seen), len(queued)+1, out)
	}
	if r := seen[slow]; r.State != HashDone || r.SHA256 != sha256Hex(bytes.Repeat([]byte("s"), 1024)) {
		t.Errorf("in-flight job: %+v", r)
	}
	for i, p := range queued {
		r, ok := seen[p]
		if !ok {
			t.Errorf("queued job %s not returned", p)
			continue
		}
		if r.Process.PID != uint32(100+i) {
			t.Errorf("%s: process not preserved: %+v", p, r.Process)
		}
		// See TestHasherCloseExpiredAbandonsAllQueued: the worker may still
		// take a queued job after the deadline.
		switch r.State {
		case HashAbandoned:
			if r.SHA256 != "" {
				t.Errorf("abandoned %s has hash %q", p, r.SHA256)
			}
		case HashDone:
			if r.SHA256 != sha256Hex([]byte(p)) {
				t.Errorf("%s: wrong hash %q", p, r.SHA256)
			}
		default:
			t.Errorf("queued job %s: state %q", p, r.State)
		}
	}
	if len(h.jobs) != 0 {
		t.Errorf("%d jobs left in the queue after Close", len(h.jobs))
	}
	if got := h.Results(); got != nil {
		t.Errorf("results after Close: %+v", got)
	}
	waitGoroutines(t, before)
}

func TestHasherCloseExpiredAbandonsAllQueued(t *testing.T) {
	for i := range 20 {
		h, _, queued := blockedHasher(t, 3)
		out, _ := h.Close(expiredContext(t))
		for _, r := range out {
			for _, p := range queued {
				if r.Path == p && r.State != HashAbandoned {
					t.Fatalf("attempt %d: queued job %s after the deadline: state %q, want abandoned", i, p, r.State)
				}
			}
		}
	}
}

func TestHasherCloseIdle(t *testing.T) {
	before := runtime.NumGoroutine()
	h := NewHasher(HashConfig{})
	out, err := h.Close(context.Background())
	if err != nil || len(out) != 0 {
		t.Errorf("Close of an idle hasher = %+v, %v; want nothing, nil", out, err)
	}
	waitGoroutines(t, before)
}

func TestHasherCloseDrains(t *testing.T) {
	before := runtime.NumGoroutine()
	h := NewHasher(HashConfig{})
	dir := t.TempDir()
	want := map[string]string{}
	for i := range 5 {
		p := filepath.Join(dir, "d"+string(rune('a'+i)))
		writeTestFile(t, p, []byte(p))
		want[p] = sha256Hex([]byte(p))
		if _, state, _ := h.Request(HashJob{Path: p}, 0, 0); state != HashPending {
			t.Fatalf("Request(%s) = %q", p, state)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	out, err := h.Close(ctx)
	if err != nil {
		t.Errorf("Close: %v", err)
	}
	// Results taken before Close would be missing; none were taken.
	if len(out) != len(want) {
		t.Fatalf("Close returned %d results, want %d: %+v", len(out), len(want), out)
	}
	for _, r := range out {
		if r.State != HashDone || r.SHA256 != want[r.Path] {
			t.Errorf("%s: %q %q, want done %s", r.Path, r.State, r.SHA256, want[r.Path])
		}
	}
	waitGoroutines(t, before)
}

func TestHasherCacheEviction(t *testing.T) {
	h := newTestHasher(t, HashConfig{CacheSize: 2})
	dir := t.TempDir()
	var paths []string
	var sums []string
	var ids [][2]uint64
	for i := range 3 {
		p := filepath.Join(dir, "c"+string(rune('a'+i)))
		dev, ino := writeTestFile(t, p, []byte(p))
		paths = append(paths, p)
		ids = append(ids, [2]uint64{dev, ino})
		sums = append(sums, hashOnce(t, h, p).SHA256)
	}
	if len(h.cache) != 2 || len(h.order) != 2 {
		t.Errorf("cache holds %d (order %d), want 2", len(h.cache), len(h.order))
	}
	// The newest two are served from the cache.
	for i := 1; i < 3; i++ {
		if sum, state, _ := h.Request(HashJob{Path: paths[i]}, 0, 0); state != HashDone || sum != sums[i] {
			t.Errorf("file %d: %q %q, want cached", i, state, sum)
		}
	}
	// The first was forgotten, and so was its inode's last hash.
	if got := h.Previous(ids[0][0], ids[0][1]); got != "" {
		t.Errorf("Previous of the evicted file = %q", got)
	}
	if sum, state, prev := h.Request(HashJob{Path: paths[0]}, 0, 0); state != HashPending || sum != "" || prev != "" {
		t.Errorf("evicted file: %q %q %q, want pending", sum, state, prev)
	}
	if res := waitResults(t, h, 1)[0]; res.SHA256 != sums[0] {
		t.Errorf("rehash %q, want %q", res.SHA256, sums[0])
	}
	if len(h.cache) != 2 || len(h.last) > 2 {
		t.Errorf("cache %d entries, last %d, want at most 2", len(h.cache), len(h.last))
	}
}

func TestHasherPreviousSurvivesEvictionOfSameContent(t *testing.T) {
	h := newTestHasher(t, HashConfig{CacheSize: 2})
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	dev, ino := writeTestFile(t, path, []byte("same"))
	sum := hashOnce(t, h, path).SHA256
	// Same content, new mtime: a new fileID with the same hash.
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	hashOnce(t, h, path)
	// A third file evicts the first fileID; the second is still cached.
	other := filepath.Join(dir, "other")
	writeTestFile(t, other, []byte("other"))
	hashOnce(t, h, other)
	if got, state, _ := h.Request(HashJob{Path: path}, dev, ino); state != HashDone || got != sum {
		t.Fatalf("current content not cached: %q %q", state, got)
	}
	if err := os.WriteFile(path, []byte("changed content"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, state, prev := h.Request(HashJob{Path: path}, dev, ino); state != HashPending || prev != sum {
		t.Errorf("Request after change: %q previous %q, want pending previous %s", state, prev, sum)
	}
}

func TestTableExecHash(t *testing.T) {
	h := newTestHasher(t, HashConfig{})
	tab, _ := newTestTable(t, func(c *Config) { c.Hasher = h })
	exe := filepath.Join(t.TempDir(), "tool")
	data := []byte("\x7fELF pretend binary")
	dev, ino := writeTestFile(t, exe, data)
	want := sha256Hex(data)

	tk := task(4242, 1, sec(5), "tool")
	ev := execEv(tk, sec(6), exe, "/", "tool", "-v")
	ev.ExeDevice, ev.ExeInode = dev, ino
	rec := tab.Handle(ev)
	if rec.Hash == nil || rec.Hash.State != HashPending || rec.Hash.SHA256 != "" {
		t.Fatalf("exec record hash %+v, want pending", rec.Hash)
	}
	p := tab.ByPID(4242)
	if p.ExeHash != "" {
		t.Errorf("ExeHash %q before the hash is done", p.ExeHash)
	}

	res := waitResults(t, h, 1)[0]
	if !res.Exec || res.Path != exe || res.Process.EntityID != p.EntityID || !res.Time.Equal(rec.Time) {
		t.Errorf("result job %+v", res.HashJob)
	}
	hr := tab.HashRecord(&res)
	if hr.Event == nil || hr.Event.Kind != sensor.KindHash {
		t.Fatalf("hash record event %+v, want KindHash", hr.Event)
	}
	if hr.Hash == nil || hr.Hash.SHA256 != want || hr.Hash.State != HashDone {
		t.Errorf("hash record hash %+v, want done %s", hr.Hash, want)
	}
	if hr.File != nil || hr.Net != nil || hr.Previous != nil {
		t.Errorf("exec hash record has file %+v net %+v previous %+v", hr.File, hr.Net, hr.Previous)
	}
	if hr.Process == nil || hr.Process.EntityID != p.EntityID || hr.Process.ExeHash != want || !hr.Time.Equal(res.Time) {
		t.Errorf("hash record process %+v time %v", hr.Process, hr.Time)
	}
	if p.ExeHash != want {
		t.Errorf("live process ExeHash %q, want %s", p.ExeHash, want)
	}

	// A later child inherits the hash.
	frec := tab.Handle(forkEv(tk, 4300, sec(7)))
	if frec.Process.ExeHash != want {
		t.Errorf("forked child ExeHash %q, want %s", frec.Process.ExeHash, want)
	}
	if frec.Hash != nil {
		t.Errorf("fork record has hash %+v", frec.Hash)
	}

	// Another exec of the unchanged binary is answered from the cache.
	tk2 := task(5000, 1, sec(8), "tool")
	ev2 := execEv(tk2, sec(9), exe, "/", "tool")
	ev2.ExeDevice, ev2.ExeInode = dev, ino
	rec = tab.Handle(ev2)
	if rec.Hash == nil || rec.Hash.State != HashDone || rec.Hash.SHA256 != want || rec.Process.ExeHash != want {
		t.Errorf("cached exec: hash %+v ExeHash %q", rec.Hash, rec.Process.ExeHash)
	}

	// The child execs something whose inode does not match: unavailable,
	// and the inherited hash is dropped.
	child := childTask(tk, 4300, sec(7))
	ev3 := execEv(child, sec(10), exe, "/", "tool")
	ev3.ExeDevice, ev3.ExeInode = dev, ino+1
	rec = tab.Handle(ev3)
	if rec.Hash == nil || rec.Hash.State != HashUnavailable || rec.Process.ExeHash != "" {
		t.Errorf("mismatched exec: hash %+v ExeHash %q", rec.Hash, rec.Process.ExeHash)
	}
	if got := h.Results(); got != nil {
		t.Errorf("unexpected results %+v", got)
	}
	checkInvariants(t, tab)
}

func TestTableExecHashAfterReexec(t *testing.T) {
	h := newTestHasher(t, HashConfig{})
	tab, _ := newTestTable(t, func(c *Config) { c.Hasher = h })
	dir := t.TempDir()
	exe := filepath.Join(dir, "first")
	dev, ino := writeTestFile(t, exe, []byte("first binary"))
	tk := task(4242, 1, sec(5), "first")
	ev := execEv(tk, sec(6), exe, "/", "first")
	ev.ExeDevice, ev.ExeInode = dev, ino
	tab.Handle(ev)
	res := waitResults(t, h, 1)[0]
	// The process ran something else before the result was recorded: the
	// hash belongs to the enrichment record, not to the new program.
	tab.Handle(execEv(tk, sec(7), "/nonexistent/other", "/", "other"))
	hr := tab.HashRecord(&res)
	if hr.Hash.SHA256 != sha256Hex([]byte("first binary")) || hr.Process.Executable != exe {
		t.Errorf("hash record %+v process %q", hr.Hash, hr.Process.Executable)
	}
	if p := tab.ByPID(4242); p.ExeHash != "" {
		t.Errorf("re-exec'd process got the old binary's hash %q", p.ExeHash)
	}
}

func TestTableWriteHash(t *testing.T) {
	h := newTestHasher(t, HashConfig{})
	tab, _ := newTestTable(t, func(c *Config) { c.Hasher = h })
	tk := task(4242, 1, sec(5), "python3")
	tab.Handle(execEv(tk, sec(6), "/nonexistent/python3", "/", "python3")) // unavailable, no result
	path := filepath.Join(t.TempDir(), "out.log")
	data := []byte("log line\n")
	dev, ino := writeTestFile(t, path, data)
	const cookie = 0xffff888012340000

	write := func(at float64) *Record {
		t.Helper()
		if rec := tab.Handle(fileEv(tk, sec(at), sensor.File{Op: sensor.FileWriteStart,
			Flags: sensor.FilePathExact | sensor.FileRegular, Cookie: cookie, FD: 4, Inode: ino, Device: dev, Path: path})); rec != nil {
			t.Fatalf("write_start gave a record %+v", rec)
		}
		rec := tab.Handle(fileEv(tk, sec(at+1), sensor.File{Op: sensor.FileWriteEnd, Flags: sensor.FileRegular,
			Cookie: cookie, FD: 4, Inode: ino, Device: dev, Size: 9, Ops: 1, First: sec(at)}))
		if rec == nil || rec.File == nil || rec.File.Path != path {
			t.Fatalf("write_end record %+v", rec)
		}
		return rec
	}
	rec := write(10)
	if rec.Hash == nil || rec.Hash.State != HashPending || rec.Hash.SHA256 != "" || rec.Hash.Previous != "" {
		t.Fatalf("write_end hash %+v, want pending", rec.Hash)
	}
	res := waitResults(t, h, 1)[0]
	if res.Exec || res.Path != path || res.Process.PID != 4242 || !res.Time.Equal(time.Unix(0, bootWall+int64(sec(11)))) {
		t.Errorf("write result job %+v", res.HashJob)
	}
	hr := tab.HashRecord(&res)
	want := sha256Hex(data)
	if hr.Event.Kind != sensor.KindHash || hr.Hash == nil || hr.Hash.SHA256 != want || hr.Hash.State != HashDone {
		t.Errorf("write hash record: event %v hash %+v, want %s", hr.Event.Kind, hr.Hash, want)
	}
	if hr.File == nil || hr.File.Path != path || hr.File.PathSource != "kernel" {
		t.Errorf("write hash record file %+v, want %s", hr.File, path)
	}
	if hr.Process == nil || hr.Process.PID != 4242 {
		t.Errorf("write hash record process %+v", hr.Process)
	}
	if p := tab.ByPID(4242); p.ExeHash != "" {
		t.Errorf("a written file's hash became ExeHash %q", p.ExeHash)
	}

	// Written again: pending, with the hash of the content before.
	data2 := []byte("log line\nanother line\n")
	if err := os.WriteFile(path, data2, 0o644); err != nil {
		t.Fatal(err)
	}
	rec = write(20)
	if rec.Hash == nil || rec.Hash.State != HashPending || rec.Hash.Previous != want {
		t.Errorf("second write_end hash %+v, want pending previous %s", rec.Hash, want)
	}
	res = waitResults(t, h, 1)[0]
	if hr = tab.HashRecord(&res); hr.Hash.SHA256 != sha256Hex(data2) || hr.File.Path != path {
		t.Errorf("second hash record %+v file %+v", hr.Hash, hr.File)
	}

	// An unchanged file closed again is answered from the cache.
	rec = write(30)
	if rec.Hash == nil || rec.Hash.State != HashDone || rec.Hash.SHA256 != sha256Hex(data2) || rec.Hash.Previous != "" {
		t.Errorf("unchanged write_end hash %+v, want done", rec.Hash)
	}

	// A write_end without its start names no file and asks for no hash.
	rec = tab.Handle(fileEv(tk, sec(40), sensor.File{Op: sensor.FileWriteEnd, Cookie: 0xdead, Inode: ino, Device: dev}))
	if rec.File.PathSource != "unknown" || rec.Hash != nil {
		t.Errorf("unnamed write_end: file %+v hash %+v", rec.File, rec.Hash)
	}
	checkInvariants(t, tab)
}

func TestTableWithoutHasher(t *testing.T) {
	tab, _ := newTestTable(t, nil)
	exe := filepath.Join(t.TempDir(), "tool")
	dev, ino := writeTestFile(t, exe, []byte("x"))
	ev := execEv(task(1, 0, sec(1), "tool"), sec(2), exe, "/")
	ev.ExeDevice, ev.ExeInode = dev, ino
	if rec := tab.Handle(ev); rec.Hash != nil || rec.Process.ExeHash != "" {
		t.Errorf("exec without a hasher: hash %+v ExeHash %q", rec.Hash, rec.Process.ExeHash)
	}
}

// A file requested again and again before its first hash is done (a
// binary exec'd in a burst) is read once: every request still gets its
// result, the later ones from the first's.
func TestHasherQueuedDuplicatesReadOnce(t *testing.T) {
	// A slow rate limit keeps the first job busy while the rest queue.
	h := newTestHasher(t, HashConfig{BytesPerSec: 64 << 10})
	path := filepath.Join(t.TempDir(), "git")
	data := bytes.Repeat([]byte("x"), 16<<10) // a quarter of a second at that rate
	dev, ino := writeTestFile(t, path, data)
	const n = 20
	for i := range n {
		if _, state, _ := h.Request(HashJob{Path: path, Time: time.Unix(int64(i), 0)}, dev, ino); state != HashPending {
			t.Fatalf("request %d: state %q, want pending (nothing cached yet)", i, state)
		}
	}
	res := waitResults(t, h, n)
	want := sha256Hex(data)
	for i, r := range res {
		if r.State != HashDone || r.SHA256 != want {
			t.Errorf("result %d: %q %q, want done %s", i, r.State, r.SHA256, want)
		}
	}
	if got := h.reads.Load(); got != 1 {
		t.Errorf("the file was read %d times for %d queued requests, want once", got, n)
	}
}
