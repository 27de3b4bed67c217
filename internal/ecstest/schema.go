package ecstest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// envFields names the environment variable that overrides the location of
// the ECS field list.
const envFields = "VIGIL_ECS_FIELDS"

// defaultFields is the field list's location relative to the repository root.
var defaultFields = filepath.Join("..", "shared", "ecs", "fields-9.4.0.json")

// Schema is a parsed ECS field list. It is immutable and safe for
// concurrent use.
type Schema struct {
	fields   map[string]*field
	prefixes map[string]bool // every proper dotted prefix of a field name
	required []string        // sorted names of required fields
	// categoryTypes maps each allowed event.category to the event.type
	// values it allows.
	categoryTypes map[string][]string
}

type kind int

const (
	kindString kind = iota
	kindInteger
	kindFloat
	kindDate
	kindIP
	kindBool
	kindGeoPoint
	kindObject
)

// field is one ECS field's definition.
type field struct {
	typ      string // ECS type, for messages
	kind     kind
	bits     int  // kindInteger: size in bits
	unsigned bool // kindInteger: unsigned_long
	array    bool
	required bool
	allowed  []string // sorted; nil if unrestricted
	expected []string // sorted; nil if unrestricted
}

// kinds maps the ECS types this package understands to their checks.
var kinds = map[string]field{
	"keyword":          {kind: kindString},
	"constant_keyword": {kind: kindString},
	"wildcard":         {kind: kindString},
	"text":             {kind: kindString},
	"match_only_text":  {kind: kindString},
	"long":             {kind: kindInteger, bits: 64},
	"integer":          {kind: kindInteger, bits: 32},
	"short":            {kind: kindInteger, bits: 16},
	"byte":             {kind: kindInteger, bits: 8},
	"unsigned_long":    {kind: kindInteger, bits: 64, unsigned: true},
	"float":            {kind: kindFloat},
	"double":           {kind: kindFloat},
	"half_float":       {kind: kindFloat},
	"scaled_float":     {kind: kindFloat},
	"date":             {kind: kindDate},
	"date_nanos":       {kind: kindDate},
	"ip":               {kind: kindIP},
	"boolean":          {kind: kindBool},
	"geo_point":        {kind: kindGeoPoint},
	"object":           {kind: kindObject},
	"nested":           {kind: kindObject},
	"flattened":        {kind: kindObject},
}

var loadDefault = sync.OnceValues(func() (*Schema, error) {
	path, err := fieldsPath()
	if err != nil {
		return nil, err
	}
	return LoadFile(path)
})

// Load returns the schema from the ECS field list at its usual place: the
// file named by $VIGIL_ECS_FIELDS if set, else ../shared/ecs/fields-9.4.0.json
// relative to the directory holding go.mod. The result, including any error,
// is computed once per process.
func Load() (*Schema, error) {
	return loadDefault()
}

// fieldsPath locates the ECS field list.
func fieldsPath() (string, error) {
	if p := os.Getenv(envFields); p != "" {
		return p, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("ecstest: locating ECS field list: %w", err)
	}
	for dir := wd; ; {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, defaultFields), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("ecstest: locating ECS field list: no go.mod in %s or above; set %s", wd, envFields)
		}
		dir = parent
	}
}

// LoadFile returns the schema from the ECS field list at path.
func LoadFile(path string) (*Schema, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ecstest: loading ECS field list (set %s to override): %w", envFields, err)
	}
	s, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("ecstest: parsing ECS field list %s: %w", path, err)
	}
	return s, nil
}

// parse builds a Schema from the field list's JSON. Unknown keys and types
// are errors, so that a newer file cannot silently weaken the checks.
func parse(data []byte) (*Schema, error) {
	var file struct {
		ECSVersion string `json:"ecs_version"`
		Source     string `json:"source"`
		Fields     map[string]struct {
			Type     string              `json:"type"`
			Array    bool                `json:"array"`
			Allowed  map[string][]string `json:"allowed"`
			Expected []string            `json:"expected"`
			Required bool                `json:"required"`
			Beta     bool                `json:"beta"`
		} `json:"fields"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&file); err != nil {
		return nil, err
	}
	if file.ECSVersion == "" || len(file.Fields) == 0 {
		return nil, errors.New("no ecs_version or no fields")
	}
	s := &Schema{
		fields:   make(map[string]*field, len(file.Fields)),
		prefixes: make(map[string]bool),
	}
	for name, raw := range file.Fields {
		f, ok := kinds[raw.Type]
		if !ok {
			return nil, fmt.Errorf("field %s: unsupported type %q", name, raw.Type)
		}
		f.typ = raw.Type
		f.array = raw.Array
		f.required = raw.Required
		if raw.Allowed != nil {
			f.allowed = slices.Sorted(maps.Keys(raw.Allowed))
		}
		if raw.Expected != nil {
			f.expected = slices.Sorted(slices.Values(raw.Expected))
		}
		s.fields[name] = &f
		if f.required {
			s.required = append(s.required, name)
		}
		for i, c := range name {
			if c == '.' {
				s.prefixes[name[:i]] = true
			}
		}
	}
	for name := range s.fields {
		if s.prefixes[name] && s.fields[name].kind != kindObject {
			return nil, fmt.Errorf("field %s has sub-fields but type %s", name, s.fields[name].typ)
		}
	}
	slices.Sort(s.required)
	if c, ok := file.Fields["event.category"]; ok && c.Allowed != nil {
		s.categoryTypes = make(map[string][]string, len(c.Allowed))
		for cat, types := range c.Allowed {
			s.categoryTypes[cat] = slices.Sorted(slices.Values(types))
		}
	}
	return s, nil
}

// isCustom reports whether name lies in Vigil's custom namespace.
func isCustom(name string) bool {
	return name == customNamespace || strings.HasPrefix(name, customNamespace+".")
}

const customNamespace = "Vigil"
