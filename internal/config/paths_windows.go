package config

// Default places on Windows: under %ProgramData% (C:\ProgramData on
// every installation that has not moved it), which only Administrators
// and SYSTEM may write.
const (
	DefaultPath         = `C:\ProgramData\Vigil\vigil.toml`
	DefaultIntentSocket = `C:\ProgramData\Vigil\intent.sock`
	DefaultKeyDir       = `C:\ProgramData\Vigil\keys`
	DefaultOutputDir    = `C:\ProgramData\Vigil\data`
	DefaultOutputFile   = `C:\ProgramData\Vigil\events.jsonl`
)
