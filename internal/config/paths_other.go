//go:build !windows

package config

// Default places (see paths_windows.go for Windows).

// DefaultPath is where the daemon's configuration is installed
// (deploy/vigil.service); vigil hook and vigil emit read the intent
// socket's path from it.
const DefaultPath = "/etc/vigil/vigil.toml"

// DefaultIntentSocket is the intent socket unless configured otherwise
// (intent.DefaultSocket).
const DefaultIntentSocket = "/run/vigil/intent.sock"

// DefaultKeyDir is where the daemon looks for its keys by default.
const DefaultKeyDir = "/var/lib/vigil/keys"

// DefaultOutputDir is the daemon's segment store when none is configured.
const DefaultOutputDir = "/var/lib/vigil/data"

// DefaultOutputFile is kept for configurations that name a single file.
const DefaultOutputFile = "/var/log/vigil/events.jsonl"
