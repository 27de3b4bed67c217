package sensor

import (
	"fmt"
	"net/netip"
	"syscall"
)

// Kind is what an [Event] reports.
type Kind uint8

const (
	KindFork Kind = Kind(1) // a process created a process
	KindExec Kind = Kind(2) // a process replaced its program
	KindExit Kind = Kind(3) // a process ended
	KindFile Kind = Kind(4) // a file action (see File)
	KindNet  Kind = Kind(5) // a network action (see Net)
	KindLoss Kind = 0x80    // records or fields were lost
	KindHash Kind = 0x81    // a file's hash, computed after its record (user space only)
	// Records that do not come from the kernel: what agents declared, and
	// how Vigil judged it (user space only).
	KindIntent  Kind = 0x82 // an intent an agent reported
	KindVerdict Kind = 0x83 // a declared or observed action judged
)

func (k Kind) String() string {
	switch k {
	case KindFork:
		return "fork"
	case KindExec:
		return "exec"
	case KindExit:
		return "exit"
	case KindFile:
		return "file"
	case KindNet:
		return "network"
	case KindLoss:
		return "loss"
	case KindHash:
		return "hash"
	case KindIntent:
		return "intent"
	case KindVerdict:
		return "verdict"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Flags qualify an event's fields.
type Flags uint16

const (
	FlagExeTruncated   = Flags(1)  // Executable was cut short
	FlagArgsTruncated  = Flags(2)  // Args were cut short
	FlagCwdTruncated   = Flags(4)  // Cwd was cut short
	FlagArgsUnreadable = Flags(8)  // Args could not be read
	FlagNewRoot        = Flags(16) // this exec started an agent tree
	FlagEnvTruncated   = Flags(32) // the environment was larger than the part scanned for correlation ids: a missing id may be beyond it

	// Set by user space, not the kernel (the kernel's flags stay below 1<<13).
	FlagNativeExit           Flags = 1 << 13 // exit: NativeExit holds the exit code (adapters for other platforms)
	FlagCorrelationIDInvalid Flags = 1 << 14 // VIGIL_CORRELATION_ID was set but is not a valid id: CorrelationID left empty
	FlagTraceparentInvalid   Flags = 1 << 15 // TRACEPARENT was set but is not a valid W3C traceparent: TraceID and SpanID left empty
)

// Tree names the agent tree a tracked process belongs to: the root's
// process id and start time, and the agent index user space registered.
// The zero Tree means "not tracked" (trace-all mode).
type Tree struct {
	RootStart uint64 // root's start time, ns since boot
	RootPID   uint32 // root's process id
	Agent     uint32 // agent index (see [Sensor.SetAgents], [Sensor.Track])
}

// IsZero reports whether t names no tree.
func (t Tree) IsZero() bool { return t == Tree{} }

// Task is the process (and thread) an event happened in.
type Task struct {
	PID       uint32 // process id (thread-group id)
	TID       uint32 // thread id
	PPID      uint32 // real parent's process id
	UID, GID  uint32 // real ids
	EUID      uint32 // effective user id
	EGID      uint32 // effective group id
	CgroupID  uint64
	StartTime uint64 // process start, ns since boot (CLOCK_BOOTTIME)
	Comm      string // thread name, at most 15 bytes
	// SID is the user's security identifier where the platform names
	// users so (Windows); UID and GID are then meaningless and zero.
	SID string
}

// Cause is why something was lost.
type Cause uint8

const (
	CauseRingbufFull Cause = Cause(0) // records lost: ring buffer full
	CauseTruncated   Cause = Cause(1) // strings cut short (records kept, flagged)
	CauseTrackFull   Cause = Cause(2) // processes escaped scope: tracked map full
	CauseReadFailed  Cause = Cause(3) // fields left empty: kernel read failed
	CauseAggFull     Cause = Cause(4) // write totals not kept: aggregation map full
	CauseDecode      Cause = 0x40     // records lost: user space could not decode
	CauseDiskFull    Cause = 0x41     // records lost: the output could not be written (disk full)
	CauseSinkBehind  Cause = 0x42     // records never shipped to a sink: retention deleted them first
)

func (c Cause) String() string {
	switch c {
	case CauseRingbufFull:
		return "ringbuf_full"
	case CauseTruncated:
		return "truncated"
	case CauseTrackFull:
		return "tracked_map_full"
	case CauseReadFailed:
		return "read_failed"
	case CauseAggFull:
		return "aggregation_map_full"
	case CauseDecode:
		return "decode_error"
	case CauseDiskFull:
		return "disk_full"
	case CauseSinkBehind:
		return "sink_behind_retention"
	}
	return fmt.Sprintf("cause(%d)", uint8(c))
}

// Loss counts what was lost since the previous report.
type Loss struct {
	Cause Cause
	Class Kind   // the kind of record affected (fork, exec, exit)
	Count uint64 // occurrences since the last report
	Sink  string // for CauseSinkBehind: the sink that missed the records
}

// Handler receives the events Run reads. Returning an error stops Run.
type Handler interface {
	// HandleEvent receives one event; ev is valid until it returns.
	HandleEvent(ev *Event) error
	// Flush is called whenever the ring buffer runs empty, so work
	// buffered by the handler can be completed.
	Flush() error
}

// HandlerFunc adapts a function to a Handler whose Flush does nothing.
type HandlerFunc func(*Event) error

func (f HandlerFunc) HandleEvent(ev *Event) error { return f(ev) }
func (f HandlerFunc) Flush() error                { return nil }

// Event is one decoded kernel record. Fields beyond Task are set per Kind.
type Event struct {
	Kind  Kind
	Flags Flags
	// Partial: user space made this event from map state (interim send
	// totals); Task holds only PID, TID and StartTime.
	Partial bool
	KTime   uint64 // when it happened, ns since boot (CLOCK_BOOTTIME)
	Tree    Tree
	Task    Task

	// KindFork: the new process.
	ChildPID   uint32
	ChildStart uint64

	// KindExec.
	Executable string   // absolute path of the binary that runs
	Args       []string // argv as the process sees it
	Argc       uint32   // argument count the kernel saw (> len(Args) if truncated)
	Cwd        string   // absolute working directory
	// CommandLine is the command line as one string where the platform
	// keeps it so (Windows; Args is its split), else empty.
	CommandLine string
	ExeInode    uint64
	ExeDevice   uint64 // device number in Linux's user-space dev_t layout (see Mkdev)
	// KindExec of a tracked process: the correlation ids in its new
	// environment (see [ParseCorrelationID], [ParseTraceparent]). Empty
	// when unset, invalid (FlagCorrelationIDInvalid,
	// FlagTraceparentInvalid) or beyond the part scanned
	// (FlagEnvTruncated). Never read for untracked processes.
	CorrelationID string // value of VIGIL_CORRELATION_ID
	TraceID       string // trace id of TRACEPARENT: 32 lowercase hex digits
	SpanID        string // parent id of TRACEPARENT: 16 lowercase hex digits

	// KindExit: the wait(2) status; with FlagNativeExit, NativeExit is
	// the exit code the platform reported instead.
	Status     uint32
	NativeExit int64

	// KindFile.
	File File

	// KindNet.
	Net Net

	// KindLoss.
	Loss Loss
}

// ExitCode is the process's exit status, or 128+signal when a signal
// killed it (the shell's convention). With FlagNativeExit it is
// NativeExit, the platform's own code (a Windows NTSTATUS, for one).
func (e *Event) ExitCode() int64 {
	if e.Flags&FlagNativeExit != 0 {
		return e.NativeExit
	}
	if sig := e.Signal(); sig != 0 {
		return 128 + int64(sig)
	}
	return int64(e.Status>>8) & 0xff
}

// Signal is the signal that killed the process, or 0.
func (e *Event) Signal() syscall.Signal {
	// The wait(2) status: the low 7 bits are the signal (0: exited,
	// 0x7f: stopped), bit 7 a core dump, bits 8-15 the exit code.
	if e.Flags&FlagNativeExit != 0 {
		return 0
	}
	if sig := e.Status & 0x7f; sig != 0 && sig != 0x7f {
		return syscall.Signal(sig)
	}
	return 0
}

// CoreDumped reports whether the process dumped core.
func (e *Event) CoreDumped() bool { return e.Signal() != 0 && e.Status&0x80 != 0 }

// FileOp is the file action a KindFile event reports.
type FileOp uint16

const (
	FileOpen       = FileOp(1) // open, openat, openat2, creat
	FileUnlink     = FileOp(2) // unlink, unlinkat
	FileRmdir      = FileOp(3) // rmdir, unlinkat(AT_REMOVEDIR)
	FileRename     = FileOp(4) // rename, renameat, renameat2
	FileTruncate   = FileOp(5) // truncate(path)
	FileWriteStart = FileOp(6) // first write through a descriptor
	FileWriteEnd   = FileOp(7) // write totals at close or exit
)

func (o FileOp) String() string {
	switch o {
	case FileOpen:
		return "open"
	case FileUnlink:
		return "unlink"
	case FileRmdir:
		return "rmdir"
	case FileRename:
		return "rename"
	case FileTruncate:
		return "truncate"
	case FileWriteStart:
		return "write_start"
	case FileWriteEnd:
		return "write_end"
	}
	return fmt.Sprintf("file_op(%d)", uint16(o))
}

// FileFlags qualify a file event.
type FileFlags uint16

const (
	FilePathExact = FileFlags(1)  // Path is the file's absolute path from its dentry
	FilePathCut   = FileFlags(2)  // a path was cut short
	FileRegular   = FileFlags(4)  // a regular file
	FileTruncated = FileFlags(8)  // write end: ftruncate was called (length in Ret)
	FileAtExit    = FileFlags(16) // write end: reported at process exit
	FileStale     = FileFlags(32) // write end: closed unseen, noticed on reuse
	// Dir and Path (and Dir2, Path2) are a parent directory's absolute
	// path and a name, both from the kernel's dentries (LSM hook).
	FilePathKernel = FileFlags(64)

	// Set by user space, not the kernel (whose file flags stay below
	// 1<<12). FileDirKernel by the Linux decoder: Dir (and Dir2) are
	// absolute paths the kernel built from dentries, with no symlinks and
	// no dots in them, so resolving Path needs to look only at Path's own
	// components. The others by the adapters for other platforms.
	FileDirKernel   FileFlags = 1 << 12
	FileAtStop      FileFlags = 1 << 13 // write end: reported because the event stream ended
	FileModeUnknown FileFlags = 1 << 14 // open: the platform does not report the creation mode
	FileSizeUnknown FileFlags = 1 << 15 // write end: the platform reports write calls, not bytes (Size is 0)
)

// File is a file action (KindFile).
type File struct {
	Op        FileOp
	Flags     FileFlags
	Ret       int64  // fd, 0 or -errno; write end: last ftruncate length
	Size      int64  // truncate length; write end: bytes written
	Ops       uint64 // write end: write calls
	First     uint64 // write end: ns since boot of the first write
	Inode     uint64
	Device    uint64 // device number in Linux's user-space dev_t layout (see Mkdev)
	Cookie    uint64 // identifies one open file (joins write start and end)
	OpenFlags uint32 // open: O_* flags; unlinkat: AT_*; renameat2: RENAME_*
	Mode      uint32 // open: mode argument
	FMode     uint32 // open: the kernel's f_mode
	FD        int32  // descriptor, or the dirfd of a path given as a string
	// With FilePathExact, Path is absolute and Dir empty. Otherwise Path
	// is the string the process passed and Dir the absolute directory a
	// relative Path is relative to.
	Dir, Path   string
	Dir2, Path2 string // rename: the new name
}

// NetOp is the network action a KindNet event reports.
type NetOp uint16

const (
	NetConnect   = NetOp(1) // connect
	NetSendStart = NetOp(2) // first send on a descriptor: payload head
	NetSendEnd   = NetOp(3) // send totals
	NetDNSAnswer = NetOp(4) // a datagram from port 53
)

func (o NetOp) String() string {
	switch o {
	case NetConnect:
		return "connect"
	case NetSendStart:
		return "send_start"
	case NetSendEnd:
		return "send_end"
	case NetDNSAnswer:
		return "dns_answer"
	}
	return fmt.Sprintf("net_op(%d)", uint16(o))
}

// NetFlags qualify a network event.
type NetFlags uint16

const (
	NetAtExit              = NetFlags(1)  // send end: reported at process exit
	NetDestChange          = NetFlags(2)  // send end: the next send went elsewhere
	NetPayloadCut          = NetFlags(4)  // Payload is the head of a longer buffer
	NetStale               = NetFlags(8)  // send end: closed unseen, noticed on reuse
	NetAddrKernel          = NetFlags(16) // connect: Dst is the kernel's copy (LSM hook)
	NetAtStop     NetFlags = 1 << 14      // send end: reported because the event stream ended (adapters)
	NetInterim    NetFlags = 1 << 15      // send end: totals so far, read at an interval; the socket is still open
)

// Address families.
const (
	FamilyUnix  = 1  // AF_UNIX
	FamilyInet  = 2  // AF_INET
	FamilyInet6 = 10 // AF_INET6 (Linux's number; adapters on other systems use these values, not their own)
)

// Endpoint is a socket address. IP is 4 or 16 bytes for the inet
// families; Path is an AF_UNIX name (abstract names start with NUL).
type Endpoint struct {
	Family uint16
	IP     netip.Addr
	Port   uint16
	Path   string
}

// Net is a network action (KindNet).
type Net struct {
	Op       NetOp
	Flags    NetFlags
	Dst, Src Endpoint
	Cookie   uint64 // identifies the socket's open file
	Ret      int64  // connect: 0 or -errno
	Bytes    uint64 // send end: bytes sent; send start: first buffer's length; DNS answer: datagram length
	Packets  uint64 // send end: sends (messages)
	First    uint64 // send end: ns since boot of the first send
	FD       int32
	SockType uint16 // SOCK_STREAM, SOCK_DGRAM, ...
	Protocol uint16 // IPPROTO_TCP, IPPROTO_UDP, ...
	// Payload is the head of the first send (send start) or the DNS
	// answer. It is only valid until the handler returns.
	Payload []byte
}

// Mkdev makes a device number in Linux's user-space dev_t layout, the one
// every event uses whatever the platform (adapters convert theirs), so a
// record shows the same major:minor wherever it is encoded.
func Mkdev(major, minor uint32) uint64 {
	return uint64(major&0xfff)<<8 | uint64(major&^0xfff)<<32 | uint64(minor&0xff) | uint64(minor&^0xff)<<12
}

// DevMajor is the major number of a device number made by Mkdev.
func DevMajor(dev uint64) uint32 { return uint32((dev>>8)&0xfff | (dev>>32)&^0xfff) }

// DevMinor is the minor number of a device number made by Mkdev.
func DevMinor(dev uint64) uint32 { return uint32(dev&0xff | (dev>>12)&^0xff) }
