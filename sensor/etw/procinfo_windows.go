//go:build windows

package etw

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// PROCESS_BASIC_INFORMATION (winternl.h), without Go pointers: its
// addresses are the other process's.
type processBasicInformation struct {
	ExitStatus                   int32
	PebBaseAddress               uintptr
	AffinityMask                 uintptr
	BasePriority                 int32
	UniqueProcessID              uintptr
	InheritedFromUniqueProcessID uintptr
}

// Offsets in the 64-bit PEB and RTL_USER_PROCESS_PARAMETERS (winternl.h;
// checked against golang.org/x/sys/windows's PEB and
// RTL_USER_PROCESS_PARAMETERS by TestLayout).
const (
	pebProcessParameters = 0x20
	paramsCurrentDir     = 0x38 // CurrentDirectory.DosPath, a UNICODE_STRING
	paramsEnvironment    = 0x80
	paramsEnvironmentLen = 0x3f0 // EnvironmentSize
	paramsSize           = 0x3f8
)

const (
	// maxEnvBytes bounds the environment read for correlation ids, in
	// bytes of UTF-16: the Linux sensor's EnvScanBytes characters.
	maxEnvBytes = 2 * 32768
	maxCwdBytes = 2 * 32767
)

var errPIDReused = errors.New("the pid names a later process")

// readProcess is the live ProcessReader: what Kernel-Process leaves out,
// read from the process while it runs. The command line comes from
// NtQueryInformationProcess(ProcessCommandLineInformation), which needs
// PROCESS_QUERY_LIMITED_INFORMATION only (Windows 8.1 and later); the
// working directory and the environment from its PEB, which needs
// PROCESS_VM_READ (Administrator for other users' processes). A process
// that has exited, or whose pid was reused, fails.
func readProcess(pid uint32, created time.Time, env bool) (ProcessInfo, error) {
	var info ProcessInfo
	vmRead := true
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION|windows.PROCESS_VM_READ, false, pid)
	if err != nil {
		vmRead = false
		if h, err = windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, pid); err != nil {
			return info, fmt.Errorf("open process %d: %w", pid, err)
		}
	}
	defer windows.CloseHandle(h)
	var c, e, k, u windows.Filetime
	if err := windows.GetProcessTimes(h, &c, &e, &k, &u); err != nil {
		return info, fmt.Errorf("process %d times: %w", pid, err)
	}
	if ft := uint64(c.HighDateTime)<<32 | uint64(c.LowDateTime); !created.IsZero() && ft != TimeToFiletime(created) {
		return info, fmt.Errorf("process %d: %w", pid, errPIDReused)
	}
	if info.CommandLine, err = commandLine(h); err != nil {
		return info, fmt.Errorf("process %d command line: %w", pid, err)
	}
	var tok windows.Token
	if windows.OpenProcessToken(h, windows.TOKEN_QUERY, &tok) == nil {
		if tu, err := tok.GetTokenUser(); err == nil {
			info.SID = tu.User.Sid.String()
		}
		tok.Close()
	}
	if vmRead && is64Bit {
		// Best effort: the command line is the part matching needs.
		_ = readParameters(h, env, &info)
	}
	return info, nil
}

func commandLine(h windows.Handle) (string, error) {
	buf := make([]uint64, 64)
	for {
		var n uint32
		err := windows.NtQueryInformationProcess(h, windows.ProcessCommandLineInformation,
			unsafe.Pointer(&buf[0]), uint32(len(buf)*8), &n)
		switch {
		case err == nil:
			us := (*windows.NTUnicodeString)(unsafe.Pointer(&buf[0]))
			if us.Buffer == nil || us.Length == 0 {
				return "", nil
			}
			return windows.UTF16ToString(unsafe.Slice(us.Buffer, us.Length/2)), nil
		case (errors.Is(err, windows.STATUS_INFO_LENGTH_MISMATCH) || errors.Is(err, windows.STATUS_BUFFER_TOO_SMALL) ||
			errors.Is(err, windows.STATUS_BUFFER_OVERFLOW)) && int(n) > len(buf)*8 && n < 1<<20:
			buf = make([]uint64, (n+7)/8)
		default:
			return "", err
		}
	}
}

// readParameters reads the working directory and, with env, the
// correlation variables from the process's RTL_USER_PROCESS_PARAMETERS.
func readParameters(h windows.Handle, env bool, info *ProcessInfo) error {
	var pbi processBasicInformation
	if err := windows.NtQueryInformationProcess(h, windows.ProcessBasicInformation, unsafe.Pointer(&pbi),
		uint32(unsafe.Sizeof(pbi)), nil); err != nil {
		return err
	}
	var ptr [8]byte
	if err := readMemory(h, pbi.PebBaseAddress+pebProcessParameters, ptr[:]); err != nil {
		return err
	}
	params := make([]byte, paramsSize)
	if err := readMemory(h, uintptr(binary.LittleEndian.Uint64(ptr[:])), params); err != nil {
		return err
	}
	if n := int(binary.LittleEndian.Uint16(params[paramsCurrentDir:])); n > 0 && n <= maxCwdBytes {
		b := make([]byte, n)
		if readMemory(h, uintptr(binary.LittleEndian.Uint64(params[paramsCurrentDir+8:])), b) == nil {
			info.Cwd = utf16String(b)
		}
	}
	if !env {
		return nil
	}
	size := binary.LittleEndian.Uint64(params[paramsEnvironmentLen:])
	n := min(size, maxEnvBytes)
	if size == 0 {
		n = maxEnvBytes / 2 // no size recorded: a part, which may end on an unmapped page
	}
	b := make([]byte, n&^1)
	if err := readMemory(h, uintptr(binary.LittleEndian.Uint64(params[paramsEnvironment:])), b); err != nil {
		return err
	}
	block := make([]uint16, len(b)/2)
	for i := range block {
		block[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	info.CorrelationID, info.Traceparent = envIDs(block)
	info.EnvTruncated = size == 0 || size > maxEnvBytes
	return nil
}

func readMemory(h windows.Handle, addr uintptr, b []byte) error {
	if addr == 0 {
		return errors.New("null address")
	}
	var n uintptr
	if err := windows.ReadProcessMemory(h, addr, &b[0], uintptr(len(b)), &n); err != nil {
		return err
	}
	if int(n) != len(b) {
		return fmt.Errorf("read %d of %d bytes", n, len(b))
	}
	return nil
}

// snapshotRecords makes ProcessRundown (15) records of the processes
// running now, oldest first (so parents come before their children), as
// Kernel-Process would log them: a consumer's rundown. Processes that
// cannot be opened (protected ones, others' without Administrator) are
// left out.
func snapshotRecords(now time.Time) ([]*Record, error) {
	snap, err := windows.CreateToolhelp32Snapshot(windows.TH32CS_SNAPPROCESS, 0)
	if err != nil {
		return nil, fmt.Errorf("process snapshot: %w", err)
	}
	defer windows.CloseHandle(snap)
	var recs []*Record
	pe := windows.ProcessEntry32{Size: uint32(unsafe.Sizeof(windows.ProcessEntry32{}))}
	for err = windows.Process32First(snap, &pe); err == nil; err = windows.Process32Next(snap, &pe) {
		if r := snapshotRecord(pe.ProcessID, pe.ParentProcessID, now); r != nil {
			recs = append(recs, r)
		}
	}
	if !errors.Is(err, windows.ERROR_NO_MORE_FILES) {
		return nil, fmt.Errorf("process snapshot: %w", err)
	}
	slices.SortStableFunc(recs, func(a, b *Record) int {
		return cmp.Compare(TimeToFiletime(a.Props["CreateTime"].(time.Time)), TimeToFiletime(b.Props["CreateTime"].(time.Time)))
	})
	return recs, nil
}

func snapshotRecord(pid, ppid uint32, now time.Time) *Record {
	if pid == 0 {
		return nil
	}
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, pid)
	if err != nil {
		return nil
	}
	defer windows.CloseHandle(h)
	var c, e, k, u windows.Filetime
	if windows.GetProcessTimes(h, &c, &e, &k, &u) != nil {
		return nil
	}
	buf := make([]uint16, windows.MAX_LONG_PATH)
	n := uint32(len(buf))
	image := ""
	if windows.QueryFullProcessImageName(h, windows.PROCESS_NAME_NATIVE, &buf[0], &n) == nil {
		image = windows.UTF16ToString(buf[:n]) // "\Device\HarddiskVolume3\...", as Kernel-Process logs it
	}
	var session uint32
	_ = windows.ProcessIdToSessionId(pid, &session)
	return &Record{Provider: KernelProcess, EventID: evProcessRundown, Timestamp: now, Props: Props{
		"ProcessID":       pid,
		"CreateTime":      FiletimeToTime(uint64(c.HighDateTime)<<32 | uint64(c.LowDateTime)),
		"ParentProcessID": ppid,
		"SessionID":       session,
		"Flags":           uint32(0),
		"ImageName":       image,
	}}
}

// DOSDevices maps the NT device names of the drive letters A: to Z: to
// the letters, as QueryDosDeviceW names them now ("\Device\HarddiskVolume3"
// -> "C:"): for WithDevices. Letters that name no device, or a path (SUBST
// drives), are left out.
func DOSDevices() map[string]string {
	m := make(map[string]string)
	buf := make([]uint16, 1024)
	for c := 'A'; c <= 'Z'; c++ {
		drive := string(c) + ":"
		name, err := windows.UTF16PtrFromString(drive)
		if err != nil {
			continue
		}
		n, err := windows.QueryDosDevice(name, &buf[0], uint32(len(buf)))
		if err != nil || n == 0 {
			continue
		}
		target := windows.UTF16ToString(buf[:n]) // the first of a list: the current mapping
		if strings.HasPrefix(target, `\Device\`) {
			m[target] = drive
		}
	}
	return m
}
