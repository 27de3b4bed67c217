package redact

import (
	"slices"
	"testing"
)

const m = DefaultMarker

var stringCases = []struct {
	rule, in, want string
}{
	// Rule 1: query parameters.
	{"query", "https://api.example.com/v1?token=abc123&page=2", "https://api.example.com/v1?token=" + m + "&page=2"},
	{"query", "https://x.test/a?page=1&api_key=zzz#frag", "https://x.test/a?page=1&api_key=" + m + "#frag"},
	{"query", "/path?Signature=abc&X-Amz-Credential=def&x=1", "/path?Signature=" + m + "&X-Amz-Credential=" + m + "&x=1"},
	{"query", "https://x.test/?q=monkey", "https://x.test/?q=monkey"},
	// Rule 2: assignments and long flags.
	{"assign", "--password=hunter2", "--password=" + m},
	{"assign", "GITHUB_TOKEN=ghp_abc", "GITHUB_TOKEN=" + m},
	{"assign", "-auth=xyz", "-auth=" + m},
	{"assign", "curl --oauth2-bearer=tok https://a", "curl --oauth2-bearer=" + m + " https://a"},
	{"assign", "sh -c 'AWS_SECRET_ACCESS_KEY=abc aws s3 ls'", "sh -c 'AWS_SECRET_ACCESS_KEY=" + m + " aws s3 ls'"},
	{"assign", "--color=always", "--color=always"},
	// Rule 4: headers.
	{"header", "Authorization: Bearer eyJhbGciOi", "Authorization: " + m},
	{"header", "curl -H 'X-Api-Key: s3cr3t' https://a.test", "curl -H 'X-Api-Key: " + m + "' https://a.test"},
	{"header", "Proxy-Authorization:Basic Zm9vOmJhcg==", "Proxy-Authorization: " + m},
	{"header", "Content-Type: application/json", "Content-Type: application/json"},
	// Rule 5: URL userinfo.
	{"userinfo", "https://user:pa55@github.com/org/repo.git", "https://" + m + "@github.com/org/repo.git"},
	{"userinfo", "git clone https://ghp_token@github.com/o/r", "git clone https://" + m + "@github.com/o/r"},
	{"userinfo", "ssh git@github.com", "ssh git@github.com"},
	// Nothing to do.
	{"none", "ls -la /tmp", "ls -la /tmp"},
}

func TestString(t *testing.T) {
	r := Default()
	for _, c := range stringCases {
		if got := r.String(c.in); got != c.want {
			t.Errorf("rule %s: String(%q) = %q, want %q", c.rule, c.in, got, c.want)
		}
	}
}

func TestArgs(t *testing.T) {
	r := Default()
	for _, c := range []struct {
		in, want []string
	}{
		// Rule 3: a secret flag's value is the next argument.
		{[]string{"mysql", "--password", "hunter2", "-h", "db"}, []string{"mysql", "--password", m, "-h", "db"}},
		{[]string{"tool", "-token", "abc", "file"}, []string{"tool", "-token", m, "file"}},
		{[]string{"curl", "-H", "Authorization: Bearer x", "https://a.test?key=1"}, []string{"curl", "-H", "Authorization: " + m, "https://a.test?key=" + m}},
		{[]string{"ls", "-l"}, []string{"ls", "-l"}},
	} {
		got := r.Args(c.in)
		if !slices.Equal(got, c.want) {
			t.Errorf("Args(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	clean := []string{"echo", "hello"}
	if got := r.Args(clean); &got[0] != &clean[0] {
		t.Error("Args copied a vector that needed no change")
	}
	orig := []string{"x", "--password=1"}
	r.Args(orig)
	if orig[1] != "--password=1" {
		t.Error("Args modified its input")
	}
}

func TestConfigurable(t *testing.T) {
	r, err := New(`(?i)^pin$`, "***")
	if err != nil {
		t.Fatal(err)
	}
	if got := r.String("--pin=1234 --password=x"); got != "--pin=*** --password=x" {
		t.Errorf("custom names: %q", got)
	}
	if _, err := New("(", ""); err == nil {
		t.Error("a bad pattern was accepted")
	}
	var none *Redactor
	if got := none.String("--password=x"); got != "--password=x" {
		t.Error("a nil Redactor changed a string")
	}
}

func FuzzString(f *testing.F) {
	for _, c := range stringCases {
		f.Add(c.in)
	}
	r := Default()
	f.Fuzz(func(t *testing.T, s string) {
		out := r.String(s)
		if r.String(out) != out {
			t.Errorf("not idempotent: %q -> %q -> %q", s, out, r.String(out))
		}
	})
}
