//go:build linux

package vmtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// DefaultTimeout bounds one guest run; it stays below go test's default
// 10-minute timeout so the harness, not go test, reports a hang.
const DefaultTimeout = 8 * time.Minute

// DefaultAccel is "kvm" where KVM works, else single-threaded TCG.
//
// Multi-threaded TCG (thread=multi) is not used: with two vCPUs, the
// kernel's live code patching (text_poke_bp, as attaching a syscall
// tracepoint flips a static key) races with the other vCPU's translated
// code in qemu 7.2, and the guest dies with "Oops: int3" in
// syscall_exit_to_user_mode_prepare, about once per sensor test run.
// Single-threaded TCG keeps two guest CPUs on one host thread, so two
// guests (one per kernel) run side by side on a 2-core host.
func DefaultAccel() string {
	if kvmUsable() {
		return "kvm"
	}
	return "tcg,thread=single"
}

// Options describe one program run in one kernel.
type Options struct {
	Kernel *Kernel
	// Init is the guest init binary (cmd/vminit, static).
	Init string
	// Path, Args (Args[0] is argv[0]), Dir and Env describe the program.
	Path string
	Args []string
	Dir  string
	Env  []string
	// Modules are loaded after GuestModules, with their dependencies
	// (e.g. veth for tests that build network namespaces).
	Modules []string
	// Binds are more host directories the guest shows, read-only: those
	// under /tmp (the guest's /tmp is its own tmpfs) besides the
	// program's and its Go module's, such as data the tests read from
	// next to the module. Paths elsewhere are visible anyway.
	Binds []string
	// Stdout and Stderr receive the program's output as it runs.
	Stdout, Stderr io.Writer
	// Timeout bounds the whole run (DefaultTimeout when zero).
	Timeout time.Duration
	// MemoryMiB and CPUs size the guest (1024 and 2 when zero).
	MemoryMiB, CPUs int
	// Accel is qemu's -accel (DefaultAccel() when empty).
	Accel string
	// Qemu is the qemu binary (qemu-system-x86_64 when empty).
	Qemu string
	// Logger gets the run's progress at debug level (nil: none).
	Logger *slog.Logger
}

// Result is a run whose program reported its exit status.
type Result struct {
	ExitCode int
	Console  string        // the guest console log
	Boot     time.Duration // qemu start to exit
}

// Run boots opts.Kernel, runs the program in it and returns its exit
// code. Any run whose program did not report its exit is an *ExitError
// holding the console log.
func Run(ctx context.Context, opts Options) (*Result, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MemoryMiB <= 0 {
		opts.MemoryMiB = 1024
	}
	if opts.CPUs <= 0 {
		opts.CPUs = 2
	}
	if opts.Qemu == "" {
		opts.Qemu = "qemu-system-x86_64"
	}
	if opts.Stdout == nil {
		opts.Stdout = io.Discard
	}
	if opts.Stderr == nil {
		opts.Stderr = io.Discard
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	k := opts.Kernel

	tmp, err := os.MkdirTemp("", "vmtest-")
	if err != nil {
		return nil, fmt.Errorf("vmtest: %w", err)
	}
	defer os.RemoveAll(tmp)

	initrd := filepath.Join(tmp, "initrd.cpio")
	if err := writeInitramfs(ctx, initrd, opts); err != nil {
		return nil, err
	}
	console := filepath.Join(tmp, "console.log")

	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()

	accel := opts.Accel
	if accel == "" {
		accel = DefaultAccel()
	}
	args := []string{
		"-nodefaults", "-no-user-config", "-display", "none",
		"-machine", "pc", "-accel", accel, "-cpu", "max",
		"-m", strconv.Itoa(opts.MemoryMiB), "-smp", strconv.Itoa(opts.CPUs),
		"-kernel", k.Vmlinux, "-initrd", initrd, "-no-reboot",
		"-append", "console=ttyS0,115200 panic=-1 oops=panic loglevel=4 mitigations=off nokaslr random.trust_cpu=on tsc=reliable no_timer_check",
		// ttyS0: kernel console; ttyS1: program stdout; ttyS2: stderr.
		"-serial", "file:" + console,
		"-serial", "stdio",
		"-chardev", "file,id=stderr,path=/proc/self/fd/3,append=on",
		"-serial", "chardev:stderr",
		"-device", fmt.Sprintf("isa-debug-exit,iobase=%#x,iosize=0x04", ExitPort),
		"-fsdev", "local,id=" + HostTag + ",path=/,readonly=on,security_model=none,multidevs=remap",
		"-device", "virtio-9p-pci,fsdev=" + HostTag + ",mount_tag=" + HostTag,
	}
	cmd := exec.CommandContext(ctx, opts.Qemu, args...)
	var qemuErr bytes.Buffer
	cmd.Stdout = opts.Stdout
	cmd.Stderr = &qemuErr
	// qemu opens fd 3, a pipe, for the program's stderr. (Reopening the
	// runner's own stderr would give qemu a file offset of its own, and
	// the two would overwrite each other in a regular file.)
	errFile, stopCopy, err := pipeTo(opts.Stderr)
	if err != nil {
		return nil, err
	}
	cmd.ExtraFiles = []*os.File{errFile}
	// qemu must not outlive the runner, however it ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 5 * time.Second

	log.Debug("boot", "kernel", k.Name, "package", k.Package, "accel", accel, "program", opts.Path, "args", opts.Args[1:])
	start := time.Now()
	err = cmd.Start()
	if err == nil {
		err = cmd.Wait()
	}
	stopCopy()
	elapsed := time.Since(start)
	logText, _ := os.ReadFile(console)
	res := &Result{Console: string(logText), Boot: elapsed}
	fail := func(reason string) (*Result, error) {
		return nil, &ExitError{Kernel: k.Name, Reason: reason, Console: res.Console, Qemu: qemuErr.String()}
	}
	log.Debug("qemu done", "kernel", k.Name, "elapsed", elapsed, "err", err)

	if ctx.Err() != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fail(fmt.Sprintf("timed out after %v (qemu killed): hang or kernel stall", opts.Timeout))
		}
		return fail("cancelled (qemu killed): " + context.Cause(ctx).Error())
	}
	status := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return nil, fmt.Errorf("vmtest: run %s: %w", opts.Qemu, err)
		}
		status = ee.ExitCode()
	}
	if code, ok := exitFromQemu(status); ok {
		res.ExitCode = code
		return res, nil
	}
	if status == 0 {
		// The guest powered off or rebooted without the exit port: trust
		// the exit line, and nothing else.
		if code, ok := exitFromConsole(res.Console); ok {
			res.ExitCode = code
			return res, nil
		}
		return fail("guest stopped without reporting an exit status (kernel panic, or init failed)")
	}
	return fail(fmt.Sprintf("qemu exited with status %d (not through the exit port)", status))
}

// pipeTo returns the write end of a pipe copied to w, and a function
// that closes it and waits until everything written reached w.
func pipeTo(w io.Writer) (*os.File, func(), error) {
	r, pw, err := os.Pipe()
	if err != nil {
		return nil, nil, fmt.Errorf("vmtest: %w", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(w, r)
		r.Close()
	}()
	return pw, func() {
		pw.Close()
		<-done
	}, nil
}

// writeInitramfs writes the guest's initramfs: /init, the modules in
// load order and the GuestConfig.
func writeInitramfs(ctx context.Context, path string, opts Options) error {
	initBin, err := os.ReadFile(opts.Init)
	if err != nil {
		return fmt.Errorf("vmtest: guest init: %w (build it with CGO_ENABLED=0 go build ./vmtest/cmd/vminit)", err)
	}
	mods, err := opts.Kernel.Modules(ctx, append(slices.Clone(GuestModules), opts.Modules...)...)
	if err != nil {
		return fmt.Errorf("vmtest: %w", err)
	}
	cfg := GuestConfig{
		Kernel:     opts.Kernel.Name,
		ModuleTree: opts.Kernel.ModuleTree(),
		Release:    opts.Kernel.Release,
		Path:       opts.Path,
		Args:       opts.Args,
		Dir:        opts.Dir,
		Env:        opts.Env,
	}
	// The working directory's whole Go module, so tests that build the
	// module's other packages (test programs) find them.
	dir := opts.Dir
	if root := moduleRoot(dir); root != "" {
		dir = root
	}
	for _, d := range append([]string{opts.Path, dir}, opts.Binds...) {
		if strings.HasPrefix(d, "/tmp/") && !slices.Contains(cfg.TmpBinds, d) {
			cfg.TmpBinds = append(cfg.TmpBinds, d)
			if r, err := filepath.EvalSymlinks(d); err == nil && r != d {
				if cfg.TmpBindSources == nil {
					cfg.TmpBindSources = map[string]string{}
				}
				cfg.TmpBindSources[d] = r
			}
		}
	}
	// Parents before what they hold.
	slices.SortFunc(cfg.TmpBinds, func(a, b string) int { return len(a) - len(b) })
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("vmtest: %w", err)
	}
	defer f.Close()
	c := newCPIO(f)
	for _, d := range []string{"dev", "proc", "sys", "mnt", "tmp"} {
		c.Dir(d)
	}
	// The kernel opens /dev/console for init before devtmpfs is mounted.
	c.CharDev("dev/console", 0o600, 5, 1)
	c.File("init", 0o755, initBin)
	for i, m := range mods {
		p := fmt.Sprintf("/modules/%02d-%s.ko", i, m.Name)
		c.File(p, 0o644, m.Data)
		cfg.Modules = append(cfg.Modules, p)
	}
	js, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("vmtest: %w", err)
	}
	c.File(ConfigPath, 0o644, js)
	if err := c.Close(); err != nil {
		return fmt.Errorf("vmtest: initramfs: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("vmtest: initramfs: %w", err)
	}
	return nil
}

// moduleRoot is the directory of the go.mod enclosing dir, or "".
func moduleRoot(dir string) string {
	for d := filepath.Clean(dir); d != "/" && d != "."; d = filepath.Dir(d) {
		if fi, err := os.Stat(filepath.Join(d, "go.mod")); err == nil && !fi.IsDir() {
			return d
		}
	}
	return ""
}
