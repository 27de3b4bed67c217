package etw

import "testing"

func TestDOSPath(t *testing.T) {
	d := newDevices(map[string]string{
		`\Device\HarddiskVolume3`:  "C:",
		`\Device\HarddiskVolume4\`: `D:\`,
	})
	for _, tc := range []struct{ in, want string }{
		{`\Device\HarddiskVolume3\Users\dev\a.txt`, `C:\Users\dev\a.txt`},
		{`\device\HARDDISKVOLUME3\x`, `C:\x`},
		{`\Device\HarddiskVolume3`, `C:\`},
		{`\Device\HarddiskVolume4\data`, `D:\data`},
		{`\Device\HarddiskVolume30\x`, `\Device\HarddiskVolume30\x`}, // not volume 3
		{`\Device\HarddiskVolume9\x`, `\Device\HarddiskVolume9\x`},   // no drive letter: kept
		{`\Device\Mup\fileserver\share\doc.txt`, `\\fileserver\share\doc.txt`},
		{`\??\C:\Windows\x`, `C:\Windows\x`},
		{`\??\UNC\srv\sh\x`, `\\srv\sh\x`},
		{`\Device\NamedPipe\mojo.1234`, `\Device\NamedPipe\mojo.1234`},
		{`\Device\Afd\Endpoint`, `\Device\Afd\Endpoint`},
		{`relative\name`, `relative\name`},
		{``, ``},
	} {
		if got := d.dosPath(tc.in); got != tc.want {
			t.Errorf("dosPath(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := (devices{}).dosPath(`\Device\HarddiskVolume3\x`); got != `\Device\HarddiskVolume3\x` {
		t.Errorf("no map: %q", got)
	}
}

func TestPathHelpers(t *testing.T) {
	for _, tc := range []struct {
		p               string
		abs, volume     bool
		base, truncTo15 string
	}{
		{`C:\Windows\System32\cmd.exe`, true, true, `cmd.exe`, `cmd.exe`},
		{`c:/x/y.txt`, true, true, `y.txt`, `y.txt`},
		{`\\srv\share\f`, true, true, `f`, `f`},
		{`\\.\pipe\x`, true, false, `x`, `x`},
		{`\Device\HarddiskVolume9\a\b`, true, true, `b`, `b`},
		{`\Device\ConDrv\Output`, true, false, `Output`, `Output`},
		{`relative.txt`, false, false, `relative.txt`, `relative.txt`},
		{`\`, true, false, ``, ``},
		{`C:`, false, false, ``, ``},
		{``, false, false, ``, ``},
		{`C:\Program Files\x\averyveryverylongname.exe`, true, true, `averyveryverylongname.exe`, `averyveryverylo`},
		{`C:\x\ééééééééé.exe`, true, true, `ééééééééé.exe`, `ééééééé`}, // cut on a rune boundary
	} {
		if absolute(tc.p) != tc.abs || onVolume(tc.p) != tc.volume || baseName(tc.p) != tc.base || comm(tc.p) != tc.truncTo15 {
			t.Errorf("%q: absolute %v onVolume %v base %q comm %q", tc.p, absolute(tc.p), onVolume(tc.p), baseName(tc.p), comm(tc.p))
		}
	}
}
