package sensor

import (
	"path"
	"testing"
)

func TestTreeScope(t *testing.T) {
	s := NewTreeScope(func(exe string, args []string) (uint32, bool) {
		return 3, path.Base(exe) == "agent" || len(args) > 1 && args[1] == "agent.js"
	}, false, 3)
	if _, ok := s.Fork(1, 10); ok {
		t.Fatal("child of an untracked process is in scope")
	}
	if _, wanted, _ := s.Exec(10, 100, "/bin/sh", []string{"sh"}); wanted {
		t.Fatal("untracked exec is in scope")
	}
	tree, wanted, root := s.Exec(10, 100, "/usr/bin/node", []string{"node", "agent.js"})
	if want := (Tree{RootStart: 100, RootPID: 10, Agent: 3}); !wanted || !root || tree != want {
		t.Fatalf("agent exec: %+v %v %v", tree, wanted, root)
	}
	if got, ok := s.Fork(10, 11); !ok || got != tree {
		t.Fatalf("agent's child: %+v %v", got, ok)
	}
	// A descendant running the agent again stays in the first tree.
	if got, wanted, root := s.Exec(11, 200, "/opt/agent", nil); !wanted || root || got != tree {
		t.Fatalf("nested agent: %+v %v %v", got, wanted, root)
	}
	if _, ok := s.Fork(11, 12); !ok {
		t.Fatal("grandchild not in scope")
	}
	// Full: a fourth process is left out and counted.
	if _, ok := s.Fork(12, 13); ok {
		t.Fatal("scope over its bound")
	}
	if n := s.Dropped(); n != 1 {
		t.Fatalf("dropped %d, want 1", n)
	}
	if n := s.Dropped(); n != 0 {
		t.Fatalf("dropped not reset: %d", n)
	}
	s.Exit(12)
	if _, ok := s.Of(12); ok {
		t.Fatal("exited process still in scope")
	}
	if s.Len() != 2 {
		t.Fatalf("len %d, want 2", s.Len())
	}
	all := NewTreeScope(nil, true, 0)
	if tree, ok := all.Fork(1, 2); !ok || !tree.IsZero() {
		t.Fatalf("trace-all: %+v %v", tree, ok)
	}
}

func TestExitCodes(t *testing.T) {
	for _, tc := range []struct {
		ev   Event
		code int64
		sig  int
		core bool
	}{
		{Event{Status: 3 << 8}, 3, 0, false},
		{Event{Status: 9}, 137, 9, false},
		{Event{Status: 11 | 0x80}, 139, 11, true},
		{Event{Flags: FlagNativeExit, NativeExit: 0xC0000005, Status: 9}, 0xC0000005, 0, false},
	} {
		if got := tc.ev.ExitCode(); got != tc.code {
			t.Errorf("%+v: exit code %d, want %d", tc.ev, got, tc.code)
		}
		if got := int(tc.ev.Signal()); got != tc.sig {
			t.Errorf("%+v: signal %d, want %d", tc.ev, got, tc.sig)
		}
		if got := tc.ev.CoreDumped(); got != tc.core {
			t.Errorf("%+v: core %v, want %v", tc.ev, got, tc.core)
		}
	}
}
