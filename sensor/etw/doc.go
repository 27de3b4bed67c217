// Package etw is Vigil's Windows event source: it turns the events of
// three kernel ETW providers into the [sensor.Event] stream the Linux
// sensor makes, scoped to the agents' process trees in user space by a
// [sensor.TreeScope].
//
// The parts:
//   - [Record] is one ETW event with its properties decoded (TDH in-types
//     as Go types, see [Props]); [ParseUserData] decodes a payload by the
//     template TDH gives, on any platform.
//   - [Decoder] maps Records to events and keeps the state ETW needs:
//     paths by file object, write and send totals, what it knows of each
//     process. It builds and is tested everywhere.
//   - [ReadRecords] and [WriteRecord] read and write Records as JSON lines
//     (the replay format, documented in replay.go), for fixtures and
//     captures; testdata/agent-session.jsonl is an agent's session.
//   - Session (Windows only) is the live consumer: a real-time session
//     that enables the providers, decodes each event with TDH and
//     delivers the events to a [sensor.Handler] on one goroutine.
//
// # Providers and mapping
//
// Microsoft-Windows-Kernel-Process {22fb2cd6-0e7b-422b-a0c7-2fad1fd0e716},
// keyword WINEVENT_KEYWORD_PROCESS (0x10):
//   - ProcessStart (1) is a fork and an exec: Windows creates a process
//     with its program in one step, so one record yields a KindFork (the
//     parent, ParentProcessID, to the child) and a KindExec of the child,
//     both at the record's time. The exec's Executable is ImageName with
//     its device turned into a drive letter ([WithDevices]); its TID is 0
//     (the first thread is in no record). A process created by a process
//     in a tree that names another parent (PROC_THREAD_ATTRIBUTE_PARENT_PROCESS)
//     stays in its creator's tree: the record's header names the creator.
//   - ProcessStop (2) is a KindExit with FlagNativeExit: NativeExit is the
//     exit code or NTSTATUS as logged (0xC0000005 stays positive).
//   - ProcessRundown (15) names a process running before the stream began:
//     no event, but the decoder learns it, scopes it (an agent already
//     running starts its tree) and passes it to [WithSnapshots]. The
//     Session makes these from a process snapshot at Open.
//
// Microsoft-Windows-Kernel-File {edd08927-9cc4-4e65-b970-c2560fb5c289},
// keywords FILEIO (0x20), CREATE (0x80), WRITE (0x200), DELETE_PATH
// (0x400), RENAME_SETLINK_PATH (0x800), filtered to the ids mapped:
//   - Create (12) is a FileOpen. Its path is FileName (FilePathExact when
//     whole); OpenFlags are Linux's O_* for the create disposition
//     (FILE_CREATE is O_CREAT|O_EXCL, FILE_OPEN_IF O_CREAT,
//     FILE_OVERWRITE(_IF) and FILE_SUPERSEDE O_TRUNC (and O_CREAT), a
//     directory O_DIRECTORY); an open that may create or truncate a file
//     is taken to write it (O_WRONLY), any other to read it. FILE_CREATE
//     sets FMODE_CREATED in FMode.
//   - Write (16) is counted per (process, file object): the first write
//     is a FileWriteStart naming the file (Cookie: the file object), and
//     Cleanup (13) or Close (14) of the file object, the writer's exit
//     (FileAtExit) or the file object's reuse (FileStale) a FileWriteEnd
//     with Size, Ops and First. A handle passed to a child is counted for
//     the child.
//   - DeletePath (26) is a FileUnlink, or FileRmdir when the file object
//     was opened as a directory; FILE_DELETE_ON_CLOSE makes a FileUnlink
//     at Cleanup. RenamePath (27) is a FileRename from the file object's
//     path to FilePath; totals open on the file object go on under the
//     new name.
//
// Microsoft-Windows-Kernel-Network {7dd42a49-5329-4832-8dfd-43d979153a88},
// keywords IPV4 (0x10) and IPV6 (0x20), scoped by the PID property (the
// header's process is whoever ran the stack):
//   - TCP connect (12, 28) is a NetConnect (SOCK_STREAM, IPPROTO_TCP,
//     Ret 0); TCP send (10, 26) and UDP send (42, 58) are counted per
//     process and four-tuple and reported as NetSendEnd at the TCP close
//     (13, 29), the process's exit (NetAtExit), a reconnect of the same
//     four-tuple (NetStale), or at an interval ([Decoder.Interim],
//     NetInterim). Families are Linux's (sensor.FamilyInet, FamilyInet6);
//     IPv4-mapped addresses in IPv6 events are unmapped, as on Linux.
//     Ports are big-endian in the payload (win:Port); Props hold them in
//     host order, swapped by ParseUserData. The Cookie is a hash of the
//     process and the four-tuple.
//
// Events carry their tree (ev.Tree), their process (PID, TID, PPID,
// StartTime: the process's CreateTime, Comm: its image's base name cut to
// 15 bytes, SID: the user), and KTime: the record's time. Times are ns
// since the Unix epoch ([sensor.WallClock]). Paths are Windows paths:
// matchers must split on '\\'.
//
// # What is not captured
//
//   - The command line: no version of ProcessStart (0 to 3) logs it, nor
//     the working directory or the environment. The Session reads them
//     from the live process when the record arrives: the command line with
//     NtQueryInformationProcess(ProcessCommandLineInformation), the
//     working directory and, for processes in a tree only, the correlation
//     variables from its PEB. The record arrives up to Config.FlushInterval
//     after the start, so a process that exits faster has FlagArgsUnreadable
//     (a pid reused meanwhile is told apart by its create time). Since
//     agents are matched by their arguments too, every new process's
//     command line is read, and dropped when out of scope. The kernel
//     logger's process events (MSNT_SystemTrace Process, with CommandLine)
//     would have no race; they need a system logger session, not used here.
//   - The outcome of an open: Create is logged before the file system
//     completes it, so a failed open looks like a successful one (Ret 0),
//     and no access mask is logged. OperationEnd (24) has the status; it
//     is not enabled (it doubles the file events).
//   - Writes the process did not issue: paging I/O (the cache manager's
//     lazy writer, writes through mapped views) runs in System and is
//     skipped (Stats.PagingWrites), so writes through a mapped file are
//     not seen. Writes through file objects not seen opened in scope
//     (inherited from outside the tree, opened before the session) or to
//     no file on a volume (pipes, the console, sockets) are not totalled
//     (Stats.UntrackedFiles).
//   - DeletePath marks a file for deletion; the name goes when its last
//     handle closes. A later undelete is not told apart. Hard links
//     (SetLinkPath, 28) are not mapped. Inodes and devices are not known.
//   - Failed connects: their event (17) has no process. Receives are not
//     mapped; sends carry no payload (no send_start, no DNS parsing: the
//     DNS client service resolves for most processes anyway). TCP send
//     counts are the stack's transmissions, not the process's calls.
//     AF_UNIX sockets are not reported.
//   - Loss: events ETW could not log (EventsLost), buffers the consumer
//     did not take in time (RealTimeBuffersLost, each at least one record),
//     records that failed to decode, totals not kept and processes left
//     out of a full scope are reported as KindLoss ([Decoder.ReportLoss]).
//
// # Privileges
//
// A real-time session of these providers needs Administrator rights or
// membership in Performance Log Users. Reading other users' processes'
// working directories and environments needs Administrator (with
// SeDebugPrivilege for protected ones); without it those fields stay
// empty. Only 64-bit Windows is supported.
package etw
