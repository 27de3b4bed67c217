package correlate

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/sensor"
)

// Open flags the file tests use.
const (
	tORdonly  = 0o0
	tOWronly  = 0o1
	tORdwr    = 0o2
	tOCreat   = 0o100
	tOTrunc   = 0o1000
	tOAppend  = 0o2000
	tOCloexec = 0o2000000
)

func fileEv(tk sensor.Task, at uint64, f sensor.File) *sensor.Event {
	return &sensor.Event{Kind: sensor.KindFile, KTime: at, Task: tk, File: f}
}

// exactOpen is a successful open whose path the kernel reported.
func exactOpen(path string, flags uint32) sensor.File {
	return sensor.File{Op: sensor.FileOpen, Flags: sensor.FilePathExact | sensor.FileRegular, Ret: 3, FD: 3,
		OpenFlags: flags, Path: path, Inode: 77, Cookie: 0xffff888000001000}
}

// fsTree makes, in a fresh directory with its own symlinks resolved:
//
//	a/b/       a directory two levels down
//	a/x        a file
//	d/         a directory
//	link    -> a/b (relative)
//	abslink -> <root>/a (absolute)
//	a/b/up  -> .. (a link to its own parent)
func fsTree(t *testing.T) string {
	t.Helper()
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"a/b", "d"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "a/x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{
		"link":    "a/b",
		"abslink": filepath.Join(root, "a"),
		"a/b/up":  "..",
	} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestResolvePath(t *testing.T) {
	root := fsTree(t)
	r := func(p string) string { return root + p }
	for _, tc := range []struct {
		name, dir, path, want string
	}{
		{"relative joined to dir", r(""), "x.txt", r("/x.txt")},
		{"relative with subdirectories", r(""), "a/b/f", r("/a/b/f")},
		{"relative, dir with a trailing slash", r("/a/"), "f", r("/a/f")},
		{"redundant slashes and dots", r(""), "a//b/./f", r("/a/b/f")},
		{"trailing slash names the directory", r(""), "a/", r("/a")},
		{"absolute ignores dir", r("/d"), r("/a/x"), r("/a/x")},
		{"absolute ignores an empty dir", "", r("/a/b/f"), r("/a/b/f")},
		{"absolute, symlinked parent", "/nonexistent", r("/link/f"), r("/a/b/f")},
		{"symlinked parent resolved", r(""), "link/f", r("/a/b/f")},
		{"absolute symlink in the parent", r(""), "abslink/b/f", r("/a/b/f")},
		{"dir itself a symlink", r("/link"), "f", r("/a/b/f")},
		{"final component not resolved", r(""), "link", r("/link")},
		{"final component not resolved below a link", r("/abslink"), "b", r("/a/b")},
		{"dotdot through a symlink is physical", r(""), "link/../x", r("/a/x")},
		{"dotdot from a symlinked dir", r("/link"), "../x", r("/a/x")},
		{"dotdot through a link to a parent", r("/a/b"), "up/../f", r("/f")},
		{"dotdot above the root stays at the root", "/", "../../etc/f", "/etc/f"},
		{"missing parent cleaned lexically", r(""), "nope/f", r("/nope/f")},
		{"missing parent with dotdot cleaned lexically", r(""), "nope/../a/./f", r("/a/f")},
		{"missing parent below a symlink cleaned lexically", r(""), "link/nope/../f", r("/link/f")},
		{"base dot", r(""), "link/.", r("/a/b")},
		{"base dot alone", r("/link"), ".", r("/a/b")},
		{"base dotdot through a symlink", r(""), "link/..", r("/a")},
		{"base dotdot alone", r("/link"), "..", r("/a")},
		{"base dot, missing", r(""), "nope/.", r("/nope")},
		{"base dotdot, missing", r(""), "nope/..", r("")},
		{"empty path returns dir", r("/a"), "", r("/a")},
		{"empty path returns dir untouched", r("/link/"), "", r("/link/")},
		{"empty path, empty dir", "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, _ := resolvePath(tc.dir, tc.path, false); got != tc.want {
				t.Errorf("resolvePath(%q, %q) = %q, want %q", tc.dir, tc.path, got, tc.want)
			}
			// A directory as the kernel gives it (absolute, no symlinks,
			// no dots) changes nothing but the lookups made.
			if canonical, err := filepath.EvalSymlinks(tc.dir); err == nil && canonical == tc.dir && filepath.IsAbs(tc.dir) {
				if got, _ := resolvePath(tc.dir, tc.path, true); got != tc.want {
					t.Errorf("resolvePath(%q, %q) with the kernel's dir = %q, want %q", tc.dir, tc.path, got, tc.want)
				}
			}
		})
	}
}

// TestResolvePathKernelDir: a directory the kernel built from dentries is
// taken as it is (here a symlink, which the kernel never sends, shows it
// is not looked up); the relative path's own symlinks and ".." are still
// resolved, and /proc still only cleaned.
func TestResolvePathKernelDir(t *testing.T) {
	root := fsTree(t)
	r := func(p string) string { return root + p }
	for _, tc := range []struct{ dir, path, want string }{
		{r("/link"), "f", r("/link/f")},
		{r("/link"), "sub/f", r("/link/sub/f")}, // missing below: cleaned
		{r(""), "link/f", r("/a/b/f")},
		{r(""), "a/b/up/f", r("/a/f")},
		{r(""), "a/../d/f", r("/d/f")},
		{r(""), "a/x/f", r("/a/x/f")}, // a file as a directory: cleaned
		{r("/a/b"), ".", r("/a/b")},
		{"/", "etc/f", "/etc/f"},
		{"/proc/1", "cwd/f", "/proc/1/cwd/f"},
	} {
		if got, ok := resolvePath(tc.dir, tc.path, true); got != tc.want || !ok {
			t.Errorf("resolvePath(%q, %q, kernel dir) = %q, %v; want %q", tc.dir, tc.path, got, ok, tc.want)
		}
	}
}

// BenchmarkResolvePath resolves a name two directories below a working
// directory eight deep, as git names ".git/refs/x" relative to a
// repository, with the directory taken from the kernel and looked up.
func BenchmarkResolvePath(b *testing.B) {
	root, err := filepath.EvalSymlinks(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	dir := filepath.Join(root, "home/u/src/github.com/org/repo")
	if err := os.MkdirAll(filepath.Join(dir, ".git/refs"), 0o755); err != nil {
		b.Fatal(err)
	}
	for _, kernel := range []bool{false, true} {
		b.Run(map[bool]string{false: "lookup-dir", true: "kernel-dir"}[kernel], func(b *testing.B) {
			for range b.N {
				if p, _ := resolvePath(dir, ".git/refs/x", kernel); p != dir+"/.git/refs/x" {
					b.Fatal(p)
				}
			}
		})
	}
}

// TestResolvePathRelativeWithoutDir: the kernel sends no directory for a
// relative path when the dirfd named no open file (openat(99, "x")
// failing with EBADF), so the directory is unknown.
func TestResolvePathRelativeWithoutDir(t *testing.T) {
	if got, ok := resolvePath("", "x", false); got != "x" || ok {
		t.Errorf(`resolvePath("", "x") = %q, %v; want "x", false`, got, ok)
	}
}

// handleOpen feeds one open by tk and reports whether it gave a record,
// checking the record's path when it did.
func handleOpen(t *testing.T, tab *Table, tk sensor.Task, f sensor.File) bool {
	t.Helper()
	rec := tab.Handle(fileEv(tk, sec(20), f))
	if rec == nil {
		return false
	}
	if rec.File == nil || rec.Process == nil || rec.Process.PID != tk.PID {
		t.Fatalf("open of %q: record %+v", f.Path, rec)
	}
	if f.Flags&sensor.FilePathExact != 0 && rec.File.Path != f.Path {
		t.Errorf("open of %q: record path %q", f.Path, rec.File.Path)
	}
	return true
}

func TestFileFilter(t *testing.T) {
	filter := FileFilter{
		ReadPrefixes:    []string{"/etc/ld.so.cache", "/usr/share/locale/"},
		SharedLibraries: true,
		ProcSelf:        true,
	}
	tab, _ := newTestTable(t, func(c *Config) { c.FileFilter = filter })
	tk := task(4242, 1, sec(5), "python3")
	pid := strconv.Itoa(int(tk.PID))

	dropped := []string{
		"/usr/lib/x86_64-linux-gnu/libc.so.6",
		"/usr/lib/x86_64-linux-gnu/libz.so",
		"/opt/app/lib/libfoo.so.1.2.3",
		"/etc/ld.so.cache",
		"/usr/share/locale/de/LC_MESSAGES/libc.mo",
		"/proc/self/status",
		"/proc/thread-self/comm",
		"/proc/" + pid + "/maps",
		"/proc/" + pid + "/task/4243/stat",
	}
	kept := []string{
		"/proc/1/environ",
		"/proc/" + pid + "0/maps", // pid 42420: the own pid is a prefix of it
		"/proc/" + pid[:3] + "/maps",
		"/proc/cpuinfo",
		"/proc/selfish/status",
		"/etc/passwd",
		"/etc/shadow",
		"/home/u/.ssh/id_ed25519",
		"/usr/lib/python3/site.py",
		"/usr/share/doc/locale/README",  // not under the prefix /usr/share/locale/
		"/home/u/src/main.so.go/README", // ".so." in a directory, not the base name
	}
	want := uint64(0)
	for _, p := range dropped {
		for _, flags := range []uint32{tORdonly, tORdonly | tOCloexec, tORdonly | tOAppend} {
			if handleOpen(t, tab, tk, exactOpen(p, flags)) {
				t.Errorf("read-only open (%#o) of %s kept", flags, p)
			}
			want++
		}
	}
	if got := tab.Stats().FilteredOpens; got != want {
		t.Errorf("FilteredOpens = %d, want %d", got, want)
	}
	for _, p := range kept {
		if !handleOpen(t, tab, tk, exactOpen(p, tOCloexec)) {
			t.Errorf("read-only open of %s dropped", p)
		}
	}
	// Opens that can change or create a file are kept, noise or not.
	for _, p := range append([]string{"/usr/lib/x86_64-linux-gnu/libc.so.6", "/etc/ld.so.cache", "/proc/self/attr/current", "/proc/" + pid + "/oom_score_adj"}, dropped...) {
		for _, flags := range []uint32{tOWronly, tORdwr, tOCreat, tOTrunc, tOWronly | tOCreat | tOTrunc, tORdwr | tOCloexec} {
			if !handleOpen(t, tab, tk, exactOpen(p, flags)) {
				t.Errorf("open (%#o) of %s dropped", flags, p)
			}
		}
	}
	// Other actions on noise are kept.
	for _, op := range []sensor.FileOp{sensor.FileUnlink, sensor.FileTruncate, sensor.FileRmdir} {
		f := sensor.File{Op: op, Path: "/usr/lib/x86_64-linux-gnu/libc.so.6"}
		if tab.Handle(fileEv(tk, sec(21), f)) == nil {
			t.Errorf("%v of a shared library dropped", op)
		}
	}
	// Another process's /proc/PID is not its own.
	other := task(5151, 1, sec(6), "sh")
	if !handleOpen(t, tab, other, exactOpen("/proc/"+pid+"/environ", tORdonly)) {
		t.Errorf("open of /proc/%s/environ by pid %d dropped", pid, other.PID)
	}
	if handleOpen(t, tab, other, exactOpen("/proc/5151/environ", tORdonly)) {
		t.Error("open of its own /proc/5151/environ by pid 5151 kept")
	}
	want++
	// A failed read-only open is resolved, then filtered like any other.
	f := sensor.File{Op: sensor.FileOpen, Ret: -2, OpenFlags: tORdonly, FD: -100, Dir: "/", Path: "etc/ld.so.cache"}
	if handleOpen(t, tab, tk, f) {
		t.Error("failed read-only open of etc/ld.so.cache relative to / kept")
	}
	want++
	if got := tab.Stats().FilteredOpens; got != want {
		t.Errorf("FilteredOpens = %d, want %d", got, want)
	}
	checkInvariants(t, tab)
}

func TestFileFilterZeroDropsNothing(t *testing.T) {
	tab, _ := newTestTable(t, nil)
	tk := task(4242, 1, sec(5), "python3")
	for _, p := range []string{
		"/usr/lib/x86_64-linux-gnu/libc.so.6", "/etc/ld.so.cache", "/proc/self/status",
		"/proc/4242/maps", "/proc/1/environ", "/etc/passwd",
	} {
		if !handleOpen(t, tab, tk, exactOpen(p, tORdonly)) {
			t.Errorf("zero filter dropped %s", p)
		}
	}
	if got := tab.Stats().FilteredOpens; got != 0 {
		t.Errorf("FilteredOpens = %d, want 0", got)
	}
	var zero FileFilter
	if zero.drops(&Process{PID: 4242}, "/proc/4242/maps") {
		t.Error("zero FileFilter drops /proc/4242/maps")
	}
}

// TestFileFilterProcSelfUnresolved: a failed open carries the string the
// process passed, and "/proc/self" in it names the opening process. Vigil
// resolves the string's parent directory in its own /proc instead.
func TestFileFilterProcSelfUnresolved(t *testing.T) {
	tab, _ := newTestTable(t, func(c *Config) { c.FileFilter = FileFilter{ProcSelf: true} })
	tk := task(4242, 1, sec(5), "python3")
	f := sensor.File{Op: sensor.FileOpen, Ret: -2, OpenFlags: tORdonly, FD: -100, Path: "/proc/self/no-such-file"}
	if rec := tab.Handle(fileEv(tk, sec(20), f)); rec != nil {
		t.Errorf("failed read-only open of %s by pid 4242 kept, path %q (Vigil's pid is %d)", f.Path, rec.File.Path, os.Getpid())
	}
	own := "/proc/" + strconv.Itoa(os.Getpid()) + "/"
	for _, p := range []string{"/dev/fd/3", "/proc/thread-self/fd/3"} {
		if got, _ := resolvePath("/", p, true); strings.HasPrefix(got, own) {
			t.Errorf("resolvePath(%q) = %q: Vigil's own /proc", p, got)
		}
	}
}

func TestFileWriteTotals(t *testing.T) {
	tab, _ := newTestTable(t, nil)
	tk := task(4242, 1, sec(5), "python3")
	tab.Handle(execEv(tk, sec(6), "/usr/bin/python3", "/home/u", "python3"))
	p := tab.ByPID(4242)
	const cookie, other = 0xffff888012340000, 0xffff888012340400

	start := func(c uint64, path string) {
		t.Helper()
		ev := fileEv(tk, sec(10), sensor.File{Op: sensor.FileWriteStart, Flags: sensor.FilePathExact | sensor.FileRegular,
			Cookie: c, FD: 4, Inode: 99, Path: path})
		if rec := tab.Handle(ev); rec != nil {
			t.Fatalf("write_start gave a record: %+v", rec)
		}
	}
	end := func(c uint64, first uint64) *Record {
		t.Helper()
		ev := fileEv(tk, sec(12), sensor.File{Op: sensor.FileWriteEnd, Flags: sensor.FileRegular,
			Cookie: c, FD: 4, Inode: 99, Size: 4096, Ops: 3, First: first})
		rec := tab.Handle(ev)
		if rec == nil || rec.File == nil {
			t.Fatalf("write_end gave record %+v", rec)
		}
		if rec.Process != p || rec.Event != ev {
			t.Errorf("write_end record process %p event %p, want %p %p", rec.Process, rec.Event, p, ev)
		}
		if want := time.Unix(0, bootWall+int64(sec(12))); !rec.Time.Equal(want) {
			t.Errorf("write_end record time %v, want %v", rec.Time, want)
		}
		return rec
	}

	start(cookie, "/home/u/out.log")
	start(other, "/home/u/other.log")
	first := sec(10) + 123
	rec := end(cookie, first)
	if rec.File.Path != "/home/u/out.log" || rec.File.PathSource != "kernel" || rec.File.OldPath != "" {
		t.Errorf("write_end: path %q source %q old %q, want /home/u/out.log kernel", rec.File.Path, rec.File.PathSource, rec.File.OldPath)
	}
	if want := time.Unix(0, bootWall+int64(first)); !rec.File.Start.Equal(want) {
		t.Errorf("write_end Start = %v, want %v", rec.File.Start, want)
	}
	if _, ok := p.files[cookie]; ok || len(p.files) != 1 {
		t.Errorf("after write_end: open files %v, want only %#x", p.files, uint64(other))
	}

	// The entry is gone: a second end with the same cookie is unnamed.
	rec = end(cookie, first)
	if rec.File.Path != "" || rec.File.PathSource != "unknown" {
		t.Errorf("second write_end: path %q source %q, want unknown", rec.File.Path, rec.File.PathSource)
	}
	if want := time.Unix(0, bootWall+int64(first)); !rec.File.Start.Equal(want) {
		t.Errorf("second write_end Start = %v, want %v", rec.File.Start, want)
	}
	rec = end(0xdead, sec(11))
	if rec.File.Path != "" || rec.File.PathSource != "unknown" {
		t.Errorf("write_end of an unknown cookie: path %q source %q, want unknown", rec.File.Path, rec.File.PathSource)
	}

	// Totals are named per process: another process's end with the same
	// cookie (a descriptor shared across fork) is not named by this start.
	child := childTask(tk, 4300, sec(11))
	if rec := tab.Handle(fileEv(child, sec(12), sensor.File{Op: sensor.FileWriteEnd, Cookie: other})); rec == nil || rec.File.PathSource != "unknown" {
		t.Errorf("other process's write_end: %+v", rec)
	}
	rec = end(other, sec(10))
	if rec.File.Path != "/home/u/other.log" || rec.File.PathSource != "kernel" || len(p.files) != 0 {
		t.Errorf("write_end of the second file: path %q source %q, open files %v", rec.File.Path, rec.File.PathSource, p.files)
	}

	// A later start with a reused cookie names the new file.
	start(cookie, "/home/u/new.log")
	if rec = end(cookie, sec(11)); rec.File.Path != "/home/u/new.log" {
		t.Errorf("reused cookie: path %q", rec.File.Path)
	}
	if got := tab.Stats().FilteredOpens; got != 0 {
		t.Errorf("FilteredOpens = %d, want 0", got)
	}
	// The next non-file record carries no file.
	if rec := tab.Handle(exitEv(tk, sec(13), 0)); rec.File != nil {
		t.Errorf("exit record after file records has File %+v", rec.File)
	}
	checkInvariants(t, tab)
}

func TestFilePaths(t *testing.T) {
	root := fsTree(t)
	tab, _ := newTestTable(t, nil)
	tk := task(4242, 1, sec(5), "mv")
	parent := task(1, 0, sec(1), "init")
	tab.Handle(execEv(parent, sec(1), "/sbin/init", "/", "init"))
	tab.Handle(forkEv(parent, 4242, sec(5)))

	handle := func(f sensor.File) *FileRecord {
		t.Helper()
		ev := fileEv(tk, sec(20), f)
		rec := tab.Handle(ev)
		if rec == nil || rec.File == nil {
			t.Fatalf("%v: record %+v", f.Op, rec)
		}
		if rec.Event != ev || rec.Process != tab.ByPID(4242) || rec.Parent != tab.ByPID(1) || rec.Previous != nil {
			t.Errorf("%v: record event %p process %p parent %p previous %v", f.Op, rec.Event, rec.Process, rec.Parent, rec.Previous)
		}
		if !rec.File.Start.IsZero() {
			t.Errorf("%v: Start %v, want zero", f.Op, rec.File.Start)
		}
		return rec.File
	}
	check := func(what string, got *FileRecord, path, old, source string) {
		t.Helper()
		if got.Path != path || got.OldPath != old || got.PathSource != source {
			t.Errorf("%s: path %q old %q source %q, want %q %q %q", what, got.Path, got.OldPath, got.PathSource, path, old, source)
		}
	}

	check("rename, relative names", handle(sensor.File{Op: sensor.FileRename, FD: -100,
		Dir: root, Path: "a/x", Dir2: root + "/link", Path2: "../y"}),
		root+"/a/y", root+"/a/x", "resolved")
	check("rename, absolute names", handle(sensor.File{Op: sensor.FileRename,
		Path: root + "/d/old", Path2: root + "/link/new"}),
		root+"/a/b/new", root+"/d/old", "resolved")
	check("rename, old absolute and new relative", handle(sensor.File{Op: sensor.FileRename,
		Dir: "/ignored", Path: root + "/a/x", Dir2: root, Path2: "d/x"}),
		root+"/d/x", root+"/a/x", "resolved")
	check("failed rename", handle(sensor.File{Op: sensor.FileRename, Ret: -18,
		Dir: root, Path: "nope/../a/x", Dir2: "/", Path2: "mnt/x"}),
		"/mnt/x", root+"/a/x", "resolved")
	check("unlink, relative path", handle(sensor.File{Op: sensor.FileUnlink, FD: -100, Dir: root, Path: "link/f"}),
		root+"/a/b/f", "", "resolved")
	check("unlink, dirfd", handle(sensor.File{Op: sensor.FileUnlink, FD: 5, Dir: root + "/abslink", Path: "x"}),
		root+"/a/x", "", "resolved")
	check("unlink of a symlink names the link", handle(sensor.File{Op: sensor.FileUnlink, Dir: root, Path: "link"}),
		root+"/link", "", "resolved")
	check("rmdir, dotdot", handle(sensor.File{Op: sensor.FileRmdir, Dir: root + "/link", Path: "../b"}),
		root+"/a/b", "", "resolved")
	check("truncate, absolute", handle(sensor.File{Op: sensor.FileTruncate, Size: 0, Path: root + "/link/../x"}),
		root+"/a/x", "", "resolved")
	// An exact path is the kernel's: used as is, never resolved, even
	// when it runs through a symlink or is not clean.
	check("exact-path open", handle(exactOpen(root+"/link/f", tOWronly)), root+"/link/f", "", "kernel")
	check("exact-path open, not clean", handle(exactOpen("/x/../y//z", tORdonly)), "/x/../y//z", "", "kernel")
	check("exact-path open ignores dir", handle(sensor.File{Op: sensor.FileOpen, Flags: sensor.FilePathExact,
		Dir: root, Path: "/etc/passwd"}), "/etc/passwd", "", "kernel")
	check("failed open, relative path", handle(sensor.File{Op: sensor.FileOpen, Ret: -2, OpenFlags: tOWronly | tOCreat,
		FD: -100, Dir: root, Path: "link/../new"}), root+"/a/new", "", "resolved")
	check("exact-path unlink", handle(sensor.File{Op: sensor.FileUnlink, Flags: sensor.FilePathExact,
		Path: root + "/link/f"}), root+"/link/f", "", "kernel")
	if got := tab.Stats().FilteredOpens; got != 0 {
		t.Errorf("FilteredOpens = %d, want 0", got)
	}
	checkInvariants(t, tab)
}
