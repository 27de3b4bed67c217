//go:build linux

package sensor

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/prometheus/procfs"
)

// pfKThread marks kernel threads in /proc/PID/stat flags.
const pfKThread = 0x00200000

// ReadProc lists the processes under a procfs mount (normally "/proc").
// Processes that exit while being read are left out; fields that cannot
// be read (permissions) are left empty.
func ReadProc(root string) ([]Snapshot, error) {
	pfs, err := procfs.NewFS(root)
	if err != nil {
		return nil, fmt.Errorf("open procfs %s: %w", root, err)
	}
	procs, err := pfs.AllProcs()
	if err != nil {
		return nil, fmt.Errorf("list processes in %s: %w", root, err)
	}
	out := make([]Snapshot, 0, len(procs))
	for _, p := range procs {
		s, err := readSnapshot(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue // exited meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func readSnapshot(p procfs.Proc) (Snapshot, error) {
	st, err := p.Stat()
	if err != nil {
		return Snapshot{}, fmt.Errorf("read /proc/%d/stat: %w", p.PID, err)
	}
	s := Snapshot{
		Task: Task{
			PID:       uint32(p.PID),
			TID:       uint32(p.PID),
			PPID:      uint32(st.PPID),
			StartTime: TicksToNS(st.Starttime),
			Comm:      st.Comm,
		},
		Kernel: st.Flags&pfKThread != 0,
	}
	if status, err := p.NewStatus(); err == nil {
		s.Task.UID, s.Task.EUID = uint32(status.UIDs[0]), uint32(status.UIDs[1])
		s.Task.GID, s.Task.EGID = uint32(status.GIDs[0]), uint32(status.GIDs[1])
	} else if errors.Is(err, fs.ErrNotExist) {
		return Snapshot{}, err
	}
	if s.Kernel {
		return s, nil
	}
	if exe, err := p.Executable(); err == nil {
		s.Executable = strings.TrimSuffix(exe, " (deleted)")
	}
	if args, err := p.CmdLine(); err == nil {
		s.Args = args
	}
	if cwd, err := p.Cwd(); err == nil {
		s.Cwd = cwd
	}
	return s, nil
}

// Descendants returns root and every process below it in snaps, by parent
// links, parents before children.
func Descendants(snaps []Snapshot, root uint32) []Snapshot {
	children := make(map[uint32][]int)
	self := -1
	for i, s := range snaps {
		children[s.Task.PPID] = append(children[s.Task.PPID], i)
		if s.Task.PID == root {
			self = i
		}
	}
	if self < 0 {
		return nil
	}
	out := []Snapshot{snaps[self]}
	for i := 0; i < len(out); i++ {
		for _, c := range children[out[i].Task.PID] {
			if snaps[c].Task.PID != root {
				out = append(out, snaps[c])
			}
		}
	}
	return out
}

// TrackTree puts a running process and all its descendants in scope as
// tree. It inserts what snaps shows, then re-reads /proc until no process
// with a tracked parent is left out, so a child forked between the
// snapshot and the insert is not missed (later forks inherit scope in the
// kernel). It returns every process it tracked, parents first, with the
// correlation ids of their environments.
func (s *Sensor) TrackTree(procRoot string, snaps []Snapshot, root uint32, tree Tree) ([]Snapshot, error) {
	tracked := Descendants(snaps, root)
	if len(tracked) == 0 {
		return nil, fmt.Errorf("track tree: process %d not found", root)
	}
	in := make(map[uint32]bool, len(tracked))
	for _, p := range tracked {
		if err := s.Track(p.Task.PID, tree); err != nil {
			return nil, err
		}
		in[p.Task.PID] = true
	}
	for range 8 {
		fresh, err := ReadProc(procRoot)
		if err != nil {
			return nil, err
		}
		added := false
		for _, p := range fresh {
			if in[p.Task.PID] || !in[p.Task.PPID] {
				continue
			}
			if err := s.Track(p.Task.PID, tree); err != nil {
				return nil, err
			}
			in[p.Task.PID] = true
			tracked = append(tracked, p)
			added = true
		}
		if !added {
			break
		}
	}
	for i := range tracked {
		readEnvIDs(procRoot, &tracked[i])
	}
	return tracked, nil
}

// readEnvIDs fills s's correlation ids from /proc/PID/environ: the first
// value of each name, kept only if valid, as the decoder does with an
// exec record. The whole environment is searched: the kernel's scan bound
// (EnvScanBytes) is a cost limit of the exec hook, not a rule. A process
// that exited or hides its environment keeps none.
func readEnvIDs(procRoot string, s *Snapshot) {
	if s.Kernel {
		return
	}
	env, err := os.ReadFile(filepath.Join(procRoot, strconv.FormatUint(uint64(s.Task.PID), 10), "environ"))
	if err != nil {
		return
	}
	s.CorrelationID, s.TraceID, s.SpanID = envIDs(env)
}

// envIDs finds the correlation ids in a NUL-separated environment block.
func envIDs(env []byte) (corr, trace, span string) {
	const corrName, tpName = EnvCorrelationID + "=", EnvTraceparent + "="
	var seenCorr, seenTP bool
	for len(env) > 0 && !(seenCorr && seenTP) {
		kv := env
		if i := bytes.IndexByte(env, 0); i >= 0 {
			kv, env = env[:i], env[i+1:]
		} else {
			env = nil
		}
		switch {
		case !seenCorr && bytes.HasPrefix(kv, []byte(corrName)):
			seenCorr = true
			corr, _ = ParseCorrelationID(string(kv[len(corrName):]))
		case !seenTP && bytes.HasPrefix(kv, []byte(tpName)):
			seenTP = true
			trace, span, _ = ParseTraceparent(string(kv[len(tpName):]))
		}
	}
	return corr, trace, span
}

// ReadProcess reads one process from a procfs mount.
func ReadProcess(root string, pid uint32) (Snapshot, error) {
	pfs, err := procfs.NewFS(root)
	if err != nil {
		return Snapshot{}, fmt.Errorf("open procfs %s: %w", root, err)
	}
	p, err := pfs.Proc(int(pid))
	if err != nil {
		return Snapshot{}, fmt.Errorf("read process %d: %w", pid, err)
	}
	return readSnapshot(p)
}

// Alive reports whether the process with this PID and start time (clock
// ticks since boot) still exists. A PID now held by a later process is not
// alive.
func Alive(root string, pid uint32, startTicks uint64) bool {
	pfs, err := procfs.NewFS(root)
	if err != nil {
		return true // cannot tell: keep it
	}
	p, err := pfs.Proc(int(pid))
	if err != nil {
		return false
	}
	st, err := p.Stat()
	if err != nil {
		return !errors.Is(err, fs.ErrNotExist)
	}
	return st.Starttime == startTicks
}
