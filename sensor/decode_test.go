//go:build linux

package sensor

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// structBytes copies the memory of a generated record struct. The structs
// mirror the C layout with explicit padding, so their bytes are exactly
// what the BPF programs write to the ring buffer.
func structBytes[T any](v *T) []byte {
	return slices.Clone(unsafe.Slice((*byte)(unsafe.Pointer(v)), unsafe.Sizeof(*v)))
}

// setSize stores len(raw) in the header's size field, as the kernel does.
func setSize(raw []byte) []byte {
	if len(raw) >= headerSize {
		(*vigilEventHeader)(unsafe.Pointer(&raw[0])).Size = uint32(len(raw))
	}
	return raw
}

// testComm packs s into a comm field; bytes beyond 16 are dropped and
// short names are NUL-padded, like the kernel's task->comm.
func testComm(s string) (c [16]int8) {
	for i := 0; i < len(s) && i < len(c); i++ {
		c[i] = int8(s[i])
	}
	return c
}

// testHdr is a header with every field set to something distinct.
func testHdr(typ vigilEventType, comm string) vigilEventHeader {
	return vigilEventHeader{
		Type:      uint16(typ),
		Flags:     0,
		Ktime:     1_000_000_123,
		StartTime: 900_000_000,
		CgroupId:  0xc0ffee,
		Tree:      vigilTree{RootStart: 500_000_000, RootTgid: 4000, Agent: 3},
		Pid:       4243,
		Tgid:      4242,
		Ppid:      4000,
		Uid:       1000,
		Gid:       1001,
		Euid:      0,
		Egid:      27,
		Comm:      testComm(comm),
	}
}

// testTask is what testHdr decodes to.
func testTask(comm string) Task {
	return Task{
		PID: 4242, TID: 4243, PPID: 4000,
		UID: 1000, GID: 1001, EUID: 0, EGID: 27,
		CgroupID: 0xc0ffee, StartTime: 900_000_000, Comm: comm,
	}
}

var testTree = Tree{RootStart: 500_000_000, RootPID: 4000, Agent: 3}

func forkRecord(comm string) []byte {
	f := vigilForkEvent{Hdr: testHdr(vigilEventTypeEVENT_FORK, comm), ChildStart: 1_000_000_000, ChildPid: 4300}
	return setSize(structBytes(&f))
}

func exitRecord(status uint32) []byte {
	x := vigilExitEvent{Hdr: testHdr(vigilEventTypeEVENT_EXIT, "sh"), ExitCode: status}
	return setSize(structBytes(&x))
}

// kdev is the kernel's internal dev_t encoding (MKDEV): major<<20 | minor.
func kdev(major, minor uint32) uint32 { return major<<20 | minor }

// execRecord builds an exec record whose length fields match the data.
func execRecord(flags Flags, argc uint32, exe, args, cwd string) []byte {
	x := vigilExecEvent{
		Hdr:     testHdr(vigilEventTypeEVENT_EXEC, "python3"),
		ExeIno:  131077,
		ExeDev:  kdev(259, 3),
		Argc:    argc,
		ExeLen:  uint16(len(exe)),
		ArgsLen: uint16(len(args)),
		CwdLen:  uint16(len(cwd)),
	}
	x.Hdr.Flags = uint16(flags)
	raw := structBytes(&x)
	raw = append(raw, exe...)
	raw = append(raw, args...)
	raw = append(raw, cwd...)
	return setSize(raw)
}

// execRecordIDs is execRecord with correlation id and traceparent values
// after the working directory, as the kernel writes them.
func execRecordIDs(flags Flags, corr, traceparent string) []byte {
	raw := execRecord(flags, 1, "/bin/true", "true\x00", "/")
	raw = append(raw, corr...)
	raw = append(raw, traceparent...)
	x := (*vigilExecEvent)(unsafe.Pointer(&raw[0]))
	x.CorrIdLen, x.TraceparentLen = uint8(len(corr)), uint8(len(traceparent))
	return setSize(raw)
}

// withExec edits the exec struct at the front of raw in place.
func withExec(raw []byte, edit func(*vigilExecEvent)) []byte {
	edit((*vigilExecEvent)(unsafe.Pointer(&raw[0])))
	return raw
}

// withHdr edits the header at the front of raw in place.
func withHdr(raw []byte, edit func(*vigilEventHeader)) []byte {
	edit((*vigilEventHeader)(unsafe.Pointer(&raw[0])))
	return raw
}

func execEvent(flags Flags, argc uint32, exe string, args []string, cwd string) Event {
	return Event{
		Kind: KindExec, Flags: flags, KTime: 1_000_000_123, Tree: testTree, Task: testTask("python3"),
		Executable: exe, Args: args, Argc: argc, Cwd: cwd,
		ExeInode: 131077, ExeDevice: unix.Mkdev(259, 3),
	}
}

// fileRecord builds a file record: x's header is replaced by a test
// header, its length fields are set from the strings, and the strings
// follow the struct in the kernel's order (dir, path, dir2, path2).
func fileRecord(x vigilFileEvent, dir, path, dir2, path2 string) []byte {
	x.Hdr = testHdr(vigilEventTypeEVENT_FILE, "cat")
	x.DirLen, x.PathLen = uint16(len(dir)), uint16(len(path))
	x.Dir2Len, x.Path2Len = uint16(len(dir2)), uint16(len(path2))
	raw := structBytes(&x)
	for _, s := range []string{dir, path, dir2, path2} {
		raw = append(raw, s...)
	}
	return setSize(raw)
}

// withFile edits the file struct at the front of raw in place.
func withFile(raw []byte, edit func(*vigilFileEvent)) []byte {
	edit((*vigilFileEvent)(unsafe.Pointer(&raw[0])))
	return raw
}

// fileEvent is what a fileRecord decodes to.
func fileEvent(f File) Event {
	return Event{Kind: KindFile, KTime: 1_000_000_123, Tree: testTree, Task: testTask("cat"), File: f}
}

// Open flags and kernel values the file cases use.
const (
	testOCloexec   = 0o2000000
	testOCreat     = 0o100
	testOWronly    = 0o1
	testOTrunc     = 0o1000
	testATFDCWD    = -100
	testCookie     = 0xffff8881_0234_5600
	testFModeRead  = 0x4801d  // a read-only open's f_mode
	testFModeWrite = 0x14801e // a write open's f_mode with FMODE_CREATED (0x100000)
)

func fileCases() []decodeCase {
	return []decodeCase{
		{
			name: "file open, exact path",
			raw: fileRecord(vigilFileEvent{
				Op: uint16(vigilFileOpFILE_OPEN), Fflags: uint16(FilePathExact | FileRegular),
				Ret: 3, Ino: 131090, Cookie: testCookie, Dev: kdev(259, 3),
				Flags: testOCloexec, Fmode: testFModeRead, Fd: 3,
			}, "", "/etc/passwd", "", ""),
			want: fileEvent(File{
				Op: FileOpen, Flags: FilePathExact | FileRegular, Ret: 3, Inode: 131090, Cookie: testCookie,
				Device: unix.Mkdev(259, 3), OpenFlags: testOCloexec, FMode: testFModeRead, FD: 3,
				Path: "/etc/passwd",
			}),
		},
		{
			name: "file open created, large device",
			raw: fileRecord(vigilFileEvent{
				Op: uint16(vigilFileOpFILE_OPEN), Fflags: uint16(FilePathExact | FileRegular),
				Ret: 1023, Ino: 1<<64 - 1, Cookie: testCookie, Dev: kdev(4095, 1<<20-1),
				Flags: testOCreat | testOWronly | testOTrunc, Mode: 0o644, Fmode: testFModeWrite, Fd: 1023,
			}, "", "/home/ü/out dir/résumé 🙂.txt", "", ""),
			want: fileEvent(File{
				Op: FileOpen, Flags: FilePathExact | FileRegular, Ret: 1023, Inode: 1<<64 - 1, Cookie: testCookie,
				Device: unix.Mkdev(4095, 1<<20-1), OpenFlags: testOCreat | testOWronly | testOTrunc, Mode: 0o644,
				FMode: testFModeWrite, FD: 1023, Path: "/home/ü/out dir/résumé 🙂.txt",
			}),
		},
		{
			name: "file open failed, dir and relative path",
			raw: fileRecord(vigilFileEvent{
				Op: uint16(vigilFileOpFILE_OPEN), Ret: -int64(syscall.ENOENT),
				Flags: testOCreat | testOWronly, Mode: 0o600, Fd: testATFDCWD,
			}, "/home/u/project", "sub/../missing.txt", "", ""),
			want: fileEvent(File{
				Op: FileOpen, Flags: FileDirKernel, Ret: -int64(syscall.ENOENT), OpenFlags: testOCreat | testOWronly, Mode: 0o600,
				FD: testATFDCWD, Dir: "/home/u/project", Path: "sub/../missing.txt",
			}),
		},
		{
			name: "file open failed, path cut, no dir",
			raw: fileRecord(vigilFileEvent{
				Op: uint16(vigilFileOpFILE_OPEN), Fflags: uint16(FilePathCut), Ret: -int64(syscall.ENAMETOOLONG), Fd: 7,
			}, "", "/"+strings.Repeat("a", 4094), "", ""),
			want: fileEvent(File{
				Op: FileOpen, Flags: FilePathCut, Ret: -int64(syscall.ENAMETOOLONG), FD: 7,
				Path: "/" + strings.Repeat("a", 4094),
			}),
		},
		{
			name: "file rename, all four strings",
			raw: fileRecord(vigilFileEvent{
				Op: uint16(vigilFileOpFILE_RENAME), Flags: 1 /* RENAME_NOREPLACE */, Fd: 5,
			}, "/home/u", "a.txt", "/tmp/x", "../b.txt"),
			want: fileEvent(File{
				Op: FileRename, Flags: FileDirKernel, OpenFlags: 1, FD: 5,
				Dir: "/home/u", Path: "a.txt", Dir2: "/tmp/x", Path2: "../b.txt",
			}),
		},
		{
			name: "file rename, absolute paths, no dirs",
			raw:  fileRecord(vigilFileEvent{Op: uint16(vigilFileOpFILE_RENAME), Fd: testATFDCWD}, "", "/a/old", "", "/b/new"),
			want: fileEvent(File{Op: FileRename, FD: testATFDCWD, Path: "/a/old", Path2: "/b/new"}),
		},
		{
			name: "file rename, only the new name relative",
			raw:  fileRecord(vigilFileEvent{Op: uint16(vigilFileOpFILE_RENAME), Ret: -int64(syscall.EXDEV)}, "", "/a/old", "/cwd", "new"),
			want: fileEvent(File{Op: FileRename, Flags: FileDirKernel, Ret: -int64(syscall.EXDEV), Path: "/a/old", Dir2: "/cwd", Path2: "new"}),
		},
		{
			name: "file unlink, relative path",
			raw:  fileRecord(vigilFileEvent{Op: uint16(vigilFileOpFILE_UNLINK), Fd: testATFDCWD}, "/srv", "old.log", "", ""),
			want: fileEvent(File{Op: FileUnlink, Flags: FileDirKernel, FD: testATFDCWD, Dir: "/srv", Path: "old.log"}),
		},
		{
			// A cut record's directory may be the part cut: not taken
			// as the kernel's whole path.
			name: "file unlink, relative path cut",
			raw:  fileRecord(vigilFileEvent{Op: uint16(vigilFileOpFILE_UNLINK), Fflags: uint16(FilePathCut), Fd: testATFDCWD}, "/srv", "ol", "", ""),
			want: fileEvent(File{Op: FileUnlink, Flags: FilePathCut, FD: testATFDCWD, Dir: "/srv", Path: "ol"}),
		},
		{
			name: "file rmdir via unlinkat(AT_REMOVEDIR)",
			raw:  fileRecord(vigilFileEvent{Op: uint16(vigilFileOpFILE_RMDIR), Flags: 0x200, Fd: 9}, "/srv/www", "cache", "", ""),
			want: fileEvent(File{Op: FileRmdir, Flags: FileDirKernel, OpenFlags: 0x200, FD: 9, Dir: "/srv/www", Path: "cache"}),
		},
		{
			name: "file truncate",
			raw:  fileRecord(vigilFileEvent{Op: uint16(vigilFileOpFILE_TRUNCATE), Size: 1 << 40, Fd: testATFDCWD}, "", "/var/log/big", "", ""),
			want: fileEvent(File{Op: FileTruncate, Size: 1 << 40, FD: testATFDCWD, Path: "/var/log/big"}),
		},
		{
			name: "file write_start",
			raw: fileRecord(vigilFileEvent{
				Op: uint16(vigilFileOpFILE_WRITE_START), Fflags: uint16(FilePathExact | FileRegular),
				Ino: 42, Cookie: testCookie, Dev: kdev(0, 0x2d), Fd: 4,
			}, "", "/tmp/out.log", "", ""),
			want: fileEvent(File{
				Op: FileWriteStart, Flags: FilePathExact | FileRegular, Inode: 42, Cookie: testCookie,
				Device: unix.Mkdev(0, 0x2d), FD: 4, Path: "/tmp/out.log",
			}),
		},
		{
			name: "file write_end, no strings",
			raw: fileRecord(vigilFileEvent{
				Op: uint16(vigilFileOpFILE_WRITE_END), Fflags: uint16(FileRegular | FileTruncated | FileAtExit),
				Ret: 128, Size: 1<<33 + 5, Ops: 12, First: 999_000_000, Ino: 42, Cookie: testCookie,
				Dev: kdev(8, 1), Fd: 4,
			}, "", "", "", ""),
			want: fileEvent(File{
				Op: FileWriteEnd, Flags: FileRegular | FileTruncated | FileAtExit, Ret: 128, Size: 1<<33 + 5,
				Ops: 12, First: 999_000_000, Inode: 42, Cookie: testCookie, Device: unix.Mkdev(8, 1), FD: 4,
			}),
		},
		{
			name: "file write_end stale",
			raw: fileRecord(vigilFileEvent{
				Op: uint16(vigilFileOpFILE_WRITE_END), Fflags: uint16(FileRegular | FileStale),
				Size: 1, Ops: 1, First: 1, Cookie: 1, Fd: 0,
			}, "", "", "", ""),
			want: fileEvent(File{Op: FileWriteEnd, Flags: FileRegular | FileStale, Size: 1, Ops: 1, First: 1, Cookie: 1}),
		},
		{
			name: "file unknown op and flags kept as is",
			raw:  fileRecord(vigilFileEvent{Op: 0xffff, Fflags: 0xffff}, "", "", "", ""),
			want: fileEvent(File{Op: 0xffff, Flags: 0xffff}),
		},
	}
}

type decodeCase struct {
	name string
	raw  []byte
	want Event
}

func decodeCases() []decodeCase {
	longComm := "0123456789abcdef" // 16 bytes: no NUL in the field
	cases := []decodeCase{
		{
			name: "fork",
			raw:  forkRecord("bash"),
			want: Event{
				Kind: KindFork, KTime: 1_000_000_123, Tree: testTree, Task: testTask("bash"),
				ChildPID: 4300, ChildStart: 1_000_000_000,
			},
		},
		{
			name: "fork comm without NUL",
			raw:  forkRecord(longComm),
			want: Event{
				Kind: KindFork, KTime: 1_000_000_123, Tree: testTree, Task: testTask(longComm),
				ChildPID: 4300, ChildStart: 1_000_000_000,
			},
		},
		{
			name: "fork empty comm, untracked",
			raw: withHdr(forkRecord(""), func(h *vigilEventHeader) {
				h.Tree = vigilTree{}
			}),
			want: Event{
				Kind: KindFork, KTime: 1_000_000_123, Task: testTask(""),
				ChildPID: 4300, ChildStart: 1_000_000_000,
			},
		},
		{
			name: "fork comm with bytes after the NUL",
			raw: withHdr(forkRecord("ab"), func(h *vigilEventHeader) {
				h.Comm[3] = 'z' // stale bytes past the terminator are ignored
			}),
			want: Event{
				Kind: KindFork, KTime: 1_000_000_123, Tree: testTree, Task: testTask("ab"),
				ChildPID: 4300, ChildStart: 1_000_000_000,
			},
		},
		{
			name: "exit code",
			raw:  exitRecord(3 << 8),
			want: Event{Kind: KindExit, KTime: 1_000_000_123, Tree: testTree, Task: testTask("sh"), Status: 3 << 8},
		},
		{
			name: "exit signal with core",
			raw:  exitRecord(uint32(syscall.SIGSEGV) | 0x80),
			want: Event{Kind: KindExit, KTime: 1_000_000_123, Tree: testTree, Task: testTask("sh"), Status: uint32(syscall.SIGSEGV) | 0x80},
		},
		{
			name: "exec",
			raw:  execRecord(FlagNewRoot, 3, "/usr/bin/python3", "python3\x00-c\x00print(1)\x00", "/home/u"),
			want: execEvent(FlagNewRoot, 3, "/usr/bin/python3", []string{"python3", "-c", "print(1)"}, "/home/u"),
		},
		{
			name: "exec truncated final arg without NUL",
			raw:  execRecord(FlagArgsTruncated, 5, "/bin/echo", "echo\x00hello\x00wor", "/"),
			want: execEvent(FlagArgsTruncated, 5, "/bin/echo", []string{"echo", "hello", "wor"}, "/"),
		},
		{
			name: "exec empty args in the middle and at the end",
			raw:  execRecord(0, 4, "/bin/x", "x\x00\x00y\x00\x00", "/tmp"),
			want: execEvent(0, 4, "/bin/x", []string{"x", "", "y", ""}, "/tmp"),
		},
		{
			name: "exec args with spaces, quotes and UTF-8",
			raw:  execRecord(0, 3, "/bin/sh", "sh\x00-c\x00echo \"hé\\\" 🙂\x00", "/home/ü"),
			want: execEvent(0, 3, "/bin/sh", []string{"sh", "-c", "echo \"hé\\\" 🙂"}, "/home/ü"),
		},
		{
			name: "exec unreadable args, empty strings",
			raw:  execRecord(FlagArgsUnreadable|FlagExeTruncated|FlagCwdTruncated, 2, "", "", ""),
			want: execEvent(FlagArgsUnreadable|FlagExeTruncated|FlagCwdTruncated, 2, "", nil, ""),
		},
		{
			name: "exec device with a large minor",
			raw: withExec(execRecord(0, 1, "/a", "a\x00", "/"), func(x *vigilExecEvent) {
				x.ExeDev = kdev(4095, 1<<20-1)
			}),
			want: func() Event {
				ev := execEvent(0, 1, "/a", []string{"a"}, "/")
				ev.ExeDevice = unix.Mkdev(4095, 1<<20-1)
				return ev
			}(),
		},
		{
			name: "exec device zero",
			raw: withExec(execRecord(0, 1, "/a", "a\x00", "/"), func(x *vigilExecEvent) {
				x.ExeDev = 0
			}),
			want: func() Event {
				ev := execEvent(0, 1, "/a", []string{"a"}, "/")
				ev.ExeDevice = unix.Mkdev(0, 0)
				return ev
			}(),
		},
	}
	cases = append(cases, idCases()...)
	return append(cases, fileCases()...)
}

const (
	testTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	testTraceID     = "4bf92f3577b34da6a3ce929d0e0e4736"
	testSpanID      = "00f067aa0ba902b7"
)

// idCases are exec records carrying correlation ids: what is accepted,
// and junk that is dropped and flagged.
func idCases() []decodeCase {
	withIDs := func(flags Flags, corr, trace, span string) Event {
		ev := execEvent(flags, 1, "/bin/true", []string{"true"}, "/")
		ev.CorrelationID, ev.TraceID, ev.SpanID = corr, trace, span
		return ev
	}
	max := strings.Repeat("a", MaxCorrelationID)
	cases := []decodeCase{
		{name: "ids none", raw: execRecordIDs(0, "", ""), want: withIDs(0, "", "", "")},
		{name: "ids none, env truncated", raw: execRecordIDs(FlagEnvTruncated, "", ""), want: withIDs(FlagEnvTruncated, "", "", "")},
		{name: "ids both", raw: execRecordIDs(0, "abc-123", testTraceparent), want: withIDs(0, "abc-123", testTraceID, testSpanID)},
		{name: "ids correlation only", raw: execRecordIDs(0, "abc-123", ""), want: withIDs(0, "abc-123", "", "")},
		{name: "ids traceparent only", raw: execRecordIDs(0, "", testTraceparent), want: withIDs(0, "", testTraceID, testSpanID)},
		{name: "ids correlation every allowed byte", raw: execRecordIDs(0, "AZaz09._:/@+=-", ""), want: withIDs(0, "AZaz09._:/@+=-", "", "")},
		{name: "ids correlation one byte", raw: execRecordIDs(0, "x", ""), want: withIDs(0, "x", "", "")},
		{name: "ids correlation 128 bytes", raw: execRecordIDs(0, max, ""), want: withIDs(0, max, "", "")},
		{name: "ids traceparent later version with more fields", raw: execRecordIDs(0, "", "cc"+testTraceparent[2:]+"-"),
			want: withIDs(0, "", testTraceID, testSpanID)},
		{name: "ids traceparent later version, exact length", raw: execRecordIDs(0, "", "01"+testTraceparent[2:]),
			want: withIDs(0, "", testTraceID, testSpanID)},
	}
	for _, bad := range []string{
		max + "a",     // 129 bytes: the kernel's sign of a longer value
		"abc 123",     // space
		"abc\x00",     // NUL
		"a\nb",        // newline
		"id;rm -rf /", // shell metacharacters
		"caf\xc3\xa9", // non-ASCII
		"\xff\xfe",    // not UTF-8
		"a,b",
		"a*b",
	} {
		cases = append(cases, decodeCase{name: fmt.Sprintf("ids correlation invalid %.20q", bad),
			raw: execRecordIDs(0, bad, testTraceparent), want: withIDs(FlagCorrelationIDInvalid, "", testTraceID, testSpanID)})
	}
	for _, bad := range badTraceparents() {
		cases = append(cases, decodeCase{name: fmt.Sprintf("ids traceparent invalid %.60q", bad),
			raw: execRecordIDs(0, "abc", bad), want: withIDs(FlagTraceparentInvalid, "abc", "", "")})
	}
	return cases
}

// badTraceparents are values ParseTraceparent must reject (none longer
// than the 56 bytes the kernel copies).
func badTraceparents() []string {
	tp := testTraceparent
	return []string{
		"x",
		tp[:54],             // one short
		tp + "-",            // version 00 with more fields
		tp + "x",            // version 00, one long
		"ff" + tp[2:],       // forbidden version
		"0g" + tp[2:],       // version not hex
		"0A" + tp[2:],       // version uppercase
		"01" + tp[2:] + "x", // later version, no '-' after the flags
		strings.ToUpper(tp), // uppercase hex
		tp[:3] + "4BF92F3577B34DA6A3CE929D0E0E4736" + tp[35:],
		tp[:36] + "00F067AA0BA902B7" + tp[52:],
		tp[:53] + "0A",                              // flags uppercase
		tp[:53] + "0x",                              // flags not hex
		tp[:3] + strings.Repeat("0", 32) + tp[35:],  // zero trace id
		tp[:36] + strings.Repeat("0", 16) + tp[52:], // zero parent id
		"01-" + strings.Repeat("0", 32) + tp[35:],   // zero trace id, later version
		tp[:2] + "_" + tp[3:],                       // separators
		tp[:35] + "_" + tp[36:],
		tp[:52] + "_" + tp[53:],
		"00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01", // fields shifted
		tp[:3] + "4bf92f3577b34da6a3ce929d0e0e473g" + tp[35:],
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\x00",
		strings.Repeat("-", 55),
	}
}

func TestParseCorrelationID(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"abc-123", true},
		{"run:42/step@host+x=y_z.q", true},
		{strings.Repeat("Z", 128), true},
		{strings.Repeat("Z", 129), false},
		{"", false},
		{" abc", false},
		{"abc\t", false},
		{"ü", false},
	} {
		got, ok := ParseCorrelationID(tc.in)
		if ok != tc.ok || (ok && got != tc.in) || (!ok && got != "") {
			t.Errorf("ParseCorrelationID(%q) = %q, %v; want ok %v", tc.in, got, ok, tc.ok)
		}
	}
}

func TestParseTraceparent(t *testing.T) {
	for _, tc := range []struct{ in, trace, span string }{
		{testTraceparent, testTraceID, testSpanID},
		{"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00", "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"},
		// A later version: the first four fields, whatever follows.
		{"01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03-what-ever", "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"},
		{"fe" + testTraceparent[2:], testTraceID, testSpanID},
		// Leading zeros are fine; only all-zero ids are not.
		{"00-00000000000000000000000000000001-0000000000000001-00", "00000000000000000000000000000001", "0000000000000001"},
	} {
		trace, span, ok := ParseTraceparent(tc.in)
		if !ok || trace != tc.trace || span != tc.span {
			t.Errorf("ParseTraceparent(%q) = %q, %q, %v; want %q, %q", tc.in, trace, span, ok, tc.trace, tc.span)
		}
	}
	for _, in := range append(badTraceparents(), "", "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03x-more") {
		if trace, span, ok := ParseTraceparent(in); ok || trace != "" || span != "" {
			t.Errorf("ParseTraceparent(%q) = %q, %q, %v; want rejected", in, trace, span, ok)
		}
	}
}

// The decoder's own flags must not collide with the kernel's.
func TestDecoderFlagsFree(t *testing.T) {
	for _, f := range []vigilEventFlag{
		vigilEventFlagFLAG_EXE_TRUNCATED, vigilEventFlagFLAG_ARGS_TRUNCATED, vigilEventFlagFLAG_CWD_TRUNCATED,
		vigilEventFlagFLAG_ARGS_UNREADABLE, vigilEventFlagFLAG_NEW_ROOT, vigilEventFlagFLAG_ENV_TRUNCATED,
	} {
		if Flags(f)&(FlagCorrelationIDInvalid|FlagTraceparentInvalid) != 0 {
			t.Errorf("kernel flag %#x collides with a decoder flag", f)
		}
	}
}

func FuzzParseTraceparent(f *testing.F) {
	f.Add(testTraceparent)
	for _, s := range badTraceparents() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		trace, span, ok := ParseTraceparent(s)
		if !ok {
			return
		}
		if len(trace) != 32 || len(span) != 16 || !lowerHex(trace) || !lowerHex(span) || allZero(trace) || allZero(span) {
			t.Fatalf("ParseTraceparent(%q) accepted ids %q %q", s, trace, span)
		}
		if s[:2] == "ff" || (s[:2] == "00" && len(s) != 55) || s[3:35] != trace || s[36:52] != span {
			t.Fatalf("ParseTraceparent(%q) accepted a bad value", s)
		}
	})
}

func TestDecode(t *testing.T) {
	for _, tc := range decodeCases() {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDecoder()
			// Start from a dirty event: Decode must reset every field.
			ev := Event{Kind: KindLoss, Args: []string{"stale"}, Status: 99, Loss: Loss{Count: 1}, Executable: "stale",
				File: File{Path: "stale", Dir2: "stale", Inode: 9, Op: FileRename}}
			if err := d.Decode(tc.raw, &ev); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(ev, tc.want) {
				t.Errorf("Decode:\n got %+v\nwant %+v", ev, tc.want)
			}
		})
	}
}

func TestDecodeExeDevice(t *testing.T) {
	for _, dev := range []struct{ major, minor uint32 }{{0, 0}, {8, 1}, {259, 3}, {0, 0x12345}, {4095, 1<<20 - 1}} {
		raw := withExec(execRecord(0, 0, "/x", "", "/"), func(x *vigilExecEvent) { x.ExeDev = kdev(dev.major, dev.minor) })
		var ev Event
		if err := NewDecoder().Decode(raw, &ev); err != nil {
			t.Fatal(err)
		}
		if got, want := ev.ExeDevice, unix.Mkdev(dev.major, dev.minor); got != want {
			t.Errorf("dev %d:%d: ExeDevice %#x, want %#x", dev.major, dev.minor, got, want)
		}
		if unix.Major(ev.ExeDevice) != dev.major || unix.Minor(ev.ExeDevice) != dev.minor {
			t.Errorf("dev %d:%d: decoded as %d:%d", dev.major, dev.minor, unix.Major(ev.ExeDevice), unix.Minor(ev.ExeDevice))
		}
	}
}

// TestDecodeFileDevice checks the conversion of a file record's device
// from the kernel's encoding (major<<20 | minor) to the user-space one.
func TestDecodeFileDevice(t *testing.T) {
	for _, dev := range []struct{ major, minor uint32 }{{0, 0}, {8, 1}, {259, 3}, {0, 0x2d}, {0, 0x12345}, {4095, 1<<20 - 1}} {
		raw := fileRecord(vigilFileEvent{Op: uint16(vigilFileOpFILE_WRITE_END), Dev: kdev(dev.major, dev.minor)}, "", "", "", "")
		var ev Event
		if err := NewDecoder().Decode(raw, &ev); err != nil {
			t.Fatal(err)
		}
		if got, want := ev.File.Device, unix.Mkdev(dev.major, dev.minor); got != want {
			t.Errorf("dev %d:%d: Device %#x, want %#x", dev.major, dev.minor, got, want)
		}
		if unix.Major(ev.File.Device) != dev.major || unix.Minor(ev.File.Device) != dev.minor {
			t.Errorf("dev %d:%d: decoded as %d:%d", dev.major, dev.minor, unix.Major(ev.File.Device), unix.Minor(ev.File.Device))
		}
	}
}

// TestDecodeFileStrings checks that each string gets exactly its bytes
// whatever the mix of empty and non-empty neighbours.
func TestDecodeFileStrings(t *testing.T) {
	vals := [4]string{"/dir", "path", "/dir2", "path2"}
	for mask := range 16 {
		var s [4]string
		for i := range s {
			if mask&(1<<i) != 0 {
				s[i] = vals[i]
			}
		}
		var ev Event
		if err := NewDecoder().Decode(fileRecord(vigilFileEvent{Op: uint16(vigilFileOpFILE_RENAME)}, s[0], s[1], s[2], s[3]), &ev); err != nil {
			t.Fatalf("mask %04b: %v", mask, err)
		}
		if got := [4]string{ev.File.Dir, ev.File.Path, ev.File.Dir2, ev.File.Path2}; got != s {
			t.Errorf("mask %04b: strings %q, want %q", mask, got, s)
		}
	}
}

func TestDecodeExitStatus(t *testing.T) {
	for _, tc := range []struct {
		status uint32
		code   int64
		sig    syscall.Signal
		core   bool
	}{
		{0, 0, 0, false},
		{1 << 8, 1, 0, false},
		{255 << 8, 255, 0, false},
		{uint32(syscall.SIGKILL), 128 + 9, syscall.SIGKILL, false},
		{uint32(syscall.SIGSEGV) | 0x80, 128 + 11, syscall.SIGSEGV, true},
	} {
		var ev Event
		if err := NewDecoder().Decode(exitRecord(tc.status), &ev); err != nil {
			t.Fatal(err)
		}
		if ev.ExitCode() != tc.code || ev.Signal() != tc.sig || ev.CoreDumped() != tc.core {
			t.Errorf("status %#x: code %d signal %v core %v, want %d %v %v",
				tc.status, ev.ExitCode(), ev.Signal(), ev.CoreDumped(), tc.code, tc.sig, tc.core)
		}
	}
}

type decodeErrCase struct {
	name     string
	raw      []byte
	wantType uint16
	wantErr  error
}

func decodeErrCases() []decodeErrCase {
	fork := forkRecord("bash")
	exit := exitRecord(0)
	exec := execRecord(0, 1, "/bin/true", "true\x00", "/")
	file := fileRecord(vigilFileEvent{Op: uint16(vigilFileOpFILE_RENAME)}, "/d", "a", "/e", "b")
	bare := fileRecord(vigilFileEvent{Op: uint16(vigilFileOpFILE_WRITE_END)}, "", "", "", "")
	return []decodeErrCase{
		{name: "file header only", raw: setSize(slices.Clone(file[:headerSize])),
			wantType: uint16(KindFile), wantErr: ErrShortRecord},
		{name: "file one short of the struct", raw: setSize(slices.Clone(file[:fileSize-1])),
			wantType: uint16(KindFile), wantErr: ErrShortRecord},
		{name: "file lengths exceed data", raw: withFile(slices.Clone(file), func(x *vigilFileEvent) { x.Path2Len++ }),
			wantType: uint16(KindFile), wantErr: ErrBadSize},
		{name: "file lengths short of data", raw: withFile(slices.Clone(file), func(x *vigilFileEvent) { x.DirLen-- }),
			wantType: uint16(KindFile), wantErr: ErrBadSize},
		{name: "file lengths of the strings only, data cut", raw: setSize(slices.Clone(file[:len(file)-1])),
			wantType: uint16(KindFile), wantErr: ErrBadSize},
		{name: "file data without lengths", raw: setSize(append(slices.Clone(bare), "/x"...)),
			wantType: uint16(KindFile), wantErr: ErrBadSize},
		{name: "file lengths without data", raw: withFile(slices.Clone(bare), func(x *vigilFileEvent) { x.Dir2Len = 1 }),
			wantType: uint16(KindFile), wantErr: ErrBadSize},
		{name: "file lengths max, no data", raw: withFile(slices.Clone(bare), func(x *vigilFileEvent) {
			x.DirLen, x.PathLen, x.Dir2Len, x.Path2Len = 0xffff, 0xffff, 0xffff, 0xffff
		}), wantType: uint16(KindFile), wantErr: ErrBadSize},
		{name: "file size field disagrees", raw: withHdr(slices.Clone(file), func(h *vigilEventHeader) { h.Size-- }),
			wantType: uint16(KindFile), wantErr: ErrBadSize},
		{name: "file type on a fork-sized record", raw: withHdr(slices.Clone(fork), func(h *vigilEventHeader) { h.Type = uint16(KindFile) }),
			wantType: uint16(KindFile), wantErr: ErrShortRecord},
		{name: "empty", raw: nil, wantType: 0, wantErr: ErrShortRecord},
		{name: "one byte", raw: []byte{1}, wantType: 0, wantErr: ErrShortRecord},
		{name: "header minus one", raw: fork[:headerSize-1], wantType: 0, wantErr: ErrShortRecord},
		{name: "size larger than length", raw: withHdr(slices.Clone(fork), func(h *vigilEventHeader) { h.Size++ }),
			wantType: uint16(KindFork), wantErr: ErrBadSize},
		{name: "size smaller than length", raw: withHdr(slices.Clone(fork), func(h *vigilEventHeader) { h.Size-- }),
			wantType: uint16(KindFork), wantErr: ErrBadSize},
		{name: "size zero", raw: withHdr(slices.Clone(exec), func(h *vigilEventHeader) { h.Size = 0 }),
			wantType: uint16(KindExec), wantErr: ErrBadSize},
		{name: "fork header only", raw: setSize(slices.Clone(fork[:headerSize])),
			wantType: uint16(KindFork), wantErr: ErrShortRecord},
		{name: "fork short by 8", raw: setSize(slices.Clone(fork[:len(fork)-8])),
			wantType: uint16(KindFork), wantErr: ErrShortRecord},
		{name: "fork too long", raw: setSize(append(slices.Clone(fork), 0, 0, 0, 0, 0, 0, 0, 0)),
			wantType: uint16(KindFork), wantErr: ErrBadSize},
		{name: "exit header only", raw: setSize(slices.Clone(exit[:headerSize])),
			wantType: uint16(KindExit), wantErr: ErrShortRecord},
		{name: "exit short by 4", raw: setSize(slices.Clone(exit[:len(exit)-4])),
			wantType: uint16(KindExit), wantErr: ErrShortRecord},
		{name: "exit too long", raw: setSize(append(slices.Clone(exit), 0, 0, 0, 0, 0, 0, 0, 0)),
			wantType: uint16(KindExit), wantErr: ErrBadSize},
		{name: "exec header only", raw: setSize(slices.Clone(exec[:headerSize])),
			wantType: uint16(KindExec), wantErr: ErrShortRecord},
		{name: "exec one short of the struct", raw: setSize(slices.Clone(exec[:execSize-1])),
			wantType: uint16(KindExec), wantErr: ErrShortRecord},
		{name: "exec lengths exceed data", raw: withExec(slices.Clone(exec), func(x *vigilExecEvent) { x.CwdLen++ }),
			wantType: uint16(KindExec), wantErr: ErrBadSize},
		{name: "exec lengths short of data", raw: withExec(slices.Clone(exec), func(x *vigilExecEvent) { x.ExeLen-- }),
			wantType: uint16(KindExec), wantErr: ErrBadSize},
		{name: "exec lengths max, no data", raw: withExec(setSize(slices.Clone(exec[:execSize])), func(x *vigilExecEvent) {
			x.ExeLen, x.ArgsLen, x.CwdLen = 0xffff, 0xffff, 0xffff
		}), wantType: uint16(KindExec), wantErr: ErrBadSize},
		{name: "exec correlation id length past the data", raw: withExec(slices.Clone(exec), func(x *vigilExecEvent) { x.CorrIdLen = 1 }),
			wantType: uint16(KindExec), wantErr: ErrBadSize},
		{name: "exec traceparent length past the data", raw: withExec(slices.Clone(exec), func(x *vigilExecEvent) { x.TraceparentLen = 0xff }),
			wantType: uint16(KindExec), wantErr: ErrBadSize},
		{name: "exec id lengths max, no data", raw: withExec(setSize(slices.Clone(exec[:execSize])), func(x *vigilExecEvent) {
			x.CorrIdLen, x.TraceparentLen = 0xff, 0xff
		}), wantType: uint16(KindExec), wantErr: ErrBadSize},
		{name: "exec id bytes without lengths", raw: setSize(append(slices.Clone(exec), "abc"...)),
			wantType: uint16(KindExec), wantErr: ErrBadSize},
		{name: "type zero", raw: withHdr(slices.Clone(fork), func(h *vigilEventHeader) { h.Type = 0 }),
			wantType: 0, wantErr: ErrUnknownType},
		{name: "type max", raw: withHdr(slices.Clone(fork), func(h *vigilEventHeader) { h.Type = uint16(vigilEventTypeEVENT_TYPE_MAX) }),
			wantType: uint16(vigilEventTypeEVENT_TYPE_MAX), wantErr: ErrUnknownType},
		{name: "type loss is not a record", raw: withHdr(slices.Clone(fork), func(h *vigilEventHeader) { h.Type = uint16(KindLoss) }),
			wantType: uint16(KindLoss), wantErr: ErrUnknownType},
		{name: "type 0xffff", raw: withHdr(slices.Clone(exit), func(h *vigilEventHeader) { h.Type = 0xffff }),
			wantType: 0xffff, wantErr: ErrUnknownType},
		{name: "type 0x101 (fork in the low byte)", raw: withHdr(slices.Clone(fork), func(h *vigilEventHeader) { h.Type = 0x101 }),
			wantType: 0x101, wantErr: ErrUnknownType},
		{name: "type 0x203 (exit in the low byte)", raw: withHdr(slices.Clone(exit), func(h *vigilEventHeader) { h.Type = 0x203 }),
			wantType: 0x203, wantErr: ErrUnknownType},
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range decodeErrCases() {
		t.Run(tc.name, func(t *testing.T) {
			var ev Event
			err := NewDecoder().Decode(tc.raw, &ev)
			if err == nil {
				t.Fatalf("Decode succeeded (%v), want %v", ev.Kind, tc.wantErr)
			}
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %T %v is not a *DecodeError", err, err)
			}
			if de.Type != tc.wantType {
				t.Errorf("DecodeError.Type = %#x, want %#x", de.Type, tc.wantType)
			}
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("error %q is not %q", err, tc.wantErr)
			}
			for _, other := range []error{ErrShortRecord, ErrBadSize, ErrUnknownType} {
				if other != tc.wantErr && errors.Is(err, other) {
					t.Errorf("error %q also matches %q", err, other)
				}
			}
			if !strings.HasPrefix(err.Error(), "decode ") {
				t.Errorf("error %q lacks the decode prefix", err)
			}
		})
	}
}

func TestDecodeErrorMessage(t *testing.T) {
	var ev Event
	err := NewDecoder().Decode(setSize(slices.Clone(forkRecord("x")[:headerSize])), &ev)
	if want := "decode fork record: record shorter than its type requires"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %v, want prefix %q", err, want)
	}
	err = NewDecoder().Decode([]byte{2, 0}, &ev)
	if want := "decode kind(0) record: record shorter than its type requires: 2 bytes"; err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
}

// TestDecodeCommInterned checks that equal thread names share one string,
// and that the cache keeps returning right names after it is reset.
func TestDecodeCommInterned(t *testing.T) {
	d := NewDecoder()
	var a, b Event
	if err := d.Decode(forkRecord("worker"), &a); err != nil {
		t.Fatal(err)
	}
	if err := d.Decode(forkRecord("worker"), &b); err != nil {
		t.Fatal(err)
	}
	if unsafe.StringData(a.Task.Comm) != unsafe.StringData(b.Task.Comm) {
		t.Error("equal comms decoded to distinct strings")
	}
	for i := range maxInterned + 10 {
		name := "w" + strings.Repeat("x", i%10) + string(rune('A'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676%26))
		var ev Event
		if err := d.Decode(forkRecord(name), &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Task.Comm != name {
			t.Fatalf("comm %d: got %q, want %q", i, ev.Task.Comm, name)
		}
	}
	if len(d.comms) > maxInterned {
		t.Errorf("comm cache holds %d names, cap %d", len(d.comms), maxInterned)
	}
}

// TestDecodeForkAllocs checks that a fork record decodes without
// allocating once its thread name is interned.
func TestDecodeForkAllocs(t *testing.T) {
	d := NewDecoder()
	raw := forkRecord("bash")
	var ev Event
	if err := d.Decode(raw, &ev); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { _ = d.Decode(raw, &ev) }); n != 0 {
		t.Errorf("fork decode: %v allocs/op, want 0", n)
	}
	raw = exitRecord(0)
	if n := testing.AllocsPerRun(100, func() { _ = d.Decode(raw, &ev) }); n != 0 {
		t.Errorf("exit decode: %v allocs/op, want 0", n)
	}
}

func TestSplitArgs(t *testing.T) {
	for _, tc := range []struct {
		block string
		want  []string
	}{
		{"", nil},
		{"a\x00", []string{"a"}},
		{"a", []string{"a"}}, // cut short: partial argument kept
		{"a\x00b", []string{"a", "b"}},
		{"a\x00b\x00", []string{"a", "b"}},
		{"a\x00\x00", []string{"a", ""}},
		{"\x00a\x00", []string{"", "a"}},
		{"\x00\x00", []string{"", ""}},
		{"\x00", []string{""}},
	} {
		got := splitArgs(nil, []byte(tc.block))
		if !slices.Equal(got, tc.want) || (got == nil) != (tc.want == nil) {
			t.Errorf("splitArgs(%q) = %q, want %q", tc.block, got, tc.want)
		}
	}
	if got := splitArgs([]string{"keep"}, []byte("x\x00")); !slices.Equal(got, []string{"keep", "x"}) {
		t.Errorf("splitArgs appends to dst: got %q", got)
	}
}

func FuzzDecode(f *testing.F) {
	for _, tc := range decodeCases() {
		f.Add(tc.raw)
	}
	for _, tc := range decodeErrCases() {
		f.Add(tc.raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var ev Event
		err := NewDecoder().Decode(raw, &ev)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %T %v is not a *DecodeError", err, err)
			}
			if !errors.Is(err, ErrShortRecord) && !errors.Is(err, ErrBadSize) && !errors.Is(err, ErrUnknownType) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			_ = err.Error()
			return
		}
		if ev.Kind == KindLoss || strings.HasPrefix(ev.Kind.String(), "kind(") {
			t.Fatalf("decoded kind %v", ev.Kind)
		}
		if len(ev.Task.Comm) > 16 {
			t.Fatalf("comm %q longer than 16 bytes", ev.Task.Comm)
		}
		if ev.Kind == KindExec {
			n := len(ev.Executable) + len(ev.Cwd)
			for _, a := range ev.Args {
				n += len(a)
			}
			if n > len(raw)-execSize {
				t.Fatalf("exec fields hold %d bytes, record data %d", n, len(raw)-execSize)
			}
		}
		if ev.CorrelationID != "" {
			if _, ok := ParseCorrelationID(ev.CorrelationID); !ok || ev.Kind != KindExec {
				t.Fatalf("%v record decoded correlation id %q", ev.Kind, ev.CorrelationID)
			}
		}
		if (ev.TraceID == "") != (ev.SpanID == "") || (ev.TraceID != "" && (len(ev.TraceID) != 32 || len(ev.SpanID) != 16 || ev.Kind != KindExec)) {
			t.Fatalf("%v record decoded trace id %q, span id %q", ev.Kind, ev.TraceID, ev.SpanID)
		}
		if ev.Kind == KindFile {
			f := &ev.File
			if n := len(f.Dir) + len(f.Path) + len(f.Dir2) + len(f.Path2); n != len(raw)-fileSize {
				t.Fatalf("file strings hold %d bytes, record data %d", n, len(raw)-fileSize)
			}
			if string(raw[fileSize:]) != f.Dir+f.Path+f.Dir2+f.Path2 {
				t.Fatalf("file strings %q %q %q %q do not spell the record data %q", f.Dir, f.Path, f.Dir2, f.Path2, raw[fileSize:])
			}
		} else if ev.File != (File{}) {
			t.Fatalf("%v record decoded file fields %+v", ev.Kind, ev.File)
		}
	})
}

func benchmarkDecode(b *testing.B, raw []byte) {
	d := NewDecoder()
	var ev Event
	if err := d.Decode(raw, &ev); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if err := d.Decode(raw, &ev); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

func BenchmarkDecodeExec(b *testing.B) {
	benchmarkDecode(b, execRecord(0, 4, "/usr/bin/python3",
		"python3\x00-m\x00pytest\x00tests/test_decode.py\x00", "/home/user/src/project"))
}

func BenchmarkDecodeFileOpen(b *testing.B) {
	benchmarkDecode(b, fileCases()[0].raw)
}

func BenchmarkDecodeFork(b *testing.B) {
	benchmarkDecode(b, forkRecord("bash"))
}
