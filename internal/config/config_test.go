package config

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/redact"
)

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "vigil.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const fullConfig = `
default_agents = false

[[agent]]
name = "in-house"
executables = ["helper", "helper-cli"]
paths = ["/opt/helper/bin/helper"]

[[agent]]
name = "scripted"
paths = ["/usr/local/bin/scripted"]

[output]
file = "/var/tmp/vigil.jsonl"
sync_interval = "50ms"

[sensor]
trace_all = true
ring_buffer_bytes = 16777216
max_tracked = 4096
loss_interval = "2s"
lsm = "require"

[processes]
exit_grace = "1m30s"
max_processes = 1000

[files]
ignore_read_prefixes = ["/opt/noise/"]
ignore_shared_libraries = false

[network]
report_interval = "10s"

[redaction]
marker = "<secret>"

[integrity]
key_dir = "/etc/vigil/keys"
epoch_records = 500

[intent]
socket = "/run/agents/vigil.sock"
group = "agents"
grace = "5s"
`

func TestLoadFull(t *testing.T) {
	c, err := Load(writeConfig(t, fullConfig))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := Config{
		DefaultAgents: false,
		Agents: []Agent{
			{Name: "in-house", Executables: []string{"helper", "helper-cli"}, Paths: []string{"/opt/helper/bin/helper"}},
			{Name: "scripted", Paths: []string{"/usr/local/bin/scripted"}},
		},
		// A file set wins over the default segment store (the directory
		// default stays, unused).
		Output: Output{Dir: DefaultOutputDir, File: "/var/tmp/vigil.jsonl", MaxSegmentBytes: 64 << 20, MaxSegmentAge: Duration{time.Hour},
			SyncInterval: Duration{50 * time.Millisecond}},
		Sensor:    Sensor{TraceAll: true, RingBufferBytes: 16 << 20, MaxTracked: 4096, LossInterval: Duration{2 * time.Second}, LSM: "require"},
		Processes: Table{ExitGrace: Duration{90 * time.Second}, MaxProcesses: 1000},
		// Keys not set keep their defaults; a list set replaces the default list.
		Files:     Files{IgnoreReadPrefixes: []string{"/opt/noise/"}, IgnoreSharedLibraries: false, IgnoreProcSelf: true},
		Network:   Network{ReportInterval: Duration{10 * time.Second}},
		Redaction: Redaction{Enabled: true, Names: redact.DefaultNames, Marker: "<secret>"},
		Integrity: Integrity{KeyDir: "/etc/vigil/keys", EpochRecords: 500, EpochPeriod: Duration{time.Minute}},
		Intent: Intent{Socket: "/run/agents/vigil.sock", Group: "agents", Grace: Duration{5 * time.Second}, MaxToolCall: Duration{30 * time.Minute},
			IgnorePaths: DefaultIgnorePaths},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Load =\n%+v\nwant\n%+v", c, want)
	}
	if got := c.AllAgents(); !reflect.DeepEqual(got, want.Agents) {
		t.Errorf("AllAgents = %+v, want only the configured agents", got)
	}
}

func TestLoadKeepsDefaults(t *testing.T) {
	for name, text := range map[string]string{
		"empty":        "",
		"comment only": "# nothing here\n",
		"agent only":   "[[agent]]\nname = \"x\"\nexecutables = [\"x\"]\n",
	} {
		t.Run(name, func(t *testing.T) {
			c, err := Load(writeConfig(t, text))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !c.DefaultAgents || c.Output.Dir != DefaultOutputDir || c.Output.File != "" {
				t.Errorf("defaults lost: %+v", c)
			}
			if c.Sensor != (Sensor{}) || c.Processes != (Table{}) {
				t.Errorf("unset sections not zero: %+v %+v", c.Sensor, c.Processes)
			}
			if got, want := len(c.AllAgents()), len(c.Agents)+len(DefaultAgents()); got != want {
				t.Errorf("len(AllAgents) = %d, want %d", got, want)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	const out = "[output]\nfile = \"/tmp/x\"\n"
	tests := []struct {
		name string
		text string
		want []string // substrings of the error
	}{
		{"unknown top-level key", "default_agent = true\n", []string{"unknown", "default_agent"}},
		{"unknown sensor key", "[sensor]\ntrace_al = true\n", []string{"unknown", "sensor.trace_al"}},
		{"unknown section", "[outptu]\nfile = \"/x\"\n", []string{"unknown", "outptu"}},
		{"unknown agent key", "[[agent]]\nname = \"a\"\nexecutable = [\"a\"]\nexecutables = [\"a\"]\n", []string{"unknown", "agent.executable"}},
		{"invalid duration", "[sensor]\nloss_interval = \"2 seconds\"\n", []string{"loss_interval"}},
		{"unknown lsm mode", "[sensor]\nlsm = \"on\"\n", []string{"sensor.lsm", `"on"`, "auto, off or require"}},
		{"duration without unit", "[processes]\nexit_grace = \"30\"\n", []string{"exit_grace"}},
		{"negative duration", "[processes]\nexit_grace = \"-1s\"\n", []string{"negative"}},
		{"duration as integer", "[processes]\nexit_grace = 30\n", []string{"exit_grace"}},
		{"agent without name", "[[agent]]\nexecutables = [\"a\"]\n", []string{"agent 1: no name"}},
		{"agent without executables or paths", "[[agent]]\nname = \"idle\"\n", []string{`agent "idle": no executables or paths`}},
		{"executable with slash", "[[agent]]\nname = \"a\"\nexecutables = [\"bin/a\"]\n", []string{`"bin/a"`, "file name"}},
		{"executable too long", "[[agent]]\nname = \"a\"\nexecutables = [\"" + strings.Repeat("x", 32) + "\"]\n", []string{strings.Repeat("x", 32), "1 to 31 bytes"}},
		{"empty executable", "[[agent]]\nname = \"a\"\nexecutables = [\"\"]\n", []string{`executable ""`}},
		{"relative path", "[[agent]]\nname = \"a\"\npaths = [\"bin/a\"]\n", []string{`path "bin/a" must be absolute`}},
		{"duplicate executable", "[[agent]]\nname = \"a\"\nexecutables = [\"tool\"]\n[[agent]]\nname = \"b\"\nexecutables = [\"tool\"]\n",
			[]string{`agent "b"`, `"tool" already belongs to "a"`}},
		{"no output", "[output]\nfile = \"\"\ndir = \"\"\n", []string{"output: set dir"}},
		{"negative ring buffer", out + "[sensor]\nring_buffer_bytes = -1\n", []string{"negative"}},
		{"negative max tracked", out + "[sensor]\nmax_tracked = -5\n", []string{"negative"}},
		{"negative max processes", out + "[processes]\nmax_processes = -1\n", []string{"negative"}},
		{"syntax error", "[sensor\ntrace_all = true\n", nil},
		{"wrong type", "default_agents = \"yes\"\n", []string{"default_agents"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, tc.text)
			c, err := Load(path)
			if err == nil {
				t.Fatalf("Load succeeded: %+v", c)
			}
			msg := err.Error()
			if !strings.Contains(msg, path) {
				t.Errorf("error %q does not name the file", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
			if !reflect.DeepEqual(c, Config{}) {
				t.Errorf("Load returned a config with its error: %+v", c)
			}
		})
	}
}

func TestLoadReportsEveryMistake(t *testing.T) {
	_, err := Load(writeConfig(t, "[[agent]]\nexecutables = [\"a/b\"]\npaths = [\"rel\"]\n"))
	if err == nil {
		t.Fatal("no error")
	}
	for _, w := range []string{"no name", `"a/b"`, `"rel"`} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "absent.toml")
	_, err := Load(path)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("Load(missing) = %v", err)
	}
	if !os.IsNotExist(err) && !strings.Contains(err.Error(), "no such file") {
		t.Errorf("error does not say the file is missing: %v", err)
	}
}

func TestExecutableLength(t *testing.T) {
	for n, ok := range map[int]bool{1: true, 15: true, 31: true, 32: false} {
		c := Default()
		c.DefaultAgents = false
		c.Agents = []Agent{{Name: "a", Executables: []string{strings.Repeat("e", n)}}}
		if err := c.Validate(); (err == nil) != ok {
			t.Errorf("executable of %d bytes: Validate = %v, want ok %v", n, err, ok)
		}
	}
}

func TestDuplicateExecutables(t *testing.T) {
	tests := []struct {
		name     string
		defaults bool
		agents   []Agent
		wantErr  string
	}{
		{"two configured agents", false, []Agent{
			{Name: "a", Executables: []string{"x", "tool"}},
			{Name: "b", Executables: []string{"tool"}},
		}, `agent "b": executable "tool" already belongs to "a"`},
		{"distinct executables", false, []Agent{
			{Name: "a", Executables: []string{"x"}},
			{Name: "b", Executables: []string{"y"}},
		}, ""},
		// A configured agent may claim a default's name: it comes first
		// and so wins.
		{"configured shadows a default", true, []Agent{
			{Name: "my-claude", Executables: []string{"claude"}},
		}, ""},
		{"same name, paths only", false, []Agent{
			{Name: "a", Paths: []string{"/bin/a"}},
			{Name: "b", Paths: []string{"/bin/a"}},
		}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			c.DefaultAgents = tc.defaults
			c.Agents = tc.agents
			err := c.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("Validate = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestAllAgents(t *testing.T) {
	mine := []Agent{{Name: "mine", Executables: []string{"mine"}}}

	c := Config{Agents: mine}
	if got := c.AllAgents(); !reflect.DeepEqual(got, mine) {
		t.Errorf("without defaults: %+v", got)
	}

	c.DefaultAgents = true
	got := c.AllAgents()
	want := append(slices.Clone(mine), DefaultAgents()...)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("with defaults: %+v", got)
	}
	// The result is a fresh slice: appending to it leaves the config alone.
	got[0].Name = "changed"
	_ = append(got, Agent{Name: "extra"})
	if c.Agents[0].Name != "mine" || len(c.Agents) != 1 {
		t.Errorf("AllAgents aliases the configured agents: %+v", c.Agents)
	}

	if got := (&Config{DefaultAgents: true}).AllAgents(); !reflect.DeepEqual(got, DefaultAgents()) {
		t.Errorf("defaults only: %+v", got)
	}
	if got := (&Config{}).AllAgents(); len(got) != 0 {
		t.Errorf("nothing configured: %+v", got)
	}
}

func TestDefault(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("Default().Validate: %v", err)
	}
	if !c.DefaultAgents || c.Output.Dir != DefaultOutputDir || len(c.Agents) != 0 {
		t.Errorf("Default = %+v", c)
	}
	names := map[string]bool{}
	for _, a := range DefaultAgents() {
		if names[a.Name] {
			t.Errorf("default agent %q listed twice", a.Name)
		}
		names[a.Name] = true
	}
}

func TestDurationUnmarshalText(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"2s", 2 * time.Second, true},
		{"0s", 0, true},
		{"0", 0, true},
		{"1h30m", 90 * time.Minute, true},
		{"250ms", 250 * time.Millisecond, true},
		{"-1s", 0, false},
		{"30", 0, false},
		{"", 0, false},
		{"soon", 0, false},
	}
	for _, tc := range tests {
		var d Duration
		err := d.UnmarshalText([]byte(tc.in))
		if (err == nil) != tc.ok || (tc.ok && d.Duration != tc.want) {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v ok %v", tc.in, d.Duration, err, tc.want, tc.ok)
		}
	}
}

func fileID(t *testing.T, path string) FileID {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return FileID{Dev: uint64(st.Dev), Ino: st.Ino}
}

func TestResolvePaths(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "agent-bin")
	other := filepath.Join(dir, "other-bin")
	for _, p := range []string{target, other} {
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	link := filepath.Join(dir, "agent")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	chain := filepath.Join(dir, "agent-latest")
	if err := os.Symlink("agent", chain); err != nil { // relative, via another link
		t.Fatal(err)
	}
	dangling := filepath.Join(dir, "dangling")
	if err := os.Symlink(filepath.Join(dir, "nowhere"), dangling); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "not-installed")

	ids, gone, err := ResolvePaths([]string{link, missing, other, chain, dangling})
	if err != nil {
		t.Fatalf("ResolvePaths: %v", err)
	}
	want := []FileID{fileID(t, target), fileID(t, other), fileID(t, target)}
	if !slices.Equal(ids, want) {
		t.Errorf("ids = %v, want %v", ids, want)
	}
	if ids[0] == fileID(t, other) || ids[0].Ino == 0 {
		t.Errorf("symlink resolved to %v", ids[0])
	}
	if !slices.Equal(gone, []string{missing, dangling}) {
		t.Errorf("missing = %v, want [%s %s]", gone, missing, dangling)
	}
}

func TestResolvePathsEmpty(t *testing.T) {
	ids, missing, err := ResolvePaths(nil)
	if ids != nil || missing != nil || err != nil {
		t.Errorf("ResolvePaths(nil) = %v, %v, %v", ids, missing, err)
	}
}

func TestResolvePathsError(t *testing.T) {
	// A name longer than NAME_MAX is an error, not a missing file.
	bad := filepath.Join(t.TempDir(), strings.Repeat("n", 300))
	ids, missing, err := ResolvePaths([]string{bad})
	if err == nil {
		t.Fatalf("ResolvePaths(too long) = %v, %v, nil", ids, missing)
	}
	if !strings.Contains(err.Error(), bad) {
		t.Errorf("error %q does not name the path", err)
	}
	if ids != nil || missing != nil {
		t.Errorf("partial results with an error: %v %v", ids, missing)
	}
}

func TestFilesFilter(t *testing.T) {
	f := DefaultFiles().Filter()
	if !f.SharedLibraries || !f.ProcSelf || len(f.ReadPrefixes) == 0 {
		t.Errorf("default filter: %+v", f)
	}
	for _, p := range f.ReadPrefixes {
		for _, keep := range []string{"/etc/passwd", "/etc/shadow", "/root/.ssh/id_ed25519", "/home/u/.aws/credentials"} {
			if len(keep) >= len(p) && keep[:len(p)] == p {
				t.Errorf("default prefix %q would hide a read of %s", p, keep)
			}
		}
	}
}

func TestRedactionConfig(t *testing.T) {
	r, err := Default().Redaction.Redactor()
	if err != nil || r == nil {
		t.Fatalf("default redaction: %v, %v", r, err)
	}
	if got := r.String("--password=x"); got != "--password=[REDACTED]" {
		t.Errorf("default redactor: %q", got)
	}
	if r, err := (Redaction{}).Redactor(); r != nil || err != nil {
		t.Errorf("disabled redaction gave %v, %v", r, err)
	}
	if _, err := Load(writeConfig(t, "[redaction]\nnames = \"(\"\n")); err == nil {
		t.Error("a bad redaction pattern was accepted")
	}
}
