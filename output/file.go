package output

import (
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vigilsec/vigil/correlate"
	"github.com/vigilsec/vigil/sensor"
)

var (
	typeCreation = []string{"creation"}
	typeAccess   = []string{"access"}
	typeDeletion = []string{"deletion"}
	typeChange   = []string{"change"}
)

// fileAction is the ECS event.type and event.action of a file event.
func fileAction(r *correlate.Record) (types []string, action string) {
	f := &r.Event.File
	switch f.Op {
	case sensor.FileOpen:
		if f.Ret >= 0 && f.FMode&fmodeCreated != 0 {
			return typeCreation, "creation"
		}
		return typeAccess, "open"
	case sensor.FileUnlink, sensor.FileRmdir:
		return typeDeletion, "deletion"
	case sensor.FileRename:
		return typeChange, "rename"
	}
	return typeChange, "modification" // truncate, write totals
}

// fmodeCreated is FMODE_CREATED in struct file's f_mode: this open
// created the file. Bit 20 on every kernel from 4.19 through 6.18.
const fmodeCreated = 0x100000

func fileEvent(r *correlate.Record) eventFields {
	types, action := fileAction(r)
	ev := eventFields{kind: "event", category: "file", action: action, dataset: "vigil.file", types: types}
	f := &r.Event.File
	switch {
	case f.Op == sensor.FileWriteEnd:
		ev.span, ev.start = true, r.File.Start
	case f.Ret < 0:
		ev.outcome = "failure"
	default:
		ev.outcome = "success"
	}
	return ev
}

// file writes the file.* object, its members in key order.
func (e *Encoder) file(r *correlate.Record) {
	j := &e.j
	f := &r.Event.File
	if r.File.Path != "" {
		j.open("file")
		dir, name := splitPath(r.File.Path)
		if f.Inode != 0 {
			j.key("device")
			j.b = append(j.b, '"')
			j.b = strconv.AppendUint(j.b, uint64(sensor.DevMajor(f.Device)), 10)
			j.b = append(j.b, ':')
			j.b = strconv.AppendUint(j.b, uint64(sensor.DevMinor(f.Device)), 10)
			j.b = append(j.b, '"')
			j.more = true
		}
		if dir != "" {
			if len(dir) > 1 && !(len(dir) == 3 && dir[1] == ':') { // "/" and "C:\\" stay
				dir = dir[:len(dir)-1]
			}
			j.str("directory", dir)
		}
		if name != "" {
			if ext := filepath.Ext(name); len(ext) > 1 && len(ext) < len(name) {
				j.str("extension", ext[1:])
			}
		}
		if h := r.Hash; h != nil && h.SHA256 != "" {
			j.open("hash")
			j.str("sha256", h.SHA256)
			j.close()
		}
		if f.Inode != 0 {
			j.uintStr("inode", f.Inode)
		}
		if name != "" {
			j.str("name", name)
		}
		j.str("path", r.File.Path)
		switch {
		case f.Op == sensor.FileRmdir:
			j.str("type", "dir")
		case f.Flags&sensor.FileRegular != 0 || r.Event.Kind == sensor.KindHash:
			j.str("type", "file")
		}
		j.close()
	}
}

// vigilFile writes Vigil.file.*, its members in key order.
func (e *Encoder) vigilFile(r *correlate.Record) {
	j := &e.j
	f := &r.Event.File
	open, write := f.Op == sensor.FileOpen, f.Op == sensor.FileWriteEnd
	j.open("file")
	if open {
		e.openAccess(f.OpenFlags)
	}
	if write && f.Flags&sensor.FileSizeUnknown == 0 {
		j.int("bytes_written", f.Size)
	}
	if open && f.OpenFlags&0o100 != 0 && f.Flags&sensor.FileModeUnknown == 0 {
		j.key("create_mode")
		j.b = append(j.b, '"', '0')
		j.b = strconv.AppendUint(j.b, uint64(f.Mode&0o7777), 8)
		j.b = append(j.b, '"')
		j.more = true
	}
	if h := r.Hash; h != nil {
		if h.Previous != "" {
			j.open("hash_before")
			j.str("sha256", h.Previous)
			j.close()
		}
		if h.State != correlate.HashDone {
			j.str("hash_state", h.State)
		}
	}
	if f.Op == sensor.FileRename {
		j.str("old_path", r.File.OldPath)
	}
	if open {
		j.uint("open_flags", uint64(f.OpenFlags))
	}
	j.str("path_source", r.File.PathSource)
	if f.Flags&sensor.FilePathCut != 0 {
		j.bool("path_truncated", true)
	}
	if f.Op == sensor.FileRename && f.OpenFlags != 0 {
		j.uint("rename_flags", uint64(f.OpenFlags))
	}
	if write {
		switch {
		case f.Flags&sensor.FileAtExit != 0:
			j.str("reported_at", "exit")
		case f.Flags&sensor.FileStale != 0:
			j.str("reported_at", "descriptor_reuse")
		case f.Flags&sensor.FileAtStop != 0:
			j.str("reported_at", "stop")
		default:
			j.str("reported_at", "close")
		}
	}
	switch {
	case f.Op == sensor.FileTruncate:
		j.int("truncated_to", f.Size)
	case write && f.Flags&sensor.FileTruncated != 0:
		j.int("truncated_to", f.Ret)
	}
	if write {
		j.uint("write_calls", f.Ops)
	}
	j.close()
}

// openAccess writes Vigil.file.access: what the open flags allow, of
// read, write, create, truncate and append.
func (e *Encoder) openAccess(flags uint32) {
	j := &e.j
	j.key("access")
	j.b = append(j.b, '[')
	switch flags & 0o3 {
	case 0:
		j.b = append(j.b, `"read"`...)
	case 1:
		j.b = append(j.b, `"write"`...)
	default:
		j.b = append(j.b, `"read","write"`...)
	}
	if flags&0o100 != 0 {
		j.b = append(j.b, `,"create"`...)
	}
	if flags&0o1000 != 0 {
		j.b = append(j.b, `,"truncate"`...)
	}
	if flags&0o2000 != 0 {
		j.b = append(j.b, `,"append"`...)
	}
	j.b = append(j.b, ']')
	j.more = true
}

// splitPath splits a path after its last separator: '/' and, in a
// Windows path (a drive letter or a UNC prefix: records from the ETW
// adapter, wherever they are encoded), '\\' as well.
func splitPath(p string) (dir, name string) {
	i := strings.LastIndexByte(p, '/')
	if isWindowsPath(p) {
		i = max(i, strings.LastIndexByte(p, '\\'))
	}
	return p[:i+1], p[i+1:]
}

func isWindowsPath(p string) bool {
	if len(p) >= 3 && p[1] == ':' && (p[2] == '\\' || p[2] == '/') {
		c := p[0] | 0x20
		return 'a' <= c && c <= 'z'
	}
	return strings.HasPrefix(p, `\\`)
}
