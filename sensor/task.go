package sensor

// userHZ is the unit of process start times in /proc/PID/stat
// (sysconf(_SC_CLK_TCK)): 100 on every architecture Linux supports today.
const userHZ = 100

// TicksToNS converts /proc clock ticks to nanoseconds.
func TicksToNS(ticks uint64) uint64 { return ticks * (1e9 / userHZ) }

// NSToTicks converts nanoseconds since boot to /proc clock ticks, the way
// the kernel does for /proc/PID/stat. Entity ids are derived from ticks so
// that a process seen first in /proc and later in a kernel record gets the
// same id.
func NSToTicks(ns uint64) uint64 { return ns / (1e9 / userHZ) }

// Snapshot is a process as /proc showed it when the sensor started.
type Snapshot struct {
	Task       Task // StartTime has /proc's 10 ms resolution; TID = PID
	Executable string
	Args       []string
	Cwd        string
	Kernel     bool // a kernel thread: no executable, arguments or cwd
	// Correlation ids from /proc/PID/environ, as an exec record carries
	// them (see Event.CorrelationID). Read by TrackTree for the processes
	// it tracks; ReadProc leaves them empty.
	CorrelationID string
	TraceID       string
	SpanID        string
}
