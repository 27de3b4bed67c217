//go:build !linux

package intent

import (
	"context"
	"errors"
)

// ErrUnsupported: the intent socket binds every intent to its sender with
// SO_PEERCRED and /proc, which only Linux has here.
var ErrUnsupported = errors.New("intent socket: not supported on this platform")

// Server accepts intents on a Unix socket (Linux only).
type Server struct{ cfg ServerConfig }

// Listen fails: see ErrUnsupported.
func Listen(ServerConfig) (*Server, error) { return nil, ErrUnsupported }

// Path is the socket's path.
func (s *Server) Path() string { return s.cfg.Path }

// Serve fails: see ErrUnsupported.
func (s *Server) Serve(context.Context, Deliver) error { return ErrUnsupported }

// Close does nothing.
func (s *Server) Close() error { return nil }
