package sink

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A stand-in HTTP Event Collector (Splunk is not installable here):
// checks the token, reads concatenated JSON events, answers like HEC.
func TestSplunkHEC(t *testing.T) {
	var got []map[string]any
	fail := 1
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Splunk t0ken" {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"text":"Invalid token","code":4}`)
			return
		}
		if fail > 0 {
			fail--
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"text":"Server is busy","code":9}`)
			return
		}
		dec := json.NewDecoder(r.Body)
		for dec.More() {
			var ev map[string]any
			if err := dec.Decode(&ev); err != nil {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			got = append(got, ev)
		}
		io.WriteString(w, `{"text":"Success","code":0}`)
	}))
	defer srv.Close()
	recs := [][]byte{
		[]byte(`{"@timestamp":"2026-11-27T10:00:00.25Z","event":{"action":"exec","sequence":1}}`),
		[]byte(`{"@timestamp":"2026-11-27T10:00:01Z","event":{"action":"end","sequence":2}}`),
	}
	bad := NewSplunk(SplunkConfig{URL: srv.URL, Token: "wrong"})
	if err := bad.Send(context.Background(), recs); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("wrong token: %v", err)
	}
	s := NewSplunk(SplunkConfig{URL: srv.URL, Token: "t0ken", Index: "agents"})
	if err := s.Send(context.Background(), recs); err == nil {
		t.Fatal("a busy collector was taken as a delivery")
	}
	if err := s.Send(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0]["time"] != 1795773600.25 || got[0]["index"] != "agents" || got[0]["sourcetype"] != "vigil:ecs" {
		t.Fatalf("events: %v", got)
	}
	if ev := got[1]["event"].(map[string]any); ev["event"].(map[string]any)["action"] != "end" {
		t.Errorf("record not carried as the event: %v", got[1])
	}
}
