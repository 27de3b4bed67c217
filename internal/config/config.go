// Package config reads the daemon's TOML configuration. Unknown keys are
// errors, so a typo cannot silently disable monitoring.
package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/vigilsec/vigil/correlate"
	"github.com/vigilsec/vigil/internal/redact"
)

// Agent is one agent Vigil watches for: a process whose executable
// matches starts a tracked tree named after the agent.
type Agent struct {
	// Name is what records call the agent (gen_ai.agent.name).
	Name string `toml:"name"`
	// Executables are names matched against the basename a program was
	// invoked by (argv path) and its binary's file name. At most 31 bytes.
	Executables []string `toml:"executables"`
	// Paths are executable files, matched by device and inode after
	// resolving symlinks (a script's path never matches: name it instead).
	Paths []string `toml:"paths"`
}

// Config is the daemon's configuration.
type Config struct {
	// DefaultAgents adds the built-in list of well-known agent CLIs.
	DefaultAgents bool      `toml:"default_agents"`
	Agents        []Agent   `toml:"agent"`
	Output        Output    `toml:"output"`
	Sensor        Sensor    `toml:"sensor"`
	Processes     Table     `toml:"processes"`
	Files         Files     `toml:"files"`
	Network       Network   `toml:"network"`
	Redaction     Redaction `toml:"redaction"`
	Integrity     Integrity `toml:"integrity"`
	Intent        Intent    `toml:"intent"`
	Sinks         []Sink    `toml:"sink"`
}

// DefaultSyncInterval bounds how long a record the daemon wrote can wait
// for an fsync: what a power loss can take.
const DefaultSyncInterval = 20 * time.Millisecond

// Intent configures the socket agents report their intents on, and how
// intents are judged against what the kernel saw.
type Intent struct {
	// Socket is the Unix socket's path. Its directory must not be
	// writable by others.
	Socket string `toml:"socket"`
	// Group may connect (the socket is 0660); empty: root's group only.
	Group string `toml:"group"`
	// KeepPromptText keeps prompt text an agent sends (redacted); by
	// default only its SHA-256 is kept.
	KeepPromptText bool `toml:"keep_prompt_text"`
	// Grace is how long after a tool call ends its actions may still be
	// observed before a declaration is called unwitnessed.
	Grace Duration `toml:"grace"`
	// MaxToolCall ends a tool call that never reports its end.
	MaxToolCall Duration `toml:"max_tool_call"`
	// IgnorePaths are the agents' own state: writes under these prefixes
	// are recorded but never called undeclared ("~/" is the writing
	// user's home). An agent's settings are not in the default list:
	// an agent changing its own settings (hooks, permissions) is judged.
	IgnorePaths []string `toml:"ignore_paths"`
}

// DefaultIgnorePaths is where agents keep transcripts, caches and locks.
var DefaultIgnorePaths = []string{
	"~/.claude/projects/", "~/.claude/todos/", "~/.claude/shell-snapshots/",
	"~/.claude/statsig/", "~/.claude/session-env/", "~/.claude.json", "/tmp/claude-",
}

// Sink is a system records are shipped to, from the segment store (the
// spool: records wait there while the sink is down).
type Sink struct {
	Name string `toml:"name"` // names its cursor; default TYPE-N
	// Type "syslog": RFC 5424 over TCP with a CEF body (Addr host:port).
	// Type "elasticsearch": _bulk into data streams logs-<dataset>-<Namespace>
	// (Addr is the cluster URL).
	// Type "splunk": HTTP Event Collector (Addr is the endpoint URL, Token
	// its token, Index optional).
	// Type "otlp": OTLP/HTTP logs (Addr is the logs endpoint URL, e.g.
	// https://gateway:4318/v1/logs; Headers are sent with each request).
	Type      string            `toml:"type"`
	Addr      string            `toml:"addr"`
	APIKey    string            `toml:"api_key"`
	Namespace string            `toml:"namespace"`
	Token     string            `toml:"token"`
	Index     string            `toml:"index"`
	Headers   map[string]string `toml:"headers"`
	// TLS: connect with TLS, checking the server against CAFile (default:
	// the system roots) and ServerName (default: the host in Addr).
	TLS        bool   `toml:"tls"`
	CAFile     string `toml:"ca_file"`
	ServerName string `toml:"server_name"`
}

// Integrity says where the keys that seal the records are.
type Integrity struct {
	// KeyDir holds the keys made by "vigil keygen"; the daemon refuses
	// to run without them.
	KeyDir string `toml:"key_dir"`
	// EpochRecords and EpochPeriod end an epoch (checkpoint, key change)
	// after this many records or this long, whichever comes first.
	EpochRecords int      `toml:"epoch_records"`
	EpochPeriod  Duration `toml:"epoch_period"`
}

// Network tunes network records.
type Network struct {
	// ReportInterval: how often the send totals of sockets still open are
	// recorded (outbound volume per destination while a connection
	// lasts). "0s" reports only at close and exit.
	ReportInterval Duration `toml:"report_interval"`
}

// Redaction says how secrets are kept out of records (internal/redact).
type Redaction struct {
	// Enabled is on by default; turning it off stores command lines and
	// URLs as they were.
	Enabled bool `toml:"enabled"`
	// Names is a regular expression matching the names of parameters,
	// flags, variables and headers whose values are secret.
	Names string `toml:"names"`
	// Marker replaces a secret value.
	Marker string `toml:"marker"`
}

// Redactor builds the redactor these settings describe (nil when off).
func (r Redaction) Redactor() (*redact.Redactor, error) {
	if !r.Enabled {
		return nil, nil
	}
	return redact.New(r.Names, r.Marker)
}

// Files says which file events are not worth a record. Only read-only
// opens are ever dropped; writes, creations, deletions and renames are
// always recorded, and so is a read of anything not matched here.
type Files struct {
	// IgnoreReadPrefixes: read-only opens of paths under these prefixes.
	IgnoreReadPrefixes []string `toml:"ignore_read_prefixes"`
	// IgnoreSharedLibraries: read-only opens of "*.so" and "*.so.*".
	IgnoreSharedLibraries bool `toml:"ignore_shared_libraries"`
	// IgnoreProcSelf: a process's read-only opens under its own /proc/PID.
	IgnoreProcSelf bool `toml:"ignore_proc_self"`
}

// Output says where records go: a segment store in Dir (the default
// for the daemon), or one File.
type Output struct {
	// Dir holds day directories of segment files (output/store).
	Dir string `toml:"dir"`
	// File receives ECS JSON lines, appended; created 0600. Used when Dir
	// is empty.
	File string `toml:"file"`
	// MaxSegmentBytes and MaxSegmentAge rotate segments.
	MaxSegmentBytes int64    `toml:"max_segment_bytes"`
	MaxSegmentAge   Duration `toml:"max_segment_age"`
	// Retention deletes sealed segments older than this ("0s": keep all),
	// except under a legal hold (vigil hold).
	Retention Duration `toml:"retention"`
	// SyncInterval: records written are fsynced at least this often, off
	// the write path ("0s": never, leaving it to the kernel's writeback).
	SyncInterval Duration `toml:"sync_interval"`
}

// Sensor tunes the kernel side.
type Sensor struct {
	TraceAll        bool     `toml:"trace_all"`
	RingBufferBytes int      `toml:"ring_buffer_bytes"`
	MaxTracked      int      `toml:"max_tracked"`
	LossInterval    Duration `toml:"loss_interval"`
	// LSM: "auto" (default) uses the BPF LSM programs where the kernel
	// runs them, "off" never, "require" refuses to start without them.
	LSM string `toml:"lsm"`
}

// Table tunes the process table.
type Table struct {
	ExitGrace    Duration `toml:"exit_grace"`
	MaxProcesses int      `toml:"max_processes"`
}

// Duration is a time.Duration written as "30s" in TOML.
type Duration struct{ time.Duration }

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	if v < 0 {
		return fmt.Errorf("duration %s: must not be negative", b)
	}
	d.Duration = v
	return nil
}

// DefaultAgents are well-known agent CLIs, by the names they are invoked
// by.
func DefaultAgents() []Agent {
	return []Agent{
		{Name: "claude-code", Executables: []string{"claude"}},
		{Name: "codex", Executables: []string{"codex"}},
		{Name: "gemini-cli", Executables: []string{"gemini"}},
		{Name: "aider", Executables: []string{"aider"}},
		{Name: "cursor-agent", Executables: []string{"cursor-agent"}},
		{Name: "goose", Executables: []string{"goose"}},
		{Name: "opencode", Executables: []string{"opencode"}},
		{Name: "amp", Executables: []string{"amp"}},
		{Name: "copilot-cli", Executables: []string{"copilot"}},
		{Name: "qwen-code", Executables: []string{"qwen"}},
		{Name: "crush", Executables: []string{"crush"}},
	}
}

// Default is the configuration used without a file.
func Default() Config {
	return Config{
		DefaultAgents: true,
		Output:        Output{Dir: DefaultOutputDir, MaxSegmentBytes: 64 << 20, MaxSegmentAge: Duration{time.Hour}, SyncInterval: Duration{DefaultSyncInterval}},
		Files:         DefaultFiles(),
		Network:       Network{ReportInterval: Duration{time.Minute}},
		Redaction:     Redaction{Enabled: true, Names: redact.DefaultNames, Marker: redact.DefaultMarker},
		Integrity:     Integrity{KeyDir: DefaultKeyDir, EpochRecords: 10000, EpochPeriod: Duration{time.Minute}},
		Intent: Intent{Socket: DefaultIntentSocket, Grace: Duration{2 * time.Second}, MaxToolCall: Duration{30 * time.Minute},
			IgnorePaths: DefaultIgnorePaths},
	}
}

// DefaultFiles drops what every dynamically linked program reads at
// start: the loader cache, shared libraries, locale, character-set and
// time-zone data, and the process's own /proc entries.
func DefaultFiles() Files {
	return Files{
		IgnoreReadPrefixes: []string{
			"/etc/ld.so.cache",
			"/etc/localtime",
			"/etc/locale.alias",
			"/usr/lib/locale/",
			"/usr/share/locale/",
			"/usr/lib/x86_64-linux-gnu/gconv/",
			"/usr/share/zoneinfo/",
		},
		IgnoreSharedLibraries: true,
		IgnoreProcSelf:        true,
	}
}

// Load reads and validates a configuration file.
func Load(path string) (Config, error) {
	c := Default()
	md, err := toml.DecodeFile(path, &c)
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	if un := md.Undecoded(); len(un) > 0 {
		keys := make([]string, len(un))
		for i, k := range un {
			keys[i] = k.String()
		}
		return Config{}, fmt.Errorf("config %s: unknown keys: %s", path, strings.Join(keys, ", "))
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// AllAgents is the configured agents plus the defaults when enabled.
func (c *Config) AllAgents() []Agent {
	if !c.DefaultAgents {
		return c.Agents
	}
	return append(append([]Agent(nil), c.Agents...), DefaultAgents()...)
}

// Validate checks the configuration for mistakes.
func (c *Config) Validate() error {
	var errs []error
	seen := map[string]string{}
	for i, a := range c.AllAgents() {
		if a.Name == "" {
			errs = append(errs, fmt.Errorf("agent %d: no name", i+1))
		}
		if len(a.Executables)+len(a.Paths) == 0 {
			errs = append(errs, fmt.Errorf("agent %q: no executables or paths", a.Name))
		}
		for _, e := range a.Executables {
			if e == "" || len(e) > 31 || strings.Contains(e, "/") {
				errs = append(errs, fmt.Errorf("agent %q: executable %q must be a file name of 1 to 31 bytes", a.Name, e))
			}
			if prev, ok := seen[e]; ok && i < len(c.Agents) {
				errs = append(errs, fmt.Errorf("agent %q: executable %q already belongs to %q", a.Name, e, prev))
			}
			if _, ok := seen[e]; !ok {
				seen[e] = a.Name
			}
		}
		for _, p := range a.Paths {
			if !filepath.IsAbs(p) {
				errs = append(errs, fmt.Errorf("agent %q: path %q must be absolute", a.Name, p))
			}
		}
	}
	if _, err := c.Redaction.Redactor(); err != nil {
		errs = append(errs, fmt.Errorf("redaction.names: %w", err))
	}
	for i, sk := range c.Sinks {
		switch {
		case sk.Type != "syslog" && sk.Type != "elasticsearch" && sk.Type != "splunk" && sk.Type != "otlp":
			errs = append(errs, fmt.Errorf("sink %d: type %q: want \"syslog\", \"elasticsearch\", \"splunk\" or \"otlp\"", i+1, sk.Type))
		case sk.Addr == "":
			errs = append(errs, fmt.Errorf("sink %d: no addr", i+1))
		case c.Output.File != "":
			errs = append(errs, fmt.Errorf("sink %d: sinks ship from the segment store: set output.dir, not output.file", i+1))
		}
	}
	if c.Intent.Socket == "" || !filepath.IsAbs(c.Intent.Socket) {
		errs = append(errs, fmt.Errorf("intent.socket: %q must be an absolute path", c.Intent.Socket))
	}
	if c.Intent.Grace.Duration < 0 || c.Intent.MaxToolCall.Duration < 0 {
		errs = append(errs, errors.New("intent: durations must not be negative"))
	}
	if c.Integrity.KeyDir == "" {
		errs = append(errs, errors.New("integrity.key_dir: empty (records are always sealed)"))
	}
	if c.Output.File == "" && c.Output.Dir == "" {
		errs = append(errs, errors.New("output: set dir (segment store) or file"))
	}
	switch c.Sensor.LSM {
	case "", "auto", "off", "require":
	default:
		errs = append(errs, fmt.Errorf("sensor.lsm: %q: want auto, off or require", c.Sensor.LSM))
	}
	if c.Sensor.RingBufferBytes < 0 || c.Sensor.MaxTracked < 0 || c.Processes.MaxProcesses < 0 {
		errs = append(errs, errors.New("sizes must not be negative"))
	}
	return errors.Join(errs...)
}

// ResolvePaths stats an agent's paths (following symlinks). Paths that do
// not exist yet are skipped and returned in missing, so an agent
// installed later can be picked up by a restart.
func ResolvePaths(paths []string) (ids []FileID, missing []string, err error) {
	for _, p := range paths {
		var st fileStat
		if err := statFile(p, &st); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				missing = append(missing, p)
				continue
			}
			return nil, nil, fmt.Errorf("agent path %s: %w", p, err)
		}
		ids = append(ids, FileID(st))
	}
	return ids, missing, nil
}

// Filter is the process table's file filter for these settings.
func (f Files) Filter() correlate.FileFilter {
	return correlate.FileFilter{
		ReadPrefixes:    f.IgnoreReadPrefixes,
		SharedLibraries: f.IgnoreSharedLibraries,
		ProcSelf:        f.IgnoreProcSelf,
	}
}
