package etw

import "strings"

// devices maps NT device names to DOS drives for paths in kernel form:
// "\Device\HarddiskVolume3\Users\dev\a.txt" becomes "C:\Users\dev\a.txt"
// with "\Device\HarddiskVolume3" -> "C:" (what QueryDosDeviceW("C:")
// names). Keys are held lowercased: the object manager's names are
// case-insensitive.
type devices map[string]string

func newDevices(m map[string]string) devices {
	d := make(devices, len(m))
	for dev, drive := range m {
		dev = strings.TrimRight(dev, `\`)
		drive = strings.TrimRight(drive, `\`)
		if dev != "" && drive != "" {
			d[strings.ToLower(dev)] = drive
		}
	}
	return d
}

// mupPrefix is the device of UNC paths: "\Device\Mup\server\share\x" is
// "\\server\share\x".
const mupPrefix = `\device\mup\`

// dosPath converts a kernel path to DOS form where it can: a device the
// map names, the UNC redirector, and the "\??\" prefix of DOS paths in
// the object namespace. Other paths (named pipes, other devices, a
// volume no drive letter names) are returned as they are.
func (d devices) dosPath(p string) string {
	if rest, ok := strings.CutPrefix(p, `\??\`); ok {
		if unc, ok := cutPrefixFold(rest, `UNC\`); ok {
			return `\\` + unc
		}
		return rest
	}
	if len(p) < len(`\Device\`) || !strings.EqualFold(p[:len(`\Device\`)], `\Device\`) {
		return p
	}
	if unc, ok := cutPrefixFold(p, mupPrefix); ok {
		return `\\` + unc
	}
	end := strings.IndexByte(p[len(`\Device\`):], '\\')
	dev, rest := p, ""
	if end >= 0 {
		dev, rest = p[:len(`\Device\`)+end], p[len(`\Device\`)+end:]
	}
	drive, ok := d[strings.ToLower(dev)]
	if !ok {
		return p
	}
	if rest == "" {
		rest = `\`
	}
	return drive + rest
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

// absolute reports whether p is a whole path: a drive's ("C:\"), a UNC
// path ("\\server\share") or one in the NT namespace ("\Device\...").
func absolute(p string) bool {
	if len(p) >= 3 && p[1] == ':' && (p[2] == '\\' || p[2] == '/') {
		c := p[0] | 0x20
		return 'a' <= c && c <= 'z'
	}
	return strings.HasPrefix(p, `\`)
}

// baseName is the last element of a Windows path.
func baseName(p string) string {
	if i := strings.LastIndexAny(p, `\/`); i >= 0 {
		return p[i+1:]
	}
	if len(p) >= 2 && p[1] == ':' {
		return p[2:]
	}
	return p
}

// comm is a process's name as Task.Comm holds it: the image's base name
// cut to 15 bytes (Linux's TASK_COMM_LEN less its NUL), on a rune
// boundary.
func comm(image string) string {
	s := baseName(image)
	if len(s) <= 15 {
		return s
	}
	n := 15
	for n > 0 && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:n]
}
