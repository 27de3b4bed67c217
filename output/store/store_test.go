package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func line(i int) []byte {
	return []byte(fmt.Sprintf(`{"n":%d,"pad":"%s"}`+"\n", i, strings.Repeat("x", 40)))
}

func TestRotationBySizeAndAge(t *testing.T) {
	dir := t.TempDir()
	c := &clock{time.Date(2026, 11, 27, 23, 59, 0, 0, time.UTC)}
	s, err := Open(Config{Dir: dir, MaxBytes: 200, MaxAge: time.Minute, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	for i := range 10 { // ~60 bytes each: a new segment every 4 records
		c.t = c.t.Add(time.Second)
		if _, err := s.Write(line(i)); err != nil {
			t.Fatal(err)
		}
		want.Write(line(i))
	}
	c.t = c.t.Add(2 * time.Minute) // past midnight and past MaxAge
	if _, err := s.Write(line(10)); err != nil {
		t.Fatal(err)
	}
	want.Write(line(10))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	segs, err := s.Segments()
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) != 4 {
		t.Fatalf("segments %v", segs)
	}
	var got bytes.Buffer
	for _, seg := range segs {
		if strings.HasSuffix(seg, activeSuffix) {
			t.Errorf("%s still active after Close", seg)
		}
		st, err := os.Stat(seg)
		if err != nil || st.Mode().Perm() != 0o400 {
			t.Errorf("%s: sealed segment mode %v, %v", seg, st.Mode(), err)
		}
		b, _ := os.ReadFile(seg)
		got.Write(b)
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Errorf("segments in order do not give back the records written")
	}
	if !strings.Contains(segs[0], "2026-11-28") && !strings.Contains(segs[3], "2026-11-28") {
		t.Errorf("no day directory for the new day: %v", segs)
	}
}

// A segment a crashed run left active is sealed at the next Open.
func TestOpenSealsLeftoverActive(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(line(1)); err != nil {
		t.Fatal(err)
	}
	// Crash: no Close.
	s2, err := Open(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	segs, _ := s2.Segments()
	if len(segs) != 1 || strings.HasSuffix(segs[0], activeSuffix) {
		t.Errorf("leftover segment not sealed: %v", segs)
	}
}

// Retention deletes old sealed segments, except under a legal hold.
func TestRetentionAndHolds(t *testing.T) {
	dir := t.TempDir()
	c := &clock{time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	s, err := Open(Config{Dir: dir, MaxBytes: 1, Retention: 7 * 24 * time.Hour, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	for d := range 5 { // one segment per day, Nov 1 to Nov 5
		c.t = time.Date(2026, 11, 1+d, 12, 0, 0, 0, time.UTC)
		if _, err := s.Write(line(d)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	segs, _ := s.Segments()
	for i, seg := range segs { // age them by their day
		_ = os.Chtimes(seg, time.Date(2026, 11, 1+i, 12, 0, 0, 0, time.UTC), time.Date(2026, 11, 1+i, 12, 0, 0, 0, time.UTC))
	}
	if err := AddHold(dir, Hold{Name: "case-42", From: "2026-11-02", To: "2026-11-02", Reason: "incident"}); err != nil {
		t.Fatal(err)
	}
	if err := AddHold(dir, Hold{Name: "case-42"}); err == nil {
		t.Error("a second hold with the same name was accepted")
	}
	c.t = time.Date(2026, 11, 11, 0, 0, 0, 0, time.UTC) // Nov 1-3 are past 7 days
	res, err := s.Enforce()
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Deleted) != 2 || len(res.Held) != 1 || !strings.Contains(res.Held[0], "2026-11-02") {
		t.Errorf("deleted %v held %v", res.Deleted, res.Held)
	}
	if err := RemoveHold(dir, "case-42"); err != nil {
		t.Fatal(err)
	}
	if res, _ := s.Enforce(); len(res.Deleted) != 1 {
		t.Errorf("after the hold is lifted: %v", res)
	}
	if hs, _ := Holds(dir); len(hs) != 0 {
		t.Errorf("holds left: %v", hs)
	}
	if err := AddHold(dir, Hold{Name: "../x"}); err == nil {
		t.Error("a hold name with a path was accepted")
	}
}

// Disk full, for real: a tiny tmpfs. A failed write leaves no partial
// record, is counted, and writing resumes once space returns.
func TestDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=16k"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	defer syscall.Unmount(dir, 0)
	s, err := Open(Config{Dir: filepath.Join(dir, "data"), MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat(line(0), 100) // ~6 KB per write
	var failed error
	for range 10 {
		if _, err := s.Write(big); err != nil {
			failed = err
			break
		}
	}
	if failed == nil || !IsDiskFull(failed) {
		t.Fatalf("want a disk-full error, got %v", failed)
	}
	writes, bytesLost := s.Dropped()
	if writes != 1 || bytesLost != uint64(len(big)) {
		t.Errorf("dropped %d writes, %d bytes", writes, bytesLost)
	}
	segs, _ := s.Segments()
	b, _ := os.ReadFile(segs[0])
	if len(b)%len(line(0)) != 0 || !bytes.HasSuffix(b, []byte("\n")) {
		t.Errorf("segment holds a partial record: %d bytes", len(b))
	}
	// Space returns: free it and write again.
	_ = os.Remove(filepath.Join(dir, "filler"))
	if err := s.Rotate(); err != nil && !errors.Is(err, syscall.ENOSPC) {
		t.Fatal(err)
	}
	for _, seg := range segs {
		_ = os.Chmod(seg, 0o600)
		_ = os.Remove(seg)
	}
	if _, err := s.Write(line(7)); err != nil {
		t.Errorf("write after space returned: %v", err)
	}
	_ = s.Close()
}

// What reaches Write is fsynced within SyncEvery by the store itself,
// also when nothing is written after it (Write never waits for the disk).
func TestBackgroundSync(t *testing.T) {
	s, err := Open(Config{Dir: t.TempDir(), SyncEvery: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Write(line(1)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.Syncs() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("a written segment was not synced without a further write")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if w, d := s.Durable(); w != uint64(len(line(1))) || d != w {
		t.Errorf("after the first fsync: %d bytes written, %d durable; want %d and %d", w, d, len(line(1)), len(line(1)))
	}
	// Nothing written since: no more fsyncs.
	n := s.Syncs()
	time.Sleep(50 * time.Millisecond)
	if m := s.Syncs(); m != n {
		t.Errorf("%d fsyncs of a segment nothing was written to", m-n)
	}
	if _, err := s.Write(line(2)); err != nil {
		t.Fatal(err)
	}
	for s.Syncs() == n {
		if time.Now().After(deadline) {
			t.Fatal("the second write was not synced")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if w, d := s.Durable(); d != w || w != uint64(len(line(1))+len(line(2))) {
		t.Errorf("after the second fsync: %d bytes written, %d durable", w, d)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// What the background fsync put on disk leaves the page cache: records
// are written once, and a burst of them must not push the host's own
// files out of memory.
func TestSyncedRecordsLeavePageCache(t *testing.T) {
	s, err := Open(Config{Dir: t.TempDir(), SyncEvery: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	chunk := bytes.Repeat(line(0), 4096)
	for range 4 {
		if _, err := s.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.Syncs() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("not synced")
		}
		time.Sleep(5 * time.Millisecond)
	}
	resident, pages := residentPages(t, s, int64(4*len(chunk)))
	// The last, partly written page may stay.
	if resident > 1 {
		t.Errorf("%d of %d pages of a synced segment still in the page cache", resident, pages)
	}
}

// residentPages counts the pages of the store's one segment's first size
// bytes that are in the page cache.
func residentPages(t *testing.T, s *Store, size int64) (resident, pages int) {
	t.Helper()
	segs, err := s.Segments()
	if err != nil || len(segs) != 1 {
		t.Fatalf("segments %v, %v", segs, err)
	}
	f, err := os.Open(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	vec := make([]byte, (size+4095)/4096)
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Fatal(errno)
	}
	for _, v := range vec {
		resident += int(v & 1)
	}
	return resident, len(vec)
}

// A burst of records far larger than a write-behind window, with no fsync
// due: at most about two windows of it stay in the page cache; without
// write-behind all of it would.
func TestWriteBehindBoundsThePageCache(t *testing.T) {
	const window = 1 << 20
	s, err := Open(Config{Dir: t.TempDir(), SyncEvery: time.Hour, WriteBehind: window})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	chunk := bytes.Repeat(line(0), window/len(line(0))+1) // just over a window
	var size int64
	for range 32 {
		n, err := s.Write(chunk)
		if err != nil {
			t.Fatal(err)
		}
		size += int64(n)
		// Each window's writeback starts before the next is written, as
		// it would when records come slower than the disk takes them.
		deadline := time.Now().Add(10 * time.Second)
		for {
			s.mu.Lock()
			behind, err := s.behind, s.syncErr
			s.mu.Unlock()
			if err != nil {
				t.Fatal(err)
			}
			if behind == size {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("writeback of %d bytes not started (at %d)", size, behind)
			}
			time.Sleep(time.Millisecond)
		}
	}
	if s.Syncs() != 0 {
		t.Fatal("fsynced: the test measures nothing")
	}
	resident, pages := residentPages(t, s, size)
	if limit := 2*window/4096 + 1; resident > limit {
		t.Errorf("%d of %d pages in the page cache, want at most %d", resident, pages, limit)
	}
}
