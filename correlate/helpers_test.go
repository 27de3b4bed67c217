package correlate

import (
	"testing"
	"time"

	"github.com/vigilsec/vigil/sensor"
)

const testBootID = "5f0e4b8e-3c1a-4d2b-9a7e-1b2c3d4e5f60"

// fakeClock is a Clock the test moves by hand.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time          { return c.now }
func (c *fakeClock) advance(d time.Duration) { c.now = c.now.Add(d) }

// fakeTimes maps ns since boot to wall time as if the host booted at
// time.Unix(0, offset).
type fakeTimes struct{ offset int64 }

func (f fakeTimes) Time(bootNS uint64) time.Time { return time.Unix(0, int64(bootNS)+f.offset) }

const bootWall = int64(1_700_000_000) * int64(time.Second)

// sec is n seconds since boot, in ns.
func sec(n float64) uint64 { return uint64(n * float64(time.Second)) }

func newTestTable(t testing.TB, mod func(*Config)) (*Table, *fakeClock) {
	t.Helper()
	clk := &fakeClock{now: time.Unix(1_700_001_000, 0)}
	cfg := Config{
		BootID:    testBootID,
		Times:     fakeTimes{offset: bootWall},
		Clock:     clk,
		ExitGrace: 10 * time.Second,
	}
	if mod != nil {
		mod(&cfg)
	}
	tab, err := NewTable(cfg)
	if err != nil {
		t.Fatalf("NewTable: %v", err)
	}
	return tab, clk
}

func task(pid, ppid uint32, start uint64, comm string) sensor.Task {
	return sensor.Task{PID: pid, TID: pid, PPID: ppid, StartTime: start, Comm: comm, UID: 1000, GID: 1000, EUID: 1000, EGID: 1000}
}

func forkEv(parent sensor.Task, childPID uint32, childStart uint64) *sensor.Event {
	return &sensor.Event{Kind: sensor.KindFork, KTime: childStart, Task: parent, ChildPID: childPID, ChildStart: childStart}
}

func execEv(tk sensor.Task, at uint64, exe, cwd string, args ...string) *sensor.Event {
	return &sensor.Event{Kind: sensor.KindExec, KTime: at, Task: tk, Executable: exe, Args: args, Argc: uint32(len(args)), Cwd: cwd}
}

func exitEv(tk sensor.Task, at uint64, status uint32) *sensor.Event {
	return &sensor.Event{Kind: sensor.KindExit, KTime: at, Task: tk, Status: status}
}

// childTask is the Task a forked child's own records carry.
func childTask(parent sensor.Task, pid uint32, start uint64) sensor.Task {
	c := parent
	c.PID, c.TID, c.PPID, c.StartTime = pid, pid, parent.PID, start
	return c
}

func entity(pid uint32, startNS uint64) string {
	return EntityID(testBootID, pid, sensor.NSToTicks(startNS))
}

// checkInvariants verifies the table's indexes agree with each other and
// that child counts match the parent links of the entries in the table.
func checkInvariants(t testing.TB, tab *Table) {
	t.Helper()
	if len(tab.byEntity) != len(tab.byKey) {
		t.Errorf("byEntity has %d entries, byKey %d", len(tab.byEntity), len(tab.byKey))
	}
	kids := map[*Process]int{}
	for k, p := range tab.byKey {
		if p.PID != k.pid || p.StartTicks != k.ticks {
			t.Errorf("byKey[%v] holds pid %d ticks %d", k, p.PID, p.StartTicks)
		}
		if tab.byEntity[p.EntityID] != p {
			t.Errorf("pid %d: not indexed by entity id", p.PID)
		}
		if p.evicted {
			t.Errorf("pid %d: evicted but still in the table", p.PID)
		}
		if p.Parent != nil {
			kids[p.Parent]++
		}
	}
	for _, p := range tab.byKey {
		if p.children != kids[p] {
			t.Errorf("pid %d: children = %d, table holds %d", p.PID, p.children, kids[p])
		}
	}
	for pid, p := range tab.byPID {
		if tab.byKey[key{p.PID, p.StartTicks}] != p || p.PID != pid {
			t.Errorf("byPID[%d] is not in byKey", pid)
		}
	}
}
