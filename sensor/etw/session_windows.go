//go:build windows

package etw

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/vigilsec/vigil/sensor"
)

// Config sets up a Session.
type Config struct {
	// Scope decides which processes are recorded: the agents' matcher
	// and trace-all live in it (required).
	Scope *sensor.TreeScope
	// SessionName names the ETW session (default "Vigil"). A session of
	// the name left by an earlier run is stopped first.
	SessionName string
	// Devices maps NT device names to drives (default: DOSDevices() at
	// Open).
	Devices map[string]string
	// FlushInterval is how often ETW hands buffers to the consumer: how
	// late events arrive, and so how long a short-lived process has to
	// exit before its command line is read (default 100ms).
	FlushInterval time.Duration
	// BufferKB and MaxBuffers size the session's buffers (default 64 KB,
	// 256 buffers).
	BufferKB, MaxBuffers uint32
	// LossInterval is how often loss is counted and reported (default 1s).
	LossInterval time.Duration
	// SendInterval is how often interim send totals of open flows are
	// reported (0: never).
	SendInterval time.Duration
	// Queue is how many events wait between ETW's callback and Run's
	// handler (default 4096). When it is full the callback waits and ETW
	// drops buffers, which are counted as loss.
	Queue int
	// Snapshot receives the processes in scope found running at Open
	// (see WithSnapshots); nil: none.
	Snapshot func(sensor.Snapshot, sensor.Tree)
}

// Providers and keywords (from the providers' manifests; see decode_test.go).
var (
	guidKernelProcess = windows.GUID{Data1: 0x22fb2cd6, Data2: 0x0e7b, Data3: 0x422b, Data4: [8]byte{0xa0, 0xc7, 0x2f, 0xad, 0x1f, 0xd0, 0xe7, 0x16}}
	guidKernelFile    = windows.GUID{Data1: 0xedd08927, Data2: 0x9cc4, Data3: 0x4e65, Data4: [8]byte{0xb9, 0x70, 0xc2, 0x56, 0x0f, 0xb5, 0xc2, 0x89}}
	guidKernelNetwork = windows.GUID{Data1: 0x7dd42a49, Data2: 0x5329, Data3: 0x4832, Data4: [8]byte{0x8d, 0xfd, 0x43, 0xd9, 0x79, 0x15, 0x3a, 0x88}}
)

const (
	keywordsProcess = 0x10 // WINEVENT_KEYWORD_PROCESS
	// KERNEL_FILE_KEYWORD_FILEIO (Cleanup and Close have no other),
	// _CREATE, _WRITE, _DELETE_PATH, _RENAME_SETLINK_PATH; the event id
	// filter keeps FILEIO's reads and queries out.
	keywordsFile    = 0x20 | 0x80 | 0x200 | 0x400 | 0x800
	keywordsNetwork = 0x10 | 0x20 // KERNEL_NETWORK_KEYWORD_IPV4, _IPV6
)

// schemaKey names an event's template: TDH describes events by provider,
// id and version.
type schemaKey struct {
	provider windows.GUID
	id       uint16
	version  uint8
}

// Session is a real-time ETW session of the three kernel providers,
// decoded into sensor events. Open it, Run it once, Close it.
type Session struct {
	cfg     Config
	log     *slog.Logger
	name    *uint16
	control uint64     // StartTraceW's handle
	trace   *[1]uint64 // OpenTraceW's handle, as ProcessTrace takes it
	logfile *eventTraceLogfile
	dec     *Decoder
	events  chan sensor.Event

	// The callback's state: ProcessTrace calls it on one thread.
	schemas     map[schemaKey][]Field
	tdhBuf      []uint64
	nextLoss    time.Time
	nextInterim time.Time
	decodeErrs  uint64

	counters   atomic.Pointer[Counters] // the session's loss counters as last queried
	ran        atomic.Bool
	stopOnce   sync.Once
	stopErr    error
	closeOnce  sync.Once
	traceEnded chan struct{}
}

// Open starts a session. It needs Administrator rights, or membership in
// Performance Log Users. It stops a stale session of the same name,
// enables the providers, and reads the processes running now into the
// scope (see Config.Snapshot).
func Open(cfg Config, log *slog.Logger) (*Session, error) {
	if !is64Bit {
		return nil, errNot64Bit
	}
	if cfg.Scope == nil {
		return nil, errors.New("etw: config needs a Scope")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg.SessionName = cmp.Or(cfg.SessionName, "Vigil")
	cfg.FlushInterval = cmp.Or(cfg.FlushInterval, 100*time.Millisecond)
	cfg.BufferKB = cmp.Or(cfg.BufferKB, 64)
	cfg.MaxBuffers = cmp.Or(cfg.MaxBuffers, 256)
	cfg.LossInterval = cmp.Or(cfg.LossInterval, time.Second)
	cfg.Queue = cmp.Or(cfg.Queue, 4096)
	if cfg.Devices == nil {
		cfg.Devices = DOSDevices()
	}
	name, err := windows.UTF16PtrFromString(cfg.SessionName)
	if err != nil {
		return nil, fmt.Errorf("etw: session name %q: %w", cfg.SessionName, err)
	}
	s := &Session{cfg: cfg, log: log, name: name, events: make(chan sensor.Event, cfg.Queue),
		schemas: make(map[schemaKey][]Field), tdhBuf: make([]uint64, 512), traceEnded: make(chan struct{})}
	opts := []Option{WithDevices(cfg.Devices), WithProcessReader(readProcess)}
	if cfg.Snapshot != nil {
		opts = append(opts, WithSnapshots(cfg.Snapshot))
	}
	s.dec = NewDecoder(cfg.Scope, opts...)
	s.counters.Store(&Counters{})

	// A session left by a run that did not stop it holds the name.
	if err := controlTrace(0, name, newTraceProperties(), eventTraceControlStop); err == nil {
		log.Info("stopped a stale ETW session", "name", cfg.SessionName)
	} else if !errors.Is(err, windows.ERROR_WMI_INSTANCE_NOT_FOUND) {
		log.Warn("stop a stale ETW session", "name", cfg.SessionName, "err", err)
	}
	props := newTraceProperties()
	props.p.LogFileNameOffset = 0 // real time only
	if props.p.Wnode.GUID, err = windows.GenerateGUID(); err != nil {
		return nil, fmt.Errorf("etw: session guid: %w", err)
	}
	props.p.Wnode.Flags = wnodeFlagTracedGUID
	props.p.Wnode.ClientContext = clientContextQPC
	// One buffer for all processors keeps the events in the order they
	// were logged: a child's first events cannot overtake the start that
	// puts it in scope.
	props.p.LogFileMode = eventTraceRealTimeMode | eventTraceNoPerProcessorBuffers | eventTraceUseMSFlushTimer
	props.p.FlushTimer = uint32(max(1, cfg.FlushInterval.Milliseconds()))
	props.p.BufferSize = cfg.BufferKB
	props.p.MinimumBuffers = min(16, cfg.MaxBuffers)
	props.p.MaximumBuffers = cfg.MaxBuffers
	if s.control, err = startTrace(name, props); err != nil {
		return nil, fmt.Errorf("etw: start session %q (Administrator or Performance Log Users needed): %w", cfg.SessionName, err)
	}
	fail := func(err error) (*Session, error) {
		_ = controlTrace(s.control, nil, newTraceProperties(), eventTraceControlStop)
		return nil, err
	}
	for _, p := range []struct {
		guid     windows.GUID
		provider string
		keywords uint64
	}{
		{guidKernelProcess, KernelProcess, keywordsProcess},
		{guidKernelFile, KernelFile, keywordsFile},
		{guidKernelNetwork, KernelNetwork, keywordsNetwork},
	} {
		if err := enableProvider(s.control, p.guid, p.keywords, EventIDs(p.provider)); err != nil {
			return fail(fmt.Errorf("etw: enable %s: %w", ProviderName(p.provider), err))
		}
	}

	// The callback is a closure over s: ETW hands it no context we need.
	// Each Open takes one of the process's (about 2000) callback slots.
	s.logfile = &eventTraceLogfile{LoggerName: name, ProcessTraceMode: processTraceModeRealTime | processTraceModeEventRecord,
		EventRecordCallback: windows.NewCallback(func(rec *eventRecord) uintptr {
			s.callback(rec)
			return 0
		})}
	s.trace = new([1]uint64)
	if s.trace[0], err = openTrace(s.logfile); err != nil {
		return fail(fmt.Errorf("etw: open session %q: %w", cfg.SessionName, err))
	}

	// The processes already running, after the providers are on, so none
	// is missed; one started in between is seen twice, which the decoder
	// takes as one.
	recs, err := snapshotRecords(time.Now())
	if err != nil {
		log.Warn("processes running at start not read", "err", err)
	}
	for _, r := range recs {
		if err := s.dec.Decode(r, func(*sensor.Event) error { return nil }); err != nil {
			log.Debug("process snapshot", "pid", r.Props["ProcessID"], "err", err)
		}
	}
	log.Info("ETW session open", "name", cfg.SessionName, "devices", len(cfg.Devices), "running", len(recs),
		"tracked", cfg.Scope.Len())
	return s, nil
}

// Name names the event source.
func (s *Session) Name() string { return "etw" }

// Run delivers the session's events to h, on the calling goroutine, until
// ctx is done or h fails; h.Flush is called whenever no event is waiting.
// When ctx is done it stops the session, delivers what ETW still held,
// the totals still open and the last loss report, and returns nil. Run
// may be called once.
func (s *Session) Run(ctx context.Context, h sensor.Handler) error {
	if !s.ran.CompareAndSwap(false, true) {
		return errors.New("etw: Run called twice")
	}
	traceErr := make(chan error, 1)
	go func() {
		defer close(s.traceEnded)
		traceErr <- processTrace(s.trace)
	}()
	ticker := time.NewTicker(s.cfg.LossInterval)
	defer ticker.Stop()
	var herr error
	deliver := func(ev *sensor.Event) {
		if herr == nil {
			herr = h.HandleEvent(ev)
		}
	}
	for herr == nil {
		select {
		case ev := <-s.events:
			deliver(&ev)
			for more := true; more && herr == nil; {
				select {
				case ev := <-s.events:
					deliver(&ev)
				default:
					more = false
				}
			}
			if herr == nil {
				herr = h.Flush()
			}
		case <-ticker.C:
			s.queryCounters()
		case err := <-traceErr:
			// The session ended under us (stopped from outside).
			s.drain(deliver)
			if err != nil {
				return fmt.Errorf("etw: process trace: %w", err)
			}
			return errors.New("etw: the session stopped")
		case <-ctx.Done():
			if err := s.stop(); err != nil {
				s.log.Warn("stop ETW session", "err", err)
			}
			s.drain(deliver)
			if err := <-traceErr; err != nil {
				s.log.Warn("ETW processing ended", "err", err)
			}
			// The callback has returned for good: the decoder is Run's.
			emit := func(ev *sensor.Event) error { deliver(ev); return herr }
			if err := s.dec.ReportLoss(*s.counters.Load(), emit); err != nil {
				return err
			}
			if err := s.dec.Close(emit); err != nil {
				return err
			}
			if herr != nil {
				return herr
			}
			return h.Flush()
		}
	}
	// The handler failed: stop, and let the callback finish.
	if err := s.stop(); err != nil {
		s.log.Warn("stop ETW session", "err", err)
	}
	s.drain(func(*sensor.Event) {})
	return herr
}

// drain takes events until the callback has returned for good (a
// callback blocked on a full queue must be let go), passing them on.
func (s *Session) drain(deliver func(*sensor.Event)) {
	for {
		select {
		case ev := <-s.events:
			deliver(&ev)
		case <-s.traceEnded:
			for {
				select {
				case ev := <-s.events:
					deliver(&ev)
				default:
					return
				}
			}
		}
	}
}

// stop stops the session; ProcessTrace returns once it has delivered
// what the session held. The final counters come back with it.
func (s *Session) stop() error {
	s.stopOnce.Do(func() {
		props := newTraceProperties()
		s.stopErr = controlTrace(s.control, nil, props, eventTraceControlStop)
		if s.stopErr == nil {
			s.counters.Store(&Counters{EventsLost: uint64(props.p.EventsLost), RealTimeBuffersLost: uint64(props.p.RealTimeBuffersLost)})
		}
	})
	return s.stopErr
}

// queryCounters reads the session's loss counters for the callback's
// next loss report.
func (s *Session) queryCounters() {
	props := newTraceProperties()
	if err := controlTrace(s.control, nil, props, eventTraceControlQuery); err != nil {
		s.log.Debug("query ETW session", "err", err)
		return
	}
	s.counters.Store(&Counters{EventsLost: uint64(props.p.EventsLost), RealTimeBuffersLost: uint64(props.p.RealTimeBuffersLost)})
}

// Close stops the session if Run did not and releases it.
func (s *Session) Close() error {
	var err error
	s.closeOnce.Do(func() {
		err = s.stop()
		if errors.Is(err, windows.ERROR_WMI_INSTANCE_NOT_FOUND) {
			err = nil
		}
		if s.ran.Load() {
			<-s.traceEnded
		}
		if cerr := closeTrace(s.trace[0]); cerr != nil && err == nil {
			err = fmt.Errorf("etw: close trace: %w", cerr)
		}
	})
	return err
}

// callback runs on ProcessTrace's thread, once per event: it decodes the
// event and queues what the decoder makes.
func (s *Session) callback(rec *eventRecord) {
	r := s.record(rec)
	if r == nil {
		return
	}
	emit := func(ev *sensor.Event) error {
		s.events <- *ev
		return nil
	}
	if err := s.dec.Decode(r, emit); err != nil {
		s.decodeErrs++
		if s.decodeErrs <= 16 || s.decodeErrs%1000 == 0 {
			s.log.Debug("drop undecodable ETW event", "err", err, "count", s.decodeErrs)
		}
	}
	now := time.Now()
	if now.After(s.nextLoss) {
		s.nextLoss = now.Add(s.cfg.LossInterval)
		_ = s.dec.ReportLoss(*s.counters.Load(), emit)
	}
	if s.cfg.SendInterval > 0 && now.After(s.nextInterim) {
		s.nextInterim = now.Add(s.cfg.SendInterval)
		_ = s.dec.Interim(emit)
	}
}

// record turns an EVENT_RECORD of the three providers into a Record;
// nil for other events (the session's own header, ids not mapped) and
// for ones TDH cannot describe (counted as decode loss).
func (s *Session) record(rec *eventRecord) *Record {
	hdr := &rec.EventHeader
	var provider string
	switch hdr.ProviderID {
	case guidKernelProcess:
		provider = KernelProcess
	case guidKernelFile:
		provider = KernelFile
	case guidKernelNetwork:
		provider = KernelNetwork
	default:
		return nil
	}
	key := schemaKey{hdr.ProviderID, hdr.EventDescriptor.ID, hdr.EventDescriptor.Version}
	fields, ok := s.schemas[key]
	if !ok {
		if !mapped(provider, key.id) {
			s.schemas[key] = nil
			return nil
		}
		info, buf, err := eventInformation(rec, s.tdhBuf)
		s.tdhBuf = buf
		if err == nil {
			fields, err = fieldsOf(info, buf)
		}
		if err != nil {
			s.log.Warn("no template for an ETW event", "provider", ProviderName(provider), "id", key.id,
				"version", key.version, "err", err)
			fields = []Field{} // not nil: mapped, but undecodable
		}
		FixupFields(provider, fields)
		s.schemas[key] = fields
	}
	if fields == nil {
		return nil
	}
	ptrSize := 8
	if hdr.Flags&eventHeaderFlag32BitHeader != 0 {
		ptrSize = 4
	}
	var data []byte
	if rec.UserDataLength > 0 && rec.UserData != nil {
		data = unsafe.Slice((*byte)(rec.UserData), rec.UserDataLength)
	}
	r := &Record{Provider: provider, EventID: key.id, Version: key.version, Opcode: hdr.EventDescriptor.Opcode,
		Timestamp: FiletimeToTime(uint64(hdr.TimeStamp)), ProcessID: hdr.ProcessID, ThreadID: hdr.ThreadID,
		SID: extendedSID(rec)}
	props, err := ParseUserData(fields, data, ptrSize)
	if err != nil {
		s.log.Debug("ETW event payload", "provider", ProviderName(provider), "id", key.id, "err", err)
	}
	r.Props = props // what parsed; the decoder reports what is missing
	return r
}

func mapped(provider string, id uint16) bool {
	for _, m := range EventIDs(provider) {
		if m == id {
			return true
		}
	}
	return false
}

// extendedSID is the user SID ETW attached to the event
// (EVENT_ENABLE_PROPERTY_SID), or "".
func extendedSID(rec *eventRecord) string {
	if rec.ExtendedDataCount == 0 || rec.ExtendedData == nil {
		return ""
	}
	items := unsafe.Slice(rec.ExtendedData, rec.ExtendedDataCount)
	for i := range items {
		it := &items[i]
		if it.ExtType != eventHeaderExtTypeSID || it.DataPtr == 0 || it.DataSize == 0 {
			continue
		}
		// DataPtr is a ULONGLONG holding the consumer buffer's address.
		b := unsafe.Slice((*byte)(*(*unsafe.Pointer)(unsafe.Pointer(&it.DataPtr))), it.DataSize)
		if sid, _, ok := SIDString(b); ok {
			return sid
		}
	}
	return ""
}
