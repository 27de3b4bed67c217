//go:build linux

// Command vminit is the guest's /init (PID 1) for vmtest: it loads the
// modules, mounts the host's root read-only over 9p beneath a tmpfs
// overlay, switches into it, runs the program described by
// /vmtest.json, reports its exit status on I/O port 0xf4 (and as a line
// on the console), and powers off. Build it static: CGO_ENABLED=0.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/vigilsec/vigil/vmtest"
)

func main() {
	code, err := run()
	if err != nil {
		// No exit line: the host reports a harness failure with this
		// console log.
		fmt.Fprintf(os.Stderr, "vminit: %v\n", err)
		poweroff()
	}
	// The console (ttyS0) is the fallback channel; the port is the main one.
	fmt.Fprintln(os.Stderr, vmtest.ExitLine(code))
	if err := writeExitPort(code); err != nil {
		fmt.Fprintf(os.Stderr, "vminit: exit port: %v\n", err)
	}
	poweroff()
}

func poweroff() {
	unix.Sync()
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	select {}
}

type mnt struct {
	source, target, fstype string
	flags                  uintptr
	data                   string
}

func mountAll(ms []mnt) error {
	for _, m := range ms {
		if err := os.MkdirAll(m.target, 0o755); err != nil {
			return fmt.Errorf("mkdir %s: %w", m.target, err)
		}
		if err := unix.Mount(m.source, m.target, m.fstype, m.flags, m.data); err != nil {
			return fmt.Errorf("mount %s on %s: %w", m.fstype, m.target, err)
		}
	}
	return nil
}

func run() (int, error) {
	const nosuid = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	if err := mountAll([]mnt{
		{"devtmpfs", "/dev", "devtmpfs", unix.MS_NOSUID, "mode=0755"},
		{"proc", "/proc", "proc", nosuid, ""},
		{"sysfs", "/sys", "sysfs", nosuid, ""},
	}); err != nil {
		return 0, err
	}
	b, err := os.ReadFile(vmtest.ConfigPath)
	if err != nil {
		return 0, fmt.Errorf("read config: %w", err)
	}
	var cfg vmtest.GuestConfig
	if err := json.Unmarshal(b, &cfg); err != nil {
		return 0, fmt.Errorf("parse config: %w", err)
	}
	for _, m := range cfg.Modules {
		if err := loadModule(m); err != nil {
			return 0, err
		}
	}
	// The host's / read-only, beneath a tmpfs the program may write to.
	if err := mountAll([]mnt{
		{vmtest.HostTag, "/mnt/lower", "9p", unix.MS_RDONLY,
			"trans=virtio,version=9p2000.L,msize=512000,cache=loose"},
		{"tmpfs", "/mnt/rw", "tmpfs", 0, "mode=0755"},
	}); err != nil {
		return 0, err
	}
	for _, d := range []string{"/mnt/rw/upper", "/mnt/rw/work"} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return 0, fmt.Errorf("mkdir %s: %w", d, err)
		}
	}
	const root = "/mnt/root"
	if err := mountAll([]mnt{
		{"overlay", root, "overlay", 0, "lowerdir=/mnt/lower,upperdir=/mnt/rw/upper,workdir=/mnt/rw/work"},
		{"proc", root + "/proc", "proc", nosuid, ""},
		{"sysfs", root + "/sys", "sysfs", nosuid, ""},
		{"devtmpfs", root + "/dev", "devtmpfs", unix.MS_NOSUID, "mode=0755"},
		{"devpts", root + "/dev/pts", "devpts", unix.MS_NOSUID | unix.MS_NOEXEC, "ptmxmode=0666,newinstance"},
		{"tmpfs", root + "/dev/shm", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777"},
		{"tmpfs", root + "/run", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=0755"},
		{"bpf", root + "/sys/fs/bpf", "bpf", nosuid, "mode=0700"},
		{"cgroup2", root + "/sys/fs/cgroup", "cgroup2", nosuid, ""},
		{"tracefs", root + "/sys/kernel/tracing", "tracefs", nosuid, ""},
		{"debugfs", root + "/sys/kernel/debug", "debugfs", nosuid, ""},
		{"securityfs", root + "/sys/kernel/security", "securityfs", nosuid, ""},
		{"tmpfs", root + "/tmp", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777"},
	}); err != nil {
		return 0, err
	}
	// The kernel's modules where modprobe looks for them, so a test that
	// needs a module (veth, nfnetlink, ...) gets it loaded on demand.
	if err := bind("/mnt/lower"+cfg.ModuleTree, root+"/lib/modules/"+cfg.Release); err != nil {
		return 0, err
	}
	for _, p := range cfg.TmpBinds {
		src := p
		if r, ok := cfg.TmpBindSources[p]; ok {
			src = r // p is a symlink on the host
		}
		if err := bind("/mnt/lower"+src, root+p); err != nil {
			return 0, err
		}
	}
	// switch_root: move the new root onto / and chroot into it (a plain
	// chroot would make CLONE_NEWUSER fail).
	if err := unix.Chdir(root); err != nil {
		return 0, fmt.Errorf("chdir %s: %w", root, err)
	}
	if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return 0, fmt.Errorf("move %s to /: %w", root, err)
	}
	if err := unix.Chroot("."); err != nil {
		return 0, fmt.Errorf("chroot: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return 0, fmt.Errorf("chdir /: %w", err)
	}
	if err := loopbackUp(); err != nil {
		return 0, err
	}
	if err := unix.Sethostname([]byte("vmtest-" + cfg.Kernel)); err != nil {
		return 0, fmt.Errorf("sethostname: %w", err)
	}
	stdout, err := rawTTY("/dev/ttyS1")
	if err != nil {
		return 0, err
	}
	stderr, err := rawTTY("/dev/ttyS2")
	if err != nil {
		return 0, err
	}
	cmd := &exec.Cmd{
		Path:   cfg.Path,
		Args:   cfg.Args,
		Dir:    cfg.Dir,
		Env:    append(cfg.Env, vmtest.MarkerEnv+"="+cfg.Kernel),
		Stdout: stdout,
		Stderr: stderr,
	}
	err = cmd.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			fmt.Fprintf(stderr, "vminit: %s: %v\n", filepath.Base(cfg.Path), ws.Signal())
			code = 128 + int(ws.Signal())
		}
	case err != nil:
		return 0, fmt.Errorf("run %s: %w", cfg.Path, err)
	}
	// Every byte the program wrote must reach the host before qemu exits.
	for _, f := range []*os.File{stdout, stderr} {
		if err := unix.IoctlSetInt(int(f.Fd()), unix.TCSBRK, 1); err != nil {
			return 0, fmt.Errorf("drain %s: %w", f.Name(), err)
		}
	}
	return code, nil
}

// bind mounts the file or directory src on dst, creating dst.
func bind(src, dst string) error {
	fi, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("bind: %w", err)
	}
	if fi.IsDir() {
		err = os.MkdirAll(dst, 0o755)
	} else if err = os.MkdirAll(filepath.Dir(dst), 0o755); err == nil {
		err = os.WriteFile(dst, nil, 0o644)
	}
	if err != nil {
		return fmt.Errorf("bind: %w", err)
	}
	if err := unix.Mount(src, dst, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind %s on %s: %w", src, dst, err)
	}
	return nil
}

func loadModule(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("load module: %w", err)
	}
	defer f.Close()
	if err := unix.FinitModule(int(f.Fd()), "", 0); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("load module %s: %w", path, err)
	}
	return nil
}

// loopbackUp brings lo up: tests listen on 127.0.0.1.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return fmt.Errorf("lo: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("lo flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring lo up: %w", err)
	}
	return nil
}

// rawTTY opens a serial port for output with post-processing off, so
// "\n" stays "\n".
func rawTTY(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	t, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	if err != nil {
		return nil, fmt.Errorf("%s: get termios: %w", path, err)
	}
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag = t.Cflag&^unix.CBAUD | unix.B115200
	if err := unix.IoctlSetTermios(int(f.Fd()), unix.TCSETS, t); err != nil {
		return nil, fmt.Errorf("%s: set termios: %w", path, err)
	}
	return f, nil
}

// writeExitPort writes the exit code to qemu's isa-debug-exit device
// through /dev/port; qemu exits at once.
func writeExitPort(code int) error {
	f, err := os.OpenFile("/dev/port", os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteAt([]byte{vmtest.PortValue(code)}, vmtest.ExitPort)
	return err
}
