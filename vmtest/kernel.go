//go:build linux

package vmtest

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Kernel is one kernel unpacked in the cache by vmtest/setup.
type Kernel struct {
	Name    string // what VMTEST_KERNEL names it by, e.g. "6.12"
	Dir     string // the cache directory
	Vmlinux string // the uncompressed ELF kernel, booted through PVH
	Release string // uname -r, the directory under lib/modules
	Package string // the Debian package and version it came from
}

// GuestModules are the modules the guest init needs before it can mount
// the host's root; their dependencies are added from each module's
// .modinfo. Built-in ones (modules.builtin) are skipped.
var GuestModules = []string{"virtio_pci", "9pnet_virtio", "9p", "overlay"}

// FindKernel resolves name, a kernel's name in cache (e.g. "6.1") or the
// path of a directory laid out as vmtest/setup leaves it.
func FindKernel(cache, name string) (*Kernel, error) {
	if name == "" {
		return nil, errors.New("no kernel named: set VMTEST_KERNEL (e.g. 6.1 or 6.12) or -kernel")
	}
	dir := name
	if !strings.ContainsRune(name, '/') {
		if cache == "" {
			return nil, fmt.Errorf("kernel %s: no vmtest cache found (run vmtest/setup, or set VMTEST_CACHE)", name)
		}
		dir = filepath.Join(cache, name)
	}
	k := &Kernel{Name: filepath.Base(dir), Dir: dir, Vmlinux: filepath.Join(dir, "vmlinux")}
	if _, err := os.Stat(k.Vmlinux); err != nil {
		return nil, fmt.Errorf("kernel %s: %w (run vmtest/setup)", name, err)
	}
	rels, err := filepath.Glob(filepath.Join(dir, "root", "lib", "modules", "*"))
	if err != nil || len(rels) != 1 {
		return nil, fmt.Errorf("kernel %s: want one release under %s/root/lib/modules, found %d (run vmtest/setup)", name, dir, len(rels))
	}
	k.Release = filepath.Base(rels[0])
	if b, err := os.ReadFile(filepath.Join(dir, "version")); err == nil {
		k.Package = strings.TrimSpace(string(b))
	}
	return k, nil
}

// DefaultCache finds .cache/vmtest: $VMTEST_CACHE, else the first
// directory holding it up from each of start.
func DefaultCache(start ...string) string {
	if c := os.Getenv("VMTEST_CACHE"); c != "" {
		return c
	}
	for _, dir := range start {
		for dir != "" {
			c := filepath.Join(dir, ".cache", "vmtest")
			if fi, err := os.Stat(c); err == nil && fi.IsDir() {
				return c
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return ""
}

// ModuleTree is the directory of the kernel's modules.
func (k *Kernel) ModuleTree() string {
	return filepath.Join(k.Dir, "root", "lib", "modules", k.Release)
}

// Module is a kernel module ready for finit_module.
type Module struct {
	Name string
	Data []byte // uncompressed ELF
}

// Modules returns names and their dependencies, each after what it
// depends on, skipping modules built into the kernel. Compressed modules
// (.ko.xz, .ko.zst) are decompressed with xz or zstd.
func (k *Kernel) Modules(ctx context.Context, names ...string) ([]Module, error) {
	base := k.ModuleTree()
	builtin := map[string]bool{}
	if b, err := os.ReadFile(filepath.Join(base, "modules.builtin")); err == nil {
		for _, line := range strings.Fields(string(b)) {
			builtin[moduleName(line)] = true
		}
	} else {
		return nil, fmt.Errorf("kernel %s: %w", k.Name, err)
	}
	files := map[string]string{}
	err := filepath.WalkDir(filepath.Join(base, "kernel"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.Contains(d.Name(), ".ko") {
			files[moduleName(d.Name())] = p
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("kernel %s: list modules: %w", k.Name, err)
	}
	var (
		out   []Module
		state = map[string]int{} // 1: in progress, 2: done
		visit func(name, from string) error
	)
	visit = func(name, from string) error {
		name = moduleName(name)
		switch {
		case state[name] == 2 || builtin[name]:
			return nil
		case state[name] == 1:
			return fmt.Errorf("module %s: dependency cycle through %s", name, from)
		}
		state[name] = 1
		p, ok := files[name]
		if !ok {
			if from != "" {
				return fmt.Errorf("module %s (needed by %s): not in kernel %s", name, from, k.Name)
			}
			return fmt.Errorf("module %s: neither built in nor a module in kernel %s", name, k.Name)
		}
		data, err := readModule(ctx, p)
		if err != nil {
			return err
		}
		deps, err := moduleDepends(data)
		if err != nil {
			return fmt.Errorf("module %s: %w", p, err)
		}
		for _, d := range deps {
			if err := visit(d, name); err != nil {
				return err
			}
		}
		state[name] = 2
		out = append(out, Module{Name: name, Data: data})
		return nil
	}
	for _, n := range names {
		if err := visit(n, ""); err != nil {
			return nil, fmt.Errorf("kernel %s: %w", k.Name, err)
		}
	}
	return out, nil
}

// moduleName turns a module's file name or path into the name the kernel
// knows it by: "kernel/fs/9p/9p.ko.xz" → "9p"; dashes become underscores.
func moduleName(p string) string {
	n := filepath.Base(p)
	if i := strings.Index(n, ".ko"); i >= 0 {
		n = n[:i]
	}
	return strings.ReplaceAll(n, "-", "_")
}

func readModule(ctx context.Context, p string) ([]byte, error) {
	var tool string
	switch {
	case strings.HasSuffix(p, ".ko"):
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read module: %w", err)
		}
		return b, nil
	case strings.HasSuffix(p, ".ko.xz"):
		tool = "xz"
	case strings.HasSuffix(p, ".ko.zst"):
		tool = "zstd"
	default:
		return nil, fmt.Errorf("module %s: unknown compression", p)
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, tool, "-dc", p)
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("decompress module %s: %w: %s (is %s installed? run vmtest/setup)", p, err, strings.TrimSpace(stderr.String()), tool)
	}
	return b, nil
}

// moduleDepends reads depends= from a module's .modinfo section.
func moduleDepends(data []byte) ([]string, error) {
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("parse ELF: %w", err)
	}
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, errors.New("no .modinfo section")
	}
	info, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf("read .modinfo: %w", err)
	}
	for _, kv := range bytes.Split(info, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte("depends=")); ok {
			if len(v) == 0 {
				return nil, nil
			}
			return strings.Split(string(v), ","), nil
		}
	}
	return nil, nil
}
