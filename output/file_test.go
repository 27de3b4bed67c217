package output

import (
	"encoding/json"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/vigilsec/vigil/correlate"
	"github.com/vigilsec/vigil/sensor"
	"golang.org/x/sys/unix"
)

// wantFile is what a file record's line must say beyond the common fields.
type wantFile struct {
	outcome              string // event.outcome, "" for none (write totals)
	path                 string // file.path, "" for no file object
	name, dir, ext       string // file.name, file.directory, file.extension; "" for none
	inode, device        string // file.inode, file.device; "" for none
	fileType             string // file.type, "" for none
	errCode, errMsg      string // error.code, error.message; "" for none
	pathSource           string // Vigil.file.path_source
	pathCut              bool   // Vigil.file.path_truncated
	access               []string
	openFlags            string // Vigil.file.open_flags, "" for none
	createMode           string // Vigil.file.create_mode
	oldPath              string // Vigil.file.old_path
	renameFlags          string // Vigil.file.rename_flags
	truncatedTo          string // Vigil.file.truncated_to
	written, calls       string // Vigil.file.bytes_written, write_calls
	reportedAt           string // Vigil.file.reported_at
	eventStart, eventEnd bool   // event.start, event.end (write totals)
}

// fileActor is a process that does file actions in the test records, with
// what its records must say about it.
type fileActor struct {
	proc, parent *correlate.Process
	task         sensor.Task
	want         want
}

// Open flags and f_mode values of the test records.
const (
	oRdonly  = 0o0
	oWronly  = 0o1
	oRdwr    = 0o2
	oCreat   = 0o100
	oTrunc   = 0o1000
	oAppend  = 0o2000
	oCloexec = 0o2000000

	fmodeRead    = 0x4801d
	fmodeWrite   = 0x4801e
	fmodeCreate  = 0x14801e // with FMODE_CREATED
	renameNoRepl = 1
	testCookie   = 0xffff8881_0234_5600
)

// fileTestRecords is a history of file actions by a (an agent's shell)
// and b (a bare process).
func fileTestRecords(a, b fileActor) []testRecord {
	const base = 61_000_000_000
	dev := unix.Mkdev(259, 3)
	tmpfs := unix.Mkdev(0, 0x2d)
	var recs []testRecord
	add := func(name string, actor fileActor, ktime uint64, f sensor.File, fr correlate.FileRecord,
		typ, action string, wf wantFile) {
		ev := &sensor.Event{Kind: sensor.KindFile, KTime: ktime, Tree: actor.proc.Tree, Task: actor.task, File: f}
		frc := fr
		w := actor.want
		w.action, w.kind, w.dataset, w.category, w.typ = action, "event", "vigil.file", "file", typ
		w.file = &wf
		recs = append(recs, testRecord{name, &correlate.Record{
			Event: ev, Time: at(ktime), Process: actor.proc, Parent: actor.parent, File: &frc,
		}, w})
	}

	add("file open read", a, base+1, sensor.File{
		Op: sensor.FileOpen, Flags: sensor.FilePathExact | sensor.FileRegular, Ret: 3, FD: 3,
		OpenFlags: oRdonly | oCloexec, FMode: fmodeRead, Inode: 131090, Device: dev, Cookie: testCookie,
		Path: "/etc/passwd",
	}, correlate.FileRecord{Path: "/etc/passwd", PathSource: "kernel"}, "access", "open", wantFile{
		outcome: "success", path: "/etc/passwd", name: "passwd", dir: "/etc",
		inode: "131090", device: "259:3", fileType: "file", pathSource: "kernel",
		access: []string{"read"}, openFlags: "524288",
	})
	add("file creation", a, base+2, sensor.File{
		Op: sensor.FileOpen, Flags: sensor.FilePathExact | sensor.FileRegular, Ret: 4, FD: 4,
		OpenFlags: oCreat | oWronly | oTrunc, Mode: 0o644, FMode: fmodeCreate, Inode: 2, Device: tmpfs,
		Cookie: testCookie + 0x100, Path: "/home/dev/project/out/report.json",
	}, correlate.FileRecord{Path: "/home/dev/project/out/report.json", PathSource: "kernel"}, "creation", "creation", wantFile{
		outcome: "success", path: "/home/dev/project/out/report.json", name: "report.json", dir: "/home/dev/project/out", ext: "json",
		inode: "2", device: "0:45", fileType: "file", pathSource: "kernel",
		access: []string{"write", "create", "truncate"}, openFlags: "577", createMode: "0644",
	})
	add("file open O_CREAT of an existing file", a, base+3, sensor.File{
		Op: sensor.FileOpen, Flags: sensor.FilePathExact | sensor.FileRegular, Ret: 5, FD: 5,
		OpenFlags: oWronly | oCreat | oAppend | oCloexec, Mode: 0o4600, FMode: fmodeWrite, Inode: 88, Device: dev,
		Path: "/home/dev/.bash_history",
	}, correlate.FileRecord{Path: "/home/dev/.bash_history", PathSource: "kernel"}, "access", "open", wantFile{
		outcome: "success", path: "/home/dev/.bash_history", name: ".bash_history", dir: "/home/dev",
		inode: "88", device: "259:3", fileType: "file", pathSource: "kernel",
		access: []string{"write", "create", "append"}, openFlags: "525377", createMode: "04600",
	})
	add("file open failed", a, base+4, sensor.File{
		Op: sensor.FileOpen, Flags: sensor.FilePathCut, Ret: -int64(syscall.ENOENT), FD: -100,
		OpenFlags: oRdonly, Dir: "/home/dev/project/sub dir", Path: "config/missing.yaml",
	}, correlate.FileRecord{Path: "/home/dev/project/sub dir/config/missing.yaml", PathSource: "resolved"}, "access", "open", wantFile{
		outcome: "failure", path: "/home/dev/project/sub dir/config/missing.yaml", name: "missing.yaml",
		dir: "/home/dev/project/sub dir/config", ext: "yaml",
		errCode: "ENOENT", errMsg: "no such file or directory", pathSource: "resolved", pathCut: true,
		access: []string{"read"}, openFlags: "0",
	})
	add("file open O_RDWR at the root dir", b, base+5, sensor.File{
		Op: sensor.FileOpen, Flags: sensor.FilePathExact | sensor.FileRegular, Ret: 0, FD: 0,
		OpenFlags: oRdwr, FMode: 0x4801f, Inode: 12, Device: unix.Mkdev(8, 1), Path: "/swapfile",
	}, correlate.FileRecord{Path: "/swapfile", PathSource: "kernel"}, "access", "open", wantFile{
		outcome: "success", path: "/swapfile", name: "swapfile", dir: "/",
		inode: "12", device: "8:1", fileType: "file", pathSource: "kernel",
		access: []string{"read", "write"}, openFlags: "2",
	})
	add("file rename", a, base+6, sensor.File{
		Op: sensor.FileRename, OpenFlags: renameNoRepl, FD: -100,
		Dir: "/home/dev/project", Path: "build.tmp", Dir2: "/home/dev/project", Path2: "dist/app-1.0.tar.gz",
	}, correlate.FileRecord{Path: "/home/dev/project/dist/app-1.0.tar.gz", OldPath: "/home/dev/project/build.tmp",
		PathSource: "resolved"}, "change", "rename", wantFile{
		outcome: "success", path: "/home/dev/project/dist/app-1.0.tar.gz", name: "app-1.0.tar.gz",
		dir: "/home/dev/project/dist", ext: "gz", pathSource: "resolved",
		oldPath: "/home/dev/project/build.tmp", renameFlags: "1",
	})
	add("file unlink", a, base+7, sensor.File{
		Op: sensor.FileUnlink, FD: -100, Dir: "/home/dev/project", Path: "Makefile",
	}, correlate.FileRecord{Path: "/home/dev/project/Makefile", PathSource: "resolved"}, "deletion", "deletion", wantFile{
		outcome: "success", path: "/home/dev/project/Makefile", name: "Makefile", dir: "/home/dev/project",
		pathSource: "resolved",
	})
	add("file unlink failed", a, base+8, sensor.File{
		Op: sensor.FileUnlink, Ret: -int64(syscall.EACCES), FD: -100, Path: "/etc/hosts",
	}, correlate.FileRecord{Path: "/etc/hosts", PathSource: "resolved"}, "deletion", "deletion", wantFile{
		outcome: "failure", path: "/etc/hosts", name: "hosts", dir: "/etc", pathSource: "resolved",
		errCode: "EACCES", errMsg: "permission denied",
	})
	add("file rmdir", a, base+9, sensor.File{
		Op: sensor.FileRmdir, OpenFlags: 0x200, FD: 7, Dir: "/home/dev/project", Path: "build",
	}, correlate.FileRecord{Path: "/home/dev/project/build", PathSource: "resolved"}, "deletion", "deletion", wantFile{
		outcome: "success", path: "/home/dev/project/build", name: "build", dir: "/home/dev/project",
		fileType: "dir", pathSource: "resolved",
	})
	add("file truncate", a, base+10, sensor.File{
		Op: sensor.FileTruncate, Size: 0, FD: -100, Path: "/home/dev/.bashrc",
	}, correlate.FileRecord{Path: "/home/dev/.bashrc", PathSource: "resolved"}, "change", "modification", wantFile{
		outcome: "success", path: "/home/dev/.bashrc", name: ".bashrc", dir: "/home/dev", pathSource: "resolved",
		truncatedTo: "0",
	})

	first := uint64(base + 2_000_000)
	writeEnd := func(flags sensor.FileFlags, ret, size int64, ops uint64) sensor.File {
		return sensor.File{Op: sensor.FileWriteEnd, Flags: sensor.FileRegular | flags, Ret: ret, Size: size, Ops: ops,
			First: first, Inode: 2, Device: tmpfs, Cookie: testCookie + 0x100, FD: 4}
	}
	report := correlate.FileRecord{Path: "/home/dev/project/out/report.json", PathSource: "kernel", Start: at(first)}
	wantReport := func(written, calls, truncatedTo, reportedAt string) wantFile {
		return wantFile{
			path: "/home/dev/project/out/report.json", name: "report.json", dir: "/home/dev/project/out", ext: "json",
			inode: "2", device: "0:45", fileType: "file", pathSource: "kernel",
			written: written, calls: calls, truncatedTo: truncatedTo, reportedAt: reportedAt,
			eventStart: true, eventEnd: true,
		}
	}
	add("file write end at close", a, base+3_000_000_000, writeEnd(0, 0, 5000, 3), report,
		"change", "modification", wantReport("5000", "3", "", "close"))
	add("file write end at close, truncated", a, base+3_000_000_001, writeEnd(sensor.FileTruncated, 128, 1<<33, 70000), report,
		"change", "modification", wantReport("8589934592", "70000", "128", "close"))
	add("file write end at exit", a, base+4_000_000_000, writeEnd(sensor.FileAtExit, 0, 1, 1), report,
		"change", "modification", wantReport("1", "1", "", "exit"))
	add("file write end at exit, truncated", a, base+4_000_000_001, writeEnd(sensor.FileAtExit|sensor.FileTruncated, 0, 0, 0), report,
		"change", "modification", wantReport("0", "0", "0", "exit"))
	add("file write end, descriptor reused", a, base+4_000_000_002, writeEnd(sensor.FileStale, 0, 10, 2), report,
		"change", "modification", wantReport("10", "2", "", "descriptor_reuse"))
	add("file write end, path unknown", a, base+4_000_000_003, writeEnd(0, 0, 42, 1),
		correlate.FileRecord{PathSource: "unknown", Start: at(first)}, "change", "modification", wantFile{
			pathSource: "unknown", written: "42", calls: "1", reportedAt: "close", eventStart: true, eventEnd: true,
		})
	return recs
}

// docFields reads fields of one decoded line.
type docFields struct {
	t   *testing.T
	doc map[string]any
}

func (d docFields) get(path string) (string, bool) {
	d.t.Helper()
	v, ok := lookup(d.doc, path)
	if !ok {
		return "", false
	}
	switch v := v.(type) {
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	case bool:
		return strconv.FormatBool(v), true
	}
	d.t.Errorf("%s = %v (%T), want a scalar", path, v, v)
	return "", true
}

// is checks a scalar field's value; want "" means the field is absent.
func (d docFields) is(path, want string) {
	d.t.Helper()
	got, ok := d.get(path)
	switch {
	case want == "" && ok:
		d.t.Errorf("%s = %q, want it absent", path, got)
	case want != "" && !ok:
		d.t.Errorf("%s missing, want %q", path, want)
	case got != want:
		d.t.Errorf("%s = %q, want %q", path, got, want)
	}
}

// isString checks that a field present is a JSON string.
func (d docFields) isString(path string) {
	d.t.Helper()
	if v, ok := lookup(d.doc, path); ok {
		if _, ok := v.(string); !ok {
			d.t.Errorf("%s = %v (%T), want a string", path, v, v)
		}
	}
}

func (d docFields) absent(path string) {
	d.t.Helper()
	if v, ok := lookup(d.doc, path); ok {
		d.t.Errorf("%s = %v, want it absent", path, v)
	}
}

// checkFile checks the fields only file records have: present as wanted
// in a file record, absent from every other.
func checkFile(t *testing.T, doc map[string]any, tr testRecord) {
	t.Helper()
	d := docFields{t, doc}
	w := tr.want.file
	if w == nil {
		for _, f := range []string{"file", "error", "Vigil.file", "event.outcome", "event.start", "event.end"} {
			d.absent(f)
		}
		if tr.rec.Event.Kind == sensor.KindFile {
			t.Error("file record without a wantFile")
		}
		return
	}
	d.is("event.outcome", w.outcome)
	if w.eventStart {
		d.is("event.start", tr.rec.File.Start.UTC().Format(time.RFC3339Nano))
	} else {
		d.absent("event.start")
	}
	if w.eventEnd {
		d.is("event.end", tr.rec.Time.UTC().Format(time.RFC3339Nano))
	} else {
		d.absent("event.end")
	}
	if w.path == "" {
		d.absent("file")
	} else {
		d.is("file.path", w.path)
		d.is("file.name", w.name)
		d.is("file.directory", w.dir)
		d.is("file.extension", w.ext)
		d.is("file.inode", w.inode)
		d.is("file.device", w.device)
		d.isString("file.inode")
		d.isString("file.device")
		d.is("file.type", w.fileType)
	}
	if w.errCode == "" {
		d.absent("error")
	} else {
		d.is("error.code", w.errCode)
		d.is("error.message", w.errMsg)
	}
	d.is("Vigil.file.path_source", w.pathSource)
	if w.pathCut {
		d.is("Vigil.file.path_truncated", "true")
	} else {
		d.absent("Vigil.file.path_truncated")
	}
	if w.access == nil {
		d.absent("Vigil.file.access")
	} else {
		v, _ := lookup(doc, "Vigil.file.access")
		a, _ := v.([]any)
		got := make([]string, len(a))
		for i, x := range a {
			got[i], _ = x.(string)
		}
		if !slices.Equal(got, w.access) {
			t.Errorf("Vigil.file.access = %v, want %q", v, w.access)
		}
	}
	d.is("Vigil.file.open_flags", w.openFlags)
	d.is("Vigil.file.create_mode", w.createMode)
	d.isString("Vigil.file.create_mode")
	d.is("Vigil.file.old_path", w.oldPath)
	d.is("Vigil.file.rename_flags", w.renameFlags)
	d.is("Vigil.file.truncated_to", w.truncatedTo)
	d.is("Vigil.file.bytes_written", w.written)
	d.is("Vigil.file.write_calls", w.calls)
	d.is("Vigil.file.reported_at", w.reportedAt)
	// Every file record's Vigil.file says nothing else.
	if v, ok := lookup(doc, "Vigil.file"); ok {
		known := []string{"path_source", "path_truncated", "access", "open_flags", "create_mode", "old_path",
			"rename_flags", "truncated_to", "bytes_written", "write_calls", "reported_at"}
		for k := range v.(map[string]any) {
			if !slices.Contains(known, k) {
				t.Errorf("Vigil.file.%s unexpected", k)
			}
		}
	}
}

// TestFileRecordsCovered makes sure the record table holds every file
// action and event.action the encoder can write.
func TestFileRecordsCovered(t *testing.T) {
	ops := map[sensor.FileOp]bool{}
	actions := map[string]bool{}
	for _, tr := range testRecords() {
		if tr.rec.Event.Kind == sensor.KindFile {
			ops[tr.rec.Event.File.Op] = true
			actions[tr.want.action] = true
		}
	}
	for _, op := range []sensor.FileOp{sensor.FileOpen, sensor.FileUnlink, sensor.FileRmdir, sensor.FileRename,
		sensor.FileTruncate, sensor.FileWriteEnd} {
		if !ops[op] {
			t.Errorf("no test record of a %v", op)
		}
	}
	for _, a := range []string{"open", "creation", "modification", "rename", "deletion"} {
		if !actions[a] {
			t.Errorf("no test record with event.action %s", a)
		}
	}
}

func TestFileAction(t *testing.T) {
	for _, tc := range []struct {
		f            sensor.File
		typ, action  string
		name, reason string
	}{
		{sensor.File{Op: sensor.FileOpen, Ret: 3}, "access", "open", "open", ""},
		{sensor.File{Op: sensor.FileOpen, Ret: 3, FMode: fmodeCreated}, "creation", "creation", "created", ""},
		{sensor.File{Op: sensor.FileOpen, Ret: 0, FMode: fmodeCreated | fmodeWrite}, "creation", "creation", "created as fd 0", ""},
		{sensor.File{Op: sensor.FileOpen, Ret: -17, FMode: fmodeCreated}, "access", "open", "failed", "a failed open created nothing"},
		{sensor.File{Op: sensor.FileOpen, Ret: 3, OpenFlags: oCreat}, "access", "open", "O_CREAT, existed", ""},
		{sensor.File{Op: sensor.FileUnlink}, "deletion", "deletion", "unlink", ""},
		{sensor.File{Op: sensor.FileRmdir}, "deletion", "deletion", "rmdir", ""},
		{sensor.File{Op: sensor.FileRename}, "change", "rename", "rename", ""},
		{sensor.File{Op: sensor.FileTruncate}, "change", "modification", "truncate", ""},
		{sensor.File{Op: sensor.FileWriteEnd}, "change", "modification", "write end", ""},
	} {
		types, action := fileAction(&correlate.Record{Event: &sensor.Event{Kind: sensor.KindFile, File: tc.f}})
		if len(types) != 1 || types[0] != tc.typ || action != tc.action {
			t.Errorf("%s: fileAction = %s, %s, want %s, %s %s", tc.name, types, action, tc.typ, tc.action, tc.reason)
		}
	}
}

func TestErrnoName(t *testing.T) {
	for _, tc := range []struct {
		e    syscall.Errno
		want string
	}{
		{syscall.ENOENT, "ENOENT"},
		{syscall.EACCES, "EACCES"},
		{syscall.EXDEV, "EXDEV"},
		{syscall.ENAMETOOLONG, "ENAMETOOLONG"},
		{4000, "errno 4000"},
	} {
		if got := errnoName(tc.e); got != tc.want {
			t.Errorf("errnoName(%d) = %q, want %q", tc.e, got, tc.want)
		}
	}
}

// TestFileNameParts checks file.name, file.directory and file.extension
// for awkward paths, each line passing ECS validation.
func TestFileNameParts(t *testing.T) {
	schema := loadSchema(t)
	a := testRecords()
	var base testRecord
	for _, tr := range a {
		if tr.name == "file unlink" {
			base = tr
		}
	}
	if base.rec == nil {
		t.Fatal("no file unlink record")
	}
	for _, tc := range []struct{ path, name, dir, ext string }{
		{"/etc/passwd", "passwd", "/etc", ""},
		{"/a/b.c/Makefile", "Makefile", "/a/b.c", ""},
		{"/home/u/.bashrc", ".bashrc", "/home/u", ""},
		{"/home/u/.config.bak", ".config.bak", "/home/u", "bak"},
		{"/x/archive.tar.gz", "archive.tar.gz", "/x", "gz"},
		{"/x/trailing.", "trailing.", "/x", ""},
		{"/x/..", "..", "/x", ""},
		{"/vmlinuz", "vmlinuz", "/", ""},
		{"/.autorelabel", ".autorelabel", "/", ""},
		{"/", "", "/", ""},
		{"/x/na\"me\\é.tx\u2028t", "na\"me\\é.tx\u2028t", "/x", "tx\u2028t"},
	} {
		fr := correlate.FileRecord{Path: tc.path, PathSource: "resolved"}
		rec := *base.rec
		rec.File = &fr
		line := NewEncoder(testIdentity, testNow).Append(nil, &rec)
		schema.Check(t, line)
		d := docFields{t, decodeLine(t, line)}
		d.is("file.path", tc.path)
		d.is("file.name", tc.name)
		d.is("file.directory", tc.dir)
		d.is("file.extension", tc.ext)
	}
}

// Paths split after their last separator: '/' everywhere, and '\' too
// in Windows paths (records from the ETW adapter, encoded on any system).
func TestSplitPath(t *testing.T) {
	for _, tc := range []struct{ path, dir, name string }{
		{"/etc/hosts", "/etc/", "hosts"},
		{"/", "/", ""},
		{"relative", "", "relative"},
		{`/tmp/a\b`, "/tmp/", `a\b`}, // a backslash is a name's on Linux and macOS
		{`C:\Users\dev\app.js`, `C:\Users\dev\`, "app.js"},
		{`C:\boot.ini`, `C:\`, "boot.ini"},
		{`c:/Users/dev/x`, "c:/Users/dev/", "x"},
		{`\\server\share\f.txt`, `\\server\share\`, "f.txt"},
		{`1:\x`, "", `1:\x`},
	} {
		if dir, name := splitPath(tc.path); dir != tc.dir || name != tc.name {
			t.Errorf("splitPath(%q) = %q, %q; want %q, %q", tc.path, dir, name, tc.dir, tc.name)
		}
	}
}
