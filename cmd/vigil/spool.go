package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/vigilsec/vigil/intent"
)

// The hook's spool: intents kept on disk while the daemon cannot be
// reached, one JSON file each, sent with the next run that reaches it.
//
//	DIR/NNNNNNNNNNNNNNNNNNNN-PID-RAND.json  one intent (Spooled set), named by
//	                                         its time in ns, so names sort oldest first
//	DIR/refused/NAME.json                   an intent the daemon refused, with why
//	DIR/dropped                             intents dropped because the spool was full
//	DIR/.lock                               held while flushing or trimming
const (
	spoolMaxFiles   = 10000
	spoolMaxBytes   = 64 << 20
	refusedMaxFiles = 1000
	// spoolFlushMax bounds the intents one hook run delivers, and
	// spoolScanMax the files it looks at, so a run stays fast.
	spoolFlushMax = 64
	spoolScanMax  = 4 * spoolFlushMax
)

type spool struct {
	dir      string
	pid      int
	procRoot string
	now      func() time.Time

	maxFiles, maxBytes int // 0: the defaults
}

// defaultSpoolDir is $XDG_RUNTIME_DIR/vigil/spool, else
// ~/.local/state/vigil/spool.
func defaultSpoolDir(env procEnv) (string, error) {
	if d := env.getenv("XDG_RUNTIME_DIR"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "vigil", "spool"), nil
	}
	if h := env.getenv("HOME"); h != "" && filepath.IsAbs(h) {
		return filepath.Join(h, ".local", "state", "vigil", "spool"), nil
	}
	return "", errors.New("no spool directory: neither XDG_RUNTIME_DIR nor HOME is set")
}

// open creates the spool directory (0700) or checks the one there: it
// must be a directory of this user, and is made 0700 if it is not.
func (s *spool) open(uid int) error {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	fi, err := os.Lstat(s.dir)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("spool: %s is not a directory", s.dir)
	}
	if owner, ok := fileOwner(fi); ok && owner != uid {
		return fmt.Errorf("spool: %s belongs to uid %d, not to this user (uid %d)", s.dir, owner, uid)
	}
	if fi.Mode().Perm() != 0o700 {
		if err := os.Chmod(s.dir, 0o700); err != nil {
			return fmt.Errorf("spool: %w", err)
		}
	}
	return nil
}

func (s *spool) limits() (files, bytes int) {
	files, bytes = s.maxFiles, s.maxBytes
	if files <= 0 {
		files = spoolMaxFiles
	}
	if bytes <= 0 {
		bytes = spoolMaxBytes
	}
	return files, bytes
}

// isSpoolName: a spooled intent's file (not a temporary, state or lock
// file).
func isSpoolName(name string) bool {
	return len(name) > 20 && name[0] >= '0' && name[0] <= '9' && strings.HasSuffix(name, ".json")
}

// put writes one intent to the spool (Spooled set), then trims the spool
// to its bounds, dropping the oldest. It returns how many intents wait
// and how many were dropped to make room.
func (s *spool) put(in intent.Intent) (waiting, dropped int, err error) {
	in.Spooled = true
	if in.V == 0 {
		in.V = intent.Version
	}
	if in.Time.IsZero() {
		in.Time = s.now().UTC()
	}
	b, err := json.Marshal(in)
	if err != nil {
		return 0, 0, fmt.Errorf("spool: encode: %w", err)
	}
	f, err := os.CreateTemp(s.dir, ".tmp-*") // 0600
	if err != nil {
		return 0, 0, fmt.Errorf("spool: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(append(b, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return 0, 0, fmt.Errorf("spool: %w", err)
	}
	name := fmt.Sprintf("%020d-%d-%s.json", in.Time.UnixNano(), s.pid, strings.TrimPrefix(filepath.Base(tmp), ".tmp-"))
	if err := os.Rename(tmp, filepath.Join(s.dir, name)); err != nil {
		os.Remove(tmp)
		return 0, 0, fmt.Errorf("spool: %w", err)
	}
	unlock, ok := s.tryLock()
	if !ok {
		// Another run is flushing or trimming: it keeps the bound.
		return s.count(), 0, nil
	}
	defer unlock()
	files, bytes := s.limits()
	return s.trim(s.dir, files, bytes)
}

// count is how many intents wait in the spool.
func (s *spool) count() int {
	names, _ := s.list(s.dir)
	return len(names)
}

// list returns the spooled intents' names, oldest first.
func (s *spool) list(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if e.Type().IsRegular() && isSpoolName(e.Name()) {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names, nil
}

// trim deletes the oldest files of dir until at most maxFiles files of
// at most maxBytes in all are left, counting them as dropped, and removes
// temporary files left by runs that died. It returns how many are left
// and how many it dropped.
func (s *spool) trim(dir string, maxFiles, maxBytes int) (left, dropped int, err error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, 0, fmt.Errorf("spool: %w", err)
	}
	type file struct {
		name string
		size int64
	}
	var (
		files []file
		total int64
	)
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, ".tmp-") {
			if fi, err := e.Info(); err == nil && s.now().Sub(fi.ModTime()) > time.Minute {
				os.Remove(filepath.Join(dir, name))
			}
			continue
		}
		if !e.Type().IsRegular() || !isSpoolName(name) {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue // gone meanwhile
		}
		files = append(files, file{name, fi.Size()})
		total += fi.Size()
	}
	slices.SortFunc(files, func(a, b file) int { return strings.Compare(a.name, b.name) })
	for len(files) > 0 && (len(files) > maxFiles || total > int64(maxBytes)) {
		if err := os.Remove(filepath.Join(dir, files[0].name)); err == nil || errors.Is(err, os.ErrNotExist) {
			dropped++
		}
		total -= files[0].size
		files = files[1:]
	}
	if dropped > 0 {
		if err := s.addDropped(dropped); err != nil {
			return len(files), dropped, err
		}
	}
	return len(files), dropped, nil
}

// droppedState counts intents dropped from a full spool, until a run
// that reaches the daemon reports them.
type droppedState struct {
	Count int       `json:"count"`
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
}

func (s *spool) droppedPath() string { return filepath.Join(s.dir, "dropped") }

func (s *spool) addDropped(n int) error {
	var st droppedState
	if b, err := os.ReadFile(s.droppedPath()); err == nil {
		_ = json.Unmarshal(b, &st)
	}
	now := s.now().UTC()
	if st.Count == 0 {
		st.First = now
	}
	st.Count += n
	st.Last = now
	b, _ := json.Marshal(st)
	if err := writeFileAtomic(s.droppedPath(), b); err != nil {
		return fmt.Errorf("spool: count dropped intents: %w", err)
	}
	return nil
}

// takeDropped returns and clears the dropped count.
func (s *spool) takeDropped() (droppedState, error) {
	b, err := os.ReadFile(s.droppedPath())
	if errors.Is(err, os.ErrNotExist) {
		return droppedState{}, nil
	}
	if err != nil {
		return droppedState{}, err
	}
	var st droppedState
	if err := json.Unmarshal(b, &st); err != nil {
		return droppedState{}, fmt.Errorf("%s: %w", s.droppedPath(), err)
	}
	return st, os.Remove(s.droppedPath())
}

// tryLock takes the spool's lock without waiting.
func (s *spool) tryLock() (unlock func(), ok bool) {
	f, err := os.OpenFile(filepath.Join(s.dir, ".lock"), os.O_RDWR|os.O_CREATE|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, false
	}
	if err := lockNow(f); err != nil {
		f.Close()
		return nil, false
	}
	return func() { f.Close() }, true
}

// sender sends one intent and waits for the daemon's answer.
type sender interface {
	Send(context.Context, intent.Intent) error
}

// flushResult is what a flush did.
type flushResult struct {
	sent, refused, left int
	dropped             droppedState // reported now
}

// flush sends spooled intents oldest first, at most spoolFlushMax, and
// deletes each once accepted; one the daemon refuses is moved to
// refused/ with the reason. Intents for a live process outside mine
// (the hook's ancestors) are left for that agent's own hooks: the daemon
// would refuse them from here. It stops at the first transport error.
func (s *spool) flush(ctx context.Context, c sender, mine map[int]bool) (flushResult, error) {
	var res flushResult
	unlock, ok := s.tryLock()
	if !ok {
		return res, nil // another run is flushing
	}
	defer unlock()
	names, err := s.list(s.dir)
	if err != nil {
		return res, fmt.Errorf("spool: %w", err)
	}
	if res.dropped, err = s.takeDropped(); err != nil {
		return res, fmt.Errorf("spool: %w", err)
	}
	res.left = len(names)
	for i, name := range names {
		if i >= spoolScanMax || res.sent+res.refused >= spoolFlushMax {
			break
		}
		path := filepath.Join(s.dir, name)
		b, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			res.left--
			continue
		}
		if err != nil {
			return res, fmt.Errorf("spool: %w", err)
		}
		in, err := intent.Decode(b, intent.JSON)
		if err != nil {
			if err := s.refuse(name, b, "unreadable spool file: "+err.Error()); err != nil {
				return res, err
			}
			res.refused++
			res.left--
			continue
		}
		if in.PID > 1 && !mine[in.PID] && procAlive(s.procRoot, in.PID) {
			continue
		}
		in.Spooled = true
		switch err := c.Send(ctx, in); {
		case err == nil:
			if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
				return res, fmt.Errorf("spool: %w", err)
			}
			res.sent++
		case errors.Is(err, intent.ErrRefused):
			if err := s.refuse(name, b, strings.TrimPrefix(err.Error(), intent.ErrRefused.Error()+": ")); err != nil {
				return res, err
			}
			res.refused++
		default:
			return res, fmt.Errorf("%w: %w", errUnreachable, err)
		}
		res.left--
	}
	return res, nil
}

// refusedIntent is a file in refused/: the intent as spooled, why the
// daemon refused it, and when.
type refusedIntent struct {
	RefusedAt time.Time       `json:"refused_at"`
	Reason    string          `json:"reason"`
	Intent    json.RawMessage `json:"intent,omitempty"`
	Raw       string          `json:"raw,omitempty"` // a file that was not JSON
}

// refuse moves a spooled intent to refused/ with the reason.
func (s *spool) refuse(name string, b []byte, reason string) error {
	dir := filepath.Join(s.dir, "refused")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	rec := refusedIntent{RefusedAt: s.now().UTC(), Reason: reason}
	if json.Valid(b) {
		rec.Intent = json.RawMessage(b)
	} else {
		rec.Raw = string(b)
	}
	out, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(dir, name), append(out, '\n')); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if err := os.Remove(filepath.Join(s.dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("spool: %w", err)
	}
	_, _, err = s.trim(dir, refusedMaxFiles, spoolMaxBytes)
	return err
}

// writeFileAtomic writes a 0600 file by renaming a complete temporary
// file over it.
func writeFileAtomic(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}
