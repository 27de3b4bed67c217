package intent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"
)

// DefaultSocket is the daemon's intent socket unless configured
// otherwise.
const DefaultSocket = "/run/vigil/intent.sock"

// SocketEnv names the variable that tells agents and Vigil's helpers
// where to send intents (vigil trace sets it for the tree it traces).
const SocketEnv = "VIGIL_INTENT_SOCKET"

// SocketPath is where to send intents: $VIGIL_INTENT_SOCKET, else
// DefaultSocket.
func SocketPath() string {
	if p := os.Getenv(SocketEnv); p != "" {
		return p
	}
	return DefaultSocket
}

// ErrRefused is an intent the daemon refused; the error says why.
var ErrRefused = errors.New("intent refused by vigil")

// Client sends intents to Vigil over its Unix socket. It is safe for
// concurrent use; sends are answered in order.
type Client struct {
	mu     sync.Mutex
	conn   net.Conn
	r      *Reader
	format Format
	buf    []byte
}

// Dial connects to the intent socket at path (SocketPath() if empty).
// Messages go as JSON lines unless format is Msgpack.
func Dial(ctx context.Context, path string, format Format) (*Client, error) {
	if path == "" {
		path = SocketPath()
	}
	if format == 0 {
		format = JSON
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("vigil intent socket: %w", err)
	}
	return &Client{conn: c, r: NewReader(c, 0), format: format}, nil
}

// Send sends one intent (V defaults to the current version) and waits
// for the daemon's answer: an error wrapping ErrRefused says why it was
// refused.
func (c *Client) Send(ctx context.Context, in Intent) error {
	if in.V == 0 {
		in.V = Version
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var err error
	if c.buf, err = Append(c.buf[:0], in, c.format); err != nil {
		return fmt.Errorf("encode intent: %w", err)
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Time{}
	}
	if err := c.conn.SetDeadline(deadline); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { _ = c.conn.SetDeadline(time.Now()) })
	defer stop()
	if _, err := c.conn.Write(c.buf); err != nil {
		return fmt.Errorf("send intent: %w", err)
	}
	msg, f, err := c.r.Next()
	if err != nil {
		return fmt.Errorf("read vigil's answer: %w", err)
	}
	var rep Reply
	if err := decodeReply(msg, f, &rep); err != nil {
		return fmt.Errorf("read vigil's answer: %w", err)
	}
	if !rep.OK {
		return fmt.Errorf("%w: %s", ErrRefused, rep.Error)
	}
	return nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }
