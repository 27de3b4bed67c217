//go:build linux

package intent

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Server accepts intents on a Unix socket.
type Server struct {
	cfg ServerConfig
	ln  *net.UnixListener
	log *slog.Logger

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// Listen creates the socket. It refuses a socket directory that others
// can write to (anyone could replace the socket), replaces a stale socket
// left by an earlier run, and sets the socket's group and mode.
func Listen(cfg ServerConfig) (*Server, error) {
	if cfg.Path == "" {
		return nil, errors.New("intent socket: no path")
	}
	if cfg.Mode == 0 {
		cfg.Mode = 0o660
	}
	if cfg.ProcRoot == "" {
		cfg.ProcRoot = "/proc"
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 1024
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 10 * time.Minute
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	dir := filepath.Dir(cfg.Path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("intent socket: %w", err)
	}
	if err := checkSocketDir(dir); err != nil {
		return nil, err
	}
	if fi, err := os.Lstat(cfg.Path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("intent socket: %s exists and is not a socket", cfg.Path)
		}
		if c, err := net.Dial("unix", cfg.Path); err == nil {
			c.Close()
			return nil, fmt.Errorf("intent socket: %s is in use by another process", cfg.Path)
		}
		if err := os.Remove(cfg.Path); err != nil {
			return nil, fmt.Errorf("intent socket: remove stale socket: %w", err)
		}
	}
	gid := -1
	if cfg.Group != "" {
		g, err := lookupGroup(cfg.Group)
		if err != nil {
			return nil, fmt.Errorf("intent socket: %w", err)
		}
		gid = g
	}
	// Created with no access for anyone, then opened up: nobody can
	// connect before group and mode are right.
	old := syscall.Umask(0o777)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: cfg.Path, Net: "unix"})
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("intent socket: %w", err)
	}
	ln.SetUnlinkOnClose(true)
	if gid >= 0 {
		if err := os.Lchown(cfg.Path, -1, gid); err != nil {
			ln.Close()
			return nil, fmt.Errorf("intent socket: set group: %w", err)
		}
	}
	if err := os.Chmod(cfg.Path, cfg.Mode.Perm()); err != nil {
		ln.Close()
		return nil, fmt.Errorf("intent socket: set mode: %w", err)
	}
	return &Server{cfg: cfg, ln: ln, log: cfg.Log, conns: map[net.Conn]struct{}{}}, nil
}

// checkSocketDir refuses a directory others can write to.
func checkSocketDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("intent socket: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("intent socket: %s is not a directory", dir)
	}
	if fi.Mode().Perm()&0o002 != 0 {
		return fmt.Errorf("intent socket: directory %s is world-writable (mode %04o): anyone could replace the socket; use a directory only its owner (and group) can write, such as /run/vigil", dir, fi.Mode().Perm())
	}
	return nil
}

func lookupGroup(g string) (int, error) {
	if n, err := strconv.Atoi(g); err == nil {
		return n, nil
	}
	grp, err := user.LookupGroup(g)
	if err != nil {
		return 0, fmt.Errorf("group %q: %w", g, err)
	}
	return strconv.Atoi(grp.Gid)
}

// Path is the socket's path.
func (s *Server) Path() string { return s.cfg.Path }

// Serve accepts connections until ctx is done, then closes the socket and
// the open connections and waits for their goroutines. Messages go to
// deliver one at a time per connection, in order.
func (s *Server) Serve(ctx context.Context, deliver Deliver) error {
	stop := context.AfterFunc(ctx, func() {
		s.ln.Close()
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
	})
	defer stop()
	defer s.wg.Wait()
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				s.log.Warn("intent socket: accept", "err", err)
				time.Sleep(100 * time.Millisecond)
				continue
			}
			return fmt.Errorf("intent socket: accept: %w", err)
		}
		s.mu.Lock()
		full := len(s.conns) >= s.cfg.MaxConns
		if !full {
			s.conns[c] = struct{}{}
		}
		s.mu.Unlock()
		if full {
			s.log.Warn("intent socket: too many connections", "max", s.cfg.MaxConns)
			b, _ := Append(nil, Reply{Error: fmt.Sprintf("too many connections (%d): try again", s.cfg.MaxConns)}, JSON)
			_ = c.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = c.Write(b)
			c.Close()
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				c.Close()
			}()
			s.serveConn(ctx, c, deliver)
		}()
	}
}

// Close closes the socket (Serve returns once its context is done).
func (s *Server) Close() error { return s.ln.Close() }

func (s *Server) serveConn(ctx context.Context, c *net.UnixConn, deliver Deliver) {
	peer, err := peerCred(c)
	if err != nil {
		s.log.Warn("intent socket: no peer credentials", "err", err)
		return
	}
	r := NewReader(c, s.cfg.MaxMessage)
	w := bufio.NewWriter(c)
	var (
		reply []byte
		self  uint64 // the sender's start time, read once per connection
	)
	for ctx.Err() == nil {
		_ = c.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
		msg, f, err := r.Next()
		now, boot := time.Now(), bootNow()
		var rec *Received
		switch {
		case err == nil:
			rec = s.receive(msg, f, peer, now, &self)
		case errors.Is(err, ErrFraming):
			rec = &Received{Format: f, Sender: peer, At: now, Err: err}
		}
		if rec == nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !errors.Is(err, os.ErrDeadlineExceeded) {
				// A message cut short: the sender went away mid-message.
				_ = deliver(&Received{Format: f, Sender: peer, At: now, BootNS: boot, Err: err})
			}
			return
		}
		rec.BootNS = boot
		if rec.Err == nil {
			if err := deliver(rec); err != nil {
				rec.Err = err
			}
		} else {
			_ = deliver(rec) // refused: the receiver records why
		}
		rep := Reply{OK: rec.Err == nil}
		if rec.Err != nil {
			rep.Error = rec.Err.Error()
		}
		if f == 0 {
			f = JSON
		}
		reply, _ = Append(reply[:0], rep, f)
		if _, err := w.Write(reply); err != nil {
			return
		}
		// Answer at once when nothing else is waiting to be read, so a
		// client sending one message at a time is not held up.
		if r.br.Buffered() == 0 {
			if err := w.Flush(); err != nil {
				return
			}
		}
	}
}

// receive decodes, checks and binds one message. self caches the
// sender's start time for the connection.
func (s *Server) receive(msg []byte, f Format, peer Peer, now time.Time, self *uint64) *Received {
	rec := &Received{Format: f, Sender: peer, At: now}
	in, err := Decode(msg, f)
	rec.Intent = in
	if err != nil {
		rec.Err = err
		return rec
	}
	if err := rec.Intent.Normalize(s.cfg.KeepPromptText); err != nil {
		rec.Err = err
		return rec
	}
	if claim := rec.Intent.PID; (claim == 0 || claim == peer.PID) && *self != 0 {
		rec.AgentPID, rec.AgentStart = peer.PID, *self
		return rec
	}
	rec.AgentPID, rec.AgentStart, rec.Err = bind(s.cfg.ProcRoot, peer, rec.Intent.PID)
	if rec.Err == nil && rec.AgentPID == peer.PID {
		*self = rec.AgentStart
	}
	if errors.Is(rec.Err, errGone) && rec.Intent.Spooled {
		rec.AgentPID, rec.Unbound, rec.Err = rec.Intent.PID, true, nil
	}
	return rec
}

// errGone: the claimed process does not exist (any more).
var errGone = errors.New("no such process")

// bind decides which process an intent speaks for: the sender, or the
// process it names, which must be the sender, one of its ancestors or one
// of its descendants, running as the sender's user (root may name any of
// those). Nobody can attribute actions to someone else's processes.
func bind(procRoot string, peer Peer, claim int) (pid int, start uint64, err error) {
	if claim == 0 || claim == peer.PID {
		st, err := readStat(procRoot, peer.PID)
		if err != nil {
			return 0, 0, fmt.Errorf("%w: the sender (pid %d) is gone: %v", ErrNotYours, peer.PID, err)
		}
		return peer.PID, st.start, nil
	}
	st, err := readStat(procRoot, claim)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: pid %d: %w", ErrNotYours, claim, errGone)
	}
	if peer.UID != 0 && st.uid != peer.UID {
		return 0, 0, fmt.Errorf("%w: pid %d runs as uid %d, the sender as uid %d", ErrNotYours, claim, st.uid, peer.UID)
	}
	if related(procRoot, peer.PID, claim) || related(procRoot, claim, peer.PID) {
		return claim, st.start, nil
	}
	return 0, 0, fmt.Errorf("%w: pid %d is neither the sender (pid %d) nor its ancestor or descendant", ErrNotYours, claim, peer.PID)
}

// related reports whether anc is an ancestor of pid.
func related(procRoot string, pid, anc int) bool {
	for i := 0; i < 128 && pid > 1; i++ {
		st, err := readStat(procRoot, pid)
		if err != nil {
			return false
		}
		if st.ppid == anc {
			return true
		}
		pid = st.ppid
	}
	return false
}

type procStat struct {
	ppid  int
	start uint64 // clock ticks after boot
	uid   uint32 // real uid
}

// readStat reads a process's parent, start time and real uid.
func readStat(procRoot string, pid int) (procStat, error) {
	dir := filepath.Join(procRoot, strconv.Itoa(pid))
	b, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return procStat{}, err
	}
	// pid (comm) state ppid ... field 22 is starttime; comm may hold
	// spaces and parentheses, so split after the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("%s/stat: malformed", dir)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return procStat{}, fmt.Errorf("%s/stat: malformed", dir)
	}
	var st procStat
	if st.ppid, err = strconv.Atoi(f[1]); err != nil {
		return procStat{}, fmt.Errorf("%s/stat: ppid: %w", dir, err)
	}
	if st.start, err = strconv.ParseUint(f[19], 10, 64); err != nil {
		return procStat{}, fmt.Errorf("%s/stat: starttime: %w", dir, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return procStat{}, err
	}
	// /proc/PID is owned by the process's effective uid; the real uid is
	// in status.
	st.uid = fi.Sys().(*syscall.Stat_t).Uid
	if s, err := os.ReadFile(filepath.Join(dir, "status")); err == nil {
		for _, line := range strings.Split(string(s), "\n") {
			if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
				if f := strings.Fields(rest); len(f) > 0 {
					if u, err := strconv.ParseUint(f[0], 10, 32); err == nil {
						st.uid = uint32(u)
					}
				}
				break
			}
		}
	}
	return st, nil
}

func bootNow() uint64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts)
	return uint64(ts.Nano())
}

func peerCred(c *net.UnixConn) (Peer, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return Peer{}, err
	}
	var (
		cred *unix.Ucred
		cerr error
	)
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return Peer{}, err
	}
	if cerr != nil {
		return Peer{}, fmt.Errorf("SO_PEERCRED: %w", cerr)
	}
	return Peer{PID: int(cred.Pid), UID: cred.Uid, GID: cred.Gid}, nil
}
