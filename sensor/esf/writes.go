package esf

import (
	"cmp"
	"maps"
	"slices"

	"github.com/vigilsec/vigil/sensor"
)

// Write totals. ES reports each write to a file (es_event_write_t) with
// neither a byte count nor a descriptor, and each close with whether the
// file was modified by a write (es_event_close_t.modified). The Decoder counts a
// process's writes per file (by device and inode, so a rename between
// the writes and the close does not split them; by path without stat)
// and reports them as the Linux sensor does: FileWriteStart at the first
// write (no record of its own: it names the file for the totals), then
// FileWriteEnd at a modifying close, at the process's exit (FileAtExit),
// or once the pid turns out reused, its exit lost (FileStale). Ops is the
// number of write calls; Size (bytes) stays 0, as ES does not say. Writes
// through several descriptors of one file make one total, reported at the
// first modifying close. Writes to other than regular files (terminals,
// devices) are not counted.

type fileKey struct {
	dev, ino uint64
	path     string // only for a file without an inode
}

type fileAgg struct {
	cookie, first, ops uint64
	dev, ino           uint64
	flags              sensor.FileFlags // FileRegular when stat said so
}

// procWrites is one process's pending totals.
type procWrites struct {
	start uint64      // the process's start time: another one with its pid is a new process
	task  sensor.Task // as last seen, for totals reported without a message of the process
	tree  sensor.Tree
	files map[fileKey]*fileAgg
}

type writeTable struct {
	procs  map[uint32]*procWrites // by pid
	n, max int                    // totals pending, and their bound
	cookie uint64                 // the last cookie handed out
}

func keyOf(f *File) fileKey {
	if dev, ino := devIno(f); ino != 0 {
		return fileKey{dev: dev, ino: ino}
	}
	return fileKey{path: f.Path}
}

// notRegular reports whether stat says f is something other than a
// regular file; without stat the file is taken as one.
func notRegular(f *File) bool {
	return f.Stat != nil && f.Stat.Mode&sIFMT != 0 && !f.isRegular()
}

func (d *Decoder) newAgg(f *File, ktime uint64) *fileAgg {
	d.writes.cookie++
	a := &fileAgg{cookie: d.writes.cookie, first: ktime}
	a.dev, a.ino = devIno(f)
	if f.isRegular() {
		a.flags = sensor.FileRegular
	}
	return a
}

// write counts a write by the process tk to f.
func (d *Decoder) write(tk sensor.Task, tree sensor.Tree, ktime uint64, f *File, emit func(*sensor.Event) error) error {
	if notRegular(f) {
		return nil
	}
	k := keyOf(f)
	w := d.writes.procs[tk.PID]
	if w != nil {
		w.task, w.tree = tk, tree
		if a := w.files[k]; a != nil {
			a.ops++
			return nil
		}
	}
	if d.writes.n >= d.writes.max {
		d.loss.aggFull++
		return nil
	}
	if w == nil {
		w = &procWrites{start: tk.StartTime, task: tk, tree: tree, files: make(map[fileKey]*fileAgg)}
		d.writes.procs[tk.PID] = w
	}
	a := d.newAgg(f, ktime)
	a.ops = 1
	w.files[k] = a
	d.writes.n++
	return d.writeStart(tk, tree, ktime, f, a, emit)
}

// writeStart names the file a's totals are for.
func (d *Decoder) writeStart(tk sensor.Task, tree sensor.Tree, ktime uint64, f *File, a *fileAgg, emit func(*sensor.Event) error) error {
	ev := d.begin(sensor.KindFile, ktime, tree, tk)
	ev.File = sensor.File{
		Op:     sensor.FileWriteStart,
		Flags:  fileFlags(f),
		Inode:  a.ino,
		Device: a.dev,
		Cookie: a.cookie,
		FD:     -1,
		Path:   f.Path,
	}
	return emit(ev)
}

func (d *Decoder) writeEnd(tk sensor.Task, tree sensor.Tree, ktime uint64, a *fileAgg, flags sensor.FileFlags, emit func(*sensor.Event) error) error {
	ev := d.begin(sensor.KindFile, ktime, tree, tk)
	ev.File = sensor.File{
		Op:     sensor.FileWriteEnd,
		Flags:  a.flags | flags | sensor.FileSizeUnknown, // ES counts writes, not bytes
		Ops:    a.ops,
		First:  a.first,
		Inode:  a.ino,
		Device: a.dev,
		Cookie: a.cookie,
		FD:     -1,
	}
	return emit(ev)
}

// closeModified reports the totals of f at a close that modified it. A
// modifying close with no write seen (the file was written before the
// stream began, or the writes were lost) is reported too, with Ops 0.
func (d *Decoder) closeModified(tk sensor.Task, tree sensor.Tree, ktime uint64, f *File, emit func(*sensor.Event) error) error {
	if notRegular(f) {
		return nil
	}
	k := keyOf(f)
	var a *fileAgg
	if w := d.writes.procs[tk.PID]; w != nil {
		if a = w.files[k]; a != nil {
			delete(w.files, k)
			d.writes.n--
			if len(w.files) == 0 {
				delete(d.writes.procs, tk.PID)
			}
		}
	}
	if a == nil {
		a = d.newAgg(f, ktime)
		if err := d.writeStart(tk, tree, ktime, f, a, emit); err != nil {
			return err
		}
	}
	return d.writeEnd(tk, tree, ktime, a, 0, emit)
}

// flushWrites reports and forgets all of w's totals (process pid), in
// the order of their first writes, as the process tk (nil: as last
// seen).
func (d *Decoder) flushWrites(pid uint32, w *procWrites, flags sensor.FileFlags, ktime uint64, tk *sensor.Task, emit func(*sensor.Event) error) error {
	delete(d.writes.procs, pid)
	d.writes.n -= len(w.files)
	aggs := slices.SortedFunc(maps.Values(w.files), func(a, b *fileAgg) int { return cmp.Compare(a.cookie, b.cookie) })
	t := w.task
	if tk != nil {
		t = *tk
	}
	for _, a := range aggs {
		if err := d.writeEnd(t, w.tree, ktime, a, flags, emit); err != nil {
			return err
		}
	}
	return nil
}
