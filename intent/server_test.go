//go:build linux

package intent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as a client process: with these variables set
// it sends one intent claiming a PID and prints the daemon's answer.
const (
	clientSocketEnv  = "VIGIL_INTENT_TEST_SOCKET"
	clientClaimEnv   = "VIGIL_INTENT_TEST_CLAIM"
	clientSpooledEnv = "VIGIL_INTENT_TEST_SPOOLED"
)

func TestMain(m *testing.M) {
	if path := os.Getenv(clientSocketEnv); path != "" {
		claim, _ := strconv.Atoi(os.Getenv(clientClaimEnv))
		c, err := Dial(context.Background(), path, JSON)
		if err != nil {
			fmt.Println("dial:", err)
			os.Exit(1)
		}
		in := valid()
		in.PID = claim
		in.Spooled = os.Getenv(clientSpooledEnv) != ""
		if err := c.Send(context.Background(), in); err != nil {
			fmt.Println(err)
			os.Exit(3)
		}
		fmt.Println("accepted")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type collector struct {
	mu  sync.Mutex
	got []*Received
}

func (c *collector) deliver(r *Received) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, r)
	return nil
}

func (c *collector) all() []*Received {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Received(nil), c.got...)
}

func serve(t *testing.T, cfg ServerConfig) (*Server, *collector) {
	t.Helper()
	if cfg.Path == "" {
		dir := t.TempDir()
		cfg.Path = filepath.Join(dir, "run", "intent.sock")
	}
	s, err := Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	col := &collector{}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, col.deliver) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		if _, err := os.Lstat(s.Path()); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("socket left behind after Serve returned: %v", err)
		}
	})
	return s, col
}

func TestServerAcceptsAndBinds(t *testing.T) {
	s, col := serve(t, ServerConfig{Group: "0"})
	fi, err := os.Stat(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o660 || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("socket mode %v, want a socket with 0660", fi.Mode())
	}
	if gid := fi.Sys().(*syscall.Stat_t).Gid; gid != 0 {
		t.Errorf("socket group %d, want 0", gid)
	}
	ctx := context.Background()
	for _, f := range []Format{JSON, Msgpack} {
		c, err := Dial(ctx, s.Path(), f)
		if err != nil {
			t.Fatal(err)
		}
		in := full()
		in.PID = 0
		if err := c.Send(ctx, in); err != nil {
			t.Fatalf("%v: %v", f, err)
		}
		// A bad message is refused with a reason, and the connection
		// stays usable.
		bad := valid()
		bad.SessionID = ""
		if err := c.Send(ctx, bad); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "session_id is required") {
			t.Errorf("%v: bad intent: %v", f, err)
		}
		if err := c.Send(ctx, valid()); err != nil {
			t.Errorf("%v: after a refusal: %v", f, err)
		}
		c.Close()
	}
	got := col.all()
	if len(got) != 6 {
		t.Fatalf("delivered %d messages, want 6", len(got))
	}
	for i, r := range got {
		if r.Sender.PID != os.Getpid() || r.Sender.UID != uint32(os.Getuid()) {
			t.Errorf("message %d: sender %+v, want this process", i, r.Sender)
		}
		if refused := i%3 == 1; (r.Err != nil) != refused {
			t.Errorf("message %d: err %v", i, r.Err)
		}
		if r.Err == nil && (r.AgentPID != os.Getpid() || r.AgentStart == 0) {
			t.Errorf("message %d bound to pid %d (start %d), want the sender", i, r.AgentPID, r.AgentStart)
		}
	}
	if got[0].Intent.Model == nil || *got[0].Intent.Model.InputTokens != 1200 || got[3].Format != Msgpack {
		t.Errorf("intent not delivered whole: %+v", got[0].Intent)
	}
}

// Garbage on the wire is answered and recorded, and the connection loop
// goes on.
func TestServerSurvivesGarbage(t *testing.T) {
	s, col := serve(t, ServerConfig{MaxMessage: 512})
	conn, err := net.Dial("unix", s.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	good, _ := Append(nil, valid(), JSON)
	stream := "not a message\n" + `{"v":1` + "\n" + "{" + strings.Repeat("x", 600) + "}\n" + string(good)
	if _, err := conn.Write([]byte(stream)); err != nil {
		t.Fatal(err)
	}
	r := NewReader(conn, 0)
	var replies []Reply
	for range 4 {
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		msg, f, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		var rep Reply
		if err := decodeReply(msg, f, &rep); err != nil {
			t.Fatal(err)
		}
		replies = append(replies, rep)
	}
	for i, want := range []bool{false, false, false, true} {
		if replies[i].OK != want || (!want && replies[i].Error == "") {
			t.Errorf("reply %d = %+v, want ok=%v with a reason when refused", i, replies[i], want)
		}
	}
	got := col.all()
	if len(got) != 4 || got[0].Err == nil || got[1].Err == nil || got[2].Err == nil || got[3].Err != nil {
		t.Errorf("delivered %d, want three refusals then the good intent", len(got))
	}
}

func TestListenRefuses(t *testing.T) {
	dir := t.TempDir()
	open := filepath.Join(dir, "open")
	if err := os.Mkdir(open, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o1777); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(ServerConfig{Path: filepath.Join(open, "s.sock")}); err == nil || !strings.Contains(err.Error(), "world-writable") {
		t.Errorf("world-writable directory: %v", err)
	}
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(ServerConfig{Path: file}); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("a regular file in the way: %v", err)
	}
	s, _ := serve(t, ServerConfig{Path: filepath.Join(dir, "live.sock")})
	if _, err := Listen(ServerConfig{Path: s.Path()}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("a live socket: %v", err)
	}
	// A stale socket (nobody listening) is replaced.
	stale := filepath.Join(dir, "stale.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	serve(t, ServerConfig{Path: stale})
	if _, err := Listen(ServerConfig{Path: filepath.Join(dir, "g.sock"), Group: "no-such-group-vigil"}); err == nil {
		t.Error("unknown group accepted")
	}
}

// runClient runs the test binary as a client claiming pid, with attr
// (credentials) if given, and returns its output.
func runClient(t *testing.T, sock string, claim int, spooled bool, attr *syscall.SysProcAttr) (string, error) {
	t.Helper()
	self := os.Args[0]
	if attr != nil {
		// Another user may not reach the test binary where go test put
		// it: run a copy.
		b, err := os.ReadFile(self)
		if err != nil {
			t.Fatal(err)
		}
		self = filepath.Join(filepath.Dir(sock), "client")
		if err := os.WriteFile(self, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), clientSocketEnv+"="+sock, clientClaimEnv+"="+strconv.Itoa(claim))
	if spooled {
		cmd.Env = append(cmd.Env, clientSpooledEnv+"=1")
	}
	cmd.SysProcAttr = attr
	out, err := cmd.CombinedOutput()
	if err != nil && len(out) == 0 {
		t.Fatalf("client: %v", err)
	}
	return strings.TrimSpace(string(out)), err
}

// A process may speak for itself, its ancestors and its descendants of
// the same user, and for nobody else.
func TestServerBinding(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run a client as another user")
	}
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} { // reachable by the other user
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s, col := serve(t, ServerConfig{Path: filepath.Join(dir, "intent.sock"), Mode: 0o666})

	// The "agent": a process that is not the client's ancestor.
	agent := exec.Command("sleep", "30")
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = agent.Process.Kill(); _ = agent.Wait() }()

	for _, tc := range []struct {
		name    string
		claim   int
		spooled bool
		attr    *syscall.SysProcAttr
		want    string
	}{
		{"itself", 0, false, nil, "accepted"},
		{"its parent", os.Getpid(), false, nil, "accepted"},
		{"a sibling: the agent's PID from another process", agent.Process.Pid, false, nil, "neither the sender"},
		{"a sibling, spooled", agent.Process.Pid, true, nil, "neither the sender"},
		{"no such process", 1 << 30, false, nil, "no such process"},
		{"another user's process (its own parent)", os.Getpid(), false, &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}, "runs as uid 0"},
		{"spooled, for a process now gone", 1 << 30, true, nil, "accepted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(col.all())
			out, _ := runClient(t, s.Path(), tc.claim, tc.spooled, tc.attr)
			if !strings.Contains(out, tc.want) {
				t.Fatalf("client said %q, want %q", out, tc.want)
			}
			got := col.all()
			if len(got) != before+1 {
				t.Fatalf("%d messages delivered, want 1", len(got)-before)
			}
			r := got[before]
			if accepted := tc.want == "accepted"; accepted != (r.Err == nil) {
				t.Errorf("delivered with err %v", r.Err)
			} else if !accepted && !errors.Is(r.Err, ErrNotYours) {
				t.Errorf("refusal %v is not ErrNotYours", r.Err)
			}
			if gone := tc.claim == 1<<30 && tc.spooled; r.Unbound != gone {
				t.Errorf("Unbound = %v, want %v", r.Unbound, gone)
			}
		})
	}
}

// Connections are bounded, and an idle one is closed; the client
// reconnects by itself.
func TestServerConnectionLimits(t *testing.T) {
	s, col := serve(t, ServerConfig{MaxConns: 2, IdleTimeout: 300 * time.Millisecond})
	ctx := context.Background()
	a, err := Dial(ctx, s.Path(), JSON)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Dial(ctx, s.Path(), JSON)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, c := range []*Client{a, b} { // both served
		if err := c.Send(ctx, valid()); err != nil {
			t.Fatal(err)
		}
	}
	third, err := net.Dial("unix", s.Path())
	if err != nil {
		t.Fatal(err)
	}
	_ = third.SetReadDeadline(time.Now().Add(5 * time.Second))
	msg, f, err := NewReader(third, 0).Next()
	third.Close()
	var rep Reply
	if err != nil || decodeReply(msg, f, &rep) != nil || rep.OK || !strings.Contains(rep.Error, "too many connections") {
		t.Errorf("a connection over the limit: %q %v", msg, err)
	}
	// Idle past the timeout: the server closed a's connection; a's next
	// send reconnects (b was closed too, so there is room).
	time.Sleep(time.Second)
	if err := a.Send(ctx, valid()); err != nil {
		t.Fatalf("send after the idle timeout: %v", err)
	}
	if got := len(col.all()); got != 3 {
		t.Errorf("%d intents delivered, want 3", got)
	}
}
