package sensor

// The correlator's strongest join key: ids a launcher puts in the
// environment of the processes it starts. The kernel copies the values
// at exec (tracked processes only); these functions decide what counts.

// Environment variables that carry correlation ids.
const (
	EnvCorrelationID = "VIGIL_CORRELATION_ID" // an opaque id chosen by the launcher
	EnvTraceparent   = "TRACEPARENT"          // a W3C Trace Context traceparent
)

// MaxCorrelationID is the longest VIGIL_CORRELATION_ID value accepted.
const MaxCorrelationID = 128

// EnvScanBytes bounds the kernel's search of an environment: the strings
// that start in its first EnvScanBytes bytes are looked at (and at most
// EnvScanSteps reads of 255 bytes). Beyond that an exec record says
// [FlagEnvTruncated] unless both ids were found.
const (
	EnvScanBytes = 32768
	EnvScanSteps = 1024
)

// Lengths of a version-00 traceparent and of its parts.
const (
	traceparentLen = 55 // "00-" trace-id "-" parent-id "-" flags
	traceIDLen     = 32
	spanIDLen      = 16
)

// ParseCorrelationID returns s if it is a valid correlation id: 1 to
// [MaxCorrelationID] bytes of [A-Za-z0-9._:/@+=-].
func ParseCorrelationID(s string) (string, bool) {
	if !validCorrelationID(s) {
		return "", false
	}
	return s, true
}

func validCorrelationID[T ~string | ~[]byte](s T) bool {
	if len(s) == 0 || len(s) > MaxCorrelationID {
		return false
	}
	for i := range len(s) {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.', c == '_', c == ':', c == '/', c == '@', c == '+', c == '=', c == '-':
		default:
			return false
		}
	}
	return true
}

// ParseTraceparent returns the trace id and parent id of a W3C
// traceparent ("00-<32 hex trace-id>-<16 hex parent-id>-<2 hex flags>").
// Hex digits must be lowercase and ids not all zero; version ff is
// invalid. A later version is read by its first four fields, as the
// specification asks: the value is at least as long as version 00's, and
// anything past the flags starts with '-'.
func ParseTraceparent(s string) (traceID, spanID string, ok bool) {
	if !validTraceparent(s) {
		return "", "", false
	}
	return s[3 : 3+traceIDLen], s[4+traceIDLen : 4+traceIDLen+spanIDLen], true
}

func validTraceparent[T ~string | ~[]byte](s T) bool {
	if len(s) < traceparentLen || !lowerHex(s[0:2]) || s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return false
	}
	switch {
	case s[0] == 'f' && s[1] == 'f':
		return false // forbidden version
	case s[0] == '0' && s[1] == '0':
		if len(s) != traceparentLen {
			return false
		}
	case len(s) > traceparentLen && s[traceparentLen] != '-':
		return false
	}
	trace, span := s[3:35], s[36:52]
	return lowerHex(trace) && !allZero(trace) && lowerHex(span) && !allZero(span) && lowerHex(s[53:55])
}

func lowerHex[T ~string | ~[]byte](s T) bool {
	for i := range len(s) {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func allZero[T ~string | ~[]byte](s T) bool {
	for i := range len(s) {
		if s[i] != '0' {
			return false
		}
	}
	return true
}
