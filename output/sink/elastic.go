package sink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esutil"
)

// ElasticConfig says where records go in Elasticsearch.
type ElasticConfig struct {
	Addresses []string
	APIKey    string // or Username/Password
	Username  string
	Password  string
	Namespace string // data stream namespace; default "default"
	// Transport is the HTTP transport (TLS settings); default http's.
	Transport http.RoundTripper
	// Retries of the items the cluster refused for now (429, 5xx) within
	// one Send; default 5. The shipper retries the whole batch after that.
	Retries int
	Backoff time.Duration // first wait between retries; default 200ms
	// OnReject hears of records the cluster refused for good (a mapping
	// error, say); they stay in the local store.
	OnReject func(reason string)
}

// Elastic indexes records into data streams logs-<event.dataset>-<ns>
// with _bulk create actions and _id = event.hash, so a retried record is
// a 409 conflict, counted as delivered: at least once, never twice.
type Elastic struct {
	cfg      ElasticConfig
	client   *elasticsearch.Client
	Rejected atomic.Uint64 // records refused for good
}

// NewElastic returns an Elasticsearch sink.
func NewElastic(cfg ElasticConfig) (*Elastic, error) {
	if cfg.Namespace == "" {
		cfg.Namespace = "default"
	}
	if cfg.Retries <= 0 {
		cfg.Retries = 5
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 200 * time.Millisecond
	}
	c, err := elasticsearch.NewClient(elasticsearch.Config{
		Addresses: cfg.Addresses, APIKey: cfg.APIKey, Username: cfg.Username, Password: cfg.Password,
		Transport: cfg.Transport,
		// Whole-request failures (cluster overloaded or down) are retried
		// by the transport; per-item ones by Send.
		RetryOnStatus: []int{429, 502, 503, 504},
		MaxRetries:    3,
		RetryBackoff:  func(n int) time.Duration { return time.Duration(n) * 100 * time.Millisecond },
	})
	if err != nil {
		return nil, fmt.Errorf("elasticsearch: %w", err)
	}
	return &Elastic{cfg: cfg, client: c}, nil
}

// Send indexes records; it returns nil once every record is in the
// cluster (created now, or already there).
func (e *Elastic) Send(ctx context.Context, records [][]byte) error {
	pending := records
	wait := e.cfg.Backoff
	var rejected []string
	for attempt := 0; len(pending) > 0; attempt++ {
		if attempt > 0 {
			if attempt > e.cfg.Retries {
				return fmt.Errorf("elasticsearch: %d records not accepted after %d tries", len(pending), attempt)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
			wait *= 2
		}
		var (
			mu    sync.Mutex
			retry [][]byte
		)
		bi, err := esutil.NewBulkIndexer(esutil.BulkIndexerConfig{
			Client: e.client, NumWorkers: 1, FlushBytes: 8 << 20, FlushInterval: time.Hour,
		})
		if err != nil {
			return fmt.Errorf("elasticsearch: %w", err)
		}
		for _, rec := range pending {
			id, stream, err := e.target(rec)
			if err != nil {
				rejected = append(rejected, err.Error())
				continue
			}
			rec := rec
			err = bi.Add(ctx, esutil.BulkIndexerItem{
				Action: "create", Index: stream, DocumentID: id, Body: bytes.NewReader(rec),
				OnFailure: func(_ context.Context, _ esutil.BulkIndexerItem, res esutil.BulkIndexerResponseItem, err error) {
					mu.Lock()
					defer mu.Unlock()
					switch {
					case res.Status == http.StatusConflict:
						// Already there: a retry of a record the cluster took.
					case err != nil || res.Status == http.StatusTooManyRequests || res.Status >= 500 || res.Status == 0:
						retry = append(retry, rec)
					default:
						rejected = append(rejected, fmt.Sprintf("%s: %d %s: %s", id, res.Status, res.Error.Type, res.Error.Reason))
					}
				},
			})
			if err != nil {
				return fmt.Errorf("elasticsearch: %w", err)
			}
		}
		if err := bi.Close(ctx); err != nil {
			return fmt.Errorf("elasticsearch: %w", err)
		}
		pending = retry
	}
	if len(rejected) > 0 {
		// Retrying cannot fix these; holding the batch back would stall
		// every record after them. Count and report them, and go on: the
		// local store still has them.
		e.Rejected.Add(uint64(len(rejected)))
		if e.cfg.OnReject != nil {
			e.cfg.OnReject(strings.Join(rejected, "; "))
		}
	}
	return nil
}

// target is a record's _id (its event.hash) and data stream.
func (e *Elastic) target(rec []byte) (id, stream string, err error) {
	var head struct {
		Event struct {
			Hash    string `json:"hash"`
			Dataset string `json:"dataset"`
		} `json:"event"`
	}
	if err := json.Unmarshal(rec, &head); err != nil {
		return "", "", fmt.Errorf("record: %w", err)
	}
	if head.Event.Hash == "" || head.Event.Dataset == "" {
		return "", "", errors.New("record without event.hash or event.dataset (unsealed?)")
	}
	return head.Event.Hash, "logs-" + head.Event.Dataset + "-" + e.cfg.Namespace, nil
}

// Close releases nothing: the client holds idle connections only.
func (e *Elastic) Close() error { return nil }
