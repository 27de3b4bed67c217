//go:build linux

package sensor

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Errors a record can fail to decode with.
var (
	ErrShortRecord = errors.New("record shorter than its type requires")
	ErrBadSize     = errors.New("record size field disagrees with its length")
	ErrUnknownType = errors.New("unknown record type")
)

// DecodeError says which record type failed to decode and why.
type DecodeError struct {
	Type uint16 // hdr.type as read, or 0 when the header itself was short
	Err  error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("decode %s record: %v", Kind(e.Type), e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

const (
	headerSize = int(unsafe.Sizeof(vigilEventHeader{}))
	forkSize   = int(unsafe.Sizeof(vigilForkEvent{}))
	execSize   = int(unsafe.Sizeof(vigilExecEvent{}))
	exitSize   = int(unsafe.Sizeof(vigilExitEvent{}))
	fileSize   = int(unsafe.Sizeof(vigilFileEvent{}))
	netSize    = int(unsafe.Sizeof(vigilNetEvent{}))
)

// maxInterned bounds the thread-name cache; it is reset when full.
const maxInterned = 4096

// A Decoder turns raw ring-buffer records into Events. It keeps a small
// cache of thread names so the common case allocates no string for them.
// A Decoder is not safe for concurrent use.
type Decoder struct {
	comms map[[16]int8]string
}

// NewDecoder returns a ready Decoder.
func NewDecoder() *Decoder {
	return &Decoder{comms: make(map[[16]int8]string)}
}

// Decode fills ev from one raw record. It never panics on bad input:
// anything malformed yields a *DecodeError.
func (d *Decoder) Decode(raw []byte, ev *Event) error {
	if len(raw) < headerSize {
		return &DecodeError{Err: fmt.Errorf("%w: %d bytes", ErrShortRecord, len(raw))}
	}
	hdr := (*vigilEventHeader)(unsafe.Pointer(&raw[0]))
	if int(hdr.Size) != len(raw) {
		return &DecodeError{Type: hdr.Type, Err: fmt.Errorf("%w: size %d, length %d", ErrBadSize, hdr.Size, len(raw))}
	}
	*ev = Event{}
	switch hdr.Type {
	case uint16(KindFork), uint16(KindExec), uint16(KindExit), uint16(KindFile), uint16(KindNet):
	default:
		return &DecodeError{Type: hdr.Type, Err: ErrUnknownType}
	}
	ev.Kind = Kind(hdr.Type)
	ev.Flags = Flags(hdr.Flags)
	ev.KTime = hdr.Ktime
	ev.Tree = Tree{RootStart: hdr.Tree.RootStart, RootPID: hdr.Tree.RootTgid, Agent: hdr.Tree.Agent}
	ev.Task = Task{
		PID:       hdr.Tgid,
		TID:       hdr.Pid,
		PPID:      hdr.Ppid,
		UID:       hdr.Uid,
		GID:       hdr.Gid,
		EUID:      hdr.Euid,
		EGID:      hdr.Egid,
		CgroupID:  hdr.CgroupId,
		StartTime: hdr.StartTime,
		Comm:      d.comm(&hdr.Comm),
	}

	switch ev.Kind {
	case KindFork:
		if err := wantSize(hdr.Type, len(raw), forkSize); err != nil {
			return err
		}
		f := (*vigilForkEvent)(unsafe.Pointer(&raw[0]))
		ev.ChildPID = f.ChildPid
		ev.ChildStart = f.ChildStart
	case KindExit:
		if err := wantSize(hdr.Type, len(raw), exitSize); err != nil {
			return err
		}
		ev.Status = (*vigilExitEvent)(unsafe.Pointer(&raw[0])).ExitCode
	case KindExec:
		return d.decodeExec(raw, ev)
	case KindFile:
		return d.decodeFile(raw, ev)
	case KindNet:
		return d.decodeNet(raw, ev)
	}
	return nil
}

// wantSize checks the length of a fixed-size record.
func wantSize(typ uint16, got, want int) error {
	switch {
	case got < want:
		return &DecodeError{Type: typ, Err: fmt.Errorf("%w: %d bytes, want %d", ErrShortRecord, got, want)}
	case got > want:
		return &DecodeError{Type: typ, Err: fmt.Errorf("%w: %d bytes, want %d", ErrBadSize, got, want)}
	}
	return nil
}

func (d *Decoder) decodeExec(raw []byte, ev *Event) error {
	if len(raw) < execSize {
		return &DecodeError{Type: uint16(KindExec), Err: fmt.Errorf("%w: %d bytes", ErrShortRecord, len(raw))}
	}
	x := (*vigilExecEvent)(unsafe.Pointer(&raw[0]))
	data := raw[execSize:]
	exeLen, argsLen, cwdLen := int(x.ExeLen), int(x.ArgsLen), int(x.CwdLen)
	corrLen, tpLen := int(x.CorrIdLen), int(x.TraceparentLen)
	if exeLen+argsLen+cwdLen+corrLen+tpLen != len(data) {
		return &DecodeError{Type: uint16(KindExec), Err: fmt.Errorf("%w: lengths %d+%d+%d+%d+%d, data %d",
			ErrBadSize, exeLen, argsLen, cwdLen, corrLen, tpLen, len(data))}
	}
	ev.ExeInode = x.ExeIno
	ev.ExeDevice = userDev(x.ExeDev)
	ev.Argc = x.Argc
	ev.Executable = string(data[:exeLen])
	data = data[exeLen:]
	ev.Args = splitArgs(nil, data[:argsLen])
	data = data[argsLen:]
	ev.Cwd = string(data[:cwdLen])
	data = data[cwdLen:]
	if corr := data[:corrLen]; len(corr) > 0 {
		if validCorrelationID(corr) {
			ev.CorrelationID = string(corr)
		} else {
			ev.Flags |= FlagCorrelationIDInvalid
		}
	}
	if tp := data[corrLen:]; len(tp) > 0 {
		if validTraceparent(tp) {
			// One string for both ids: trace-id "-" parent-id.
			ids := string(tp[3 : 4+traceIDLen+spanIDLen])
			ev.TraceID, ev.SpanID = ids[:traceIDLen], ids[traceIDLen+1:]
		} else {
			ev.Flags |= FlagTraceparentInvalid
		}
	}
	return nil
}

func (d *Decoder) decodeFile(raw []byte, ev *Event) error {
	if len(raw) < fileSize {
		return &DecodeError{Type: uint16(KindFile), Err: fmt.Errorf("%w: %d bytes", ErrShortRecord, len(raw))}
	}
	x := (*vigilFileEvent)(unsafe.Pointer(&raw[0]))
	data := raw[fileSize:]
	lens := [4]int{int(x.DirLen), int(x.PathLen), int(x.Dir2Len), int(x.Path2Len)}
	if lens[0]+lens[1]+lens[2]+lens[3] != len(data) {
		return &DecodeError{Type: uint16(KindFile), Err: fmt.Errorf("%w: lengths %v, data %d", ErrBadSize, lens, len(data))}
	}
	var strs [4]string
	for i, n := range lens {
		if n > 0 {
			strs[i] = string(data[:n])
		}
		data = data[n:]
	}
	flags := FileFlags(x.Fflags)
	if flags&FilePathCut == 0 && (strs[0] != "" || strs[2] != "") {
		// A directory the kernel sent is its path from the dentries
		// (the working directory or the dirfd's file): canonical.
		flags |= FileDirKernel
	}
	ev.File = File{
		Op:        FileOp(x.Op),
		Flags:     flags,
		Ret:       x.Ret,
		Size:      x.Size,
		Ops:       x.Ops,
		First:     x.First,
		Inode:     x.Ino,
		Device:    userDev(x.Dev),
		Cookie:    x.Cookie,
		OpenFlags: x.Flags,
		Mode:      x.Mode,
		FMode:     x.Fmode,
		FD:        x.Fd,
		Dir:       strs[0],
		Path:      strs[1],
		Dir2:      strs[2],
		Path2:     strs[3],
	}
	return nil
}

func (d *Decoder) decodeNet(raw []byte, ev *Event) error {
	if len(raw) < netSize {
		return &DecodeError{Type: uint16(KindNet), Err: fmt.Errorf("%w: %d bytes", ErrShortRecord, len(raw))}
	}
	x := (*vigilNetEvent)(unsafe.Pointer(&raw[0]))
	data := raw[netSize:]
	if int(x.DataLen) != len(data) {
		return &DecodeError{Type: uint16(KindNet), Err: fmt.Errorf("%w: data length %d, data %d", ErrBadSize, x.DataLen, len(data))}
	}
	ev.Net = Net{
		Op:       NetOp(x.Op),
		Flags:    NetFlags(x.Nflags),
		Dst:      endpoint(&x.Dst),
		Src:      endpoint(&x.Src),
		Cookie:   x.Cookie,
		Ret:      x.Ret,
		Bytes:    x.Bytes,
		Packets:  x.Packets,
		First:    x.First,
		FD:       x.Fd,
		SockType: x.SockType,
		Protocol: x.Protocol,
	}
	if NetOp(x.Op) == NetConnect && x.Dst.Family == FamilyUnix {
		ev.Net.Dst.Path = string(data)
	} else if len(data) > 0 {
		ev.Net.Payload = data
	}
	return nil
}

func endpoint(a *vigilNetAddr) Endpoint {
	e := Endpoint{Family: a.Family, Port: a.Port}
	switch a.Family {
	case FamilyInet:
		e.IP = netip.AddrFrom4([4]byte(a.Addr[:4]))
	case FamilyInet6:
		e.IP = netip.AddrFrom16(a.Addr).Unmap()
	}
	return e
}

// userDev converts the kernel's internal dev_t (major << 20 | minor) to
// the user-space encoding.
func userDev(dev uint32) uint64 { return unix.Mkdev(dev>>20, dev&(1<<20-1)) }

// splitArgs splits a NUL-separated argument block. The block's final NUL
// ends the last argument; a block cut short ends in a partial argument,
// which is kept.
func splitArgs(dst []string, block []byte) []string {
	if len(block) == 0 {
		return dst
	}
	block = bytes.TrimSuffix(block, []byte{0})
	for {
		i := bytes.IndexByte(block, 0)
		if i < 0 {
			return append(dst, string(block))
		}
		dst = append(dst, string(block[:i]))
		block = block[i+1:]
	}
}

func (d *Decoder) comm(c *[16]int8) string {
	if s, ok := d.comms[*c]; ok {
		return s
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(&c[0])), len(c))
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	s := string(b)
	if len(d.comms) >= maxInterned {
		clear(d.comms)
	}
	d.comms[*c] = s
	return s
}
