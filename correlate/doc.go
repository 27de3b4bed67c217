// Package correlate keeps the process table: every process Vigil knows,
// keyed by an entity id that survives PID reuse, with parent links,
// ancestry and the agent tree each process belongs to. It turns
// [sensor.Event] values into [Record] values that carry that context.
//
// Memory is bounded: an exited process stays in the table while any of
// its children does, and for a grace period after that, so late records
// can still name it as a parent; then it is evicted. A hard cap evicts the
// oldest exited processes early when a burst of exits outruns the grace
// period.
//
// A Table is not safe for concurrent use; the sensor delivers events on
// one goroutine.
package correlate
