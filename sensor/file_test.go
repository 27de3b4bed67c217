//go:build linux

package sensor

import (
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/vigilsec/vigil/internal/testenv"
	"golang.org/x/sys/unix"
)

// fmodeCreated is FMODE_CREATED: the open created the file.
const fmodeCreated = 0x100000

// fileEvents keeps the file events of pid.
func fileEvents(evs []Event, pid uint32) []Event {
	var out []Event
	for _, ev := range evs {
		if ev.Kind == KindFile && ev.Task.PID == pid {
			out = append(out, ev)
		}
	}
	return out
}

// find returns the first event after index from that satisfies match.
func find(t testing.TB, evs []Event, from *int, what string, match func(*File) bool) *Event {
	t.Helper()
	for i := *from; i < len(evs); i++ {
		if match(&evs[i].File) {
			*from = i + 1
			return &evs[i]
		}
	}
	t.Fatalf("no %s after event %d:\n%s", what, *from, dump(evs))
	return nil
}

// Every file syscall the sensor reads, from a program that makes them
// directly: exact paths through dirfds, symlinked directories and "..",
// creation, failed opens, renames, truncation, write totals at close,
// dup2 and exit, deletions.
func TestFileEvents(t *testing.T) {
	bin := testenv.Program(t, "github.com/vigilsec/vigil/sensor/testprogs/fileops")
	dir := realPath(t, t.TempDir())
	real := filepath.Join(dir, "real")
	link := filepath.Join(dir, "link")

	r := startSensor(t, Config{})
	lsm, _ := r.LSM()
	t.Logf("records from %s", r.Path())
	cmd, tree := gated(t, r.Sensor, 1, bin, dir)
	all := waitTree(t, r, cmd, tree)
	if !cmd.ProcessState.Success() {
		t.Fatalf("fileops failed: %v", cmd.ProcessState)
	}
	pid := tree.RootPID
	evs := fileEvents(all, pid)
	i := 0
	exact := func(path string) func(*File) bool {
		return func(f *File) bool { return f.Op == FileOpen && f.Flags&FilePathExact != 0 && f.Path == path }
	}

	// 1-2: created through dirfd + symlink + "..", three writes, close.
	e := find(t, evs, &i, "open of f1.txt", exact(filepath.Join(real, "f1.txt")))
	f := e.File
	if f.FMode&fmodeCreated == 0 || f.OpenFlags != unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC || f.Mode != 0o640 || f.Ret < 0 || f.Flags&FileRegular == 0 {
		t.Errorf("create f1.txt: %s fmode %#x mode %#o", describe(e), f.FMode, f.Mode)
	}
	if st, err := os.Stat(filepath.Join(real, "o2.txt")); err != nil || f.Inode == 0 || f.Device != st.Sys().(*syscall.Stat_t).Dev {
		t.Errorf("inode %d device %d", f.Inode, f.Device)
	}
	fd, cookie := f.FD, f.Cookie
	e = find(t, evs, &i, "write start of f1.txt", func(f *File) bool { return f.Op == FileWriteStart })
	if e.File.Path != filepath.Join(real, "f1.txt") || e.File.Cookie != cookie || e.File.FD != fd {
		t.Errorf("write start: %s", describe(e))
	}
	e = find(t, evs, &i, "write end of f1.txt", func(f *File) bool { return f.Op == FileWriteEnd })
	if e.File.Size != 15 || e.File.Ops != 3 || e.File.Cookie != cookie || e.File.Flags&(FileAtExit|FileStale) != 0 || e.File.First == 0 || e.File.First > e.KTime {
		t.Errorf("write end: %s", describe(e))
	}

	// 3: a read by the symlinked path.
	e = find(t, evs, &i, "read of f1.txt", exact(filepath.Join(real, "f1.txt")))
	if e.File.OpenFlags != unix.O_RDONLY || e.File.FMode&fmodeCreated != 0 {
		t.Errorf("read: %s", describe(e))
	}

	// 4: a failed open keeps the string and its directory.
	e = find(t, evs, &i, "failed open", func(f *File) bool { return f.Op == FileOpen && f.Ret < 0 })
	if e.File.Ret != -int64(unix.ENOENT) || e.File.Dir != real || e.File.Path != "missing/x" || e.File.Flags&FilePathExact != 0 {
		t.Errorf("failed open: %s", describe(e))
	}

	// 5: rename. The tracepoint path has the strings passed (the new
	// name absolute, through the symlink); the LSM path the parents the
	// kernel resolved and the names.
	e = find(t, evs, &i, "rename", func(f *File) bool { return f.Op == FileRename })
	dir2, path2 := "", filepath.Join(link, "f2.txt")
	if lsm {
		dir2, path2 = real, "f2.txt"
	}
	if e.File.Ret != 0 || e.File.Dir != real || e.File.Path != "f1.txt" || e.File.Dir2 != dir2 || e.File.Path2 != path2 ||
		(e.File.Flags&FilePathKernel != 0) != lsm {
		t.Errorf("rename (%s): %s", r.Path(), describe(e))
	}

	// 6: ftruncate through a descriptor is a write total; truncate by path is immediate.
	e = find(t, evs, &i, "ftruncate total", func(f *File) bool { return f.Op == FileWriteEnd })
	if e.File.Flags&FileTruncated == 0 || e.File.Ret != 3 || e.File.Size != 0 {
		t.Errorf("ftruncate: %s", describe(e))
	}
	e = find(t, evs, &i, "truncate", func(f *File) bool { return f.Op == FileTruncate })
	if e.File.Size != 1 || e.File.Ret != 0 || e.File.Path != filepath.Join(link, "f2.txt") {
		t.Errorf("truncate: %s", describe(e))
	}

	// 7: creat and openat2.
	e = find(t, evs, &i, "creat", exact(filepath.Join(real, "c.txt")))
	if e.File.OpenFlags != unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC || e.File.FMode&fmodeCreated == 0 {
		t.Errorf("creat: %s", describe(e))
	}
	e = find(t, evs, &i, "openat2", exact(filepath.Join(real, "o2.txt")))
	if e.File.OpenFlags != unix.O_CREAT|unix.O_RDWR || e.File.Mode != 0o600 {
		t.Errorf("openat2: %s", describe(e))
	}
	o2 := e.File.Cookie

	// 8-9: copy_file_range + sendfile into o2.txt, reported when dup2
	// replaces it. The first totals with o2.txt's cookie: the cookie is
	// the struct file's address, which a later open may get again once
	// o2.txt is closed.
	rest := evs[i:]
	var o2End, srcEnd *Event
	for k := range rest {
		if rest[k].File.Op == FileWriteEnd && rest[k].File.Cookie == o2 && o2End == nil {
			o2End = &rest[k]
		} else if rest[k].File.Op == FileWriteEnd && o2End != nil && srcEnd == nil {
			srcEnd = &rest[k]
		}
	}
	if o2End == nil || o2End.File.Size != 8 || o2End.File.Ops != 2 || o2End.File.Flags&(FileAtExit|FileStale) != 0 {
		t.Errorf("copy_file_range + sendfile totals: %v", o2End)
	}
	if srcEnd == nil || srcEnd.File.Size != 4 || srcEnd.File.Ops != 1 {
		t.Errorf("pwrite totals of the source: %v", srcEnd)
	}

	// 10: deletions.
	e = find(t, evs, &i, "unlink", func(f *File) bool { return f.Op == FileUnlink })
	if e.File.Dir != real || e.File.Path != "f2.txt" || e.File.Ret != 0 || (e.File.Flags&FilePathKernel != 0) != lsm {
		t.Errorf("unlink (%s): %s", r.Path(), describe(e))
	}
	e = find(t, evs, &i, "rmdir", func(f *File) bool { return f.Op == FileRmdir })
	if e.File.Dir != real || e.File.Path != "sub" || e.File.OpenFlags != unix.AT_REMOVEDIR || (e.File.Flags&FilePathKernel != 0) != lsm {
		t.Errorf("rmdir (%s): %s", r.Path(), describe(e))
	}

	// 11: a read of /etc/passwd is recorded.
	find(t, evs, &i, "read of /etc/passwd", exact("/etc/passwd"))

	// 12: written, never closed: totals at exit, before the exit record.
	e = find(t, evs, &i, "totals at exit", func(f *File) bool { return f.Op == FileWriteEnd && f.Flags&FileAtExit != 0 })
	if e.File.Size != 7 || e.File.Ops != 1 {
		t.Errorf("at exit: %s", describe(e))
	}
	exitAt := slices.IndexFunc(all, func(ev Event) bool { return ev.Kind == KindExit && ev.Task.PID == pid })
	endAt := slices.IndexFunc(all, func(ev Event) bool {
		return ev.Kind == KindFile && ev.File.Op == FileWriteEnd && ev.File.Flags&FileAtExit != 0
	})
	if endAt < 0 || exitAt < endAt {
		t.Errorf("totals at exit (%d) must precede the exit record (%d)", endAt, exitAt)
	}

	// The kernel keeps no totals of an exited process.
	var k vigilWriteKey
	var v vigilWriteAgg
	it := r.objs.Writes.Iterate()
	for it.Next(&k, &v) {
		if k.Tgid == pid {
			t.Errorf("totals of exited process left in the kernel: fd %d", k.Fd)
		}
	}
}
