//go:build linux

package sensor

import (
	"fmt"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// syscallHandlers maps each traced syscall (x86-64 numbers) to the
// handler the sys_exit dispatcher tail-calls for it.
func (o *vigilObjects) syscallHandlers() map[uint32]*ebpf.Program {
	p := &o.vigilPrograms
	return map[uint32]*ebpf.Program{
		unix.SYS_OPEN:            p.VigilSysOpen,
		unix.SYS_OPENAT:          p.VigilSysOpenat,
		unix.SYS_OPENAT2:         p.VigilSysOpenat2,
		unix.SYS_CREAT:           p.VigilSysCreat,
		unix.SYS_UNLINK:          p.VigilSysUnlink,
		unix.SYS_UNLINKAT:        p.VigilSysUnlinkat,
		unix.SYS_RMDIR:           p.VigilSysRmdir,
		unix.SYS_RENAME:          p.VigilSysRename,
		unix.SYS_RENAMEAT:        p.VigilSysRenameat,
		unix.SYS_RENAMEAT2:       p.VigilSysRenameat2,
		unix.SYS_TRUNCATE:        p.VigilSysTruncate,
		unix.SYS_FTRUNCATE:       p.VigilSysFtruncate,
		unix.SYS_WRITE:           p.VigilSysWrite,
		unix.SYS_WRITEV:          p.VigilSysWritev,
		unix.SYS_PWRITE64:        p.VigilSysPwrite64,
		unix.SYS_PWRITEV:         p.VigilSysPwritev,
		unix.SYS_PWRITEV2:        p.VigilSysPwritev2,
		unix.SYS_SENDFILE:        p.VigilSysSendfile,
		unix.SYS_COPY_FILE_RANGE: p.VigilSysCopyFileRange,
		unix.SYS_CLOSE:           p.VigilSysClose,
		unix.SYS_DUP2:            p.VigilSysDup2,
		unix.SYS_DUP3:            p.VigilSysDup2, // same arguments up to newfd
		unix.SYS_CONNECT:         p.VigilSysConnect,
		unix.SYS_SENDTO:          p.VigilSysSendto,
		unix.SYS_SENDMSG:         p.VigilSysSendmsg,
		unix.SYS_SENDMMSG:        p.VigilSysSendmmsg,
		unix.SYS_RECVFROM:        p.VigilSysRecvfrom,
		unix.SYS_RECVMSG:         p.VigilSysRecvmsg,
		unix.SYS_READ:            p.VigilSysRead,
	}
}

// installSyscallHandlers fills the dispatcher's tail-call table.
func (s *Sensor) installSyscallHandlers() error {
	for nr, prog := range s.objs.syscallHandlers() {
		if err := s.objs.SysExitHandlers.Update(nr, prog, ebpf.UpdateAny); err != nil {
			return fmt.Errorf("install handler for syscall %d: %w", nr, err)
		}
	}
	return nil
}
