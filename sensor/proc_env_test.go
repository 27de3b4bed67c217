//go:build linux

package sensor

import "testing"

func TestEnvIDs(t *testing.T) {
	tp := "TRACEPARENT=" + testTraceparent
	for _, tc := range []struct {
		name, env         string
		corr, trace, span string
	}{
		{"none", "HOME=/root\x00PATH=/bin\x00", "", "", ""},
		{"empty block", "", "", "", ""},
		{"both", "A=1\x00VIGIL_CORRELATION_ID=abc-123\x00" + tp + "\x00", "abc-123", testTraceID, testSpanID},
		{"last without NUL", "VIGIL_CORRELATION_ID=abc-123", "abc-123", "", ""},
		{"first occurrence counts", "VIGIL_CORRELATION_ID=one\x00VIGIL_CORRELATION_ID=two\x00", "one", "", ""},
		{"invalid first hides a valid second", "VIGIL_CORRELATION_ID=a b\x00VIGIL_CORRELATION_ID=two\x00", "", "", ""},
		{"name only at the start", "X_VIGIL_CORRELATION_ID=x\x00XTRACEPARENT=" + testTraceparent + "\x00", "", "", ""},
		{"name is case-sensitive", "vigil_correlation_id=x\x00traceparent=" + testTraceparent + "\x00", "", "", ""},
		{"no '='", "VIGIL_CORRELATION_ID\x00TRACEPARENT\x00", "", "", ""},
		{"malformed traceparent", "TRACEPARENT=00-zz\x00VIGIL_CORRELATION_ID=c\x00", "c", "", ""},
	} {
		corr, trace, span := envIDs([]byte(tc.env))
		if corr != tc.corr || trace != tc.trace || span != tc.span {
			t.Errorf("%s: got %q %q %q, want %q %q %q", tc.name, corr, trace, span, tc.corr, tc.trace, tc.span)
		}
	}
}
