package sink

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// SplunkConfig says where records go in Splunk.
type SplunkConfig struct {
	URL        string // HEC endpoint, e.g. https://splunk:8088/services/collector/event
	Token      string
	Index      string // optional
	SourceType string // default "vigil:ecs"
	Client     *http.Client
}

// Splunk sends records to the HTTP Event Collector: one request per
// batch, its body the events as concatenated JSON objects, authorized by
// "Authorization: Splunk <token>". Each event carries the record as its
// "event" and the record's time.
type Splunk struct {
	cfg SplunkConfig
	buf bytes.Buffer
}

// NewSplunk returns a Splunk HEC sink.
func NewSplunk(cfg SplunkConfig) *Splunk {
	if cfg.SourceType == "" {
		cfg.SourceType = "vigil:ecs"
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 30 * time.Second}
	}
	return &Splunk{cfg: cfg}
}

// Send posts one batch. Any status but 200 is an error: the shipper
// sends the batch again (HEC has no idempotent ids, so a batch the
// server took but did not acknowledge may arrive twice).
func (s *Splunk) Send(ctx context.Context, records [][]byte) error {
	s.buf.Reset()
	for _, r := range records {
		var head struct {
			Timestamp string `json:"@timestamp"`
		}
		if err := json.Unmarshal(r, &head); err != nil {
			return fmt.Errorf("splunk: %w", err)
		}
		ev := struct {
			Time       float64         `json:"time,omitempty"`
			Host       string          `json:"host,omitempty"`
			Source     string          `json:"source"`
			SourceType string          `json:"sourcetype"`
			Index      string          `json:"index,omitempty"`
			Event      json.RawMessage `json:"event"`
		}{Source: "vigil", SourceType: s.cfg.SourceType, Index: s.cfg.Index, Event: r}
		if t, err := time.Parse(time.RFC3339Nano, head.Timestamp); err == nil {
			ev.Time = float64(t.UnixMicro()) / 1e6
		}
		b, err := json.Marshal(ev)
		if err != nil {
			return fmt.Errorf("splunk: %w", err)
		}
		s.buf.Write(b)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.URL, bytes.NewReader(s.buf.Bytes()))
	if err != nil {
		return fmt.Errorf("splunk: %w", err)
	}
	req.Header.Set("Authorization", "Splunk "+s.cfg.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.cfg.Client.Do(req)
	if err != nil {
		return fmt.Errorf("splunk: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("splunk: HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(body))
	}
	return nil
}

// Close releases nothing.
func (s *Splunk) Close() error { return nil }
