package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/output"
	"github.com/vigilsec/vigil/sensor"
	"github.com/vigilsec/vigil/sensor/esf"
	"github.com/vigilsec/vigil/sensor/etw"
)

// replay runs a platform adapter's event stream through the daemon's
// pipeline — process table, correlation, ECS encoding, the sealed chain —
// into a record file, as `vigil run` does on that platform, and checks
// what every platform's records must pass: ECS validation, `vigil
// verify`, and host.os naming the platform. feed gives the adapter's
// events to h.
func replay(t *testing.T, os_ output.OS, agents []string, feed func(h sensor.Handler) error) []doc {
	t.Helper()
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	if res := runVigil(t, "keygen", "--dir", keys); res.code != 0 {
		t.Fatalf("keygen: %d %s", res.code, res.stderr)
	}
	path := filepath.Join(dir, "records.jsonl")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	id := output.Identity{HostName: "replay-" + os_.Type, HostID: "4c4c4544-0042-3610-8052-b4c04f4e3332",
		BootID: "0f3c5b8e-2a41-4f7e-9d0c-6b1e2f3a4d5c", AgentID: "b7f1c2d3-1111-4222-8333-944455556666",
		AgentVersion: vigilVersion(), EphemeralID: "a1b2c3d4-0000-4000-8000-000000000001", OS: os_}
	p, err := newPipeline(pipelineConfig{
		Out: f, KeyDir: keys, Identity: &id, Times: sensor.WallClock{},
		AgentName: func(i uint32) string {
			if i == 0 || int(i) > len(agents) {
				return ""
			}
			return agents[i-1]
		},
		// The processes are another machine's: none is alive here, and
		// none of their exits is unseen.
		Alive: func(uint32, uint64) bool { return true },
		Log:   slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := feed(p); err != nil {
		t.Fatalf("replay: %v", err)
	}
	if err := p.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := p.finish(); err != nil {
		t.Fatal(err)
	}
	if res := runVigil(t, "verify", "--key-dir", keys, path); res.code != 0 {
		t.Fatalf("vigil verify: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	docs := parseRecords(t, string(data))
	for _, d := range docs {
		if got := d.str("host.os.type"); got != os_.Type {
			t.Fatalf("host.os.type %q, want %q: %s", got, os_.Type, d)
		}
	}
	// Tampering with one record is caught, as on Linux.
	tampered := bytes.Replace(data, []byte(`"action":"`), []byte(`"action":"x`), 1)
	if bytes.Equal(tampered, data) {
		t.Fatal("no event.action to tamper with")
	}
	if err := os.WriteFile(path, tampered, 0o600); err != nil {
		t.Fatal(err)
	}
	if res := runVigil(t, "verify", "--key-dir", keys, path); res.code == 0 {
		t.Fatal("vigil verify passed a tampered record")
	}
	return docs
}

// records returns the records of one event.action (any, when "").
func records(docs []doc, dataset, action string) []doc {
	var out []doc
	for _, d := range docs {
		if d.str("event.dataset") == dataset && (action == "" || d.str("event.action") == action) {
			out = append(out, d)
		}
	}
	return out
}

func listRecords(docs []doc) string {
	var b strings.Builder
	for _, d := range docs {
		fmt.Fprintf(&b, "%s %s pid=%d %s %s\n", d.str("event.dataset"), d.str("event.action"), d.num("process.pid"),
			d.str("process.executable"), d.str("file.path"))
	}
	return b.String()
}

// A Windows agent session as ETW reports it (sensor/etw's fixture:
// Kernel-Process, Kernel-File and Kernel-Network records of claude.exe,
// the cmd.exe it starts and the git.exe and powershell.exe below it, and
// of processes outside the tree) becomes the same records as on Linux.
func TestReplayWindowsETW(t *testing.T) {
	f, err := os.Open("../../sensor/etw/testdata/agent-session.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	agents := []string{"claude"}
	scope := sensor.NewTreeScope(func(exe string, args []string) (uint32, bool) {
		a := matchName(map[string]uint32{"claude": 1}, exe, args, true)
		return a, a != 0
	}, false, 0)
	d := etw.NewDecoder(scope, etw.WithDevices(map[string]string{`\Device\HarddiskVolume3`: "C:"}))
	docs := replay(t, output.OS{Type: "windows", Platform: "windows", Family: "windows", Kernel: "10.0.26100"}, agents,
		func(h sensor.Handler) error {
			if err := etw.ReadRecords(f, func(r *etw.Record) error { return d.Decode(r, h.HandleEvent) }); err != nil {
				return err
			}
			return d.Close(h.HandleEvent)
		})
	const proj = `C:\Users\dev\project`
	execs := records(docs, "vigil.process", "exec")
	if len(execs) != 4 {
		t.Fatalf("%d exec records, want 4 (claude, cmd, git, powershell):\n%s", len(execs), listRecords(docs))
	}
	root := execs[0]
	if root.str("process.executable") != `C:\Users\dev\AppData\Local\Programs\claude\claude.exe` ||
		root.str("gen_ai.agent.name") != "claude" || root.str("process.name") != "claude.exe" ||
		!strings.HasPrefix(root.str("user.id"), "S-1-5-21-") || root.get("process.real_user") != nil {
		t.Errorf("agent exec: %s", root)
	}
	cmd := execs[1]
	if got, want := cmd.str("process.command_line"), `C:\WINDOWS\system32\cmd.exe /d /s /c "git status --porcelain > status.txt && powershell -NoProfile -Command Remove-Item build.log,out"`; got != want {
		t.Errorf("cmd.exe command line %s, want the one Windows logged, %s", got, want)
	}
	if got := cmd.str("process.parent.entity_id"); got != root.str("process.entity_id") || got == "" {
		t.Errorf("cmd.exe's parent %q, want the agent %q", got, root.str("process.entity_id"))
	}
	for _, d := range docs {
		if d.str("Vigil.tree.root.entity_id") != "" && d.str("Vigil.tree.root.entity_id") != root.str("process.entity_id") {
			t.Errorf("record outside the agent's tree: %s", d)
		}
		for _, exe := range []string{"explorer.exe", "OneDrive.exe", "svchost.exe"} {
			if strings.HasSuffix(d.str("process.executable"), exe) && d.str("event.action") != "fork" {
				t.Errorf("record of %s, which is outside the tree: %s", exe, d)
			}
		}
	}
	var sawRename, sawRmdir, sawWrite bool
	for _, d := range records(docs, "vigil.file", "") {
		switch d.str("event.action") {
		case "rename":
			if d.str("file.path") == proj+`\src\app.js` && d.str("Vigil.file.old_path") == proj+`\src\app.js.tmp` {
				sawRename = d.str("file.directory") == proj+`\src` && d.str("file.name") == "app.js" && d.str("file.extension") == "js"
			}
		case "deletion":
			if d.str("file.path") == proj+`\out` {
				sawRmdir = d.str("file.type") == "dir"
			}
		case "modification":
			if d.str("file.path") == proj+`\src\app.js.tmp` {
				sawWrite = d.num("Vigil.file.bytes_written") == 9392 && d.num("Vigil.file.write_calls") == 3
			}
		}
	}
	if !sawRename || !sawRmdir || !sawWrite {
		t.Errorf("rename %v, rmdir %v, write totals %v:\n%s", sawRename, sawRmdir, sawWrite, listRecords(docs))
	}
	var tls bool
	for _, d := range records(docs, "vigil.network", "") {
		if d.str("destination.ip") == "203.0.113.10" && d.num("destination.port") == 443 && d.str("network.transport") == "tcp" {
			tls = true
		}
	}
	if !tls {
		t.Errorf("no record of the connection to 203.0.113.10:443:\n%s", listRecords(docs))
	}
	ends := records(docs, "vigil.process", "end")
	if len(ends) != 4 || ends[3].num("process.exit_code") != 0xC000013A {
		t.Errorf("process ends: %d, last %s", len(ends), ends[len(ends)-1])
	}
}

// A macOS agent session as eslogger writes it (sensor/esf's fixture: an
// agent started through /usr/bin/env node, zsh, git and sed below it,
// and processes outside the tree) becomes the same records as on Linux.
func TestReplayMacOSEndpointSecurity(t *testing.T) {
	f, err := os.Open("../../sensor/esf/testdata/agent-session.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	scope := sensor.NewTreeScope(func(exe string, args []string) (uint32, bool) {
		a := matchName(map[string]uint32{"claude": 1}, exe, args, false)
		return a, a != 0
	}, false, 0)
	docs := replay(t, output.OS{Type: "macos", Platform: "darwin", Family: "darwin", Kernel: "24.0.0", Version: "15.0"},
		[]string{"claude"}, func(h sensor.Handler) error {
			return esf.NewDecoder(scope).Run(context.Background(), f, h)
		})
	const proj = "/Users/dev/project"
	execs := records(docs, "vigil.process", "exec")
	// The tree starts at node running the claude script (the /usr/bin/env
	// before it names no script), as the daemon's matcher has it.
	if len(execs) != 6 {
		t.Fatalf("%d exec records, want 6:\n%s", len(execs), listRecords(docs))
	}
	root := execs[0]
	if root.str("gen_ai.agent.name") != "claude" || root.str("process.executable") != "/opt/homebrew/Cellar/node/24.4.0/bin/node" ||
		root.str("user.id") != "501" || root.str("process.working_directory") != "/Users/dev/project" {
		t.Errorf("agent exec: %s", root)
	}
	for _, d := range docs {
		for _, exe := range []string{"mdworker_shared", "mds_stores", "com.apple.WebKit.Networking", "xpcproxy"} {
			if strings.HasSuffix(d.str("process.executable"), "/"+exe) {
				t.Errorf("record of %s, which is outside the tree: %s", exe, d)
			}
		}
	}
	var sawConnect, sawWrite, sawRename bool
	for _, d := range docs {
		switch d.str("event.action") {
		case "connection_attempted":
			sawConnect = d.str("destination.address") == "/private/var/run/mDNSResponder"
		case "modification":
			if d.get("Vigil.file.bytes_written") != nil {
				t.Errorf("a byte count Endpoint Security does not give: %s", d)
			}
			sawWrite = sawWrite || d.num("Vigil.file.write_calls") > 0 && strings.HasPrefix(d.str("file.path"), proj)
		case "rename":
			if d.str("file.path") == proj+"/docs/notes.md" {
				sawRename = d.str("Vigil.file.old_path") == proj+"/notes.md"
			}
		}
	}
	if !sawConnect || !sawWrite || !sawRename {
		t.Errorf("connect %v, write totals %v, rename to a new path %v:\n%s", sawConnect, sawWrite, sawRename, listRecords(docs))
	}
	var killed bool
	for _, d := range records(docs, "vigil.process", "end") {
		if strings.HasSuffix(d.str("process.executable"), "/sleep") {
			killed = d.num("process.exit_code") == 143 && d.str("Vigil.process.exit_signal") == "SIGTERM"
		}
	}
	if !killed {
		t.Errorf("sleep's end by SIGTERM not recorded:\n%s", listRecords(docs))
	}
}
