package etw

import (
	"testing"
	"unicode/utf16"
)

func TestEnvIDs(t *testing.T) {
	block := func(s string) []uint16 { return utf16.Encode([]rune(s)) }
	for _, tc := range []struct {
		in          string
		corr, trace string
	}{
		{"=C:=C:\\x\x00PATH=C:\\Windows\x00VIGIL_CORRELATION_ID=turn-1\x00TRACEPARENT=00-ab\x00\x00", "turn-1", "00-ab"},
		{"vigil_correlation_id=a=b\x00Traceparent=t\x00\x00", "a=b", "t"},
		{"=VIGIL_CORRELATION_ID=x\x00NOEQUALS\x00\x00", "", ""},
		{"VIGIL_CORRELATION_ID=whole\x00TRACEPARENT=cut sho", "whole", ""},
		{"\x00VIGIL_CORRELATION_ID=after-end\x00\x00", "", ""},
		{"", "", ""},
	} {
		corr, trace := envIDs(block(tc.in))
		if corr != tc.corr || trace != tc.trace {
			t.Errorf("envIDs(%q) = %q, %q; want %q, %q", tc.in, corr, trace, tc.corr, tc.trace)
		}
	}
}
