package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Hold keeps segments from deletion: those of days From to To (UTC,
// inclusive; empty means unbounded).
type Hold struct {
	Name    string    `json:"name"`
	From    string    `json:"from,omitempty"` // YYYY-MM-DD
	To      string    `json:"to,omitempty"`   // YYYY-MM-DD
	Reason  string    `json:"reason,omitempty"`
	Created time.Time `json:"created"`
}

var holdName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// covers reports whether the hold keeps a segment of day (YYYY-MM-DD).
func (h Hold) covers(day string) bool {
	return (h.From == "" || day >= h.From) && (h.To == "" || day <= h.To)
}

// AddHold places a legal hold on a data directory.
func AddHold(dir string, h Hold) error {
	if !holdName.MatchString(h.Name) {
		return fmt.Errorf("hold name %q: use 1-64 letters, digits, '.', '_' or '-'", h.Name)
	}
	for _, d := range []string{h.From, h.To} {
		if d == "" {
			continue
		}
		if _, err := time.Parse("2006-01-02", d); err != nil {
			return fmt.Errorf("hold %s: date %q: want YYYY-MM-DD", h.Name, d)
		}
	}
	if h.From != "" && h.To != "" && h.From > h.To {
		return fmt.Errorf("hold %s: from %s is after to %s", h.Name, h.From, h.To)
	}
	if err := os.MkdirAll(filepath.Join(dir, holdsDir), 0o700); err != nil {
		return fmt.Errorf("hold: %w", err)
	}
	if h.Created.IsZero() {
		h.Created = time.Now().UTC()
	}
	b, _ := json.MarshalIndent(h, "", "  ")
	path := filepath.Join(dir, holdsDir, h.Name+".json")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("hold %s already exists", h.Name)
	}
	if err != nil {
		return fmt.Errorf("hold: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("hold: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("hold: %w", err)
	}
	return f.Close()
}

// RemoveHold lifts a legal hold.
func RemoveHold(dir, name string) error {
	if !holdName.MatchString(name) {
		return fmt.Errorf("hold name %q is not valid", name)
	}
	err := os.Remove(filepath.Join(dir, holdsDir, name+".json"))
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no hold named %s", name)
	}
	return err
}

// Holds lists the legal holds on a data directory.
func Holds(dir string) ([]Hold, error) {
	entries, err := os.ReadDir(filepath.Join(dir, holdsDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("holds: %w", err)
	}
	var out []Hold
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, holdsDir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("holds: %w", err)
		}
		var h Hold
		if err := json.Unmarshal(b, &h); err != nil {
			// An unreadable hold still holds everything: never delete by mistake.
			h = Hold{Name: strings.TrimSuffix(e.Name(), ".json"), Reason: "unreadable hold file: holds everything"}
		}
		out = append(out, h)
	}
	slices.SortFunc(out, func(a, b Hold) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Enforcement says what a retention pass did.
type Enforcement struct {
	Deleted []string // sealed segments removed
	Held    []string // segments past retention kept by a hold
}

// Enforce deletes sealed segments whose last write is older than the
// retention period, except those a hold covers. Active segments are never
// touched. With no retention configured it does nothing.
func (s *Store) Enforce() (Enforcement, error) {
	var res Enforcement
	if s.cfg.Retention <= 0 {
		return res, nil
	}
	holds, err := Holds(s.cfg.Dir)
	if err != nil {
		return res, err
	}
	sealed, err := s.segments(sealedSuffix)
	if err != nil {
		return res, err
	}
	cutoff := s.cfg.Now().Add(-s.cfg.Retention)
	for _, seg := range sealed {
		if strings.HasSuffix(seg, activeSuffix) {
			continue
		}
		st, err := os.Stat(seg)
		if err != nil || !st.ModTime().Before(cutoff) {
			continue
		}
		day := filepath.Base(filepath.Dir(seg))
		if slices.ContainsFunc(holds, func(h Hold) bool { return h.covers(day) }) {
			res.Held = append(res.Held, seg)
			continue
		}
		if err := os.Remove(seg); err != nil {
			return res, fmt.Errorf("retention: %w", err)
		}
		res.Deleted = append(res.Deleted, seg)
	}
	return res, nil
}
