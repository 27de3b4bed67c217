//go:build linux

package sensor

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// LSMMode says whether the sensor uses its BPF LSM programs. Where they
// run, removals, renames and connects are recorded with the kernel's own
// view of their names and addresses, taken inside the syscall, instead of
// what the process's memory holds at the syscall's exit (which another
// thread may have rewritten). The records are otherwise the same; a file
// record's path source says "kernel" instead of "resolved".
type LSMMode int

const (
	// LSMAuto uses the LSM programs where the kernel runs them, and the
	// tracepoint path alone elsewhere.
	LSMAuto LSMMode = iota
	// LSMOff uses the tracepoint path alone.
	LSMOff
	// LSMRequire fails New where the LSM programs do not run.
	LSMRequire
)

// ParseLSMMode reads "auto", "off" or "require".
func ParseLSMMode(s string) (LSMMode, error) {
	switch s {
	case "", "auto":
		return LSMAuto, nil
	case "off":
		return LSMOff, nil
	case "require":
		return LSMRequire, nil
	}
	return 0, fmt.Errorf("lsm mode %q: want auto, off or require", s)
}

func (m LSMMode) String() string {
	switch m {
	case LSMAuto:
		return "auto"
	case LSMOff:
		return "off"
	case LSMRequire:
		return "require"
	}
	return fmt.Sprintf("LSMMode(%d)", int(m))
}

// LSM reports whether the LSM programs run, and if not, why.
func (s *Sensor) LSM() (bool, error) { return s.usingLSM, s.lsmErr }

// Path names the set of hooks records come from: "lsm+tracepoints" or
// "tracepoints".
func (s *Sensor) Path() string {
	if s.usingLSM {
		return "lsm+tracepoints"
	}
	return "tracepoints"
}

// load loads the programs: with the LSM programs where the mode and the
// kernel allow, else (or when they fail to load or attach) without.
func (s *Sensor) load() error {
	switch {
	case s.cfg.LSM == LSMOff:
		s.lsmErr = errors.New("switched off (lsm = off)")
	case !s.hooks.LSM:
		s.lsmErr = fmt.Errorf("the kernel runs no BPF LSM programs: %w", s.hooks.LSMErr)
	default:
		if err := s.loadSpec(true); err != nil {
			return err
		}
		if err := s.loadLSM(); err == nil {
			s.usingLSM = true
			return nil
		} else {
			s.lsmErr = err
		}
		s.closeLoaded()
	}
	if s.cfg.LSM == LSMRequire {
		return fmt.Errorf("lsm = require: %w", s.lsmErr)
	}
	if s.cfg.LSM != LSMOff {
		s.log.Info("BPF LSM programs not in use; the tracepoint path records everything", "why", s.lsmErr)
	}
	return s.loadSpec(false)
}

// loadLSM loads the LSM collection into the main collection's maps and
// attaches its programs.
func (s *Sensor) loadLSM() error {
	spec, err := loadVigilLsm()
	if err != nil {
		return fmt.Errorf("read BPF LSM object: %w", err)
	}
	if err := s.configure(spec); err != nil {
		return err
	}
	shared := mapsByName(&s.objs.vigilMaps)
	repl := make(map[string]*ebpf.Map)
	for name := range spec.Maps {
		if m, ok := shared[name]; ok {
			repl[name] = m
		} else if !strings.HasPrefix(name, ".") { // .rodata, .bss: its own
			return fmt.Errorf("LSM object: map %s is not in the main collection", name)
		}
	}
	if err := spec.LoadAndAssign(&s.lsm, &ebpf.CollectionOptions{MapReplacements: repl}); err != nil {
		return loadError(err)
	}
	for _, p := range []*ebpf.Program{s.lsm.VigilLsmUnlink, s.lsm.VigilLsmRmdir, s.lsm.VigilLsmRename, s.lsm.VigilLsmConnect} {
		l, err := link.AttachLSM(link.LSMOptions{Program: p})
		if err != nil {
			return fmt.Errorf("attach %s: %w", p, err)
		}
		s.links = append(s.links, l)
	}
	return nil
}

// closeLoaded detaches and frees whatever load has made so far.
func (s *Sensor) closeLoaded() {
	for _, l := range s.links {
		l.Close()
	}
	s.links = nil
	s.lsm.Close()
	s.objs.Close()
	s.lsm, s.objs = vigilLsmPrograms{}, vigilObjects{}
}

// mapsByName lists the maps of a bpf2go maps struct by their BPF names.
func mapsByName(v any) map[string]*ebpf.Map {
	out := make(map[string]*ebpf.Map)
	rv := reflect.ValueOf(v).Elem()
	for i := range rv.NumField() {
		if name := rv.Type().Field(i).Tag.Get("ebpf"); name != "" {
			if m, ok := rv.Field(i).Interface().(*ebpf.Map); ok && m != nil {
				out[name] = m
			}
		}
	}
	return out
}
