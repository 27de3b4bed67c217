package correlate

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vigilsec/vigil/sensor"
)

// FileRecord is what a file event says about its file(s), with paths made
// absolute.
type FileRecord struct {
	Path    string // absolute path (rename: the new name)
	OldPath string // rename: the old name
	// PathSource says how Path was found: "kernel" (from the kernel's
	// dentries: the open file's, or with the LSM programs, the parent
	// directory and name a removal or rename acted on), "resolved" (a string the process passed,
	// joined to its directory and resolved by Vigil), "unresolved" (a
	// relative string whose directory is unknown: Path is relative), or
	// "unknown" (write totals whose naming record was lost: no Path).
	PathSource string
	Start      time.Time // write totals: when the first write happened
}

// FileFilter drops read-only opens of well-known noise. The zero value
// drops nothing; the daemon's defaults are in internal/config.
type FileFilter struct {
	// ReadPrefixes: read-only opens of paths under these are dropped.
	ReadPrefixes []string
	// SharedLibraries drops read-only opens of "*.so" and "*.so.*" files.
	SharedLibraries bool
	// ProcSelf drops a process's read-only opens under its own /proc/PID.
	ProcSelf bool
}

// openAccessMask is O_ACCMODE plus the flags that change a file.
const (
	oAccMode = 0o3
	oCreat   = 0o100
	oTrunc   = 0o1000
	oAppend  = 0o2000
)

// readOnly reports whether open flags can neither change nor create.
func readOnly(flags uint32) bool {
	return flags&oAccMode == 0 && flags&(oCreat|oTrunc) == 0
}

// drops reports whether the filter drops a read-only open of path by p.
func (f *FileFilter) drops(p *Process, path string) bool {
	for _, pre := range f.ReadPrefixes {
		if strings.HasPrefix(path, pre) {
			return true
		}
	}
	if f.SharedLibraries {
		base := path[strings.LastIndexByte(path, '/')+1:]
		if strings.HasSuffix(base, ".so") || strings.Contains(base, ".so.") {
			return true
		}
	}
	if f.ProcSelf && strings.HasPrefix(path, "/proc/") {
		rest := path[len("/proc/"):]
		if strings.HasPrefix(rest, "self/") || strings.HasPrefix(rest, "thread-self/") {
			return true
		}
		if i := strings.IndexByte(rest, '/'); i > 0 && rest[:i] == strconv.FormatUint(uint64(p.PID), 10) {
			return true
		}
	}
	return false
}

// resolvePath makes a path the process passed absolute: joined to the
// directory the kernel reported for it, with its parent directory's
// symlinks and ".." resolved when the parent still exists, cleaned
// lexically when it does not. Paths under /proc and /dev/fd are only
// cleaned: their links (/proc/self, fd links) name the process that used
// them, not Vigil. A relative path without a directory (its dirfd named
// no open file) is returned as it is, and ok is false.
//
// With dirKernel, dir is the kernel's path of the directory, built from
// its dentries: it has no symlinks or dots to resolve, so only the
// relative path's own directories are looked up (one lstat for
// ".git/index.lock" where resolving the whole parent takes one for every
// component of the working directory as well).
func resolvePath(dir, p string, dirKernel bool) (path string, ok bool) {
	if p == "" {
		return dir, dir != ""
	}
	rel := ""
	if !filepath.IsAbs(p) {
		if dir == "" {
			return p, false
		}
		rel, p = p, dir+"/"+p
	}
	if strings.HasPrefix(p, "/proc/") || strings.HasPrefix(p, "/dev/fd/") || p == "/proc" {
		return filepath.Clean(p), true
	}
	if rel != "" && dirKernel {
		if r, ok := resolveBelow(dir, rel); ok {
			return r, true
		}
	}
	parent, base := filepath.Split(p)
	if base == "." || base == ".." {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			return r, true
		}
		return filepath.Clean(p), true
	}
	if r, err := filepath.EvalSymlinks(parent); err == nil {
		return filepath.Join(r, base), true
	}
	return filepath.Clean(p), true
}

// resolveBelow joins rel to dir, a directory path with nothing in it to
// resolve, when every directory rel names on the way is a real directory
// (not a symlink, not ".."): then the join, cleaned, is the answer. ok is
// false otherwise, and the caller resolves the whole path.
func resolveBelow(dir, rel string) (string, bool) {
	parent, base := filepath.Split(rel)
	if base == "" || base == "." || base == ".." {
		return "", false
	}
	r := strings.TrimRight(dir, "/") // "" for the root
	for c := range strings.SplitSeq(parent, "/") {
		switch c {
		case "", ".":
			continue
		case "..":
			return "", false
		}
		next := r + "/" + c
		if fi, err := os.Lstat(next); err != nil || !fi.IsDir() {
			return "", false
		}
		r = next
	}
	return r + "/" + base, true
}

// handleFile fills t.rec for a file event; false means no record (the
// event only feeds the table, or the filter dropped it).
func (t *Table) handleFile(ev *sensor.Event) bool {
	p := t.subject(ev)
	f := &ev.File
	t.file = FileRecord{PathSource: "resolved"}
	t.rec.Process, t.rec.Parent, t.rec.File = p, p.Parent, &t.file
	switch f.Op {
	case sensor.FileWriteStart:
		if p.files == nil {
			p.files = make(map[uint64]string)
		}
		p.files[f.Cookie] = f.Path
		return false
	case sensor.FileWriteEnd:
		if path, ok := p.files[f.Cookie]; ok {
			t.file.Path, t.file.PathSource = path, "kernel"
			delete(p.files, f.Cookie)
			if t.cfg.Hasher != nil {
				// The writer is done with it (closed, replaced the
				// descriptor, or is exiting): hash the content after.
				t.hash = HashInfo{}
				t.hash.SHA256, t.hash.State, t.hash.Previous = t.cfg.Hasher.Request(
					HashJob{Path: path, Process: *p, Time: t.rec.Time}, f.Device, f.Inode)
				t.rec.Hash = &t.hash
			}
		} else {
			t.file.PathSource = "unknown"
		}
		t.file.Start = t.cfg.Times.Time(f.First)
		return true
	case sensor.FileRename:
		if f.Flags&sensor.FilePathExact != 0 { // both names whole (adapters)
			t.file.OldPath, t.file.Path, t.file.PathSource = f.Path, f.Path2, "kernel"
			return true
		}
		if f.Flags&sensor.FilePathKernel != 0 {
			t.file.OldPath, t.file.Path, t.file.PathSource = filepath.Join(f.Dir, f.Path), filepath.Join(f.Dir2, f.Path2), "kernel"
			return true
		}
		var ok1, ok2 bool
		dirKernel := f.Flags&sensor.FileDirKernel != 0
		t.file.OldPath, ok1 = resolvePath(f.Dir, f.Path, dirKernel)
		t.file.Path, ok2 = resolvePath(f.Dir2, f.Path2, dirKernel)
		if !ok1 || !ok2 {
			t.file.PathSource = "unresolved"
		}
		return true
	}
	if f.Flags&sensor.FilePathExact != 0 {
		t.file.Path, t.file.PathSource = f.Path, "kernel"
	} else if f.Flags&sensor.FilePathKernel != 0 {
		t.file.Path, t.file.PathSource = filepath.Join(f.Dir, f.Path), "kernel"
	} else if path, ok := resolvePath(f.Dir, f.Path, f.Flags&sensor.FileDirKernel != 0); ok {
		t.file.Path = path
	} else {
		t.file.Path, t.file.PathSource = path, "unresolved"
	}
	if f.Op == sensor.FileOpen && readOnly(f.OpenFlags) && t.cfg.FileFilter.drops(p, t.file.Path) {
		t.stats.FilteredOpens++
		return false
	}
	return true
}
