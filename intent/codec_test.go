package intent

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

func full() Intent {
	temp, topK, cost := 0.2, 40.0, 0.0125
	in, out := int64(1200), int64(310)
	yes := true
	return Intent{
		V: 1, Type: ModelCall, Time: time.Date(2026, 11, 27, 10, 0, 0, 123, time.UTC),
		Agent: Agent{ID: "a-1", Name: "claude-code", Version: "2.0.14"}, SessionID: "s-1",
		CorrelationID: "corr-9", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", ToolCallID: "toolu_1", ToolName: "Bash", PID: 42,
		Prompt:    &PromptRef{SHA256: strings.Repeat("ab", 32), TemplateID: "t"},
		Model:     &Model{Provider: "anthropic", Name: "claude-x", Temperature: &temp, TopK: &topK, InputTokens: &in, OutputTokens: &out, CostUSD: &cost},
		Reasoning: "because", Consent: &Consent{UserApproved: &yes, Mode: "acceptEdits"},
		Decision: &Decision{Outcome: "allow", Policy: "p", Rule: "r", Reason: "ok"},
		Actions:  []Action{{Kind: Exec, Command: "ls"}, {Kind: Network, Host: "h", Port: 443, URL: "https://h/"}},
		Outcome:  "success",
	}
}

// Both framings carry every field unchanged.
func TestRoundTrip(t *testing.T) {
	for _, f := range []Format{JSON, Msgpack} {
		b, err := Append(nil, full(), f)
		if err != nil {
			t.Fatal(err)
		}
		r := NewReader(bytes.NewReader(b), 0)
		msg, got, err := r.Next()
		if err != nil || got != f {
			t.Fatalf("%v: Next = %v, %v", f, got, err)
		}
		in, err := Decode(msg, f)
		if err != nil {
			t.Fatalf("%v: %v", f, err)
		}
		if want := full(); !reflect.DeepEqual(in, want) {
			t.Errorf("%v round trip:\ngot  %+v\nwant %+v", f, in, want)
		}
		if _, _, err := r.Next(); err != io.EOF {
			t.Errorf("%v: after the message: %v, want EOF", f, err)
		}
	}
}

// A stream mixing both framings and broken messages: every good message
// is read, every bad one is reported and skipped, in order.
func TestReaderSkipsBadMessages(t *testing.T) {
	var s []byte
	good := func(f Format) { s, _ = Append(s, valid(), f) }
	good(JSON)
	s = append(s, "\n\r\n"...) // blank lines
	good(Msgpack)
	s = append(s, "garbage line\n"...)
	good(JSON)
	s = append(s, '{')
	s = append(s, bytes.Repeat([]byte("x"), 300)...) // too long for max 256
	s = append(s, "}\n"...)
	good(Msgpack)
	s = append(s, 0, 0, 1, 44) // msgpack of 300 bytes > 256: skipped by length
	s = append(s, bytes.Repeat([]byte{0xc1}, 300)...)
	good(JSON)
	s = append(s, `{"v":1,"type":`+"\n"...) // framed, not decodable
	s = append(s, 0, 0, 0, 2, 0x81, 0xc1)   // framed msgpack, not decodable
	good(Msgpack)
	s = append(s, `{"cut":`...) // the stream ends mid-message

	want := []string{"json", "msgpack", "framing", "json", "framing", "msgpack", "framing", "json", "invalid", "invalid", "msgpack", "eof"}
	r := NewReader(bytes.NewReader(s), 256)
	var got []string
	for len(got) < 20 {
		msg, f, err := r.Next()
		switch {
		case errors.Is(err, ErrFraming):
			got = append(got, "framing")
			continue
		case errors.Is(err, io.ErrUnexpectedEOF):
			got = append(got, "eof")
		case err != nil:
			t.Fatalf("after %v: %v", got, err)
		}
		if err != nil {
			break
		}
		in, err := Decode(msg, f)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Decode error %v is not ErrInvalid", err)
			}
			got = append(got, "invalid")
			continue
		}
		if err := in.Normalize(false); err != nil {
			t.Fatalf("message %d: %v", len(got), err)
		}
		got = append(got, f.String())
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("read\n%v\nwant\n%v", got, want)
	}
}

func FuzzReadJSON(f *testing.F) {
	b, _ := Append(nil, full(), JSON)
	f.Add(b)
	f.Add([]byte("{}\n{\"v\":1}\n"))
	f.Add([]byte("x\n{"))
	f.Fuzz(func(t *testing.T, data []byte) { readAll(t, data) })
}

func FuzzReadMsgpack(f *testing.F) {
	b, _ := Append(nil, full(), Msgpack)
	f.Add(b)
	f.Add([]byte{0, 0, 0, 1, 0x80})
	f.Add([]byte{0, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) { readAll(t, data) })
}

// readAll reads a stream to its end: no input makes the reader or the
// decoder panic or loop, and whatever decodes either normalizes or is
// refused with ErrInvalid.
func readAll(t *testing.T, data []byte) {
	r := NewReader(bytes.NewReader(data), 4096)
	for range len(data) + 1 {
		msg, f, err := r.Next()
		if errors.Is(err, ErrFraming) {
			continue
		}
		if err != nil {
			return
		}
		in, err := Decode(msg, f)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Decode: %v is not ErrInvalid", err)
			}
			continue
		}
		if err := in.Normalize(false); err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("Normalize: %v is not ErrInvalid", err)
		}
	}
	if _, _, err := r.Next(); err == nil || errors.Is(err, ErrFraming) {
		t.Fatalf("the reader did not reach the end of %d bytes", len(data))
	}
}
