package etw

import (
	"errors"
	"net/netip"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/vigilsec/vigil/sensor"
)

const (
	claude = 7420
	cmd    = 8012
	git    = 8100
	other  = 9300
)

// A ProcessStart is a fork and an exec; the agent's starts a tree, its
// descendants join it, and processes outside it make no events.
func TestProcessTree(t *testing.T) {
	d, scope := newTestDecoder()
	evs := collect(t, d,
		startRecord(100, 5112, claude, 5112, `\Users\dev\AppData\Local\Programs\claude\claude.exe`, `"`+agentPath+`" --resume`),
		startRecord(200, 5112, other, 5112, `\Windows\System32\cmd.exe`, `cmd.exe`),
		startRecord(300, claude, cmd, claude, `\Windows\System32\cmd.exe`, `C:\WINDOWS\system32\cmd.exe /d /s /c "git status"`),
		startRecord(400, cmd, git, cmd, `\Program Files\Git\cmd\git.exe`, `git  status`),
		startRecord(450, other, 9400, other, `\Program Files\Git\cmd\git.exe`, `git log`),
		stopRecord(500, git, 400, 0, "git.exe"),
		stopRecord(550, 9400, 450, 0, "git.exe"),
		stopRecord(600, cmd, 300, 1, "cmd.exe"),
		stopRecord(700, claude, 100, 0xC0000005, "claude.exe"),
	)
	wantSummaries(t, evs,
		`exec 7420 `+agentPath+` `+q(agentPath, "--resume")+` root`,
		`fork 7420>8012`,
		`exec 8012 C:\Windows\System32\cmd.exe ["C:\\WINDOWS\\system32\\cmd.exe" "/d" "/s" "/c" "git status"]`,
		`fork 8012>8100`,
		`exec 8100 C:\Program Files\Git\cmd\git.exe ["git" "status"]`,
		`exit 8100 0x0`,
		`exit 8012 0x1`,
		`exit 7420 0xc0000005`,
	)
	tree := sensor.Tree{RootStart: created(100), RootPID: claude, Agent: 1}
	for i := range evs {
		if evs[i].Tree != tree {
			t.Errorf("%s: tree %+v, want %+v", summary(&evs[i]), evs[i].Tree, tree)
		}
	}
	fork, exec := evs[1], evs[2]
	wantFork := sensor.Event{Kind: sensor.KindFork, KTime: uint64(at(300).UnixNano()), Tree: tree,
		Task:     sensor.Task{PID: claude, TID: claude + 4, PPID: 5112, StartTime: created(100), Comm: "claude.exe", SID: userSID},
		ChildPID: cmd, ChildStart: created(300)}
	if !reflect.DeepEqual(fork, wantFork) {
		t.Errorf("fork:\n got %+v\nwant %+v", fork, wantFork)
	}
	if exec.Task != (sensor.Task{PID: cmd, PPID: claude, StartTime: created(300), Comm: "cmd.exe", SID: userSID}) ||
		exec.Argc != 5 || exec.Flags != 0 || exec.KTime != uint64(at(300).UnixNano()) {
		t.Errorf("exec: %+v", exec)
	}
	exit := evs[7]
	if exit.Flags != sensor.FlagNativeExit || exit.NativeExit != 0xC0000005 || exit.ExitCode() != 3221225477 ||
		exit.Signal() != 0 || exit.Task.StartTime != created(100) || exit.Task.TID != claude+4 {
		t.Errorf("exit: %+v", exit)
	}
	if n := scope.Len(); n != 0 {
		t.Errorf("%d processes still tracked after every exit", n)
	}
	if s := d.Stats(); s.OutOfScope != 3 || s.Records != 9 {
		t.Errorf("stats %+v, want 3 records out of scope of 9", s)
	}
}

// A process started by a process in a tree with another parent named
// (PROC_THREAD_ATTRIBUTE_PARENT_PROCESS) stays in the tree.
func TestReparentedChildStays(t *testing.T) {
	d, _ := newTestDecoder()
	evs := collect(t, d,
		startRecord(100, 5112, claude, 5112, `\claude.exe`, "claude"),
		// claude.exe creates a process naming explorer.exe as its parent.
		startRecord(200, claude, 8500, 5112, `\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`, "powershell"),
		// explorer.exe naming claude.exe as the parent: the named parent decides.
		startRecord(300, 5112, 8600, claude, `\Windows\notepad.exe`, "notepad"),
	)
	wantSummaries(t, evs,
		`exec 7420 C:\claude.exe ["claude"] root`,
		`fork 7420>8500`,
		`exec 8500 C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe ["powershell"]`,
		`fork 7420>8600`,
		`exec 8600 C:\Windows\notepad.exe ["notepad"]`,
	)
	if evs[2].Task.PPID != claude {
		t.Errorf("reparented child's PPID %d, want its creator %d", evs[2].Task.PPID, claude)
	}
}

// The scope matches by arguments too: node.exe running the agent's
// script starts a tree.
func TestMatchByArgs(t *testing.T) {
	scope := sensor.NewTreeScope(func(exe string, args []string) (uint32, bool) {
		return 2, len(args) > 1 && baseName(args[1]) == "cli.js"
	}, false, 0)
	d := NewDecoder(scope, WithDevices(deviceMap))
	evs := collect(t, d, startRecord(100, 5112, 6000, 5112, `\Program Files\nodejs\node.exe`,
		`"C:\Program Files\nodejs\node.exe" C:\Users\dev\AppData\Roaming\npm\node_modules\@anthropic-ai\claude-code\cli.js`))
	if len(evs) != 1 || evs[0].Flags&sensor.FlagNewRoot == 0 || evs[0].Tree.Agent != 2 {
		t.Fatalf("node.exe running the agent's script: %v", summaries(evs))
	}
}

func TestWriteTotals(t *testing.T) {
	const a, b = 0xffffa50c1e2f0a10, 0xffffa50c1e2f1b70
	d, _ := newTestDecoder()
	evs := collect(t, d,
		startRecord(100, 5112, claude, 5112, `\claude.exe`, "claude"),
		startRecord(150, claude, cmd, claude, `\Windows\System32\cmd.exe`, "cmd"),
		createRecord(200, claude, a, `\Users\dev\project\src\app.js`, optOverwriteIf),
		writeRecord(201, claude, a, 4096, cachedWrite),
		writeRecord(202, claude, a, 4096, cachedWrite),
		// cmd.exe writes through the same file object (an inherited handle):
		// its own total.
		writeRecord(203, cmd, a, 10, cachedWrite),
		writeRecord(204, claude, a, 1200, cachedWrite),
		// The lazy writer's paging write, and a write out of scope.
		writeRecord(205, 4, a, 12288, pagingWrite),
		writeRecord(206, claude, a, 12288, pagingWrite),
		writeRecord(207, other, a, 1, cachedWrite),
		cleanupRecord(13, 300, claude, a),
		cleanupRecord(14, 301, claude, a),
		// A write through a file object not seen opened makes no total.
		writeRecord(310, claude, b, 7, cachedWrite),
		// The file object's address used again after its Close: a new file.
		createRecord(400, claude, a, `\Users\dev\project\b.txt`, optOpenIf),
		writeRecord(401, claude, a, 5, cachedWrite),
		// Close lost; the file object reused for another open.
		createRecord(500, claude, a, `\Users\dev\project\c.txt`, optCreate),
		writeRecord(501, claude, a, 6, cachedWrite),
		stopRecord(600, claude, 100, 0, "claude.exe"),
	)
	wantSummaries(t, evs,
		`exec 7420 C:\claude.exe ["claude"] root`,
		`fork 7420>8012`,
		`exec 8012 C:\Windows\System32\cmd.exe ["cmd"]`,
		`open 7420 C:\Users\dev\project\src\app.js 01101`,
		`write_start 7420 C:\Users\dev\project\src\app.js`,
		`write_start 8012 C:\Users\dev\project\src\app.js`,
		`write_end 7420 C:\Users\dev\project\src\app.js 9392/3`,
		`write_end 8012 C:\Users\dev\project\src\app.js 10/1`,
		`open 7420 C:\Users\dev\project\b.txt 0101`,
		`write_start 7420 C:\Users\dev\project\b.txt`,
		`write_end 7420 C:\Users\dev\project\b.txt 5/1 stale`,
		`open 7420 C:\Users\dev\project\c.txt 0301`,
		`write_start 7420 C:\Users\dev\project\c.txt`,
		`write_end 7420 C:\Users\dev\project\c.txt 6/1 exit`,
		`exit 7420 0x0`,
	)
	start, end := evs[4], evs[6]
	if start.File.Cookie != a || end.File.Cookie != a || start.File.Flags != sensor.FilePathExact|sensor.FileRegular ||
		start.KTime != uint64(at(201).UnixNano()) {
		t.Errorf("write start: %+v", start.File)
	}
	if end.File.First != uint64(at(201).UnixNano()) || end.KTime != uint64(at(300).UnixNano()) ||
		end.File.Flags != sensor.FilePathExact|sensor.FileRegular || end.Task.TID != claude+4 || end.Task.StartTime != created(100) {
		t.Errorf("write end: %+v", end)
	}
	if evs[11].File.FMode != fmodeCreated {
		t.Errorf("FILE_CREATE open: FMode %#x, want FMODE_CREATED", evs[11].File.FMode)
	}
	if s := d.Stats(); s.PagingWrites != 2 || s.UntrackedFiles != 1 {
		t.Errorf("stats %+v: want 2 paging writes, 1 untracked", s)
	}
}

// Cleanup ends the totals; Close after it finds none; totals left at the
// end of a stream come at Close, as at exit.
func TestWriteTotalsAtClose(t *testing.T) {
	const a, b = 0x1000, 0x2000
	d, _ := newTestDecoder()
	evs := collect(t, d,
		startRecord(100, 5112, claude, 5112, `\claude.exe`, "claude"),
		createRecord(200, claude, a, `\a.txt`, optOverwriteIf),
		createRecord(201, claude, b, `\b.txt`, optOverwriteIf),
		writeRecord(210, claude, b, 2, cachedWrite),
		writeRecord(220, claude, a, 1, cachedWrite),
		cleanupRecord(14, 230, 4, a), // a Close in System's context, no Cleanup seen
	)
	var tail []sensor.Event
	if err := d.Close(func(ev *sensor.Event) error { tail = append(tail, *ev); return nil }); err != nil {
		t.Fatal(err)
	}
	wantSummaries(t, append(evs[3:], tail...),
		`write_start 7420 C:\b.txt`,
		`write_start 7420 C:\a.txt`,
		`write_end 7420 C:\a.txt 1/1`,
		`write_end 7420 C:\b.txt 2/1 stop`,
	)
	if tail[0].KTime != uint64(at(230).UnixNano()) {
		t.Errorf("Close reports at %d, want the last record's time", tail[0].KTime)
	}
}

func TestRename(t *testing.T) {
	const a, b = 0xa0, 0xb0
	d, _ := newTestDecoder()
	evs := collect(t, d,
		startRecord(100, 5112, claude, 5112, `\claude.exe`, "claude"),
		createRecord(200, claude, a, `\Users\dev\project\src\app.js.tmp`, optOverwriteIf),
		writeRecord(201, claude, a, 100, cachedWrite),
		cleanupRecord(13, 202, claude, a),
		cleanupRecord(14, 203, claude, a),
		createRecord(210, claude, b, `\Users\dev\project\src\app.js.tmp`, optOpen|0x204000),
		pathRecord(27, 211, claude, b, 65, `\Users\dev\project\src\app.js`),
		// Renamed while open for writing: the writes go on under the new name.
		createRecord(300, claude, a, `\Users\dev\project\x.part`, optOverwriteIf),
		writeRecord(301, claude, a, 5, cachedWrite),
		pathRecord(27, 302, claude, a, 10, `\Users\dev\project\x`),
		writeRecord(303, claude, a, 6, cachedWrite),
		cleanupRecord(13, 304, claude, a),
		// A rename through a file object not seen opened.
		pathRecord(27, 400, claude, 0xc0, 10, `\Users\dev\project\y`),
	)
	wantSummaries(t, evs,
		`exec 7420 C:\claude.exe ["claude"] root`,
		`open 7420 C:\Users\dev\project\src\app.js.tmp 01101`,
		`write_start 7420 C:\Users\dev\project\src\app.js.tmp`,
		`write_end 7420 C:\Users\dev\project\src\app.js.tmp 100/1`,
		`open 7420 C:\Users\dev\project\src\app.js.tmp 0`,
		`rename 7420 C:\Users\dev\project\src\app.js.tmp -> C:\Users\dev\project\src\app.js`,
		`open 7420 C:\Users\dev\project\x.part 01101`,
		`write_start 7420 C:\Users\dev\project\x.part`,
		`rename 7420 C:\Users\dev\project\x.part -> C:\Users\dev\project\x`,
		`write_start 7420 C:\Users\dev\project\x`,
		`write_end 7420 C:\Users\dev\project\x 11/2`,
		`rename 7420  -> C:\Users\dev\project\y`,
	)
	if f := evs[5].File; f.Flags != sensor.FilePathExact || f.Cookie != b || f.Dir != "" || f.Dir2 != "" {
		t.Errorf("rename: %+v", f)
	}
	if evs[9].File.Cookie != a || evs[10].File.Cookie != a {
		t.Error("the renamed file's totals left their cookie")
	}
}

func TestDelete(t *testing.T) {
	d, _ := newTestDecoder()
	evs := collect(t, d,
		startRecord(100, 5112, claude, 5112, `\claude.exe`, "claude"),
		createRecord(200, claude, 0x10, `\Users\dev\project\build.log`, optOpen|0x204000),
		pathRecord(26, 201, claude, 0x10, 64, `\Users\dev\project\build.log`),
		createRecord(210, claude, 0x20, `\Users\dev\project\out`, optDirDelete),
		pathRecord(26, 211, claude, 0x20, 13, `\Users\dev\project\out`),
		// FILE_DELETE_ON_CLOSE: the name goes at cleanup, with no DeletePath.
		createRecord(220, claude, 0x30, `\Users\dev\AppData\Local\Temp\x.tmp`, optTemp),
		writeRecord(221, claude, 0x30, 3, cachedWrite),
		cleanupRecord(13, 222, claude, 0x30),
		cleanupRecord(14, 223, claude, 0x30),
		// Out of scope.
		pathRecord(26, 230, other, 0x40, 64, `\Users\dev\project\notes.txt`),
	)
	wantSummaries(t, evs,
		`exec 7420 C:\claude.exe ["claude"] root`,
		`open 7420 C:\Users\dev\project\build.log 0`,
		`unlink 7420 C:\Users\dev\project\build.log`,
		`open 7420 C:\Users\dev\project\out 0200000`,
		`rmdir 7420 C:\Users\dev\project\out`,
		`open 7420 C:\Users\dev\AppData\Local\Temp\x.tmp 0301`,
		`write_start 7420 C:\Users\dev\AppData\Local\Temp\x.tmp`,
		`write_end 7420 C:\Users\dev\AppData\Local\Temp\x.tmp 3/1`,
		`unlink 7420 C:\Users\dev\AppData\Local\Temp\x.tmp`,
	)
	if f := evs[4].File; f.Flags != sensor.FilePathExact || f.Cookie != 0x20 {
		t.Errorf("rmdir: %+v", f)
	}
}

func TestOpenFlags(t *testing.T) {
	for _, tc := range []struct {
		disp uint32
		dir  bool
		want uint32
	}{
		{fileSupersede, false, oWronly | oCreat | oTrunc},
		{fileOpen, false, 0},
		{fileCreate, false, oWronly | oCreat | oExcl},
		{fileOpenIf, false, oWronly | oCreat},
		{fileOverwrite, false, oWronly | oTrunc},
		{fileOverwriteIf, false, oWronly | oCreat | oTrunc},
		{fileCreate, true, oCreat | oExcl | oDirectory},
		{fileOpen, true, oDirectory},
	} {
		if got := openFlags(tc.disp, tc.dir); got != tc.want {
			t.Errorf("disposition %d dir %v: %#o, want %#o", tc.disp, tc.dir, got, tc.want)
		}
	}
}

func TestNetwork(t *testing.T) {
	const local, api, dns = "192.168.1.23:50712", "203.0.113.10:443", "192.0.2.53:53"
	d, _ := newTestDecoder()
	evs := collect(t, d,
		startRecord(100, 5112, claude, 5112, `\claude.exe`, "claude"),
		netRecord(evUDPSend4, 200, claude, 45, "192.168.1.23:61000", dns),
		netRecord(evUDPSend4, 201, claude, 45, "192.168.1.23:61000", dns),
		netRecord(evUDPSend4, 202, 1868, 41, "192.168.1.23:58113", dns), // svchost.exe: out of scope
		netRecord(evTCPConnect4, 300, claude, 0, local, api),
		netRecord(evTCPSend4, 301, claude, 517, local, api),
		netRecord(evTCPSend4, 302, claude, 1420, local, api),
		netRecord(evTCPDisconnect4, 400, claude, 0, local, api),
		// IPv6, and the same four-tuple connected again with its close lost.
		netRecord(evTCPConnect6, 500, claude, 0, "[2001:db8::1]:50800", "[2001:db8::443]:443"),
		netRecord(evTCPSend6, 501, claude, 99, "[2001:db8::1]:50800", "[2001:db8::443]:443"),
		netRecord(evTCPConnect6, 600, claude, 0, "[2001:db8::1]:50800", "[2001:db8::443]:443"),
		netRecord(evUDPSend6, 700, claude, 60, "[::ffff:192.168.1.23]:61001", "[::ffff:192.0.2.53]:53"),
		netRecord(17, 701, 0, 0, "0.0.0.0:0", "0.0.0.0:0"), // a failed connect: no process, not mapped
		stopRecord(800, claude, 100, 0, "claude.exe"),
	)
	wantSummaries(t, evs,
		`exec 7420 C:\claude.exe ["claude"] root`,
		`connect 7420 203.0.113.10:443`,
		`send_end 7420 203.0.113.10:443 1937/2`,
		`connect 7420 2001:db8::443:443`,
		`send_end 7420 2001:db8::443:443 99/1 stale`,
		`connect 7420 2001:db8::443:443`,
		`send_end 7420 192.0.2.53:53 90/2 exit`,
		`send_end 7420 192.0.2.53:53 60/1 exit`,
		`exit 7420 0x0`,
	)
	conn, tcp, udp, udp6 := evs[1].Net, evs[2].Net, evs[6].Net, evs[7].Net
	wantConn := sensor.Net{Op: sensor.NetConnect,
		Dst:    sensor.Endpoint{Family: sensor.FamilyInet, IP: netip.MustParseAddr("203.0.113.10"), Port: 443},
		Src:    sensor.Endpoint{Family: sensor.FamilyInet, IP: netip.MustParseAddr("192.168.1.23"), Port: 50712},
		Cookie: conn.Cookie, FD: -1, SockType: 1, Protocol: 6}
	if !reflect.DeepEqual(conn, wantConn) || conn.Cookie == 0 {
		t.Errorf("connect:\n got %+v\nwant %+v", conn, wantConn)
	}
	if tcp.Cookie != conn.Cookie || tcp.First != uint64(at(301).UnixNano()) || tcp.SockType != 1 || tcp.Protocol != 6 || tcp.Flags != 0 {
		t.Errorf("TCP send totals: %+v", tcp)
	}
	if udp.SockType != 2 || udp.Protocol != 17 || udp.Dst.Family != sensor.FamilyInet || udp.First != uint64(at(200).UnixNano()) {
		t.Errorf("UDP send totals: %+v", udp)
	}
	// Linux's AF_INET6 endpoints: mapped IPv4 addresses unmapped.
	if udp6.Dst != (sensor.Endpoint{Family: sensor.FamilyInet6, IP: netip.MustParseAddr("192.0.2.53"), Port: 53}) {
		t.Errorf("UDPv6 to a mapped address: %+v", udp6.Dst)
	}
	if evs[1].Task.TID != 0 {
		t.Errorf("connect logged in System's context has TID %d, want 0", evs[1].Task.TID)
	}
	if s := d.Stats(); s.Ignored != 1 || s.OutOfScope != 1 {
		t.Errorf("stats %+v: want the failed connect ignored, svchost out of scope", s)
	}
}

func TestInterim(t *testing.T) {
	d, _ := newTestDecoder()
	collect(t, d,
		startRecord(100, 5112, claude, 5112, `\claude.exe`, "claude"),
		netRecord(evUDPSend4, 200, claude, 45, "192.168.1.23:61000", "192.0.2.53:53"),
	)
	var evs []sensor.Event
	emit := func(ev *sensor.Event) error { evs = append(evs, *ev); return nil }
	if err := d.Interim(emit); err != nil {
		t.Fatal(err)
	}
	collect(t, d, netRecord(evUDPSend4, 300, claude, 40, "192.168.1.23:61000", "192.0.2.53:53"))
	if err := d.Close(emit); err != nil {
		t.Fatal(err)
	}
	wantSummaries(t, evs, `send_end 7420 192.0.2.53:53 45/1 interim`, `send_end 7420 192.0.2.53:53 85/2 stop`)
	if !evs[0].Partial || evs[0].Task != (sensor.Task{PID: claude, TID: claude, StartTime: created(100)}) {
		t.Errorf("interim report: %+v", evs[0])
	}
}

// A ProcessReader fills what ProcessStart lacks; the environment is read
// only for processes in a tree.
func TestProcessReader(t *testing.T) {
	type call struct {
		pid uint32
		env bool
	}
	var calls []call
	reader := func(pid uint32, created time.Time, env bool) (ProcessInfo, error) {
		calls = append(calls, call{pid, env})
		switch pid {
		case 9999:
			return ProcessInfo{}, errors.New("the process is gone")
		}
		info := ProcessInfo{CommandLine: "prog --flag", Cwd: `C:\work\`, SID: "S-1-5-21-1-2-3-1001"}
		if env {
			info.CorrelationID = "turn-7"
			info.Traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
		}
		return info, nil
	}
	d, _ := newTestDecoder(WithProcessReader(reader))
	bare := func(r *Record) *Record { delete(r.Props, PropCommandLine); return r }
	evs := collect(t, d,
		bare(startRecord(100, 5112, claude, 5112, `\claude.exe`, "")),
		bare(startRecord(200, claude, cmd, claude, `\cmd.exe`, "")),
		bare(startRecord(300, 5112, other, 5112, `\cmd.exe`, "")),
		bare(startRecord(400, claude, 9999, claude, `\short.exe`, "")),
	)
	want := []call{{claude, false}, {claude, true}, {cmd, true}, {other, false}, {9999, true}}
	if !reflect.DeepEqual(calls, want) {
		t.Errorf("reader calls %+v, want %+v", calls, want)
	}
	root, child, gone := evs[0], evs[2], evs[4]
	if root.Cwd != `C:\work\` || !reflect.DeepEqual(root.Args, []string{"prog", "--flag"}) || root.CorrelationID != "turn-7" ||
		root.TraceID != "4bf92f3577b34da6a3ce929d0e0e4736" || root.SpanID != "00f067aa0ba902b7" ||
		root.Task.SID != "S-1-5-21-1-2-3-1001" || root.Flags != sensor.FlagNewRoot {
		t.Errorf("root exec: %+v", root)
	}
	if child.CorrelationID != "turn-7" {
		t.Errorf("child exec: %+v", child)
	}
	if gone.Flags != sensor.FlagArgsUnreadable || gone.Args != nil || gone.Task.SID != userSID {
		t.Errorf("unreadable exec: %+v", gone)
	}
	if d.Stats().ArgsUnreadable != 1 {
		t.Errorf("stats %+v", d.Stats())
	}
}

func TestCorrelationIDFlags(t *testing.T) {
	d, _ := newTestDecoder()
	r := startRecord(100, 5112, claude, 5112, `\claude.exe`, "claude")
	r.Props[PropCorrelationID] = "bad id!"
	r.Props[PropTraceparent] = "00-zz"
	u := startRecord(200, 5112, other, 5112, `\cmd.exe`, "cmd")
	u.Props[PropCorrelationID] = "turn-1" // out of every tree: not read
	evs := collect(t, d, r, u)
	if len(evs) != 1 || evs[0].Flags != sensor.FlagNewRoot|sensor.FlagCorrelationIDInvalid|sensor.FlagTraceparentInvalid ||
		evs[0].CorrelationID != "" || evs[0].TraceID != "" {
		t.Errorf("invalid ids: %v %+v", summaries(evs), evs)
	}
}

// ProcessRundown seeds processes running before the stream: in scope
// (an agent already running, its children) they are snapshots, not
// events, and their events later have their start times.
func TestRundown(t *testing.T) {
	type snap struct {
		s    sensor.Snapshot
		tree sensor.Tree
	}
	var snaps []snap
	d, scope := newTestDecoder(WithSnapshots(func(s sensor.Snapshot, tree sensor.Tree) { snaps = append(snaps, snap{s, tree}) }))
	rundown := func(r *Record) *Record {
		r.EventID, r.Version, r.Opcode, r.ProcessID, r.ThreadID, r.SID = evProcessRundown, 0, 0, 0, 0, ""
		return r
	}
	evs := collect(t, d,
		rundown(startRecord(10, 0, claude, 5112, `\claude.exe`, "claude")),
		rundown(startRecord(20, 0, cmd, claude, `\cmd.exe`, "cmd /c x")),
		// A process whose named parent's pid now belongs to a younger process.
		rundown(startRecord(5, 0, 8200, claude, `\old.exe`, "old")),
		rundown(startRecord(30, 0, other, 5112, `\cmd.exe`, "cmd")),
		rundown(startRecord(10, 0, claude, 5112, `\claude.exe`, "claude")), // again: nothing new
		createRecord(100, cmd, 0x10, `\x`, optOpen),
	)
	wantSummaries(t, evs, `open 8012 C:\x 0`)
	if evs[0].Task.StartTime != created(20) || evs[0].Task.Comm != "cmd.exe" {
		t.Errorf("event of a process seen in rundown: %+v", evs[0].Task)
	}
	tree := sensor.Tree{RootStart: created(10), RootPID: claude, Agent: 1}
	want := []snap{
		{sensor.Snapshot{Task: sensor.Task{PID: claude, TID: claude, PPID: 5112, StartTime: created(10), Comm: "claude.exe"},
			Executable: `C:\claude.exe`, Args: []string{"claude"}}, tree},
		{sensor.Snapshot{Task: sensor.Task{PID: cmd, TID: cmd, PPID: claude, StartTime: created(20), Comm: "cmd.exe"},
			Executable: `C:\cmd.exe`, Args: []string{"cmd", "/c", "x"}}, tree},
	}
	if !reflect.DeepEqual(snaps, want) {
		t.Errorf("snapshots:\n got %+v\nwant %+v", snaps, want)
	}
	if _, ok := scope.Of(8200); ok {
		t.Error("a process older than its named parent joined the parent's tree")
	}
}

// A start of a known pid with another start time: the old process's stop
// was lost; its totals are reported stale and it leaves the scope.
func TestPIDReuse(t *testing.T) {
	d, _ := newTestDecoder()
	evs := collect(t, d,
		startRecord(100, 5112, claude, 5112, `\claude.exe`, "claude"),
		startRecord(200, claude, cmd, claude, `\cmd.exe`, "cmd"),
		createRecord(210, cmd, 0x10, `\x`, optOverwriteIf),
		writeRecord(211, cmd, 0x10, 1, cachedWrite),
		startRecord(300, 5112, cmd, 5112, `\other.exe`, "other"), // cmd's stop lost; pid reused outside the tree
		createRecord(310, cmd, 0x20, `\y`, optOverwriteIf),
	)
	wantSummaries(t, evs,
		`exec 7420 C:\claude.exe ["claude"] root`,
		`fork 7420>8012`,
		`exec 8012 C:\cmd.exe ["cmd"]`,
		`open 8012 C:\x 01101`,
		`write_start 8012 C:\x`,
		`write_end 8012 C:\x 1/1 stale`,
	)
}

func TestBadInput(t *testing.T) {
	valid := func() *Record { return startRecord(100, 5112, claude, 5112, `\claude.exe`, "claude") }
	for _, tc := range []struct {
		name string
		mod  func(*Record)
		want error
	}{
		{"missing ProcessID", func(r *Record) { delete(r.Props, "ProcessID") }, ErrMissing},
		{"ProcessID a string", func(r *Record) { r.Props["ProcessID"] = "7420" }, ErrBadType},
		{"ProcessID too wide", func(r *Record) { r.Props["ProcessID"] = uint64(1 << 40) }, ErrBadValue},
		{"ProcessID negative", func(r *Record) { r.Props["ProcessID"] = int32(-1) }, ErrBadValue},
		{"CreateTime a number", func(r *Record) { r.Props["CreateTime"] = uint64(133000000000000000) }, ErrBadType},
		{"ImageName bytes", func(r *Record) { r.Props["ImageName"] = []byte("x") }, ErrBadType},
		{"CommandLine a number", func(r *Record) { r.Props[PropCommandLine] = uint32(1) }, ErrBadType},
		{"no timestamp", func(r *Record) { r.Timestamp = time.Time{} }, ErrNoTimestamp},
		{"unknown provider", func(r *Record) { r.Provider = "00000000-0000-0000-0000-000000000000" }, ErrUnknownProvider},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, scope := newTestDecoder()
			r := valid()
			tc.mod(r)
			err := d.Decode(r, func(*sensor.Event) error { t.Error("bad record emitted"); return nil })
			var de *DecodeError
			if !errors.As(err, &de) || !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want a *DecodeError for %v", err, tc.want)
			}
			if scope.Len() != 0 {
				t.Error("bad record changed the scope")
			}
		})
	}
	for _, r := range []*Record{
		fileRecord(16, 1, claude, Props{"FileObject": "x", "IOSize": uint32(1), "IOFlags": uint32(0)}),
		fileRecord(12, 1, claude, Props{"FileObject": uint64(1), "CreateOptions": uint32(0)}),
		fileRecord(27, 1, claude, Props{"FileObject": uint64(1), "FilePath": uint32(3)}),
		{Provider: KernelNetwork, EventID: 10, Timestamp: t0, Props: Props{"PID": uint32(1), "size": uint32(1),
			"daddr": uint32(0x0a00000a), "saddr": netip.Addr{}, "dport": uint16(1), "sport": uint16(2)}},
		{Provider: KernelNetwork, EventID: 10, Timestamp: t0, Props: Props{"PID": uint32(1), "size": uint32(1),
			"daddr": []byte{1, 2, 3}, "saddr": netip.Addr{}, "dport": uint16(1), "sport": uint16(2)}},
		{Provider: KernelNetwork, EventID: 42, Timestamp: t0, Props: Props{"PID": uint32(1), "size": uint32(1),
			"daddr": netip.MustParseAddr("1.2.3.4"), "saddr": netip.MustParseAddr("1.2.3.4"), "dport": uint32(1), "sport": uint16(2)}},
	} {
		d, _ := newTestDecoder()
		if err := d.Decode(r, func(*sensor.Event) error { return nil }); !errors.As(err, new(*DecodeError)) {
			t.Errorf("%s %d %v: error %v, want a *DecodeError", ProviderName(r.Provider), r.EventID, r.Props, err)
		}
	}
	// Ids of the three providers the decoder does not map are no errors.
	d, _ := newTestDecoder()
	for _, r := range []*Record{
		{Provider: KernelProcess, EventID: 5, Timestamp: t0},
		{Provider: KernelFile, EventID: 15, Timestamp: t0},
		{Provider: KernelNetwork, EventID: 11, Timestamp: t0},
	} {
		if err := d.Decode(r, nil); err != nil {
			t.Errorf("unmapped id %d: %v", r.EventID, err)
		}
	}
	if s := d.Stats(); s.Ignored != 3 {
		t.Errorf("ignored %d, want 3", s.Ignored)
	}
}

// The emitter's error comes back as it is, not as a decode error.
func TestEmitError(t *testing.T) {
	d, _ := newTestDecoder()
	stop := errors.New("handler full")
	err := d.Decode(startRecord(100, 5112, claude, 5112, `\claude.exe`, "claude"), func(*sensor.Event) error { return stop })
	if err != stop {
		t.Fatalf("error %v, want the emitter's", err)
	}
}

func TestLoss(t *testing.T) {
	scope := sensor.NewTreeScope(matchAgent, false, 2)
	d := NewDecoder(scope, WithDevices(deviceMap), WithLimits(Limits{Aggregates: 1}))
	var evs []sensor.Event
	emit := func(ev *sensor.Event) error { evs = append(evs, *ev); return nil }
	for _, r := range []*Record{
		startRecord(100, 5112, claude, 5112, `\claude.exe`, "claude"),
		startRecord(110, claude, cmd, claude, `\cmd.exe`, "cmd"),
		startRecord(120, cmd, git, cmd, `\git.exe`, "git"), // the scope holds two
		createRecord(200, claude, 0x10, `\a`, optOverwriteIf),
		createRecord(201, claude, 0x20, `\b`, optOverwriteIf),
		writeRecord(202, claude, 0x10, 1, cachedWrite),
		writeRecord(203, claude, 0x20, 1, cachedWrite), // the write table holds one
		netRecord(evTCPSend4, 204, claude, 1, "10.0.0.1:1", "10.0.0.2:2"),
		netRecord(evTCPSend4, 205, claude, 1, "10.0.0.1:1", "10.0.0.3:2"), // the send table holds one
	} {
		if err := d.Decode(r, emit); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range []*Record{
		{Provider: KernelFile, EventID: 12, Timestamp: at(300)},
		{Provider: KernelFile, EventID: 16, Timestamp: at(301)},
		{Provider: KernelProcess, EventID: 2, Timestamp: at(302)},
		{Provider: "x", Timestamp: at(303)},
	} {
		if err := d.Decode(r, emit); err == nil {
			t.Fatalf("bad record %d decoded", r.EventID)
		}
	}
	evs = evs[:0]
	if err := d.ReportLoss(Counters{EventsLost: 5, RealTimeBuffersLost: 2}, emit); err != nil {
		t.Fatal(err)
	}
	if err := d.ReportLoss(Counters{EventsLost: 7, RealTimeBuffersLost: 2}, emit); err != nil {
		t.Fatal(err)
	}
	if err := d.ReportLoss(Counters{EventsLost: 1}, emit); err != nil { // a new session
		t.Fatal(err)
	}
	if err := d.ReportLoss(Counters{EventsLost: 1}, emit); err != nil {
		t.Fatal(err)
	}
	wantSummaries(t, evs,
		"loss ringbuf_full kind(0) 7",
		"loss decode_error kind(0) 1",
		"loss decode_error exit 1",
		"loss decode_error file 2",
		"loss aggregation_map_full file 1",
		"loss aggregation_map_full network 1",
		"loss tracked_map_full kind(0) 1",
		"loss ringbuf_full kind(0) 2",
		"loss ringbuf_full kind(0) 1",
	)
	if evs[0].KTime != uint64(at(303).UnixNano()) {
		t.Errorf("loss at %d, want the newest record's time", evs[0].KTime)
	}
}

// The fixture decodes to the agent session it describes.
func TestFixture(t *testing.T) {
	f, err := os.Open("testdata/agent-session.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, scope := newTestDecoder()
	var evs []sensor.Event
	emit := func(ev *sensor.Event) error { evs = append(evs, *ev); return nil }
	var last time.Time
	if err := ReadRecords(f, func(r *Record) error {
		if !r.Timestamp.After(last) && !last.IsZero() {
			t.Errorf("record %s %d at %v, not after %v", ProviderName(r.Provider), r.EventID, r.Timestamp, last)
		}
		last = r.Timestamp
		return d.Decode(r, emit)
	}); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(emit); err != nil {
		t.Fatal(err)
	}
	const proj = `C:\Users\dev\project`
	wantSummaries(t, evs,
		`exec 7420 `+agentPath+` `+q(agentPath, "--resume")+` root`,
		`connect 7420 203.0.113.10:443`,
		`open 7420 `+proj+`\src\app.js.tmp 01101`,
		`write_start 7420 `+proj+`\src\app.js.tmp`,
		`write_end 7420 `+proj+`\src\app.js.tmp 9392/3`,
		`open 7420 `+proj+`\src\app.js.tmp 0`,
		`rename 7420 `+proj+`\src\app.js.tmp -> `+proj+`\src\app.js`,
		`open 7420 C:\Users\dev\.claude\history.jsonl 0101`,
		`write_start 7420 C:\Users\dev\.claude\history.jsonl`,
		`fork 7420>8012`,
		`exec 8012 C:\Windows\System32\cmd.exe ["C:\\WINDOWS\\system32\\cmd.exe" "/d" "/s" "/c" "git status --porcelain > status.txt && powershell -NoProfile -Command Remove-Item build.log,out"]`,
		`open 8012 `+proj+`\status.txt 01101`,
		`fork 8012>8100`,
		`exec 8100 C:\Program Files\Git\cmd\git.exe ["git" "status" "--porcelain"]`,
		`open 8100 `+proj+`\.git\index 0`,
		`open 8100 `+proj+`\.git\index.lock 0301`,
		`write_start 8100 `+proj+`\.git\index.lock`,
		`write_end 8100 `+proj+`\.git\index.lock 9736/2`,
		`open 8100 `+proj+`\.git\index.lock 0`,
		`rename 8100 `+proj+`\.git\index.lock -> `+proj+`\.git\index`,
		`write_start 8100 `+proj+`\status.txt`,
		`write_end 8100 `+proj+`\status.txt 28/1 exit`,
		`exit 8100 0x0`,
		`fork 8012>8244`,
		`exec 8244 C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe ["powershell" "-NoProfile" "-Command" "Remove-Item" "build.log,out"]`,
		`open 8244 C:\Users\dev\AppData\Local\Temp\__PSScriptPolicyTest_kq2vx1wd.ps1 0301`,
		`write_start 8244 C:\Users\dev\AppData\Local\Temp\__PSScriptPolicyTest_kq2vx1wd.ps1`,
		`write_end 8244 C:\Users\dev\AppData\Local\Temp\__PSScriptPolicyTest_kq2vx1wd.ps1 1/1`,
		`unlink 8244 C:\Users\dev\AppData\Local\Temp\__PSScriptPolicyTest_kq2vx1wd.ps1`,
		`open 8244 `+proj+`\build.log 0`,
		`unlink 8244 `+proj+`\build.log`,
		`open 8244 `+proj+`\out 0200000`,
		`rmdir 8244 `+proj+`\out`,
		`send_end 7420 203.0.113.10:443 2317/3`,
		`exit 8244 0x0`,
		`exit 8012 0x0`,
		`write_end 7420 C:\Users\dev\.claude\history.jsonl 597/2 exit`,
		`send_end 7420 192.0.2.53:53 90/2 exit`,
		`exit 7420 0xc000013a`,
	)
	counts := map[sensor.Kind]int{}
	for i := range evs {
		counts[evs[i].Kind]++
	}
	if want := map[sensor.Kind]int{sensor.KindFork: 3, sensor.KindExec: 4, sensor.KindExit: 4, sensor.KindFile: 25, sensor.KindNet: 3}; !reflect.DeepEqual(counts, want) {
		t.Errorf("events by kind %v, want %v", counts, want)
	}
	root := evs[0]
	tree := sensor.Tree{RootStart: uint64(time.Date(2026, 3, 2, 10, 15, 0, 99988000, time.UTC).UnixNano()), RootPID: claude, Agent: 1}
	if root.Tree != tree || root.Cwd != `C:\Users\dev\project\` || root.CorrelationID != "sess-7f3a:turn-1" ||
		root.TraceID != "4bf92f3577b34da6a3ce929d0e0e4736" || root.Task.PPID != 5112 || root.Task.SID != userSID ||
		root.Task.StartTime != tree.RootStart || root.Task.Comm != "claude.exe" {
		t.Errorf("agent exec: %+v", root)
	}
	for i := range evs {
		if evs[i].Tree != tree {
			t.Errorf("%s: tree %+v", summary(&evs[i]), evs[i].Tree)
		}
		if evs[i].Task.StartTime == 0 || evs[i].Task.SID != userSID {
			t.Errorf("%s: task %+v", summary(&evs[i]), evs[i].Task)
		}
	}
	if scope.Len() != 0 {
		t.Errorf("%d processes tracked at the end", scope.Len())
	}
	if s := d.Stats(); s.PagingWrites != 1 || s.OutOfScope != 10 || s.Records != 71 {
		t.Errorf("stats %+v", s)
	}
}
