package correlate

import (
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/redact"
	"github.com/vigilsec/vigil/sensor"
)

func TestNewTableNeedsTimeSource(t *testing.T) {
	if _, err := NewTable(Config{BootID: testBootID}); err == nil {
		t.Fatal("NewTable without a TimeSource: no error")
	}
}

func TestNewTableDefaults(t *testing.T) {
	tab, err := NewTable(Config{Times: fakeTimes{}})
	if err != nil {
		t.Fatal(err)
	}
	if tab.cfg.ExitGrace != 30*time.Second || tab.cfg.MaxProcesses != 65536 || tab.cfg.Clock == nil || tab.cfg.Logger == nil {
		t.Errorf("defaults not applied: %+v", tab.cfg)
	}
	if got := tab.cfg.AgentName(3); got != "" {
		t.Errorf("default AgentName(3) = %q", got)
	}
}

func TestFork(t *testing.T) {
	tab, _ := newTestTable(t, nil)
	parent := task(100, 1, sec(5), "bash")
	tab.Handle(execEv(parent, sec(6), "/usr/bin/bash", "/home/u", "bash", "-l"))
	p := tab.ByPID(100)

	childStart := sec(7) + 234_567_891 // not a whole number of ticks
	ev := forkEv(parent, 200, childStart)
	rec := tab.Handle(ev)

	c := rec.Process
	if c == nil || rec.Parent != p || rec.Event != ev || rec.Previous != nil {
		t.Fatalf("record = %+v, want child with parent %p", rec, p)
	}
	if want := time.Unix(0, bootWall+int64(childStart)); !rec.Time.Equal(want) {
		t.Errorf("record time = %v, want %v", rec.Time, want)
	}
	if want := EntityID(testBootID, 200, sensor.NSToTicks(childStart)); c.EntityID != want {
		t.Errorf("child entity id = %q, want %q", c.EntityID, want)
	}
	if c.PID != 200 || c.PPID != 100 || c.StartTicks != 723 || c.Parent != p {
		t.Errorf("child = pid %d ppid %d ticks %d parent %p", c.PID, c.PPID, c.StartTicks, c.Parent)
	}
	if c.Executable != "/usr/bin/bash" || !slices.Equal(c.Args, []string{"bash", "-l"}) || c.Argc != 2 || c.Cwd != "/home/u" || c.Name != "bash" {
		t.Errorf("child did not inherit the parent's program: %+v", c)
	}
	if c.Source != SourceKernel || c.Exited || c.UID != 1000 || c.EUID != 1000 {
		t.Errorf("child source %v exited %v uid %d", c.Source, c.Exited, c.UID)
	}
	if want := time.Unix(0, bootWall+int64(childStart)); !c.Start.Equal(want) {
		t.Errorf("child start = %v, want %v", c.Start, want)
	}
	if tab.Get(c.EntityID) != c || tab.ByPID(200) != c || tab.Len() != 2 {
		t.Errorf("child not indexed: Get %p ByPID %p Len %d", tab.Get(c.EntityID), tab.ByPID(200), tab.Len())
	}
	if got := tab.Ancestry(c); !slices.Equal(got, []*Process{p}) {
		t.Errorf("Ancestry(child) = %v", got)
	}
	st := tab.Stats()
	if st.Live != 2 || st.Exited != 0 || st.Inferred != 1 {
		t.Errorf("stats = %+v", st)
	}
	checkInvariants(t, tab)
}

func TestForkInfersUnknownParent(t *testing.T) {
	tab, _ := newTestTable(t, nil)
	gp := task(1, 0, sec(0.5), "init")
	tab.Handle(execEv(gp, sec(0.6), "/sbin/init", "/", "init"))
	parent := task(50, 1, sec(2), "sshd")
	rec := tab.Handle(forkEv(parent, 51, sec(3)))
	p := rec.Parent
	if p == nil || p.Source != SourceInferred || p.PID != 50 || p.Name != "sshd" {
		t.Fatalf("parent = %+v, want an inferred sshd", p)
	}
	if p.EntityID != entity(50, sec(2)) {
		t.Errorf("inferred parent entity id = %q", p.EntityID)
	}
	if p.Parent != tab.ByPID(1) {
		t.Errorf("inferred parent not linked to its live parent by PPID")
	}
	if got := tab.Ancestry(rec.Process); len(got) != 2 || got[0] != p || got[1].PID != 1 {
		t.Errorf("Ancestry = %v", got)
	}
	if st := tab.Stats(); st.Inferred != 2 {
		t.Errorf("Inferred = %d, want 2 (init and sshd)", st.Inferred)
	}
	checkInvariants(t, tab)
}

func TestExec(t *testing.T) {
	tab, _ := newTestTable(t, nil)
	sh := task(100, 1, sec(5), "sh")
	tab.Handle(execEv(sh, sec(5.1), "/bin/sh", "/tmp", "sh", "-c", "git status"))
	child := childTask(sh, 101, sec(6))
	tab.Handle(forkEv(sh, 101, sec(6)))

	child.Comm = "git"
	ev := execEv(child, sec(6.1), "/usr/bin/git", "/repo", "git", "status")
	rec := tab.Handle(ev)
	p := rec.Process
	if p == nil || p.PID != 101 || rec.Parent != tab.ByPID(100) {
		t.Fatalf("record process %+v parent %+v", p, rec.Parent)
	}
	if p.Executable != "/usr/bin/git" || !slices.Equal(p.Args, []string{"git", "status"}) || p.Argc != 2 || p.Cwd != "/repo" || p.Name != "git" || p.ArgsCut {
		t.Errorf("after exec: %+v", p)
	}
	if rec.Previous == nil {
		t.Fatal("no Previous on exec of a known process")
	}
	if rec.Previous.Executable != "/bin/sh" || !slices.Equal(rec.Previous.Args, []string{"sh", "-c", "git status"}) || rec.Previous.Argc != 3 {
		t.Errorf("Previous = %+v", rec.Previous)
	}
	if p.EntityID != entity(101, sec(6)) {
		t.Error("exec changed the entity id")
	}
	// The parent's program is untouched.
	if sp := tab.ByPID(100); sp.Executable != "/bin/sh" || sp.Argc != 3 {
		t.Errorf("parent changed: %+v", sp)
	}
	checkInvariants(t, tab)
}

func TestExecArgsCut(t *testing.T) {
	tests := []struct {
		name  string
		flags sensor.Flags
		argc  uint32
		args  []string
		want  bool
	}{
		{"complete", 0, 2, []string{"a", "b"}, false},
		{"truncated flag", sensor.FlagArgsTruncated, 2, []string{"a", "b"}, true},
		{"unreadable flag", sensor.FlagArgsUnreadable, 2, nil, true},
		{"argc above len", 0, 5, []string{"a", "b"}, true},
		{"other flags only", sensor.FlagExeTruncated | sensor.FlagCwdTruncated | sensor.FlagNewRoot, 1, []string{"a"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tab, _ := newTestTable(t, nil)
			ev := execEv(task(10, 1, sec(1), "a"), sec(2), "/bin/a", "/", tc.args...)
			ev.Flags, ev.Argc = tc.flags, tc.argc
			p := tab.Handle(ev).Process
			if p.ArgsCut != tc.want || p.Argc != int(tc.argc) {
				t.Errorf("ArgsCut = %v Argc = %d, want %v %d", p.ArgsCut, p.Argc, tc.want, tc.argc)
			}
		})
	}
}

func TestExecInferredProcess(t *testing.T) {
	tab, _ := newTestTable(t, nil)
	tab.Handle(execEv(task(1, 0, sec(0.1), "init"), sec(0.2), "/sbin/init", "/", "init"))

	tk := task(300, 1, sec(40), "python3")
	rec := tab.Handle(execEv(tk, sec(41), "/usr/bin/python3", "/srv", "python3", "app.py"))
	p := rec.Process
	if p.Source != SourceKernel {
		t.Errorf("Source = %v, want kernel after an exec", p.Source)
	}
	if rec.Previous != nil {
		t.Errorf("Previous = %+v for a process first seen in its exec", rec.Previous)
	}
	if p.Parent == nil || p.Parent.PID != 1 || rec.Parent != p.Parent {
		t.Errorf("inferred process not linked to pid 1: %+v", p.Parent)
	}
	if p.EntityID != entity(300, sec(40)) || p.Executable != "/usr/bin/python3" {
		t.Errorf("process = %+v", p)
	}
	if want := time.Unix(0, bootWall+int64(sec(40))); !p.Start.Equal(want) {
		t.Errorf("Start = %v, want %v", p.Start, want)
	}
	if st := tab.Stats(); st.Inferred != 2 {
		t.Errorf("Inferred = %d, want 2", st.Inferred)
	}
}

func TestExecDoesNotLinkToExitedParent(t *testing.T) {
	tab, _ := newTestTable(t, nil)
	pt := task(1, 0, sec(0.1), "init")
	tab.Handle(execEv(pt, sec(0.2), "/sbin/init", "/", "init"))
	tab.Handle(exitEv(pt, sec(1), 0))
	p := tab.Handle(execEv(task(300, 1, sec(40), "x"), sec(41), "/x", "/", "x")).Process
	if p.Parent != nil {
		t.Errorf("inferred process linked to an exited parent")
	}
}

func TestExit(t *testing.T) {
	tests := []struct {
		name   string
		status uint32
		code   int64
		sig    syscall.Signal
		core   bool
	}{
		{"success", 0, 0, 0, false},
		{"exit 1", 1 << 8, 1, 0, false},
		{"exit 255", 255 << 8, 255, 0, false},
		{"SIGKILL", 9, 137, syscall.SIGKILL, false},
		{"SIGTERM", 15, 143, syscall.SIGTERM, false},
		{"SIGSEGV core", 0x80 | 11, 139, syscall.SIGSEGV, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tab, _ := newTestTable(t, nil)
			tk := task(100, 1, sec(5), "prog")
			tab.Handle(execEv(tk, sec(5.5), "/bin/prog", "/", "prog"))
			rec := tab.Handle(exitEv(tk, sec(9), tc.status))
			p := rec.Process
			if p == nil || p.PID != 100 {
				t.Fatalf("record process %+v", p)
			}
			if !p.Exited || p.ExitCode != tc.code || p.Signal != tc.sig || p.CoreDump != tc.core {
				t.Errorf("exited %v code %d signal %v core %v, want code %d signal %v core %v",
					p.Exited, p.ExitCode, p.Signal, p.CoreDump, tc.code, tc.sig, tc.core)
			}
			if want := time.Unix(0, bootWall+int64(sec(9))); !p.End.Equal(want) || !rec.Time.Equal(want) {
				t.Errorf("End = %v, record time %v, want %v", p.End, rec.Time, want)
			}
			if st := tab.Stats(); st.Live != 0 || st.Exited != 1 {
				t.Errorf("stats = %+v", st)
			}
		})
	}
}

func TestLossRecordHasNoProcess(t *testing.T) {
	tab, _ := newTestTable(t, nil)
	ev := &sensor.Event{Kind: sensor.KindLoss, KTime: sec(3), Loss: sensor.Loss{Cause: sensor.CauseRingbufFull, Class: sensor.KindExec, Count: 4}}
	rec := tab.Handle(ev)
	if rec.Process != nil || rec.Parent != nil || rec.Previous != nil || rec.Event != ev {
		t.Errorf("loss record = %+v", rec)
	}
	if tab.Len() != 0 {
		t.Errorf("Len = %d after a loss record", tab.Len())
	}
}

func TestTree(t *testing.T) {
	agents := []string{"", "claude-code", "codex"}
	tab, _ := newTestTable(t, func(c *Config) {
		c.AgentName = func(i uint32) string { return agents[i] }
	})
	rootStart := sec(30) + 7_000_000
	tree := sensor.Tree{RootPID: 400, RootStart: rootStart, Agent: 2}
	wantRoot := EntityID(testBootID, 400, sensor.NSToTicks(rootStart))

	root := task(400, 1, rootStart, "codex")
	ev := execEv(root, sec(31), "/usr/local/bin/codex", "/work", "codex")
	ev.Tree, ev.Flags = tree, sensor.FlagNewRoot
	r := tab.Handle(ev).Process
	if r.Agent != "codex" || r.RootID != wantRoot || r.Tree != tree || r.RootID != r.EntityID {
		t.Errorf("root: agent %q root id %q tree %+v, want codex %q", r.Agent, r.RootID, r.Tree, wantRoot)
	}

	fev := forkEv(root, 401, sec(32))
	fev.Tree = tree
	c := tab.Handle(fev).Process
	if c.Agent != "codex" || c.RootID != wantRoot || c.Tree != tree {
		t.Errorf("child: agent %q root id %q tree %+v", c.Agent, c.RootID, c.Tree)
	}

	// A process outside any tree has none.
	o := tab.Handle(execEv(task(500, 1, sec(33), "cron"), sec(34), "/usr/sbin/cron", "/", "cron")).Process
	if o.Agent != "" || o.RootID != "" || !o.Tree.IsZero() {
		t.Errorf("untracked process: agent %q root id %q", o.Agent, o.RootID)
	}

	// A later record naming another tree moves the process to it.
	other := sensor.Tree{RootPID: 500, RootStart: sec(33), Agent: 1}
	eev := exitEv(task(500, 1, sec(33), "cron"), sec(35), 0)
	eev.Tree = other
	o = tab.Handle(eev).Process
	if o.Agent != "claude-code" || o.RootID != o.EntityID {
		t.Errorf("re-treed process: agent %q root id %q", o.Agent, o.RootID)
	}
}

func TestPIDReuse(t *testing.T) {
	tab, clk := newTestTable(t, nil)
	parent := task(100, 1, sec(1), "bash")
	tab.Handle(execEv(parent, sec(1.5), "/bin/bash", "/", "bash"))

	// First process with pid 200: its exit record is never seen.
	a := tab.Handle(forkEv(parent, 200, sec(10))).Process
	aID := a.EntityID
	clk.advance(time.Second)
	// Second process with pid 200, started later.
	b := tab.Handle(forkEv(parent, 200, sec(20))).Process

	if a == b || aID == b.EntityID {
		t.Fatalf("same pid, different start: same entry or id (%q)", aID)
	}
	if aID != entity(200, sec(10)) || b.EntityID != entity(200, sec(20)) {
		t.Errorf("entity ids %q %q", aID, b.EntityID)
	}
	if !a.Exited || b.Exited {
		t.Errorf("a.Exited = %v, b.Exited = %v; want true, false", a.Exited, b.Exited)
	}
	if tab.ByPID(200) != b || tab.Get(aID) != a || tab.Get(b.EntityID) != b || tab.Len() != 3 {
		t.Errorf("ByPID %p Get(a) %p Get(b) %p Len %d", tab.ByPID(200), tab.Get(aID), tab.Get(b.EntityID), tab.Len())
	}
	if st := tab.Stats(); st.PIDReuseClosed != 1 || st.Live != 2 || st.Exited != 1 {
		t.Errorf("stats = %+v", st)
	}
	checkInvariants(t, tab)

	// The closed entry goes after its grace period; the new one stays.
	clk.advance(10 * time.Second)
	tab.Sweep()
	if tab.Get(aID) != nil || tab.ByPID(200) != b || tab.Get(b.EntityID) != b {
		t.Errorf("after grace: Get(a) %p ByPID %p", tab.Get(aID), tab.ByPID(200))
	}
	if st := tab.Stats(); st.Evicted != 1 || st.PIDReuseClosed != 1 {
		t.Errorf("stats = %+v", st)
	}
	checkInvariants(t, tab)

	// Records for the same pid and start, at a finer ns resolution, hit
	// the same entry.
	if got := tab.Handle(exitEv(childTask(parent, 200, sec(20)+3_000_000), sec(25), 0)).Process; got != b {
		t.Errorf("exit with the same start tick found %p, want %p", got, b)
	}
}

func TestPIDReuseAfterExitIsNotCounted(t *testing.T) {
	tab, _ := newTestTable(t, nil)
	parent := task(100, 1, sec(1), "bash")
	tab.Handle(forkEv(parent, 200, sec(10)))
	tab.Handle(exitEv(childTask(parent, 200, sec(10)), sec(11), 0))
	tab.Handle(forkEv(parent, 200, sec(20)))
	if st := tab.Stats(); st.PIDReuseClosed != 0 {
		t.Errorf("PIDReuseClosed = %d for a pid reused after its exit", st.PIDReuseClosed)
	}
}

// At start-up the table is seeded from /proc while the ring buffer may
// still hold records from before the snapshot. A late record for an older
// process with the same PID must not close the newer, live one.
func TestPIDReuseLateRecordForOlderProcess(t *testing.T) {
	tab, clk := newTestTable(t, nil)
	newer := task(200, 1, sec(50), "daemon")
	tab.Seed([]sensor.Snapshot{{Task: newer, Executable: "/usr/bin/daemon", Args: []string{"daemon"}, Cwd: "/"}}, sensor.Tree{})
	b := tab.ByPID(200)

	older := task(200, 1, sec(10), "oldjob")
	tab.Handle(exitEv(older, sec(40), 0))

	if b.Exited {
		t.Error("the live, newer process was marked exited by a record of an older one")
	}
	if tab.ByPID(200) != b {
		t.Error("ByPID(200) no longer returns the newest process")
	}
	if st := tab.Stats(); st.PIDReuseClosed != 0 {
		t.Errorf("PIDReuseClosed = %d, want 0", st.PIDReuseClosed)
	}
	clk.advance(time.Minute)
	tab.Sweep()
	if tab.Get(b.EntityID) != b {
		t.Error("the live process was evicted")
	}
}

func TestEviction(t *testing.T) {
	const grace = 10 * time.Second
	tab, clk := newTestTable(t, func(c *Config) { c.ExitGrace = grace })
	init := task(1, 0, sec(0.1), "init")
	tab.Handle(execEv(init, sec(0.2), "/sbin/init", "/", "init"))

	// A leaf that exits goes exactly ExitGrace later.
	tab.Handle(forkEv(init, 50, sec(1)))
	leaf := tab.ByPID(50)
	tab.Handle(exitEv(childTask(init, 50, sec(1)), sec(2), 0))
	clk.advance(grace - time.Nanosecond)
	tab.Sweep()
	if tab.Get(leaf.EntityID) != leaf {
		t.Fatal("leaf evicted before its grace period ended")
	}
	clk.advance(time.Nanosecond)
	tab.Sweep()
	if tab.Get(leaf.EntityID) != nil || tab.ByPID(50) != nil {
		t.Fatal("leaf still in the table after its grace period")
	}
	if st := tab.Stats(); st.Evicted != 1 || st.EvictedEarly != 0 || st.Live != 1 || st.Exited != 0 {
		t.Errorf("stats after leaf = %+v", st)
	}
	checkInvariants(t, tab)

	// A parent that exits before its child stays while the child lives.
	pt := childTask(init, 100, sec(3))
	tab.Handle(forkEv(init, 100, sec(3)))
	ct := childTask(pt, 101, sec(4))
	tab.Handle(forkEv(pt, 101, sec(4)))
	parent, child := tab.ByPID(100), tab.ByPID(101)
	tab.Handle(exitEv(pt, sec(5), 0))
	clk.advance(time.Hour)
	tab.Sweep()
	if tab.Get(parent.EntityID) != parent || tab.ByPID(100) != parent {
		t.Fatal("exited parent evicted while its child lives")
	}
	if st := tab.Stats(); st.Live != 2 || st.Exited != 1 {
		t.Errorf("stats with exited parent = %+v", st)
	}
	checkInvariants(t, tab)

	// The child exits: it goes after its grace, then the parent after its own.
	tab.Handle(exitEv(ct, sec(6), 1<<8))
	clk.advance(grace - time.Second)
	tab.Sweep()
	if tab.Get(child.EntityID) != child || tab.Get(parent.EntityID) != parent {
		t.Fatal("child or parent evicted early")
	}
	clk.advance(time.Second)
	tab.Sweep()
	if tab.Get(child.EntityID) != nil || tab.ByPID(101) != nil {
		t.Fatal("child not evicted after its grace")
	}
	if tab.Get(parent.EntityID) != parent {
		t.Fatal("parent evicted together with its child: it should get its own grace period")
	}
	checkInvariants(t, tab)
	clk.advance(grace - time.Second)
	tab.Sweep()
	if tab.Get(parent.EntityID) != parent {
		t.Fatal("parent evicted before its own grace period ended")
	}
	clk.advance(time.Second)
	// Handle sweeps too.
	tab.Handle(&sensor.Event{Kind: sensor.KindLoss})
	if tab.Get(parent.EntityID) != nil || tab.ByPID(100) != nil {
		t.Fatal("parent not evicted after its grace")
	}
	if st := tab.Stats(); st.Evicted != 3 || st.EvictedEarly != 0 || st.Live != 1 || st.Exited != 0 || tab.Len() != 1 {
		t.Errorf("final stats = %+v, Len %d", st, tab.Len())
	}
	if tab.ByPID(1) == nil || tab.ByPID(1).children != 0 {
		t.Error("init lost or still counts children")
	}
	checkInvariants(t, tab)
}

func TestEvictionQueueCompacts(t *testing.T) {
	// Many exits swept in pieces exercise the queue's compaction.
	tab, clk := newTestTable(t, func(c *Config) { c.ExitGrace = time.Second })
	parent := task(1, 0, sec(0.1), "init")
	const n = 5000
	for i := range n {
		pid := uint32(1000 + i)
		start := sec(1) + uint64(i)*10_000_000
		tab.Handle(forkEv(parent, pid, start))
		tab.Handle(exitEv(childTask(parent, pid, start), start+1, 0))
		clk.advance(time.Millisecond)
	}
	for tab.Len() > 1 {
		clk.advance(100 * time.Millisecond)
		tab.Sweep()
		checkInvariants(t, tab)
		if clk.now.After(time.Unix(1_700_001_000, 0).Add(time.Hour)) {
			t.Fatalf("table never drained: Len %d", tab.Len())
		}
	}
	if st := tab.Stats(); st.Evicted != n || st.Live != 1 {
		t.Errorf("stats = %+v", st)
	}
	if len(tab.queue)-tab.qhead != 0 {
		t.Errorf("queue holds %d entries after draining", len(tab.queue)-tab.qhead)
	}
}

func TestCap(t *testing.T) {
	const limit = 4
	tab, _ := newTestTable(t, func(c *Config) {
		c.MaxProcesses = limit
		c.ExitGrace = time.Hour
	})
	init := task(1, 0, sec(0.1), "init")
	tab.Handle(execEv(init, sec(0.2), "/sbin/init", "/", "init"))
	root := tab.ByPID(1)

	// A burst of short-lived children: only exited ones exceed the cap.
	for i := range 20 {
		pid := uint32(100 + i)
		start := sec(1) + uint64(i)*sec(0.1)
		c := tab.Handle(forkEv(init, pid, start)).Process
		if tab.Get(c.EntityID) != c {
			t.Fatalf("live child %d evicted", pid)
		}
		if tab.Len() > limit {
			t.Fatalf("after fork %d: Len %d > cap %d", i, tab.Len(), limit)
		}
		tab.Handle(exitEv(childTask(init, pid, start), start+1, 0))
		if tab.Len() > limit {
			t.Fatalf("after exit %d: Len %d > cap %d", i, tab.Len(), limit)
		}
		checkInvariants(t, tab)
	}
	st := tab.Stats()
	if st.EvictedEarly == 0 || st.Evicted != 0 {
		t.Errorf("stats = %+v, want early evictions only", st)
	}
	if tab.Get(root.EntityID) != root {
		t.Fatal("live root evicted")
	}
	// The oldest exited go first: the newest exit is still there.
	if tab.ByPID(119) == nil || tab.ByPID(100) != nil {
		t.Errorf("ByPID(119) = %p, ByPID(100) = %p: want newest kept, oldest evicted", tab.ByPID(119), tab.ByPID(100))
	}
	if got, want := st.EvictedEarly, uint64(20+1-limit); got != want {
		t.Errorf("EvictedEarly = %d, want %d", got, want)
	}

	// Live processes are never evicted, even far over the cap.
	var live []*Process
	for i := range 10 {
		live = append(live, tab.Handle(forkEv(init, uint32(500+i), sec(10)+uint64(i)*sec(0.1))).Process)
	}
	for _, p := range live {
		if tab.Get(p.EntityID) != p {
			t.Errorf("live pid %d evicted", p.PID)
		}
	}
	if st := tab.Stats(); st.Live != 11 || st.Exited != 0 || tab.Len() != 11 {
		t.Errorf("over the cap with live processes: stats %+v Len %d", st, tab.Len())
	}
	checkInvariants(t, tab)
}

func TestCapKeepsExitedParentOfLiveChild(t *testing.T) {
	tab, _ := newTestTable(t, func(c *Config) {
		c.MaxProcesses = 2
		c.ExitGrace = time.Hour
	})
	pt := task(10, 1, sec(1), "p")
	tab.Handle(forkEv(pt, 11, sec(2)))
	parent := tab.ByPID(10)
	tab.Handle(exitEv(pt, sec(3), 0))
	// Burst of exited orphans.
	for i := range 5 {
		tk := task(uint32(20+i), 1, sec(4)+uint64(i)*sec(0.1), "x")
		tab.Handle(exitEv(tk, sec(5), 0))
	}
	if tab.Get(parent.EntityID) != parent {
		t.Error("exited parent with a live child evicted to honour the cap")
	}
	checkInvariants(t, tab)
}

func TestReconcile(t *testing.T) {
	tab, clk := newTestTable(t, nil)
	init := task(1, 0, sec(0.1), "init")
	tab.Handle(execEv(init, sec(0.2), "/sbin/init", "/", "init"))
	tab.Handle(forkEv(init, 10, sec(1))) // alive
	tab.Handle(forkEv(init, 11, sec(2))) // gone, leaf
	pt := childTask(init, 12, sec(3))
	tab.Handle(forkEv(init, 12, sec(3))) // gone, has a live child
	tab.Handle(forkEv(pt, 13, sec(4)))   // alive
	tab.Handle(forkEv(init, 14, sec(5)))
	tab.Handle(exitEv(childTask(init, 14, sec(5)), sec(6), 0)) // already exited

	starts := map[uint32]uint64{1: sec(0.1), 10: sec(1), 11: sec(2), 12: sec(3), 13: sec(4)}
	gone := map[uint32]bool{11: true, 12: true}
	asked := map[uint32]int{}
	n := tab.Reconcile(func(pid uint32, ticks uint64) bool {
		asked[pid]++
		if want := sensor.NSToTicks(starts[pid]); ticks != want {
			t.Errorf("alive(%d, %d): want ticks %d", pid, ticks, want)
		}
		return !gone[pid]
	})
	if n != 2 {
		t.Errorf("Reconcile closed %d, want 2", n)
	}
	if asked[14] != 0 {
		t.Error("alive asked about a process already exited")
	}
	for pid, want := range map[uint32]bool{1: false, 10: false, 11: true, 12: true, 13: false, 14: true} {
		if p := tab.ByPID(pid); p == nil || p.Exited != want {
			t.Errorf("pid %d: %+v, want exited %v", pid, p, want)
		}
	}
	clk.advance(10 * time.Second)
	tab.Sweep()
	for pid, want := range map[uint32]bool{1: true, 10: true, 11: false, 12: true, 13: true, 14: false} {
		if present := tab.ByPID(pid) != nil; present != want {
			t.Errorf("after grace: pid %d present %v, want %v", pid, present, want)
		}
	}
	if st := tab.Stats(); st.Evicted != 2 || st.Live != 3 || st.Exited != 1 {
		t.Errorf("stats = %+v", st)
	}
	if n := tab.Reconcile(func(uint32, uint64) bool { return true }); n != 0 {
		t.Errorf("second Reconcile closed %d", n)
	}
	checkInvariants(t, tab)
}

// Reconcile runs on the sensor goroutine between batches, so a process
// can be found gone while its last fork record is still in the ring
// buffer. Once the child is linked, the parent must stay while the child
// lives.
func TestReconcileThenPendingForkKeepsParent(t *testing.T) {
	tab, clk := newTestTable(t, nil)
	pt := task(100, 1, sec(1), "make")
	tab.Handle(execEv(pt, sec(1.1), "/usr/bin/make", "/src", "make"))
	parent := tab.ByPID(100)
	tab.Reconcile(func(pid uint32, _ uint64) bool { return pid != 100 })
	tab.Handle(forkEv(pt, 101, sec(2))) // the pending record
	clk.advance(time.Minute)
	tab.Sweep()
	if tab.Get(parent.EntityID) != parent {
		t.Error("parent evicted while its child is live")
	}
	checkInvariants(t, tab)
}

func TestSeed(t *testing.T) {
	tab, _ := newTestTable(t, nil)
	snap := func(pid, ppid uint32, ticks uint64, comm, exe string, args ...string) sensor.Snapshot {
		tk := task(pid, ppid, sensor.TicksToNS(ticks), comm)
		return sensor.Snapshot{Task: tk, Executable: exe, Args: args, Cwd: "/home/u"}
	}
	snaps := []sensor.Snapshot{
		snap(1, 0, 5, "systemd", "/usr/lib/systemd/systemd", "/sbin/init"),
		snap(500, 1, 900, "sshd", "/usr/sbin/sshd", "sshd", "-D"),
		snap(600, 500, 1200, "bash", "/usr/bin/bash", "-bash"),
		snap(700, 600, 1500, "vim", "/usr/bin/vim", "vim", "notes.txt"),
	}
	tab.Seed(snaps, sensor.Tree{})
	if tab.Len() != 4 {
		t.Fatalf("Len = %d", tab.Len())
	}
	vim := tab.ByPID(700)
	if vim == nil || vim.Source != SourceProc || vim.Executable != "/usr/bin/vim" || vim.Argc != 2 || vim.Name != "vim" || vim.Cwd != "/home/u" || vim.UID != 1000 {
		t.Fatalf("vim = %+v", vim)
	}
	if vim.EntityID != EntityID(testBootID, 700, 1500) || vim.StartTicks != 1500 {
		t.Errorf("vim entity %q ticks %d", vim.EntityID, vim.StartTicks)
	}
	if want := time.Unix(0, bootWall+int64(sensor.TicksToNS(1500))); !vim.Start.Equal(want) {
		t.Errorf("vim start = %v, want %v", vim.Start, want)
	}
	var pids []uint32
	for _, a := range tab.Ancestry(vim) {
		pids = append(pids, a.PID)
	}
	if !slices.Equal(pids, []uint32{600, 500, 1}) {
		t.Errorf("Ancestry(vim) = %v, want [600 500 1]", pids)
	}
	if len(tab.Ancestry(tab.ByPID(1))) != 0 {
		t.Error("init has ancestors")
	}
	if st := tab.Stats(); st.Live != 4 || st.Inferred != 0 {
		t.Errorf("stats = %+v", st)
	}
	checkInvariants(t, tab)

	// Kernel records for a seeded process (ns start time, finer than
	// /proc's ticks) find the same entry.
	ev := exitEv(task(700, 600, sensor.TicksToNS(1500)+4_999_999, "vim"), sec(20), 0)
	if got := tab.Handle(ev).Process; got != vim {
		t.Errorf("exit record found %+v, want the seeded vim", got)
	}
	if st := tab.Stats(); st.Inferred != 0 || tab.Len() != 4 {
		t.Errorf("stats = %+v Len %d", st, tab.Len())
	}
}

func TestSeedChildBeforeParentIsUnlinked(t *testing.T) {
	tab, _ := newTestTable(t, nil)
	tab.Seed([]sensor.Snapshot{
		{Task: task(20, 10, sensor.TicksToNS(200), "child")},
		{Task: task(10, 1, sensor.TicksToNS(100), "parent")},
	}, sensor.Tree{})
	if p := tab.ByPID(20).Parent; p != nil {
		t.Errorf("child seeded before its parent got parent %+v", p)
	}
	checkInvariants(t, tab)
}

func TestSeedWithTree(t *testing.T) {
	tab, _ := newTestTable(t, func(c *Config) {
		c.AgentName = func(i uint32) string {
			if i == 7 {
				return "aider"
			}
			return ""
		}
	})
	rootNS := sensor.TicksToNS(3000)
	tree := sensor.Tree{RootPID: 800, RootStart: rootNS, Agent: 7}
	tab.Seed([]sensor.Snapshot{{Task: task(1, 0, sensor.TicksToNS(1), "init")}}, sensor.Tree{})
	tab.Seed([]sensor.Snapshot{
		{Task: task(800, 1, rootNS, "aider"), Executable: "/usr/bin/python3", Args: []string{"python3", "/usr/bin/aider"}},
		{Task: task(801, 800, sensor.TicksToNS(3100), "git"), Executable: "/usr/bin/git"},
	}, tree)
	want := EntityID(testBootID, 800, 3000)
	for _, pid := range []uint32{800, 801} {
		p := tab.ByPID(pid)
		if p.Agent != "aider" || p.RootID != want || p.Tree != tree {
			t.Errorf("pid %d: agent %q root %q", pid, p.Agent, p.RootID)
		}
	}
	if tab.ByPID(1).Agent != "" {
		t.Error("ancestor seeded without a tree got an agent")
	}
	if got := tab.Ancestry(tab.ByPID(801)); len(got) != 2 || got[0].PID != 800 || got[1].PID != 1 {
		t.Errorf("Ancestry = %v", got)
	}
}

func BenchmarkHandleForkExecExit(b *testing.B) {
	tab, clk := newTestTable(b, func(c *Config) { c.ExitGrace = time.Second })
	parent := task(1, 0, sec(0.1), "init")
	tab.Handle(execEv(parent, sec(0.2), "/sbin/init", "/", "init"))
	args := []string{"git", "status", "--short"}
	fork := forkEv(parent, 0, 0)
	exec := &sensor.Event{Kind: sensor.KindExec, Executable: "/usr/bin/git", Args: args, Argc: 3, Cwd: "/repo"}
	exit := &sensor.Event{Kind: sensor.KindExit, Status: 1 << 8}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		pid := uint32(1000 + i%30000)
		start := sec(1) + uint64(i)*10_000_000
		fork.ChildPID, fork.ChildStart, fork.KTime = pid, start, start
		exec.Task = childTask(parent, pid, start)
		exec.KTime = start + 1000
		exit.Task, exit.KTime = exec.Task, start+2000
		tab.Handle(fork)
		tab.Handle(exec)
		tab.Handle(exit)
		clk.advance(time.Millisecond)
		i++
	}
	b.ReportMetric(float64(3*i)/b.Elapsed().Seconds(), "events/s")
}

// A platform's own command line (Windows) is kept while redaction leaves
// the arguments alone, and dropped (Args joined stands for it) when a
// secret was taken out of them; a child inherits it with the program.
func TestCommandLineRedaction(t *testing.T) {
	tab, _ := newTestTable(t, func(c *Config) { c.Redactor = redact.Default() })
	tk := task(100, 1, sec(1), "cmd.exe")
	tk.SID = "S-1-5-21-1-2-3-1001"
	ev := execEv(tk, sec(2), `C:\Windows\System32\cmd.exe`, `C:\`, "cmd.exe", "/c", "dir")
	ev.CommandLine = `cmd.exe /c  "dir"`
	r := tab.Handle(ev)
	if r == nil || r.Process.CommandLine != `cmd.exe /c  "dir"` || r.Process.SID != tk.SID {
		t.Fatalf("exec: %+v", r)
	}
	if r := tab.Handle(forkEv(tk, 101, sec(3))); r == nil || r.Process.CommandLine != `cmd.exe /c  "dir"` {
		t.Fatalf("fork: child's command line %+v", r)
	}
	ev = execEv(tk, sec(4), `C:\tools\curl.exe`, `C:\`, "curl.exe", "--password", "hunter2", "https://example.com")
	ev.CommandLine = `curl.exe --password hunter2 https://example.com`
	r = tab.Handle(ev)
	if r == nil || r.Process.CommandLine != "" || slices.Contains(r.Process.Args, "hunter2") {
		t.Fatalf("redacted exec kept the secret: %+v", r.Process)
	}
}
