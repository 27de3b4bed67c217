//go:build linux

// Command vmrun runs a program, typically a Go test binary, inside a
// cached Debian kernel under qemu and exits with the program's exit code:
//
//	VMTEST_KERNEL=6.1 go test -exec "$PWD/bin/vmrun" ./sensor
//	vmrun -kernel 6.12 ./prog args...
//
// The program runs as root in the current directory with the current
// environment plus VIGIL_VMTEST=<kernel>. When the guest does not report
// the program's exit (kernel panic, hang, boot failure), vmrun prints the
// guest console log and exits 125.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/vigilsec/vigil/vmtest"
)

// harnessFailure is the exit code when the guest reported no exit status.
const harnessFailure = 125

func main() {
	os.Exit(run())
}

func run() int {
	fs := flag.NewFlagSet("vmrun", flag.ContinueOnError)
	kernel := fs.String("kernel", os.Getenv("VMTEST_KERNEL"), "kernel: a name in the cache (6.1, 6.12) or a kernel directory (default $VMTEST_KERNEL)")
	cache := fs.String("cache", "", "kernel cache (default $VMTEST_CACHE, else .cache/vmtest above the working directory or this binary)")
	timeout := fs.Duration("timeout", envDuration("VMTEST_TIMEOUT", vmtest.DefaultTimeout), "bound on the whole run (default $VMTEST_TIMEOUT)")
	initBin := fs.String("init", "", "guest init binary (default vminit next to this binary)")
	mem := fs.Int("mem", 1024, "guest memory in MiB")
	cpus := fs.Int("smp", 2, "guest CPUs")
	console := fs.Bool("console", os.Getenv("VMTEST_CONSOLE") != "", "print the guest console log after every run (default $VMTEST_CONSOLE)")
	modules := fs.String("modules", os.Getenv("VMTEST_MODULES"), "comma-separated modules to load at boot besides those the guest needs; others load on demand through modprobe (default $VMTEST_MODULES)")
	binds := fs.String("binds", os.Getenv("VMTEST_BINDS"), "comma-separated host directories under /tmp to show in the guest besides the program's and its Go module's (default $VMTEST_BINDS)")
	accel := fs.String("accel", os.Getenv("VMTEST_ACCEL"), "qemu -accel (default $VMTEST_ACCEL, else kvm where it works, else tcg,thread=single)")
	verbose := fs.Bool("v", os.Getenv("VMTEST_VERBOSE") != "", "log progress on stderr")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: vmrun [flags] PROGRAM [ARGS...]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	fail := func(err error) int {
		log.Error("vmrun failed", "err", err)
		return harnessFailure
	}

	self, err := os.Executable()
	if err != nil {
		return fail(fmt.Errorf("find own binary: %w", err))
	}
	wd, err := os.Getwd()
	if err != nil {
		return fail(fmt.Errorf("working directory: %w", err))
	}
	if *cache == "" {
		*cache = vmtest.DefaultCache(wd, filepath.Dir(self))
	}
	if *initBin == "" {
		*initBin = filepath.Join(filepath.Dir(self), "vminit")
	}
	k, err := vmtest.FindKernel(*cache, *kernel)
	if err != nil {
		return fail(err)
	}
	prog, err := filepath.Abs(fs.Arg(0))
	if err != nil {
		return fail(err)
	}
	args := append([]string{prog}, fs.Args()[1:]...)

	// SIGQUIT is how go test ends a test past its -timeout: stop qemu.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGQUIT)
	defer stop()
	res, err := vmtest.Run(ctx, vmtest.Options{
		Kernel:    k,
		Init:      *initBin,
		Path:      prog,
		Args:      args,
		Dir:       wd,
		Env:       os.Environ(),
		Modules:   splitList(*modules),
		Binds:     splitList(*binds),
		Accel:     *accel,
		Stdout:    os.Stdout,
		Stderr:    os.Stderr,
		Timeout:   *timeout,
		MemoryMiB: *mem,
		CPUs:      *cpus,
		Logger:    log,
	})
	var ee *vmtest.ExitError
	if errors.As(err, &ee) {
		fmt.Fprintf(os.Stderr, "vmrun: %v\n--- guest console (%s, %s) ---\n%s\n--- end of guest console ---\n", ee, k.Name, k.Package, ee.Console)
		if ee.Qemu != "" {
			fmt.Fprintf(os.Stderr, "--- qemu stderr ---\n%s\n", ee.Qemu)
		}
		return harnessFailure
	}
	if err != nil {
		return fail(err)
	}
	if *console {
		fmt.Fprintf(os.Stderr, "--- guest console (%s, %s) ---\n%s\n--- end of guest console ---\n", k.Name, k.Package, res.Console)
	}
	log.Debug("done", "kernel", k.Name, "exit", res.ExitCode, "elapsed", res.Boot.Round(time.Millisecond))
	return res.ExitCode
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func envDuration(name string, def time.Duration) time.Duration {
	if v := os.Getenv(name); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
	}
	return def
}
