package esf

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
)

// The JSON shape of es_message_t as eslogger(1) prints it. The man page
// promises no schema (eslogger "is NOT API in any sense"), only that the
// data is modelled after es_message_t. As eslogger writes it (sources in
// session_test.go): field names are those of the C structs in
// <EndpointSecurity/ESMessage.h>, structs are objects, es_string_token_t
// is a string, audit_token_t an object of its parts, enums and flags are
// numbers, timestamps RFC 3339 strings in UTC (time: nine fractional
// digits, from a timespec; start_time: six, from a timeval), a union is
// an object holding its one active member, the packed arrays of exec are
// arrays, and NULL pointers are null. The fields below are the ones
// Vigil reads or that place a message; unknown fields are ignored.
// Numbers are also accepted as decimal strings.

// Message is one line of eslogger's output: an es_message_t.
type Message struct {
	SchemaVersion Int      `json:"schema_version"` // eslogger's own, 1 so far
	Version       Int      `json:"version"`        // es_message_t version: which fields exist
	Time          Time     `json:"time"`           // when the event happened (timespec)
	MachTime      Int      `json:"mach_time"`
	Deadline      Int      `json:"deadline"` // auth events only
	Process       *Process `json:"process"`  // the process that acted; for exec, before the exec
	// SeqNum counts messages of this event type, GlobalSeqNum all
	// messages, per ES client: a gap means the kernel dropped messages
	// (version >= 2 and >= 4).
	SeqNum       *Int    `json:"seq_num"`
	GlobalSeqNum *Int    `json:"global_seq_num"`
	ActionType   Int     `json:"action_type"` // 0 auth, 1 notify (eslogger: always notify)
	EventType    *Int    `json:"event_type"`  // es_event_type_t
	Thread       *Thread `json:"thread"`      // version >= 4; may be null
	Event        Events  `json:"event"`
}

// Thread is es_thread_t.
type Thread struct {
	ThreadID Int `json:"thread_id"`
}

// AuditToken is audit_token_t as eslogger splits it. (pid, pidversion)
// names one program run: exec and posix_spawn increment pidversion.
type AuditToken struct {
	PID        Int `json:"pid"`
	PIDVersion Int `json:"pidversion"`
	EUID       Int `json:"euid"`
	RUID       Int `json:"ruid"`
	EGID       Int `json:"egid"`
	RGID       Int `json:"rgid"`
	ASID       Int `json:"asid"` // audit session id
	AUID       Int `json:"auid"` // audit user id (4294967295: unset)
}

// Process is es_process_t.
type Process struct {
	AuditToken       AuditToken `json:"audit_token"`
	PPID             Int        `json:"ppid"`          // current parent (1 once re-parented)
	OriginalPPID     Int        `json:"original_ppid"` // the parent that forked it
	GroupID          Int        `json:"group_id"`      // process group
	SessionID        Int        `json:"session_id"`
	CodesigningFlags Int        `json:"codesigning_flags"`
	IsPlatformBinary Bool       `json:"is_platform_binary"`
	IsESClient       Bool       `json:"is_es_client"`
	CDHash           string     `json:"cdhash"` // hex
	SigningID        string     `json:"signing_id"`
	TeamID           string     `json:"team_id"`
	Executable       *File      `json:"executable"`
	TTY              *File      `json:"tty"`        // version >= 2; null without one
	StartTime        Time       `json:"start_time"` // fork time (timeval); kept across exec; version >= 3
	// Version >= 4.
	ResponsibleAuditToken *AuditToken `json:"responsible_audit_token"`
	ParentAuditToken      *AuditToken `json:"parent_audit_token"`
}

// File is es_file_t.
type File struct {
	Path          string `json:"path"`
	PathTruncated Bool   `json:"path_truncated"`
	Stat          *Stat  `json:"stat"`
}

// Stat is struct stat (macOS's stat64) as eslogger prints it.
type Stat struct {
	Dev       Int  `json:"st_dev"` // macOS dev_t: major << 24 | minor
	Mode      Int  `json:"st_mode"`
	Nlink     Int  `json:"st_nlink"`
	Ino       Int  `json:"st_ino"`
	UID       Int  `json:"st_uid"`
	GID       Int  `json:"st_gid"`
	Rdev      Int  `json:"st_rdev"`
	Atime     Time `json:"st_atimespec"`
	Mtime     Time `json:"st_mtimespec"`
	Ctime     Time `json:"st_ctimespec"`
	Birthtime Time `json:"st_birthtimespec"`
	Size      Int  `json:"st_size"`
	Blocks    Int  `json:"st_blocks"`
	Blksize   Int  `json:"st_blksize"`
	Flags     Int  `json:"st_flags"`
	Gen       Int  `json:"st_gen"`
}

// File type bits of st_mode (<sys/stat.h>, the same values as Linux's).
const (
	sIFMT  = 0o170000
	sIFDIR = 0o040000
	sIFREG = 0o100000
)

// isDir and isRegular read st_mode; a file without stat is neither.
func (f *File) isDir() bool     { return f.Stat != nil && f.Stat.Mode&sIFMT == sIFDIR }
func (f *File) isRegular() bool { return f.Stat != nil && f.Stat.Mode&sIFMT == sIFREG }

// Events is the event union: eslogger writes the one member event_type
// names, under the event's short name (the names eslogger takes as
// arguments). Only the events Vigil decodes are listed.
type Events struct {
	Exec        *ExecEvent        `json:"exec"`
	Fork        *ForkEvent        `json:"fork"`
	Exit        *ExitEvent        `json:"exit"`
	Open        *OpenEvent        `json:"open"`
	Close       *CloseEvent       `json:"close"`
	Write       *WriteEvent       `json:"write"`
	Unlink      *UnlinkEvent      `json:"unlink"`
	Rename      *RenameEvent      `json:"rename"`
	UIPCConnect *UIPCConnectEvent `json:"uipc_connect"`

	other bool // a member none of the above
}

// UnmarshalJSON decodes the members above and notes whether the object
// held another one: an event Vigil does not read, not a malformed one.
func (e *Events) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	type plain Events
	if err := json.Unmarshal(b, (*plain)(e)); err != nil {
		return err
	}
	e.other = *e == (Events{}) && len(bytes.TrimSpace(bytes.Trim(bytes.TrimSpace(b), "{}"))) > 0
	return nil
}

// ExecEvent is es_event_exec_t with its packed arrays (args, env) spelled
// out, as eslogger prints them.
type ExecEvent struct {
	Target       *Process `json:"target"` // the process after the exec
	Script       *File    `json:"script"` // a script run directly (./x.sh), else null; version >= 2
	Cwd          *File    `json:"cwd"`    // version >= 3
	Args         []string `json:"args"`
	Env          []string `json:"env"`
	DyldExecPath string   `json:"dyld_exec_path"` // the path passed to execve, before symlinks; version >= 7
	LastFD       Int      `json:"last_fd"`
	CPUType      Int      `json:"image_cputype"`
	CPUSubtype   Int      `json:"image_cpusubtype"`
}

// ForkEvent is es_event_fork_t.
type ForkEvent struct {
	Child *Process `json:"child"`
}

// ExitEvent is es_event_exit_t.
type ExitEvent struct {
	Stat Int `json:"stat"` // wait(2) status
}

// OpenEvent is es_event_open_t.
type OpenEvent struct {
	FFlag Int   `json:"fflag"` // the kernel's FREAD/FWRITE mask, not open(2)'s O_ flags
	File  *File `json:"file"`
}

// CloseEvent is es_event_close_t.
type CloseEvent struct {
	Modified          Bool  `json:"modified"` // modified by a write syscall (not through a mapping)
	Target            *File `json:"target"`
	WasMappedWritable Bool  `json:"was_mapped_writable"` // version >= 6
}

// WriteEvent is es_event_write_t: a write happened; no size, no descriptor.
type WriteEvent struct {
	Target *File `json:"target"`
}

// UnlinkEvent is es_event_unlink_t (files and directories).
type UnlinkEvent struct {
	Target    *File `json:"target"`
	ParentDir *File `json:"parent_dir"`
}

// RenameEvent is es_event_rename_t.
type RenameEvent struct {
	Source          *File             `json:"source"`
	DestinationType DestinationType   `json:"destination_type"`
	Destination     RenameDestination `json:"destination"`
}

// RenameDestination is the union of es_event_rename_t.
type RenameDestination struct {
	ExistingFile *File    `json:"existing_file"` // the file the rename replaces
	NewPath      *NewPath `json:"new_path"`      // a name that did not exist
}

// NewPath is a directory and a name in it.
type NewPath struct {
	Dir      *File  `json:"dir"`
	Filename string `json:"filename"`
}

// DestinationType is es_destination_type_t.
type DestinationType int

const (
	DestinationExistingFile DestinationType = 0 // ES_DESTINATION_TYPE_EXISTING_FILE
	DestinationNewPath      DestinationType = 1 // ES_DESTINATION_TYPE_NEW_PATH
)

// UnmarshalJSON reads the number eslogger writes, and also the member's
// name (existing_file, new_path) that some converters write instead.
func (d *DestinationType) UnmarshalJSON(b []byte) error {
	switch string(bytes.ToLower(b)) {
	case `"existing_file"`, `"es_destination_type_existing_file"`:
		*d = DestinationExistingFile
		return nil
	case `"new_path"`, `"es_destination_type_new_path"`:
		*d = DestinationNewPath
		return nil
	}
	var n Int
	if err := n.UnmarshalJSON(b); err != nil {
		return fmt.Errorf("destination_type: %w", err)
	}
	*d = DestinationType(n)
	return nil
}

// UIPCConnectEvent is es_event_uipc_connect_t: a UNIX-domain socket about
// to connect to a socket file.
type UIPCConnectEvent struct {
	File     *File `json:"file"`
	Domain   Int   `json:"domain"`   // AF_UNIX
	Type     Int   `json:"type"`     // SOCK_STREAM, SOCK_DGRAM, ...
	Protocol Int   `json:"protocol"` // usually 0
}

// Int is a JSON integer: a number, a decimal string, or null (zero).
// Values past int64 (unsigned 64-bit) keep their bits.
type Int int64

func (n *Int) UnmarshalJSON(b []byte) error {
	if v, ok := smallUint(b); ok {
		*n = Int(v)
		return nil
	}
	if string(b) == "null" {
		return nil
	}
	s := b
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		s = b[1 : len(b)-1]
	}
	if v, err := strconv.ParseInt(string(s), 10, 64); err == nil {
		*n = Int(v)
		return nil
	}
	if v, err := strconv.ParseUint(string(s), 10, 64); err == nil {
		*n = Int(v)
		return nil
	}
	// An integral number written with a fraction or an exponent.
	if f, err := strconv.ParseFloat(string(s), 64); err == nil && f == math.Trunc(f) && math.Abs(f) < 1<<63 {
		*n = Int(f)
		return nil
	}
	return fmt.Errorf("not an integer: %.40s", b)
}

// smallUint reads the common case without allocating: up to 18 decimal
// digits.
func smallUint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return v, true
}

// Bool is a JSON boolean: true, false, 0, 1 (also quoted), or null.
type Bool bool

func (v *Bool) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case "true", `"true"`, "1", `"1"`:
		*v = true
	case "false", `"false"`, "0", `"0"`, "null":
		*v = false
	default:
		return fmt.Errorf("not a boolean: %.40s", b)
	}
	return nil
}

// Time is a timestamp: an RFC 3339 string as eslogger writes it, or the
// C struct ({"tv_sec","tv_nsec"} or {"tv_sec","tv_usec"}), or null (zero).
type Time struct{ time.Time }

func (t *Time) UnmarshalJSON(b []byte) error {
	switch {
	case string(b) == "null":
		return nil
	case len(b) > 0 && b[0] == '"':
		var s string
		if bytes.IndexByte(b, '\\') < 0 && len(b) >= 2 && b[len(b)-1] == '"' {
			s = string(b[1 : len(b)-1]) // no escapes: the common case, without a second parse
		} else if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return fmt.Errorf("time: %w", err)
		}
		t.Time = v
		return nil
	case len(b) > 0 && b[0] == '{':
		var ts struct {
			Sec  Int  `json:"tv_sec"`
			Nsec *Int `json:"tv_nsec"`
			Usec *Int `json:"tv_usec"`
		}
		if err := json.Unmarshal(b, &ts); err != nil {
			return fmt.Errorf("time: %w", err)
		}
		ns := int64(0)
		if ts.Nsec != nil {
			ns = int64(*ts.Nsec)
		} else if ts.Usec != nil {
			ns = int64(*ts.Usec) * 1000
		}
		t.Time = time.Unix(int64(ts.Sec), ns).UTC()
		return nil
	}
	return fmt.Errorf("not a time: %.40s", b)
}

// unixNS is t in ns since the Unix epoch, and false for the zero time or
// one that ns since 1970 in a uint64 cannot hold (before 1970, after 2262).
func (t Time) unixNS() (uint64, bool) {
	if t.IsZero() || t.Before(time.Unix(0, 0)) || t.After(time.Unix(0, math.MaxInt64)) {
		return 0, false
	}
	return uint64(t.UnixNano()), true
}
