package esf

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// A writer of eslogger output for the tests and for
// testdata/agent-session.jsonl. The shape follows eslogger's as recorded
// from its binary's Codable models and real lines in Red Canary Mac
// Monitor's test fixtures (github.com/Brandon7CC/mac-monitor,
// ProjectSutro/SutroESFrameworkTests/Fixtures/eslogger-keys.json,
// eslogger-exit.jsonl, eslogger-open.jsonl, eslogger-lineage.jsonl):
// every key an object of its own, snake_case names from ESMessage.h,
// audit tokens as objects, numbers for enums and flags, "time" in UTC
// with nine fractional digits, "start_time" (a timeval) with six, "/"
// written as "\/" as Foundation's encoder does, and the envelope keys
// action, action_type, event, event_type, global_seq_num, mach_time,
// process, schema_version, seq_num, thread, time, version. Field meaning
// and the version gates are those of ESMessage.h (via the Rust bindings
// github.com/HarfangLab/endpoint-sec, endpoint-sec-sys/src/message.rs,
// which carry its comments). Keys come out sorted: eslogger's order is
// not fixed either.

// obj is a JSON object.
type obj = map[string]any

// session writes messages of one ES client: per-type and global sequence
// numbers, a clock, mach time.
type session struct {
	epoch  time.Time // the session's start
	now    time.Time
	mach   uint64
	global uint64
	seq    map[int]uint64
	lines  [][]byte
}

func newSession(start time.Time) *session {
	return &session{epoch: start, now: start, mach: 118_000_000_000, seq: make(map[int]uint64)}
}

// esTime formats a timespec as eslogger does.
func esTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000000Z") }

// esTimeval formats a timeval (start_time).
func esTimeval(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z") }

// proc is a process as the session knows it.
type proc struct {
	pid, pidversion    int
	ppid, originalPPID int
	parentVersion      int
	pgid, sid          int
	uid, gid           int
	exe                *fileInfo
	signingID, teamID  string
	platform           bool
	csflags            int
	cdhash             string
	tty                *fileInfo
	start              time.Time
	responsible        [2]int // pid, pidversion
	thread             uint64
}

// fileInfo is a file and what stat says of it.
type fileInfo struct {
	path      string
	ino, size int
	mode      int
	dev       int
	uid, gid  int
	truncated bool
}

// st_dev of the sealed System volume and of the Data volume (major 1).
const (
	systemVolume = 16777230
	dataVolume   = 16777232
)

// regular is a file of the user's (dev:staff).
func regular(path string, ino, size int) *fileInfo {
	return &fileInfo{path: path, ino: ino, size: size, mode: 0o100644, dev: dataVolume, uid: 501, gid: 20}
}

// binary is an executable: the system's (root:wheel, on the System
// volume), or Homebrew's (dev:admin).
func binary(path string, ino, size int) *fileInfo {
	if strings.HasPrefix(path, "/opt/homebrew/") {
		return &fileInfo{path: path, ino: ino, size: size, mode: 0o100755, dev: dataVolume, uid: 501, gid: 80}
	}
	f := &fileInfo{path: path, ino: ino, size: size, mode: 0o100755, dev: systemVolume}
	if strings.HasPrefix(path, "/Library/") {
		f.dev = dataVolume
	}
	return f
}

func dir(path string, ino int) *fileInfo {
	return &fileInfo{path: path, ino: ino, size: 128, mode: 0o040755, dev: dataVolume, uid: 501, gid: 20}
}

func (f *fileInfo) json(s *session) obj {
	if f == nil {
		return nil
	}
	ts := esTime(s.epoch.Add(-72 * time.Hour))
	return obj{
		"path":           f.path,
		"path_truncated": f.truncated,
		"stat": obj{
			"st_dev": f.dev, "st_ino": f.ino, "st_mode": f.mode, "st_nlink": 1,
			"st_uid": f.uid, "st_gid": f.gid, "st_rdev": 0, "st_size": f.size,
			"st_blocks": (f.size + 511) / 512, "st_blksize": 4096, "st_flags": 0, "st_gen": 0,
			"st_atimespec": ts, "st_mtimespec": ts, "st_ctimespec": ts, "st_birthtimespec": ts,
		},
	}
}

func token(pid, pidversion, uid, gid int) obj {
	return obj{"pid": pid, "pidversion": pidversion, "euid": uid, "ruid": uid, "egid": gid, "rgid": gid,
		"asid": 100017, "auid": 501}
}

func (p *proc) json(s *session) obj {
	team := any(nil)
	if p.teamID != "" {
		team = p.teamID
	}
	return obj{
		"audit_token":             token(p.pid, p.pidversion, p.uid, p.gid),
		"parent_audit_token":      token(p.ppid, p.parentVersion, p.uid, p.gid),
		"responsible_audit_token": token(p.responsible[0], p.responsible[1], p.uid, p.gid),
		"ppid":                    p.ppid,
		"original_ppid":           p.originalPPID,
		"group_id":                p.pgid,
		"session_id":              p.sid,
		"codesigning_flags":       p.csflags,
		"is_platform_binary":      p.platform,
		"is_es_client":            false,
		"cdhash":                  p.cdhash,
		"signing_id":              p.signingID,
		"team_id":                 team,
		"executable":              p.exe.json(s),
		"tty":                     p.tty.json(s),
		"start_time":              esTimeval(p.start),
	}
}

// emit writes one message of event type typ from p, dt after the last.
func (s *session) emit(dt time.Duration, p *proc, typ int, name string, event obj) {
	s.now = s.now.Add(dt)
	s.mach += uint64(dt / time.Nanosecond * 3 / 125) // 24 MHz timebase
	result := obj{"result": obj{"auth": 0}, "result_type": 0}
	if typ == typeOpen {
		result = obj{"result": obj{"flags": 4294967295}, "result_type": 1}
	}
	m := obj{
		"action":         obj{"result": result},
		"action_type":    1,
		"event":          obj{name: event},
		"event_type":     typ,
		"global_seq_num": s.global,
		"mach_time":      s.mach,
		"process":        p.json(s),
		"schema_version": 1,
		"seq_num":        s.seq[typ],
		"thread":         obj{"thread_id": p.thread},
		"time":           esTime(s.now),
		"version":        8,
	}
	s.global++
	s.seq[typ]++
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	s.lines = append(s.lines, bytes.ReplaceAll(b, []byte("/"), []byte(`\/`)))
}

// skip makes the session drop the next n messages of type typ, as the
// kernel does when the client falls behind.
func (s *session) skip(typ int, n uint64) {
	s.seq[typ] += n
	s.global += n
}

func (s *session) bytes() []byte {
	var b bytes.Buffer
	for _, l := range s.lines {
		b.Write(l)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// fork makes child (pid, a new pidversion) of p, running p's program.
func (s *session) fork(dt time.Duration, p *proc, pid, pidversion int, thread uint64) *proc {
	c := *p
	c.pid, c.pidversion, c.thread = pid, pidversion, thread
	c.ppid, c.originalPPID, c.parentVersion = p.pid, p.pid, p.pidversion
	c.start = s.now.Add(dt).Truncate(time.Microsecond)
	s.emit(dt, p, typeFork, "fork", obj{"child": c.json(s)})
	return &c
}

type execArgs struct {
	exe               *fileInfo
	args, env         []string
	cwd               string
	script            *fileInfo
	dyld              string
	signingID, teamID string
	platform          bool
	csflags           int // 0: a platform binary's
}

// exec runs a program in p: the message's process is p before, the
// target p after, with the next pidversion.
func (s *session) exec(dt time.Duration, p *proc, x execArgs) {
	before := *p
	p.pidversion++
	p.exe, p.signingID, p.teamID, p.platform = x.exe, x.signingID, x.teamID, x.platform
	p.csflags, p.cdhash = x.csflags, cdhash(x.exe.path)
	if p.csflags == 0 {
		p.csflags = 0x26000b01
	}
	if p.responsible[0] == p.pid {
		p.responsible[1] = p.pidversion
	}
	dyld := x.dyld
	if dyld == "" {
		dyld = x.exe.path
	}
	s.emit(dt, &before, typeExec, "exec", obj{
		"target":           p.json(s),
		"script":           x.script.json(s),
		"cwd":              dir(x.cwd, 880011).json(s),
		"args":             x.args,
		"env":              x.env,
		"dyld_exec_path":   dyld,
		"last_fd":          2,
		"image_cputype":    16777228, // CPU_TYPE_ARM64
		"image_cpusubtype": 2,
		"fds": []obj{
			{"fd": 0, "fdtype": 1}, {"fd": 1, "fdtype": 1}, {"fd": 2, "fdtype": 1},
		},
	})
}

func (s *session) exit(dt time.Duration, p *proc, stat int) {
	s.emit(dt, p, typeExit, "exit", obj{"stat": stat})
}

func (s *session) open(dt time.Duration, p *proc, f *fileInfo, fflag int) {
	s.emit(dt, p, typeOpen, "open", obj{"fflag": fflag, "file": f.json(s)})
}

func (s *session) write(dt time.Duration, p *proc, f *fileInfo) {
	s.emit(dt, p, typeWrite, "write", obj{"target": f.json(s)})
}

func (s *session) close(dt time.Duration, p *proc, f *fileInfo, modified bool) {
	s.emit(dt, p, typeClose, "close", obj{"modified": modified, "target": f.json(s), "was_mapped_writable": false})
}

func (s *session) unlink(dt time.Duration, p *proc, f, parent *fileInfo) {
	s.emit(dt, p, typeUnlink, "unlink", obj{"target": f.json(s), "parent_dir": parent.json(s)})
}

// renameOver renames src over the existing file dst.
func (s *session) renameOver(dt time.Duration, p *proc, src, dst *fileInfo) {
	s.emit(dt, p, typeRename, "rename", obj{"source": src.json(s), "destination_type": 0,
		"destination": obj{"existing_file": dst.json(s)}})
}

// renameTo renames src to a new name in dir.
func (s *session) renameTo(dt time.Duration, p *proc, src, d *fileInfo, name string) {
	s.emit(dt, p, typeRename, "rename", obj{"source": src.json(s), "destination_type": 1,
		"destination": obj{"new_path": obj{"dir": d.json(s), "filename": name}}})
}

func (s *session) connect(dt time.Duration, p *proc, sock *fileInfo) {
	s.emit(dt, p, typeUIPCConnect, "uipc_connect", obj{"file": sock.json(s), "domain": 1, "type": 1, "protocol": 0})
}

// cdhash makes a stable 40-digit hash for a name.
func cdhash(name string) string {
	h := uint64(14695981039346656037)
	for i := range len(name) {
		h = (h ^ uint64(name[i])) * 1099511628211
	}
	return fmt.Sprintf("%016X%016X%08X", h, h*31, uint32(h>>7))
}
