package intent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
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
	path   string
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
	c := &Client{path: path, format: format}
	if err := c.dial(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Client) dial(ctx context.Context) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.path)
	if err != nil {
		return fmt.Errorf("vigil intent socket: %w", err)
	}
	c.conn, c.r = conn, NewReader(conn, 0)
	return nil
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
	rep, err := c.roundTrip(ctx)
	if err != nil && ctx.Err() == nil && errors.Is(err, errConnGone) {
		// The daemon closed an idle connection, or restarted: once more
		// on a new one. (If the first went through, the intent is
		// recorded twice, which its ids make plain.)
		c.conn.Close()
		if derr := c.dial(ctx); derr != nil {
			return derr
		}
		rep, err = c.roundTrip(ctx)
	}
	if err != nil {
		return err
	}
	if !rep.OK {
		return fmt.Errorf("%w: %s", ErrRefused, rep.Error)
	}
	return nil
}

// errConnGone: the connection was closed under the client.
var errConnGone = errors.New("connection closed")

// roundTrip writes the encoded intent in c.buf and reads the answer.
func (c *Client) roundTrip(ctx context.Context) (Reply, error) {
	deadline, _ := ctx.Deadline()
	if err := c.conn.SetDeadline(deadline); err != nil {
		return Reply{}, err
	}
	stop := context.AfterFunc(ctx, func() { _ = c.conn.SetDeadline(time.Now()) })
	defer stop()
	if _, err := c.conn.Write(c.buf); err != nil {
		return Reply{}, fmt.Errorf("send intent: %w", gone(err))
	}
	msg, f, err := c.r.Next()
	if err != nil {
		return Reply{}, fmt.Errorf("read vigil's answer: %w", gone(err))
	}
	var rep Reply
	if err := decodeReply(msg, f, &rep); err != nil {
		return Reply{}, fmt.Errorf("read vigil's answer: %w", err)
	}
	return rep, nil
}

// gone marks the errors of a connection the other side closed.
func gone(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) {
		return fmt.Errorf("%w: %w", errConnGone, err)
	}
	return err
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }
