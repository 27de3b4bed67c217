// Package netparse reads the head of a socket's first payload, as the
// sensor captured it, and says what protocol message it starts: a DNS
// query or answer (with golang.org/x/net/dns/dnsmessage, the parser Go's
// own resolver uses), an HTTP/1.x request line and Host header, or a TLS
// ClientHello's server name (both parsed by hand).
//
// Input is untrusted and often cut short. Every parser returns an error
// for anything it cannot read — never a guess, never a panic — and
// ErrTruncated when the message may continue past the captured bytes.
package netparse
