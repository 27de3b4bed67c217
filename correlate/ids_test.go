package correlate

import (
	"testing"

	"github.com/vigilsec/vigil/sensor"
)

const (
	tpTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	tpSpan  = "00f067aa0ba902b7"
)

type ids struct{ corr, trace, span string }

func idsOf(p *Process) ids { return ids{p.CorrelationID, p.TraceID, p.SpanID} }

func withIDs(ev *sensor.Event, corr, trace, span string) *sensor.Event {
	ev.CorrelationID, ev.TraceID, ev.SpanID = corr, trace, span
	return ev
}

// Correlation ids are set at exec, inherited at fork, kept across an
// exec without them, and replaced by an exec with others; each key on
// its own.
func TestCorrelationIDs(t *testing.T) {
	tab, _ := newTestTable(t, nil)
	root := task(100, 1, sec(1), "agent")
	tab.Handle(execEv(root, sec(1.1), "/usr/bin/agent", "/", "agent"))
	if got := idsOf(tab.ByPID(100)); got != (ids{}) {
		t.Fatalf("exec without ids: %+v", got)
	}

	// The agent forks a tool and the tool execs with a correlation id.
	tab.Handle(forkEv(root, 101, sec(2)))
	tool := childTask(root, 101, sec(2))
	p := tab.Handle(withIDs(execEv(tool, sec(2.1), "/bin/sh", "/", "sh"), "abc-123", "", "")).Process
	if got, want := idsOf(p), (ids{corr: "abc-123"}); got != want {
		t.Fatalf("exec with a correlation id: %+v, want %+v", got, want)
	}
	if got := idsOf(tab.ByPID(100)); got != (ids{}) {
		t.Errorf("the parent gained ids: %+v", got)
	}

	// Children inherit; an exec with a cleared environment keeps them.
	c := tab.Handle(forkEv(tool, 102, sec(3))).Process
	if got, want := idsOf(c), (ids{corr: "abc-123"}); got != want {
		t.Errorf("forked child: %+v, want %+v", got, want)
	}
	cleared := childTask(tool, 102, sec(3))
	c = tab.Handle(execEv(cleared, sec(3.1), "/bin/true", "/", "true")).Process
	if got, want := idsOf(c), (ids{corr: "abc-123"}); got != want {
		t.Errorf("exec with a cleared environment: %+v, want %+v", got, want)
	}

	// A trace context joins, keeping the correlation id.
	c = tab.Handle(withIDs(execEv(cleared, sec(3.2), "/bin/true", "/", "true"), "", tpTrace, tpSpan)).Process
	if got, want := idsOf(c), (ids{"abc-123", tpTrace, tpSpan}); got != want {
		t.Errorf("exec with a traceparent: %+v, want %+v", got, want)
	}

	// A later exec with other values replaces them.
	c = tab.Handle(withIDs(execEv(cleared, sec(3.3), "/bin/true", "/", "true"), "other-1", "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331")).Process
	if got, want := idsOf(c), (ids{"other-1", "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"}); got != want {
		t.Errorf("exec with new ids: %+v, want %+v", got, want)
	}
	// ...and only for that process and its later children.
	if got, want := idsOf(tab.ByPID(101)), (ids{corr: "abc-123"}); got != want {
		t.Errorf("parent after the child's exec: %+v, want %+v", got, want)
	}
	g := tab.Handle(forkEv(cleared, 103, sec(4))).Process
	if got, want := idsOf(g), idsOf(c); got != want {
		t.Errorf("grandchild: %+v, want %+v", got, want)
	}
	checkInvariants(t, tab)
}

// A process whose fork record was lost inherits from the live parent it
// is linked to, as the fork would have given it.
func TestCorrelationIDsInferredChild(t *testing.T) {
	tab, _ := newTestTable(t, nil)
	root := task(100, 1, sec(1), "sh")
	tab.Handle(withIDs(execEv(root, sec(1.1), "/bin/sh", "/", "sh"), "abc-123", tpTrace, tpSpan))
	p := tab.Handle(exitEv(childTask(root, 101, sec(2)), sec(2.5), 0)).Process
	if got, want := idsOf(p), (ids{"abc-123", tpTrace, tpSpan}); got != want {
		t.Errorf("inferred child: %+v, want %+v", got, want)
	}
}

// Seeding from /proc: a tracked tree's processes take the ids their
// snapshots carry, or their parent's; processes seeded without a tree
// take none.
func TestSeedCorrelationIDs(t *testing.T) {
	tab, _ := newTestTable(t, nil)
	tree := sensor.Tree{RootPID: 800, RootStart: sensor.TicksToNS(3000), Agent: 1}
	tab.Seed([]sensor.Snapshot{{Task: task(1, 0, sensor.TicksToNS(1), "init")}}, sensor.Tree{})
	tab.Seed([]sensor.Snapshot{
		{Task: task(800, 1, sensor.TicksToNS(3000), "agent")},
		{Task: task(801, 800, sensor.TicksToNS(3100), "sh"), CorrelationID: "abc-123"},
		{Task: task(802, 801, sensor.TicksToNS(3200), "true")}, // exec'd with a cleared environment
		{Task: task(803, 801, sensor.TicksToNS(3300), "curl"), TraceID: tpTrace, SpanID: tpSpan},
		{Task: task(804, 803, sensor.TicksToNS(3400), "curl"), CorrelationID: "other"},
	}, tree)
	for pid, want := range map[uint32]ids{
		1:   {},
		800: {},
		801: {corr: "abc-123"},
		802: {corr: "abc-123"},
		803: {"abc-123", tpTrace, tpSpan},
		804: {"other", tpTrace, tpSpan},
	} {
		if got := idsOf(tab.ByPID(pid)); got != want {
			t.Errorf("pid %d: %+v, want %+v", pid, got, want)
		}
	}

	// Without a tree nothing is inherited.
	tab.Seed([]sensor.Snapshot{{Task: task(900, 801, sensor.TicksToNS(4000), "x")}}, sensor.Tree{})
	if got := idsOf(tab.ByPID(900)); got != (ids{}) {
		t.Errorf("untracked seed: %+v", got)
	}
	checkInvariants(t, tab)
}
