package intent

import (
	"errors"
	"log/slog"
	"os"
	"time"
)

// Peer is who sent a message, from the socket (SO_PEERCRED), not from
// the message.
type Peer struct {
	PID      int
	UID, GID uint32
}

// Received is one message as the server read it.
type Received struct {
	Intent Intent
	Format Format
	Sender Peer
	// Agent is the process the intent speaks for (Intent.PID, or the
	// sender), with its start time in clock ticks since boot, so a reused
	// PID is not mistaken for it.
	AgentPID   int
	AgentStart uint64
	// Unbound: a spooled intent whose process is gone, so who sent it
	// for whom cannot be checked; it is recorded, not correlated.
	Unbound bool
	At      time.Time // when the server received it
	// BootNS is the same instant on CLOCK_BOOTTIME, the clock of kernel
	// event timestamps, so intents and kernel events order exactly.
	BootNS uint64
	// Err is set when the message was refused: the intent holds what
	// could be read of it.
	Err error
}

// Deliver takes a received message to the correlator. An error refuses
// the message (the sender is told).
type Deliver func(*Received) error

// ErrNotYours is a claim on a process the sender may not speak for.
var ErrNotYours = errors.New("intent refused")

// ServerConfig sets up the intent socket.
type ServerConfig struct {
	Path  string      // socket path
	Group string      // group (name or number) that may connect; "" leaves the daemon's
	Mode  os.FileMode // socket mode; default 0660
	// MaxMessage bounds one framed message (default MaxMessage).
	MaxMessage int
	// KeepPromptText keeps prompt.text (it is redacted by the receiver);
	// by default only its digest is kept.
	KeepPromptText bool
	ProcRoot       string // procfs mount; default /proc
	// MaxConns bounds the connections served at once (default 1024);
	// one more is answered with an error and closed.
	MaxConns int
	// IdleTimeout closes a connection that sends nothing for this long
	// (default 10 minutes); the client reconnects.
	IdleTimeout time.Duration
	Log         *slog.Logger
}
