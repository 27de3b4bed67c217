//go:build linux

package sensor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

// Config tunes the sensor. The zero value is usable.
type Config struct {
	// RingBufferBytes is the ring buffer size: a power of two, at least
	// one page. Default 16 MiB.
	RingBufferBytes int
	// WakeupBytes: the kernel wakes the reader only once this many bytes
	// are pending; the reader polls every PollInterval meanwhile. Default
	// RingBufferBytes/8. Negative wakes the reader for every record.
	WakeupBytes int
	// PollInterval bounds how long a record waits in a quiet buffer.
	// Default 20ms.
	PollInterval time.Duration
	// LossInterval is how often drop counters are read and reported.
	// Default 1s.
	LossInterval time.Duration
	// SendReportInterval is how often the send totals of sockets still
	// open are reported (NetInterim). Default 60s; negative disables.
	SendReportInterval time.Duration
	// MaxTracked is the capacity of the tracked-process map. Default 65536.
	MaxTracked int
	// MaxOpenWrites is how many (process, descriptor) write totals, and
	// as many send totals, the kernel keeps at once. Default 16384.
	MaxOpenWrites int
	// TraceAll records every process, tracked or not.
	TraceAll bool
	// LSM says whether to use the BPF LSM programs where the kernel runs
	// them (see LSMMode). Default LSMAuto.
	LSM LSMMode
	// AgentNames maps executable names (the basename a program was
	// invoked by, or its binary's name) to agent indexes; a matching exec
	// starts a tracked tree. At most 31 bytes per name.
	AgentNames map[string]uint32
	// AgentFiles maps executable files to agent indexes, like AgentNames.
	AgentFiles map[FileID]uint32
	// Logger receives operational messages. Default: discard.
	Logger *slog.Logger
}

// FileID names a file by device and inode (user-space dev_t encoding).
type FileID struct {
	Dev uint64
	Ino uint64
}

func (c Config) withDefaults() (Config, error) {
	if c.RingBufferBytes == 0 {
		c.RingBufferBytes = 16 << 20
	}
	page := os.Getpagesize()
	if c.RingBufferBytes < page || c.RingBufferBytes&(c.RingBufferBytes-1) != 0 {
		return c, fmt.Errorf("ring buffer size %d: must be a power of two of at least %d bytes", c.RingBufferBytes, page)
	}
	if c.WakeupBytes == 0 {
		c.WakeupBytes = c.RingBufferBytes / 8
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 20 * time.Millisecond
	}
	if c.LossInterval <= 0 {
		c.LossInterval = time.Second
	}
	if c.SendReportInterval == 0 {
		c.SendReportInterval = time.Minute
	}
	if c.MaxTracked == 0 {
		c.MaxTracked = 65536
	}
	if c.MaxOpenWrites == 0 {
		c.MaxOpenWrites = 16384
	}
	if c.MaxTracked < 0 || c.MaxOpenWrites < 0 {
		return c, fmt.Errorf("max tracked %d, max open writes %d: must be positive", c.MaxTracked, c.MaxOpenWrites)
	}
	for name := range c.AgentNames {
		if name == "" || len(name) >= len(vigilAgentName{}.Name) {
			return c, fmt.Errorf("agent name %q: must be 1 to %d bytes", name, len(vigilAgentName{}.Name)-1)
		}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// Sensor is the loaded and attached set of BPF programs.
type Sensor struct {
	cfg   Config
	objs  vigilObjects
	lsm   vigilLsmPrograms
	links []link.Link
	log   *slog.Logger
	loss  lossCounter
	hooks Hooks
	scope *scopeFilter
	// Whether the LSM programs run, and if not, why.
	usingLSM bool
	lsmErr   error
	// Records read across the ring buffer's end (copied), over every Run.
	ringCrossed uint64
}

// Hooks is what the kernel offers beyond the tracepoints the sensor
// needs (probed at New).
func (s *Sensor) Hooks() Hooks { return s.hooks }

// New probes the kernel, loads the programs and attaches them. Records
// flow into the ring buffer from then on; call Run to read them and Close
// to detach.
func New(cfg Config) (*Sensor, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("sensor config: %w", err)
	}
	if err := Probe(); err != nil {
		return nil, err
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("remove memlock limit: %w", err)
	}
	s := &Sensor{cfg: cfg, log: cfg.Logger, hooks: ProbeHooks()}
	if err := s.load(); err != nil {
		return nil, err
	}
	if s.scope, err = mapScopeFilter(s.objs.ScopeFilter); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.SetAgents(cfg.AgentNames, cfg.AgentFiles); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.installSyscallHandlers(); err != nil {
		s.Close()
		return nil, err
	}
	for _, p := range []*ebpf.Program{s.objs.VigilFork, s.objs.VigilExec, s.objs.VigilExit, s.objs.VigilSysExit} {
		l, err := link.AttachTracing(link.TracingOptions{Program: p, AttachType: ebpf.AttachTraceRawTp})
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("attach %s: %w", p, err)
		}
		s.links = append(s.links, l)
	}
	return s, nil
}

// loadSpec loads the main collection; withLSM compiles in the exit
// handlers' use of what the LSM programs stash.
func (s *Sensor) loadSpec(withLSM bool) error {
	spec, err := loadVigil()
	if err != nil {
		return fmt.Errorf("read BPF object: %w", err)
	}
	if err := s.configure(spec); err != nil {
		return err
	}
	if err := spec.Variables["use_lsm"].Set(withLSM); err != nil {
		return fmt.Errorf("set use_lsm: %w", err)
	}
	if err := spec.LoadAndAssign(&s.objs, nil); err != nil {
		return loadError(err)
	}
	return nil
}

// configure sizes the maps of a collection and sets its load-time
// constants; the LSM collection gets the same, so its maps are
// interchangeable with the main one's.
func (s *Sensor) configure(spec *ebpf.CollectionSpec) error {
	cfg := s.cfg
	for name, size := range map[string]int{
		vigilMapEvents:  cfg.RingBufferBytes,
		vigilMapTracked: cfg.MaxTracked,
		vigilMapWrites:  cfg.MaxOpenWrites,
		vigilMapSends:   cfg.MaxOpenWrites,
		vigilMapWriters: cfg.MaxOpenWrites,
	} {
		if m, ok := spec.Maps[name]; ok {
			m.MaxEntries = uint32(size)
		}
	}
	wakeup := uint64(0)
	if cfg.WakeupBytes > 0 {
		wakeup = uint64(cfg.WakeupBytes)
	}
	for name, v := range map[string]any{
		"trace_all":    cfg.TraceAll,
		"match_agents": len(cfg.AgentNames)+len(cfg.AgentFiles) > 0,
		"self_tgid":    uint32(os.Getpid()),
		"wakeup_bytes": wakeup,
	} {
		if err := spec.Variables[name].Set(v); err != nil {
			return fmt.Errorf("set %s: %w", name, err)
		}
	}
	return nil
}

func loadError(err error) error {
	var ve *ebpf.VerifierError
	if errors.As(err, &ve) {
		return fmt.Errorf("load BPF programs: %w (verifier log tail: %s)", err, lastLines(ve.Log, 20))
	}
	return fmt.Errorf("load BPF programs: %w", err)
}

func lastLines(lines []string, n int) []string {
	if len(lines) > n {
		return lines[len(lines)-n:]
	}
	return lines
}

// SetAgents replaces the agent match rules. Matching itself is switched on
// at load time (Config.AgentNames/AgentFiles non-empty).
func (s *Sensor) SetAgents(names map[string]uint32, files map[FileID]uint32) error {
	if err := clearMap(s.objs.AgentNames); err != nil {
		return fmt.Errorf("clear agent names: %w", err)
	}
	if err := clearMap(s.objs.AgentFiles); err != nil {
		return fmt.Errorf("clear agent files: %w", err)
	}
	for name, idx := range names {
		var key vigilAgentName
		if len(name) >= len(key.Name) {
			return fmt.Errorf("agent name %q: longer than %d bytes", name, len(key.Name)-1)
		}
		for i := range len(name) {
			key.Name[i] = int8(name[i])
		}
		if err := s.objs.AgentNames.Update(&key, idx, ebpf.UpdateAny); err != nil {
			return fmt.Errorf("add agent name %q: %w", name, err)
		}
	}
	for id, idx := range files {
		key := vigilAgentFile{Ino: id.Ino, Dev: kernelDev(id.Dev)}
		if err := s.objs.AgentFiles.Update(&key, idx, ebpf.UpdateAny); err != nil {
			return fmt.Errorf("add agent file %d:%d: %w", id.Dev, id.Ino, err)
		}
	}
	return nil
}

func clearMap(m *ebpf.Map) error {
	var keys [][]byte
	var k []byte
	it := m.Iterate()
	var v []byte
	for it.Next(&k, &v) {
		keys = append(keys, append([]byte(nil), k...))
	}
	if err := it.Err(); err != nil {
		return err
	}
	for _, k := range keys {
		if err := m.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return err
		}
	}
	return nil
}

// Track puts a running process in scope as (part of) tree. Its future
// children inherit the tree in the kernel.
func (s *Sensor) Track(pid uint32, tree Tree) error {
	v := vigilTree{RootStart: tree.RootStart, RootTgid: tree.RootPID, Agent: tree.Agent}
	if err := s.trackInsert(pid, &v); err != nil {
		return fmt.Errorf("track pid %d: %w", pid, err)
	}
	return nil
}

// Tracked reports whether pid is in scope, and its tree.
func (s *Sensor) Tracked(pid uint32) (Tree, bool, error) {
	var v vigilTree
	err := s.objs.Tracked.Lookup(pid, &v)
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		return Tree{}, false, nil
	}
	if err != nil {
		return Tree{}, false, fmt.Errorf("look up pid %d: %w", pid, err)
	}
	return Tree{RootStart: v.RootStart, RootPID: v.RootTgid, Agent: v.Agent}, true, nil
}

// TreeSize counts the processes currently in scope as members of tree.
// The kernel removes a process when it exits, after its exit record is in
// the ring buffer, so zero means every record of the tree is buffered.
func (s *Sensor) TreeSize(tree Tree) (int, error) {
	var (
		pid uint32
		v   vigilTree
		n   int
	)
	it := s.objs.Tracked.Iterate()
	for it.Next(&pid, &v) {
		if v.RootTgid == tree.RootPID && v.RootStart == tree.RootStart {
			n++
		}
	}
	if err := it.Err(); err != nil {
		return 0, fmt.Errorf("iterate tracked map: %w", err)
	}
	return n, nil
}

// Run reads records until ctx is cancelled or h fails. On cancellation it
// drains the records already buffered, reports loss a last time, and
// returns nil. Run must not be called concurrently.
func (s *Sensor) Run(ctx context.Context, h Handler) error {
	rd, err := newRingReader(s.objs.Events.FD(), int(s.objs.Events.MaxEntries()))
	if err != nil {
		return fmt.Errorf("open ring buffer reader: %w", err)
	}
	defer func() {
		s.ringCrossed += rd.crossed
		rd.close()
	}()

	var (
		ev       Event
		dec      = NewDecoder()
		nextLoss = time.Now().Add(s.cfg.LossInterval)
		nextSend = time.Now().Add(s.cfg.SendReportInterval)
		// While draining after cancellation: bytes still to read, so a
		// producer that never stops cannot keep Run alive.
		draining  bool
		drainLeft int
		n         int
	)
	for {
		wait := s.cfg.PollInterval
		if draining {
			wait = 0
		}
		rec, err := rd.next(wait)
		switch {
		case err == nil:
			if err := dec.Decode(rec, &ev); err != nil {
				s.loss.decodeError(err)
				s.log.Debug("drop undecodable record", "err", err)
			} else if err := h.HandleEvent(&ev); err != nil {
				return err
			}
			if draining {
				if drainLeft -= ringHdrSize + (len(rec)+7)&^7; drainLeft <= 0 {
					return s.reportLoss(&ev, h)
				}
				continue
			}
			// Under a steady stream the reader never idles: look at the
			// clock and the context every so often anyway.
			if n++; n%256 != 0 {
				continue
			}
		case errors.Is(err, os.ErrDeadlineExceeded):
			if draining {
				return s.reportLoss(&ev, h)
			}
			if err := h.Flush(); err != nil {
				return err
			}
		default:
			return fmt.Errorf("read ring buffer: %w", err)
		}
		if ctx.Err() != nil {
			draining, drainLeft = true, rd.availableBytes()
			continue
		}
		now := time.Now()
		if now.After(nextLoss) {
			nextLoss = now.Add(s.cfg.LossInterval)
			if err := s.reportLoss(&ev, h); err != nil {
				return err
			}
		}
		if s.cfg.SendReportInterval > 0 && now.After(nextSend) {
			nextSend = now.Add(s.cfg.SendReportInterval)
			if err := s.reportSends(&ev, h); err != nil {
				return err
			}
		}
	}
}

// Close detaches the programs and frees the maps.
func (s *Sensor) Close() error {
	var errs []error
	for _, l := range s.links {
		errs = append(errs, l.Close())
	}
	s.links = nil
	errs = append(errs, s.scope.close(), s.lsm.Close(), s.objs.Close())
	return errors.Join(errs...)
}

// kernelDev converts a user-space dev_t to the kernel's internal encoding
// (major << 20 | minor), which is what inode->i_sb->s_dev holds.
func kernelDev(dev uint64) uint32 {
	return uint32(unix.Major(dev)<<20 | unix.Minor(dev)&(1<<20-1))
}
