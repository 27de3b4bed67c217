package etw

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/sensor"
)

// Test records are built as the providers' manifests define them; the
// templates, by event id and version, with the sources they come from:
//
// Microsoft-Windows-Kernel-Process {22fb2cd6-0e7b-422b-a0c7-2fad1fd0e716}
// (jdu2600/Windows10EtwEvents manifest/Microsoft-Windows-Kernel-Process.tsv;
// OTRF/OSSEM data_dictionaries/windows/etw-providers/Microsoft-Windows-Kernel-Process/events/event-1_v3.md, event-2_v2.md),
// keyword WINEVENT_KEYWORD_PROCESS 0x10:
//
//	1 v0 ProcessStart    ProcessID win:UInt32, CreateTime win:FILETIME, ParentProcessID win:UInt32,
//	                     SessionID win:UInt32, ImageName win:UnicodeString
//	1 v1                 v0 with Flags win:UInt32 before ImageName
//	1 v2                 v1, then ImageChecksum win:UInt32, TimeDateStamp win:UInt32,
//	                     PackageFullName win:UnicodeString, PackageRelativeAppId win:UnicodeString
//	1 v3                 ProcessID win:UInt32, ProcessSequenceNumber win:UInt64, CreateTime win:FILETIME,
//	                     ParentProcessID win:UInt32, ParentProcessSequenceNumber win:UInt64, SessionID win:UInt32,
//	                     Flags win:UInt32, ProcessTokenElevationType win:UInt32, ProcessTokenIsElevated win:UInt32,
//	                     MandatoryLabel win:SID, ImageName win:UnicodeString, ImageChecksum win:UInt32,
//	                     TimeDateStamp win:UInt32, PackageFullName win:UnicodeString, PackageRelativeAppId win:UnicodeString
//	2 v0 ProcessStop     ProcessID win:UInt32, CreateTime win:FILETIME, ExitTime win:FILETIME, ExitCode win:UInt32,
//	                     TokenElevationType win:UInt32, HandleCount win:UInt32, CommitCharge win:UInt64,
//	                     CommitPeak win:UInt64, ImageName win:AnsiString
//	2 v1                 v0 with CPUCycleCount win:UInt64, ReadOperationCount, WriteOperationCount,
//	                     ReadTransferKiloBytes, WriteTransferKiloBytes, HardFaultCount win:UInt32 before ImageName
//	2 v2                 v1 with ProcessSequenceNumber win:UInt64 after ProcessID
//	15 v0 ProcessRundown the fields of 1 v2
//
// No version carries the command line or the working directory.
//
// Microsoft-Windows-Kernel-File {edd08927-9cc4-4e65-b970-c2560fb5c289}
// (jdu2600/Windows10EtwEvents manifest/Microsoft-Windows-Kernel-File.tsv;
// DataDog/datadog-agent pkg/security/probe/probe_kernel_file_windows.go, quoting
// repnz/etw-providers-docs Manifests-Win10-17134/Microsoft-Windows-Kernel-File.xml),
// keywords FILENAME 0x10, FILEIO 0x20, OP_END 0x40, CREATE 0x80, READ 0x100,
// WRITE 0x200, DELETE_PATH 0x400, RENAME_SETLINK_PATH 0x800, CREATE_NEW_FILE 0x1000:
//
//	12 v1 Create         Irp win:Pointer, FileObject win:Pointer, IssuingThreadId win:UInt32,
//	                     CreateOptions win:UInt32, CreateAttributes win:UInt32, ShareAccess win:UInt32,
//	                     FileName win:UnicodeString
//	                     (v0: Irp, ThreadId win:Pointer, FileObject, CreateOptions, CreateAttributes, ShareAccess, FileName)
//	13 v1 Cleanup        Irp win:Pointer, FileObject win:Pointer, FileKey win:Pointer, IssuingThreadId win:UInt32
//	14 v1 Close          as Cleanup
//	16 v1 Write          ByteOffset win:UInt64, Irp win:Pointer, FileObject win:Pointer, FileKey win:Pointer,
//	                     IssuingThreadId win:UInt32, IOSize win:UInt32, IOFlags win:UInt32, ExtraFlags win:UInt32
//	26 v1 DeletePath     Irp, FileObject, FileKey, ExtraInformation win:Pointer, IssuingThreadId win:UInt32,
//	                     InfoClass win:UInt32, FilePath win:UnicodeString
//	27 v1 RenamePath     as DeletePath; FilePath is the new name
//
// Microsoft-Windows-Kernel-Network {7dd42a49-5329-4832-8dfd-43d979153a88}
// (jdu2600/Windows10EtwEvents manifest/Microsoft-Windows-Kernel-Network.tsv;
// OTRF/OSSEM data_dictionaries/windows/etw/Microsoft-Windows-Kernel-Network/events/event-31.md),
// keywords KERNEL_NETWORK_KEYWORD_IPV4 0x10, KERNEL_NETWORK_KEYWORD_IPV6 0x20. The
// message strings read "%2 bytes transmitted from %4:%6 to %3:%5": saddr:sport
// is the local end, daddr:dport the remote; addresses are win:IPv4 (a UInt32)
// or win:IPv6 (16 bytes), ports win:Port, all in network byte order:
//
//	10 v0 TCPv4 send     PID win:UInt32, size win:UInt32, daddr, saddr, dport win:UInt16, sport win:UInt16,
//	                     startime win:UInt32, endtime win:UInt32, seqnum win:UInt32, connid win:UInt32
//	12 v0 TCPv4 connect  PID, size, daddr, saddr, dport, sport, mss win:UInt16, sackopt win:UInt16,
//	                     tsopt win:UInt16, wsopt win:UInt16, rcvwin win:UInt32, rcvwinscale win:UInt16,
//	                     sndwinscale win:UInt16, seqnum, connid
//	13 v0 TCPv4 close    PID, size, daddr, saddr, dport, sport, seqnum, connid
//	26, 28, 29 v0        the TCPv6 forms of 10, 12, 13: daddr and saddr win:Binary, 16 bytes
//	42 v0 UDPv4 send     PID, size, daddr, saddr, dport, sport, seqnum, connid
//	58 v0 UDPv6 send     42 with 16-byte addresses
//	17 v0 TCP connect failed  Proto win:UInt16, FailureCode win:UInt16 (no process: not mapped)

const (
	userSID   = "S-1-5-21-3623811015-3361044348-30300820-1013"
	volume    = `\Device\HarddiskVolume3`
	agentPath = `C:\Users\dev\AppData\Local\Programs\claude\claude.exe`
)

var (
	t0        = time.Date(2026, 3, 2, 10, 15, 0, 0, time.UTC)
	deviceMap = map[string]string{volume: "C:"}
)

func at(ms float64) time.Time { return t0.Add(time.Duration(ms * float64(time.Millisecond))) }

// matchAgent is the matcher the tests use: claude.exe by base name.
func matchAgent(exe string, args []string) (uint32, bool) {
	return 1, strings.EqualFold(baseName(exe), "claude.exe")
}

func newTestDecoder(opts ...Option) (*Decoder, *sensor.TreeScope) {
	scope := sensor.NewTreeScope(matchAgent, false, 0)
	return NewDecoder(scope, append([]Option{WithDevices(deviceMap)}, opts...)...), scope
}

// startRecord is a Kernel-Process ProcessStart version 3, with the
// command line a consumer adds. created is the CreateTime.
func startRecord(ms float64, creator, pid, ppid uint32, image, cmdline string) *Record {
	return &Record{Provider: KernelProcess, EventID: 1, Version: 3, Opcode: 1, Timestamp: at(ms),
		ProcessID: creator, ThreadID: creator + 4, SID: userSID, Props: Props{
			"ProcessID":                   pid,
			"ProcessSequenceNumber":       uint64(pid) * 3,
			"CreateTime":                  at(ms - 0.012),
			"ParentProcessID":             ppid,
			"ParentProcessSequenceNumber": uint64(ppid) * 3,
			"SessionID":                   uint32(1),
			"Flags":                       uint32(0),
			"ProcessTokenElevationType":   uint32(3),
			"ProcessTokenIsElevated":      uint32(0),
			"MandatoryLabel":              "S-1-16-8192",
			"ImageName":                   volume + image,
			"ImageChecksum":               uint32(0),
			"TimeDateStamp":               uint32(0),
			"PackageFullName":             "",
			"PackageRelativeAppId":        "",
			PropCommandLine:               cmdline,
		}}
}

// created is the CreateTime startRecord(ms, ...) gives, in Unix ns.
func created(ms float64) uint64 { return uint64(at(ms - 0.012).UnixNano()) }

// stopRecord is a Kernel-Process ProcessStop version 2.
func stopRecord(ms float64, pid uint32, startMS float64, code uint32, name string) *Record {
	return &Record{Provider: KernelProcess, EventID: 2, Version: 2, Opcode: 2, Timestamp: at(ms),
		ProcessID: pid, ThreadID: pid + 4, SID: userSID, Props: Props{
			"ProcessID":              pid,
			"ProcessSequenceNumber":  uint64(pid) * 3,
			"CreateTime":             at(startMS - 0.012),
			"ExitTime":               at(ms),
			"ExitCode":               code,
			"TokenElevationType":     uint32(3),
			"HandleCount":            uint32(10),
			"CommitCharge":           uint64(1 << 20),
			"CommitPeak":             uint64(2 << 20),
			"CPUCycleCount":          uint64(1e6),
			"ReadOperationCount":     uint32(1),
			"WriteOperationCount":    uint32(1),
			"ReadTransferKiloBytes":  uint32(1),
			"WriteTransferKiloBytes": uint32(1),
			"HardFaultCount":         uint32(0),
			"ImageName":              name,
		}}
}

func fileRecord(id uint16, ms float64, pid uint32, props Props) *Record {
	props["Irp"] = uint64(0xffffa50c21a0c000) + uint64(id)
	props["IssuingThreadId"] = pid + 4
	return &Record{Provider: KernelFile, EventID: id, Version: 1, Timestamp: at(ms),
		ProcessID: pid, ThreadID: pid + 4, SID: userSID, Props: props}
}

// createRecord is a Kernel-File Create v1; opts is CreateOptions
// (disposition << 24 | options).
func createRecord(ms float64, pid uint32, fo uint64, path string, opts uint32) *Record {
	return fileRecord(12, ms, pid, Props{"FileObject": fo, "CreateOptions": opts,
		"CreateAttributes": uint32(0x80), "ShareAccess": uint32(7), "FileName": volume + path})
}

func writeRecord(ms float64, pid uint32, fo uint64, size, ioflags uint32) *Record {
	return fileRecord(16, ms, pid, Props{"ByteOffset": uint64(0), "FileObject": fo, "FileKey": fo - 0x2000,
		"IOSize": size, "IOFlags": ioflags, "ExtraFlags": uint32(0)})
}

func cleanupRecord(id uint16, ms float64, pid uint32, fo uint64) *Record {
	return fileRecord(id, ms, pid, Props{"FileObject": fo, "FileKey": fo - 0x2000})
}

func pathRecord(id uint16, ms float64, pid uint32, fo uint64, infoClass uint32, path string) *Record {
	return fileRecord(id, ms, pid, Props{"FileObject": fo, "FileKey": fo - 0x2000, "ExtraInformation": uint64(1),
		"InfoClass": infoClass, "FilePath": volume + path})
}

// netRecord is a Kernel-Network TCP or UDP record (the fields every
// template shares, and seqnum and connid), logged in System's context.
func netRecord(id uint16, ms float64, pid, size uint32, src, dst string) *Record {
	s, d := netip.MustParseAddrPort(src), netip.MustParseAddrPort(dst)
	return &Record{Provider: KernelNetwork, EventID: id, Opcode: uint8(id), Timestamp: at(ms), ProcessID: 4,
		Props: Props{"PID": pid, "size": size, "daddr": d.Addr(), "saddr": s.Addr(), "dport": d.Port(), "sport": s.Port(),
			"seqnum": uint32(0), "connid": uint32(0)}}
}

// Create dispositions and options as CreateOptions holds them.
const (
	optOverwriteIf = fileOverwriteIf<<24 | 0x60 // FILE_NON_DIRECTORY_FILE | FILE_SYNCHRONOUS_IO_NONALERT
	optOpen        = fileOpen<<24 | 0x60
	optOpenIf      = fileOpenIf<<24 | 0x60
	optCreate      = fileCreate<<24 | 0x60
	optDirDelete   = fileOpen<<24 | 0x204021 // FILE_DIRECTORY_FILE | FILE_OPEN_FOR_BACKUP_INTENT | FILE_OPEN_REPARSE_POINT | sync
	optTemp        = fileCreate<<24 | 0x1060 // FILE_DELETE_ON_CLOSE
	cachedWrite    = 0xa04                   // IRP_SYNCHRONOUS_API | IRP_WRITE_OPERATION | IRP_DEFER_IO_COMPLETION
	pagingWrite    = 0x243                   // IRP_NOCACHE | IRP_PAGING_IO | IRP_SYNCHRONOUS_PAGING_IO | IRP_WRITE_OPERATION
)

// collect decodes records and returns copies of the events.
func collect(t *testing.T, d *Decoder, recs ...*Record) []sensor.Event {
	t.Helper()
	var evs []sensor.Event
	emit := func(ev *sensor.Event) error { evs = append(evs, *ev); return nil }
	for _, r := range recs {
		if err := d.Decode(r, emit); err != nil {
			t.Fatalf("Decode %s %d: %v", ProviderName(r.Provider), r.EventID, err)
		}
	}
	return evs
}

// summary is an event in one line, for comparing sequences.
func summary(ev *sensor.Event) string {
	switch ev.Kind {
	case sensor.KindFork:
		return fmt.Sprintf("fork %d>%d", ev.Task.PID, ev.ChildPID)
	case sensor.KindExec:
		s := fmt.Sprintf("exec %d %s %q", ev.Task.PID, ev.Executable, ev.Args)
		if ev.Flags&sensor.FlagNewRoot != 0 {
			s += " root"
		}
		return s
	case sensor.KindExit:
		return fmt.Sprintf("exit %d %#x", ev.Task.PID, ev.NativeExit)
	case sensor.KindFile:
		f := &ev.File
		s := fmt.Sprintf("%s %d %s", f.Op, ev.Task.PID, f.Path)
		switch f.Op {
		case sensor.FileRename:
			s += " -> " + f.Path2
		case sensor.FileOpen:
			s += fmt.Sprintf(" %#o", f.OpenFlags)
		case sensor.FileWriteEnd:
			s += fmt.Sprintf(" %d/%d", f.Size, f.Ops)
			if f.Flags&sensor.FileAtExit != 0 {
				s += " exit"
			}
			if f.Flags&sensor.FileAtStop != 0 {
				s += " stop"
			}
			if f.Flags&sensor.FileStale != 0 {
				s += " stale"
			}
		}
		return s
	case sensor.KindNet:
		n := &ev.Net
		s := fmt.Sprintf("%s %d %s:%d", n.Op, ev.Task.PID, n.Dst.IP, n.Dst.Port)
		if n.Op == sensor.NetSendEnd {
			s += fmt.Sprintf(" %d/%d", n.Bytes, n.Packets)
			if n.Flags&sensor.NetAtExit != 0 {
				s += " exit"
			}
			if n.Flags&sensor.NetAtStop != 0 {
				s += " stop"
			}
			if n.Flags&sensor.NetInterim != 0 {
				s += " interim"
			}
			if n.Flags&sensor.NetStale != 0 {
				s += " stale"
			}
		}
		return s
	case sensor.KindLoss:
		return fmt.Sprintf("loss %s %s %d", ev.Loss.Cause, ev.Loss.Class, ev.Loss.Count)
	}
	return ev.Kind.String()
}

// q quotes arguments as summary does.
func q(args ...string) string { return fmt.Sprintf("%q", args) }

func summaries(evs []sensor.Event) []string {
	out := make([]string, len(evs))
	for i := range evs {
		out[i] = summary(&evs[i])
	}
	return out
}

func wantSummaries(t *testing.T, got []sensor.Event, want ...string) {
	t.Helper()
	g := summaries(got)
	if strings.Join(g, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n got:\n\t%s\nwant:\n\t%s", strings.Join(g, "\n\t"), strings.Join(want, "\n\t"))
	}
}
