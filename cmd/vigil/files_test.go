package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// File actions of a traced shell session as ECS records: paths resolved
// through a symlinked working directory and "..", creation, write totals,
// reads of sensitive files kept, loader noise dropped.
func TestTraceFiles(t *testing.T) {
	requireBPF(t)
	dir := realPath(t, t.TempDir())
	real := filepath.Join(dir, "real")
	out := filepath.Join(dir, "records.jsonl")
	script := fmt.Sprintf(`mkdir -p %[1]s/real/sub && ln -s %[1]s/real %[1]s/link && cd %[1]s/link &&
echo hi > f.txt && cat f.txt >/dev/null && cat /etc/passwd >/dev/null &&
mv f.txt sub/../g.txt && rm g.txt && rmdir sub`, dir)
	res := runVigil(t, "trace", "-o", out, "--", "sh", "-c", script)
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	docs := parseRecords(t, string(b))
	var files []doc
	for _, d := range docs {
		if slices.Contains(d.strs("event.category"), "file") {
			files = append(files, d)
		}
	}
	findFile := func(action, path string) doc {
		t.Helper()
		for _, d := range files {
			if d.str("event.action") == action && d.str("file.path") == path {
				return d
			}
		}
		var got []string
		for _, d := range files {
			got = append(got, d.str("event.action")+" "+d.str("file.path"))
		}
		t.Fatalf("no %s of %s among:\n%s", action, path, strings.Join(got, "\n"))
		return nil
	}

	f := filepath.Join(real, "f.txt")
	c := findFile("creation", f)
	if c.str("file.name") != "f.txt" || c.str("file.extension") != "txt" || c.str("file.directory") != real ||
		!slices.Equal(c.strs("event.type"), []string{"creation"}) || c.str("event.outcome") != "success" ||
		!slices.Equal(c.strs("Vigil.file.access"), []string{"write", "create", "truncate"}) || c.str("file.inode") == "" {
		t.Errorf("creation record: %v", c)
	}
	m := findFile("modification", f)
	if m.num("Vigil.file.bytes_written") != 3 || m.num("Vigil.file.write_calls") != 1 ||
		m.str("Vigil.file.reported_at") != "close" || m.str("event.start") == "" || m.str("Vigil.file.path_source") != "kernel" {
		t.Errorf("modification record: %v", m)
	}
	if r := findFile("open", f); !slices.Equal(r.strs("Vigil.file.access"), []string{"read"}) || !slices.Equal(r.strs("event.type"), []string{"access"}) {
		t.Errorf("read record: %v", r)
	}
	if p := findFile("open", "/etc/passwd"); p.str("process.name") != "cat" {
		t.Errorf("/etc/passwd read: %v", p)
	}
	g := filepath.Join(real, "g.txt")
	if r := findFile("rename", g); r.str("Vigil.file.old_path") != f || !slices.Equal(r.strs("event.type"), []string{"change"}) {
		t.Errorf("rename record: %v", r)
	}
	findFile("deletion", g)
	if d := findFile("deletion", filepath.Join(real, "sub")); d.str("file.type") != "dir" {
		t.Errorf("rmdir record: %v", d)
	}
	for _, d := range files {
		p := d.str("file.path")
		if strings.Contains(p, ".so") || strings.HasPrefix(p, "/etc/ld.so") || strings.Contains(p, "/locale") {
			t.Errorf("loader noise recorded: %s %s", d.str("event.action"), p)
		}
		if d.str("gen_ai.agent.name") != "sh" || d.str("process.entity_id") == "" {
			t.Errorf("file record without process context: %v", d)
		}
	}
}
