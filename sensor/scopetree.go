package sensor

import "sync"

// TreeScope decides which processes belong to an agent tree for event
// sources that see every process on the host and scope in user space:
// the adapters for Windows (sensor/etw) and macOS (sensor/esf). It does
// what the kernel's tracked map does on Linux: a process whose program
// matches an agent starts a tree, and every process started by a process
// in a tree joins it, for life (re-parenting does not move it).
//
// A TreeScope is safe for concurrent use.
type TreeScope struct {
	match func(executable string, args []string) (agent uint32, ok bool)
	all   bool
	max   int

	mu      sync.Mutex
	tracked map[uint32]Tree
	dropped uint64 // processes left out because the scope was full
}

// NewTreeScope returns a scope. match names the agent a program (its
// executable's path and its arguments) starts a tree for (nil: none); with all, every process is in scope
// (trace-all: the zero Tree unless in an agent's tree); max bounds the
// processes tracked at once (0: 65536).
func NewTreeScope(match func(executable string, args []string) (uint32, bool), all bool, max int) *TreeScope {
	if max <= 0 {
		max = 65536
	}
	if match == nil {
		match = func(string, []string) (uint32, bool) { return 0, false }
	}
	return &TreeScope{match: match, all: all, max: max, tracked: make(map[uint32]Tree)}
}

// Track puts pid in tree (an agent found already running, or one that
// registered itself).
func (s *TreeScope) Track(pid uint32, tree Tree) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.put(pid, tree)
}

func (s *TreeScope) put(pid uint32, tree Tree) bool {
	if _, ok := s.tracked[pid]; !ok && len(s.tracked) >= s.max {
		s.dropped++
		return false
	}
	s.tracked[pid] = tree
	return true
}

// Fork records that parent started child and reports the child's tree
// and whether its records are wanted.
func (s *TreeScope) Fork(parent, child uint32) (Tree, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tree, ok := s.tracked[parent]
	if ok {
		ok = s.put(child, tree)
	}
	return tree, ok || s.all
}

// Exec records that pid (started at start) now runs executable with args
// and reports its tree, whether its records are wanted, and whether this exec
// started a tree (FlagNewRoot). A process already in a tree stays in it.
func (s *TreeScope) Exec(pid uint32, start uint64, executable string, args []string) (tree Tree, wanted, newRoot bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if tree, ok := s.tracked[pid]; ok {
		return tree, true, false
	}
	if agent, ok := s.match(executable, args); ok {
		tree = Tree{RootStart: start, RootPID: pid, Agent: agent}
		if s.put(pid, tree) {
			return tree, true, true
		}
		return Tree{}, s.all, false
	}
	return Tree{}, s.all, false
}

// Of reports pid's tree and whether its records are wanted.
func (s *TreeScope) Of(pid uint32) (Tree, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tree, ok := s.tracked[pid]
	return tree, ok || s.all
}

// Exit forgets pid; call it after the exit's record is made.
func (s *TreeScope) Exit(pid uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tracked, pid)
}

// Len is how many processes are tracked.
func (s *TreeScope) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.tracked)
}

// Dropped returns, and resets, how many processes were left out of a
// tree since the last call because the scope was full: report them as a
// [Loss] with [CauseTrackFull].
func (s *TreeScope) Dropped() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.dropped
	s.dropped = 0
	return n
}
