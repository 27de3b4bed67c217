//go:build linux

package sensor

import "testing"

// RunTracked runs argv as the root of a tracked tree under a new sensor
// with cfg, and returns the tree's events and the sensor's Path once the
// sensor has drained and closed.
func RunTracked(t testing.TB, cfg Config, argv ...string) ([]Event, string) {
	t.Helper()
	r := startSensor(t, cfg)
	path := r.Path()
	cmd, tree := gated(t, r.Sensor, 1, argv...)
	waitTree(t, r, cmd, tree)
	if !cmd.ProcessState.Success() {
		t.Fatalf("%v: %v", argv, cmd.ProcessState)
	}
	r.stop(t)
	return inTree(r.col.snapshot(), tree), path
}
