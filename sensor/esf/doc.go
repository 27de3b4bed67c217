// Package esf is Vigil's macOS event source: it runs Apple's eslogger(1),
// which prints Endpoint Security (ES) messages as JSON lines, and decodes
// them into the same [sensor.Event] stream the Linux sensor delivers.
// The decoding is plain Go and is tested on every platform; starting
// eslogger (Run, Config) is darwin only.
//
// # What is captured
//
// From the eslogger events exec, fork, exit, open, close, write, unlink,
// rename and uipc_connect ([DefaultEvents]):
//   - KindExec: the program after the exec (es_event_exec_t.target; the
//     message's process is the one before it), its arguments and working
//     directory, the executable's inode and device, and the correlation
//     ids in its environment (tracked processes only). For a script run
//     directly, Executable is the interpreter, as ES reports it.
//   - KindFork: parent (the message's process) and child.
//   - KindExit: the wait(2) status, which on macOS has Linux's encoding.
//   - KindFile: FileOpen (fflag mapped to Linux O_ numbers: the access
//     mode, O_CREAT, O_EXCL, O_TRUNC, O_APPEND), FileUnlink and FileRmdir
//     (by the target's st_mode), FileRename (the destination is the file
//     replaced or a directory and a new name), and write totals:
//     FileWriteStart and FileWriteEnd with the number of write calls and
//     no byte count (FileSizeUnknown), at a modifying close, at exit
//     (FileAtExit), when a reused pid shows the exit was lost
//     (FileStale), and at the end of the stream (FileAtStop). Opens say
//     FileModeUnknown: ES does not report a creation mode.
//     See writes.go. Paths are absolute and whole (FilePathExact) unless
//     ES cut them (FilePathCut); inode and device come from the file's
//     stat, the device turned from macOS's dev_t (major << 24 | minor)
//     into the events' layout (sensor.Mkdev), as the correlator's hasher
//     turns stat(2)'s there.
//   - KindNet: NetConnect to a UNIX-domain socket file (uipc_connect),
//     with Dst.Family FamilyUnix and Dst.Path the socket's path.
//   - KindLoss: messages ES dropped (gaps in seq_num), lines that could
//     not be decoded, write totals not kept, processes a full scope left
//     out, reported whenever the input runs dry and at its end. Loss is
//     never silent.
//
// Times (KTime, Task.StartTime, Tree.RootStart, ChildStart) are ns since
// the Unix epoch (sensor.WallClock): message time and process start_time
// (a timeval: microseconds). Task: PID from the audit token, PPID the
// current parent, UID/GID the real ids, EUID/EGID the effective ones, TID
// the thread's id (es_thread_t) when it fits in 32 bits, Comm the
// executable's base name cut to 15 bytes. Records carry no descriptor
// (FD is -1) and no result (Ret is 0): ES notifies actions the kernel
// let happen, and uipc_connect is sent before the connect completes, so a
// connect record is an attempt that may still have failed. An open does
// not say whether it created the file, so opens never carry the creation
// mark, and no create mode is known (Mode 0).
//
// # Scope and process identity
//
// eslogger sees every process on the host; a [sensor.TreeScope] keeps
// the agents' trees in user space, as the kernel's map does on Linux.
// Events of processes out of scope are dropped. A process is (pid, start
// time): start_time is the fork's and survives exec, while the audit
// token's pidversion is bumped by every exec (ESMessage.h: "(pid,
// pidversion) identifies a specific process execution"), so it names one
// program run, not the process, and is not used as its key. A tracked pid
// seen with another start time was reused and its exit lost: it leaves
// its tree. A process whose fork message was lost joins its parent's tree
// when its first message shows it (original_ppid tracked, born after the
// parent).
//
// # What is not captured
//
// Endpoint Security has no event for IP connections or for data sent:
// there is no connect to an address, no send, no DNS, so no NetSendStart,
// NetSendEnd or NetDNSAnswer on macOS, only UNIX-domain connects. Closing
// that gap takes a Network Extension: a content filter
// (NEFilterDataProvider, shipped in a system extension the user approves)
// is asked about each new flow (handleNewFlow) with the process's audit
// token (NEFilterFlow.sourceAppAuditToken), the remote endpoint and, for
// flows made through Network.framework or NSURLSession, the host name
// (NEFilterSocketFlow), and can be shown the bytes each way
// (handleOutboundData, handleInboundData), which would give connect and
// send records. Writes carry no byte counts; truncate,
// mmap'd writes (close.was_mapped_writable), link, create and
// exchangedata are not read. ES can report an unlink or rename twice when
// the kernel retries the call. Processes that were running before eslogger
// started are only known from their later messages.
//
// # Drops, privileges, versions
//
// When more events happen than the client takes, the kernel drops
// messages and the sequence numbers skip (ESMessage.h, seq_num and
// global_seq_num); the Decoder reports each gap as loss
// (CauseRingbufFull: the queue to the client overflowed) with the dropped
// type's class, and global gaps no type claimed at the end of the stream
// (see seq.go). Drops include messages of processes outside any tree:
// they cannot be told apart. eslogger is not Apple's API for this: it is
// "NOT API in any sense" and its output "may change from release to
// release" (eslogger(1)). It needs macOS 13 or later, root, and Full
// Disk Access (TCC) for the responsible process: the terminal it is run
// from, or the daemon that starts Vigil. It mutes its own process group,
// so Run starts it in a group of its own: an agent Vigil started must not
// share eslogger's group. It has no option to filter by process or path:
// it prints every process's events, and writes are many.
//
// Sources: Apple's ESMessage.h and ESTypes.h (as carried, with their
// comments, by the Rust bindings github.com/HarfangLab/endpoint-sec,
// endpoint-sec-sys/src/message.rs), the eslogger(1) man page, and
// eslogger's key set and sample lines in Red Canary Mac Monitor's tests
// (github.com/Brandon7CC/mac-monitor,
// ProjectSutro/SutroESFrameworkTests/Fixtures).
package esf
