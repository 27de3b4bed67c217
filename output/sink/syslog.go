package sink

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"
)

// SyslogConfig says where and how records go over syslog.
type SyslogConfig struct {
	Addr     string      // host:port of the syslog receiver (TCP)
	TLS      *tls.Config // nil: plain TCP
	Hostname string      // HOSTNAME field; default os.Hostname
	AppName  string      // APP-NAME field; default "vigil"
	Version  string      // Vigil's version, in the CEF header
	Facility int         // default 13 (log audit)
	Timeout  time.Duration
}

// Syslog sends records as RFC 5424 messages over TCP (optionally TLS),
// octet-counted (RFC 6587), each body a CEF line.
type Syslog struct {
	cfg  SyslogConfig
	conn net.Conn
	buf  bytes.Buffer
}

// NewSyslog returns a syslog sink; it connects on first use.
func NewSyslog(cfg SyslogConfig) *Syslog {
	if cfg.Hostname == "" {
		cfg.Hostname, _ = os.Hostname()
	}
	if cfg.AppName == "" {
		cfg.AppName = "vigil"
	}
	if cfg.Facility == 0 {
		cfg.Facility = 13
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	return &Syslog{cfg: cfg}
}

func (s *Syslog) dial(ctx context.Context) error {
	d := &net.Dialer{Timeout: s.cfg.Timeout}
	var (
		c   net.Conn
		err error
	)
	if s.cfg.TLS != nil {
		c, err = (&tls.Dialer{NetDialer: d, Config: s.cfg.TLS}).DialContext(ctx, "tcp", s.cfg.Addr)
	} else {
		c, err = d.DialContext(ctx, "tcp", s.cfg.Addr)
	}
	if err != nil {
		return fmt.Errorf("syslog: connect %s: %w", s.cfg.Addr, err)
	}
	s.conn = c
	return nil
}

// Send delivers records (ECS JSON lines) in order. On a write error the
// connection is dropped; the next Send reconnects.
func (s *Syslog) Send(ctx context.Context, records [][]byte) error {
	s.buf.Reset()
	for _, r := range records {
		if err := s.frame(r); err != nil {
			return err
		}
	}
	if s.conn == nil {
		if err := s.dial(ctx); err != nil {
			return err
		}
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = s.conn.SetWriteDeadline(dl)
	} else {
		_ = s.conn.SetWriteDeadline(time.Now().Add(s.cfg.Timeout))
	}
	if _, err := s.conn.Write(s.buf.Bytes()); err != nil {
		s.conn.Close()
		s.conn = nil
		return fmt.Errorf("syslog: send: %w", err)
	}
	return nil
}

// frame appends one octet-counted RFC 5424 message.
func (s *Syslog) frame(record []byte) error {
	var head struct {
		Timestamp string `json:"@timestamp"`
		Event     struct {
			Dataset string `json:"dataset"`
		} `json:"event"`
	}
	if err := json.Unmarshal(record, &head); err != nil {
		return fmt.Errorf("syslog: %w", err)
	}
	cef, err := CEF(record, s.cfg.Version)
	if err != nil {
		return err
	}
	msgid := head.Event.Dataset
	if msgid == "" {
		msgid = "-"
	}
	ts := head.Timestamp
	if ts == "" {
		ts = "-"
	}
	const severity = 6 // informational
	msg := fmt.Sprintf("<%d>1 %s %s %s %d %s - %s", s.cfg.Facility*8+severity, ts, s.cfg.Hostname, s.cfg.AppName, os.Getpid(), msgid, cef)
	s.buf.WriteString(strconv.Itoa(len(msg)))
	s.buf.WriteByte(' ')
	s.buf.WriteString(msg)
	return nil
}

// Close drops the connection.
func (s *Syslog) Close() error {
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	return err
}
