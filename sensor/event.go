package sensor

import (
	"fmt"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// Kind is what an [Event] reports.
type Kind uint8

const (
	KindFork Kind = Kind(vigilEventTypeEVENT_FORK) // a process created a process
	KindExec Kind = Kind(vigilEventTypeEVENT_EXEC) // a process replaced its program
	KindExit Kind = Kind(vigilEventTypeEVENT_EXIT) // a process ended
	KindFile Kind = Kind(vigilEventTypeEVENT_FILE) // a file action (see File)
	KindNet  Kind = Kind(vigilEventTypeEVENT_NET)  // a network action (see Net)
	KindLoss Kind = 0x80                           // records or fields were lost
	KindHash Kind = 0x81                           // a file's hash, computed after its record (user space only)
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
	FlagExeTruncated   = Flags(vigilEventFlagFLAG_EXE_TRUNCATED)   // Executable was cut short
	FlagArgsTruncated  = Flags(vigilEventFlagFLAG_ARGS_TRUNCATED)  // Args were cut short
	FlagCwdTruncated   = Flags(vigilEventFlagFLAG_CWD_TRUNCATED)   // Cwd was cut short
	FlagArgsUnreadable = Flags(vigilEventFlagFLAG_ARGS_UNREADABLE) // Args could not be read
	FlagNewRoot        = Flags(vigilEventFlagFLAG_NEW_ROOT)        // this exec started an agent tree
	FlagEnvTruncated   = Flags(vigilEventFlagFLAG_ENV_TRUNCATED)   // the environment was larger than the part scanned for correlation ids: a missing id may be beyond it

	// Set by the decoder, not the kernel (the kernel's flags stay below 1<<14).
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
}

// Cause is why something was lost.
type Cause uint8

const (
	CauseRingbufFull Cause = Cause(vigilDropCauseDROP_RINGBUF_FULL) // records lost: ring buffer full
	CauseTruncated   Cause = Cause(vigilDropCauseDROP_TRUNCATED)    // strings cut short (records kept, flagged)
	CauseTrackFull   Cause = Cause(vigilDropCauseDROP_TRACK_FULL)   // processes escaped scope: tracked map full
	CauseReadFailed  Cause = Cause(vigilDropCauseDROP_READ_FAILED)  // fields left empty: kernel read failed
	CauseAggFull     Cause = Cause(vigilDropCauseDROP_AGG_FULL)     // write totals not kept: aggregation map full
	CauseDecode      Cause = 0x40                                   // records lost: user space could not decode
	CauseDiskFull    Cause = 0x41                                   // records lost: the output could not be written (disk full)
	CauseSinkBehind  Cause = 0x42                                   // records never shipped to a sink: retention deleted them first
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
	ExeInode   uint64
	ExeDevice  uint64 // user-space dev_t encoding (unix.Mkdev)
	// KindExec of a tracked process: the correlation ids in its new
	// environment (see [ParseCorrelationID], [ParseTraceparent]). Empty
	// when unset, invalid (FlagCorrelationIDInvalid,
	// FlagTraceparentInvalid) or beyond the part scanned
	// (FlagEnvTruncated). Never read for untracked processes.
	CorrelationID string // value of VIGIL_CORRELATION_ID
	TraceID       string // trace id of TRACEPARENT: 32 lowercase hex digits
	SpanID        string // parent id of TRACEPARENT: 16 lowercase hex digits

	// KindExit: the wait(2) status.
	Status uint32

	// KindFile.
	File File

	// KindNet.
	Net Net

	// KindLoss.
	Loss Loss
}

// ExitCode is the process's exit status, or 128+signal when a signal
// killed it (the shell's convention).
func (e *Event) ExitCode() int {
	ws := syscall.WaitStatus(e.Status)
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// Signal is the signal that killed the process, or 0.
func (e *Event) Signal() syscall.Signal {
	ws := syscall.WaitStatus(e.Status)
	if ws.Signaled() {
		return ws.Signal()
	}
	return 0
}

// CoreDumped reports whether the process dumped core.
func (e *Event) CoreDumped() bool { return syscall.WaitStatus(e.Status).CoreDump() }

// FileOp is the file action a KindFile event reports.
type FileOp uint16

const (
	FileOpen       = FileOp(vigilFileOpFILE_OPEN)        // open, openat, openat2, creat
	FileUnlink     = FileOp(vigilFileOpFILE_UNLINK)      // unlink, unlinkat
	FileRmdir      = FileOp(vigilFileOpFILE_RMDIR)       // rmdir, unlinkat(AT_REMOVEDIR)
	FileRename     = FileOp(vigilFileOpFILE_RENAME)      // rename, renameat, renameat2
	FileTruncate   = FileOp(vigilFileOpFILE_TRUNCATE)    // truncate(path)
	FileWriteStart = FileOp(vigilFileOpFILE_WRITE_START) // first write through a descriptor
	FileWriteEnd   = FileOp(vigilFileOpFILE_WRITE_END)   // write totals at close or exit
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
	FilePathExact = FileFlags(vigilFileFlagFFLAG_PATH_EXACT) // Path is the file's absolute path from its dentry
	FilePathCut   = FileFlags(vigilFileFlagFFLAG_PATH_CUT)   // a path was cut short
	FileRegular   = FileFlags(vigilFileFlagFFLAG_REGULAR)    // a regular file
	FileTruncated = FileFlags(vigilFileFlagFFLAG_TRUNCATED)  // write end: ftruncate was called (length in Ret)
	FileAtExit    = FileFlags(vigilFileFlagFFLAG_AT_EXIT)    // write end: reported at process exit
	FileStale     = FileFlags(vigilFileFlagFFLAG_STALE)      // write end: closed unseen, noticed on reuse
	// Dir and Path (and Dir2, Path2) are a parent directory's absolute
	// path and a name, both from the kernel's dentries (LSM hook).
	FilePathKernel = FileFlags(vigilFileFlagFFLAG_PATH_KERNEL)
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
	Device    uint64 // user-space dev_t encoding
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
	NetConnect   = NetOp(vigilNetOpNET_CONNECT)    // connect
	NetSendStart = NetOp(vigilNetOpNET_SEND_START) // first send on a descriptor: payload head
	NetSendEnd   = NetOp(vigilNetOpNET_SEND_END)   // send totals
	NetDNSAnswer = NetOp(vigilNetOpNET_DNS_ANSWER) // a datagram from port 53
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
	NetAtExit              = NetFlags(vigilNetFlagNFLAG_AT_EXIT)     // send end: reported at process exit
	NetDestChange          = NetFlags(vigilNetFlagNFLAG_DEST_CHANGE) // send end: the next send went elsewhere
	NetPayloadCut          = NetFlags(vigilNetFlagNFLAG_PAYLOAD_CUT) // Payload is the head of a longer buffer
	NetStale               = NetFlags(vigilNetFlagNFLAG_STALE)       // send end: closed unseen, noticed on reuse
	NetAddrKernel          = NetFlags(vigilNetFlagNFLAG_ADDR_KERNEL) // connect: Dst is the kernel's copy (LSM hook)
	NetInterim    NetFlags = 1 << 15                                 // send end: totals so far, read at an interval; the socket is still open
)

// Address families.
const (
	FamilyUnix  = unix.AF_UNIX
	FamilyInet  = unix.AF_INET
	FamilyInet6 = unix.AF_INET6
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
