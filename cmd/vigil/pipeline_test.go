package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"
)

// A sink's loss reported from a shipper goroutine becomes a loss record
// at the next flush.
func TestPipelineSinkLost(t *testing.T) {
	var out bytes.Buffer
	p, err := newPipeline(pipelineConfig{Out: &out, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { p.sinkLost("siem", 1200); close(done) }()
	<-done
	if err := p.Flush(); err != nil {
		t.Fatal(err)
	}
	var rec struct {
		Event struct{ Action, Dataset string }
		Vigil struct {
			Loss struct {
				Cause string
				Count uint64
				Sink  string
			}
		}
	}
	if err := json.Unmarshal(out.Bytes(), &rec); err != nil {
		t.Fatalf("%v: %s", err, out.Bytes())
	}
	if rec.Event.Dataset != "vigil.loss" || rec.Vigil.Loss.Cause != "sink_behind_retention" || rec.Vigil.Loss.Count != 1200 || rec.Vigil.Loss.Sink != "siem" {
		t.Errorf("record: %s", out.Bytes())
	}
	if err := p.Flush(); err != nil || bytes.Count(out.Bytes(), []byte("\n")) != 1 {
		t.Errorf("reported twice: %s", out.Bytes())
	}
}
