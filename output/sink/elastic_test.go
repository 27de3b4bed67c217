package sink

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// esServer implements the _bulk semantics the sink relies on: create
// actions, 409 for an _id already there, per-item 429s, permanent item
// errors, and whole-cluster outages. A real Elasticsearch is not
// installable here (no package in the registries this project reaches),
// so the protocol is tested against this stand-in.
type esServer struct {
	mu        sync.Mutex
	docs      map[string]string // index/_id -> source
	throttle  map[string]int    // _id -> 429s still to answer
	reject    map[string]bool   // _id -> mapping error
	downUntil time.Time
	requests  int
}

func newESServer() *esServer {
	return &esServer{docs: map[string]string{}, throttle: map[string]int{}, reject: map[string]bool{}}
}

func (s *esServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	w.Header().Set("Content-Type", "application/json")
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	if time.Now().Before(s.downUntil) {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"error":"unavailable","status":503}`)
		return
	}
	if r.URL.Path != "/_bulk" {
		fmt.Fprint(w, `{"version":{"number":"8.19.0"},"tagline":"You Know, for Search"}`)
		return
	}
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(nil, 16<<20)
	var items []string
	errs := false
	for sc.Scan() {
		var action map[string]struct {
			Index string `json:"_index"`
			ID    string `json:"_id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &action); err != nil || !sc.Scan() {
			http.Error(w, "bad bulk body", http.StatusBadRequest)
			return
		}
		doc := sc.Text()
		a, ok := action["create"]
		if !ok {
			http.Error(w, "only create actions", http.StatusBadRequest)
			return
		}
		key := a.Index + "/" + a.ID
		status, errJSON := 201, ""
		switch {
		case s.reject[a.ID]:
			status, errJSON = 400, `,"error":{"type":"document_parsing_exception","reason":"failed to parse"}`
		case s.throttle[a.ID] > 0:
			s.throttle[a.ID]--
			status, errJSON = 429, `,"error":{"type":"es_rejected_execution_exception","reason":"queue full"}`
		case s.docs[key] != "":
			status, errJSON = 409, `,"error":{"type":"version_conflict_engine_exception","reason":"document already exists"}`
		default:
			s.docs[key] = doc
		}
		errs = errs || status >= 300
		items = append(items, fmt.Sprintf(`{"create":{"_index":%q,"_id":%q,"status":%d%s}}`, a.Index, a.ID, status, errJSON))
	}
	fmt.Fprintf(w, `{"took":1,"errors":%t,"items":[%s]}`, errs, strings.Join(items, ","))
}

func esRecords(n int) [][]byte {
	var out [][]byte
	for i := range n {
		out = append(out, []byte(fmt.Sprintf(`{"event":{"dataset":"vigil.process","hash":"h%03d","sequence":%d},"Vigil":{"x":1}}`, i, i+1)))
	}
	return out
}

func TestElasticBulk(t *testing.T) {
	srv := newESServer()
	ts := httptest.NewServer(srv)
	defer ts.Close()
	var rejects []string
	e, err := NewElastic(ElasticConfig{Addresses: []string{ts.URL}, Backoff: 20 * time.Millisecond,
		OnReject: func(r string) { rejects = append(rejects, r) }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	recs := esRecords(10)
	srv.throttle["h003"] = 2 // two 429s, then accepted
	srv.reject["h007"] = true
	if err := e.Send(ctx, recs); err != nil {
		t.Fatal(err)
	}
	// Sent again (a shipper retry after a crash): all 409, nothing doubled.
	if err := e.Send(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if len(srv.docs) != 9 {
		t.Errorf("%d documents stored, want 9 (one rejected for good)", len(srv.docs))
	}
	if _, ok := srv.docs["logs-vigil.process-default/h003"]; !ok {
		t.Error("the throttled record was not retried")
	}
	if e.Rejected.Load() != 2 || len(rejects) != 2 || !strings.Contains(rejects[0], "h007") {
		t.Errorf("rejected %d: %v", e.Rejected.Load(), rejects)
	}
	for k, v := range srv.docs {
		if !bytes.Contains([]byte(v), []byte(`"hash":"`+strings.TrimPrefix(k, "logs-vigil.process-default/")+`"`)) {
			t.Errorf("document %s holds %s", k, v)
		}
	}
}

// An outage of the whole cluster: the sink waits it out (or fails the
// batch for the shipper to retry) and nothing is lost or doubled.
func TestElasticOutage(t *testing.T) {
	srv := newESServer()
	ts := httptest.NewServer(srv)
	defer ts.Close()
	e, err := NewElastic(ElasticConfig{Addresses: []string{ts.URL}, Backoff: 100 * time.Millisecond, Retries: 8})
	if err != nil {
		t.Fatal(err)
	}
	srv.downUntil = time.Now().Add(1500 * time.Millisecond)
	recs := esRecords(20)
	if err := e.Send(context.Background(), recs); err != nil {
		t.Fatalf("send through an outage: %v", err)
	}
	if len(srv.docs) != 20 {
		t.Errorf("%d documents after the outage, want 20", len(srv.docs))
	}
	if srv.requests < 3 {
		t.Errorf("only %d requests: the outage was not waited out", srv.requests)
	}
}
