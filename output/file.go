package output

import (
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/vigilsec/vigil/correlate"
	"github.com/vigilsec/vigil/sensor"
	"golang.org/x/sys/unix"
)

// fileAction is the ECS event.type and event.action of a file event.
func fileAction(r *correlate.Record) (typ, action string) {
	f := &r.Event.File
	switch f.Op {
	case sensor.FileOpen:
		if f.Ret >= 0 && f.FMode&fmodeCreated != 0 {
			return "creation", "creation"
		}
		return "access", "open"
	case sensor.FileUnlink, sensor.FileRmdir:
		return "deletion", "deletion"
	case sensor.FileRename:
		return "change", "rename"
	}
	return "change", "modification" // truncate, write totals
}

// fmodeCreated is FMODE_CREATED in struct file's f_mode: this open
// created the file. Bit 20 on every kernel from 4.19 through 6.18.
const fmodeCreated = 0x100000

func (e *Encoder) fileEventHead(r *correlate.Record) {
	j := &e.j
	typ, action := fileAction(r)
	e.eventHead("event", "file", typ, action, "vigil.file")
	f := &r.Event.File
	if f.Op == sensor.FileWriteEnd {
		j.time("start", r.File.Start)
		j.time("end", r.Time)
		return
	}
	if f.Ret < 0 {
		j.str("outcome", "failure")
	} else {
		j.str("outcome", "success")
	}
}

// file writes the file.* object and error.* for a failed syscall.
func (e *Encoder) file(r *correlate.Record) {
	j := &e.j
	f := &r.Event.File
	if r.File.Path != "" {
		j.open("file")
		j.str("path", r.File.Path)
		dir, name := filepath.Split(r.File.Path)
		if name != "" {
			j.str("name", name)
			if ext := filepath.Ext(name); len(ext) > 1 && len(ext) < len(name) {
				j.str("extension", ext[1:])
			}
		}
		if dir != "" {
			if dir = strings.TrimSuffix(dir, "/"); dir == "" {
				dir = "/"
			}
			j.str("directory", dir)
		}
		if f.Inode != 0 {
			j.uintStr("inode", f.Inode)
			j.key("device")
			j.b = append(j.b, '"')
			j.b = strconv.AppendUint(j.b, uint64(unix.Major(f.Device)), 10)
			j.b = append(j.b, ':')
			j.b = strconv.AppendUint(j.b, uint64(unix.Minor(f.Device)), 10)
			j.b = append(j.b, '"')
			j.more = true
		}
		switch {
		case f.Op == sensor.FileRmdir:
			j.str("type", "dir")
		case f.Flags&sensor.FileRegular != 0 || r.Event.Kind == sensor.KindHash:
			j.str("type", "file")
		}
		if h := r.Hash; h != nil && h.SHA256 != "" {
			j.open("hash")
			j.str("sha256", h.SHA256)
			j.close()
		}
		j.close()
	}
	if f.Ret < 0 && f.Op != sensor.FileWriteEnd {
		errno := syscall.Errno(-f.Ret)
		j.open("error")
		j.str("code", errnoName(errno))
		j.str("message", errno.Error())
		j.close()
	}
}

// vigilFile writes Vigil.file.*.
func (e *Encoder) vigilFile(r *correlate.Record) {
	j := &e.j
	f := &r.Event.File
	j.open("file")
	j.str("path_source", r.File.PathSource)
	if h := r.Hash; h != nil {
		if h.State != correlate.HashDone {
			j.str("hash_state", h.State)
		}
		if h.Previous != "" {
			j.open("hash_before")
			j.str("sha256", h.Previous)
			j.close()
		}
	}
	if f.Flags&sensor.FilePathCut != 0 {
		j.bool("path_truncated", true)
	}
	switch f.Op {
	case sensor.FileOpen:
		e.openAccess(f.OpenFlags)
		j.uint("open_flags", uint64(f.OpenFlags))
		if f.OpenFlags&0o100 != 0 {
			j.key("create_mode")
			j.b = append(j.b, '"', '0')
			j.b = strconv.AppendUint(j.b, uint64(f.Mode&0o7777), 8)
			j.b = append(j.b, '"')
			j.more = true
		}
	case sensor.FileRename:
		j.str("old_path", r.File.OldPath)
		if f.OpenFlags != 0 {
			j.uint("rename_flags", uint64(f.OpenFlags))
		}
	case sensor.FileTruncate:
		j.int("truncated_to", f.Size)
	case sensor.FileWriteEnd:
		j.int("bytes_written", f.Size)
		j.uint("write_calls", f.Ops)
		if f.Flags&sensor.FileTruncated != 0 {
			j.int("truncated_to", f.Ret)
		}
		switch {
		case f.Flags&sensor.FileAtExit != 0:
			j.str("reported_at", "exit")
		case f.Flags&sensor.FileStale != 0:
			j.str("reported_at", "descriptor_reuse")
		default:
			j.str("reported_at", "close")
		}
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

// errnoName is "ENOENT" for ENOENT, or the number when unnamed.
func errnoName(e syscall.Errno) string {
	if n := unix.ErrnoName(e); n != "" {
		return n
	}
	return "errno " + strconv.Itoa(int(e))
}
