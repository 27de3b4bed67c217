package config

import "testing"

// The shipped example configuration must always load.
func TestShippedExample(t *testing.T) {
	c, err := Load("../../deploy/vigil.toml")
	if err != nil {
		t.Fatal(err)
	}
	if !c.DefaultAgents || len(c.Agents) != 1 || c.Output.Dir != DefaultOutputDir {
		t.Errorf("unexpected example config: %+v", c)
	}
}
