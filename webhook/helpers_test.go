package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/polaris/reportd/memory"
	"github.com/polaris/reportd/report"
)

const testSecret = "whsec-test-0123456789"

// received is one request a receiver got, with its verdict.
type received struct {
	header  http.Header
	body    []byte
	status  int
	verdict string // accepted, duplicate, bad signature, stale, scripted failure
}

// receiver is the app's side, written as the README tells receivers to:
// HMAC over the raw bytes it got, then freshness of the timestamp, then
// deduplication by delivery id. It does not use this package's helpers, so
// it checks them independently.
type receiver struct {
	t         *testing.T
	srv       *httptest.Server
	secret    []byte
	tolerance time.Duration
	requests  chan received

	mu    sync.Mutex
	now   func() time.Time
	fail  int // answer 500 to this many more valid requests
	seen  map[string]bool
	log   []received
	paths []string
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{t: t, secret: []byte(testSecret), tolerance: 5 * time.Minute, now: time.Now,
		seen: map[string]bool{}, requests: make(chan received, 100)}
	r.srv = httptest.NewServer(r)
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	status, verdict := r.judge(req.Header, body)
	got := received{header: req.Header.Clone(), body: body, status: status, verdict: verdict}
	r.mu.Lock()
	r.log = append(r.log, got)
	r.paths = append(r.paths, req.URL.Path)
	r.mu.Unlock()
	w.WriteHeader(status)
	r.requests <- got
}

func (r *receiver) judge(h http.Header, body []byte) (int, string) {
	mac := hmac.New(sha256.New, r.secret)
	mac.Write(body)
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(h.Get("X-Webhook-Signature")), []byte(want)) {
		return http.StatusUnauthorized, "bad signature"
	}
	var env struct {
		DeliveryID string `json:"delivery_id"`
		Timestamp  int64  `json:"timestamp"`
	}
	if json.Unmarshal(body, &env) != nil || env.DeliveryID == "" || env.DeliveryID != h.Get("X-Webhook-Id") ||
		strconv.FormatInt(env.Timestamp, 10) != h.Get("X-Webhook-Timestamp") {
		return http.StatusBadRequest, "bad envelope"
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if age := r.now().Sub(time.Unix(env.Timestamp, 0)); age > r.tolerance || age < -r.tolerance {
		return http.StatusBadRequest, "stale"
	}
	if r.seen[env.DeliveryID] {
		return http.StatusOK, "duplicate" // acknowledged, not processed again
	}
	if r.fail > 0 {
		r.fail--
		return http.StatusInternalServerError, "scripted failure"
	}
	r.seen[env.DeliveryID] = true
	return http.StatusOK, "accepted"
}

// next waits for the receiver's next request.
func (r *receiver) next(t *testing.T) received {
	t.Helper()
	select {
	case got := <-r.requests:
		return got
	case <-time.After(10 * time.Second):
		t.Fatal("no webhook arrived")
		return received{}
	}
}

func (r *receiver) accepted() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, got := range r.log {
		if got.verdict == "accepted" {
			n++
		}
	}
	return n
}

// fixture is a memory store with one user.
type fixture struct {
	store *memory.Store
	user  report.Caller
}

func newFixture() *fixture {
	return &fixture{store: memory.New(nil), user: report.Caller{UserID: uuid.NewString(), Role: report.RoleUser}}
}

// finish creates a job with meta, runs it and ends it: with the result, or
// failed with errMsg when result is "".
func (f *fixture) finish(t *testing.T, meta, result, errMsg string) report.Job {
	t.Helper()
	ctx := context.Background()
	j, _, err := f.store.Create(ctx, f.user, report.NewJob{JobID: report.NewJobID(time.Now()), Prompt: "p", Model: "sonar",
		Temperature: 0.2, MaxTokens: 100, MaxAttempts: 1, Metadata: json.RawMessage(meta),
		SummaryID: "5f0c6a52-3c1e-4c7a-9d5e-2f4b8a1c0d9e"})
	if err != nil {
		t.Fatal(err)
	}
	claimed, err := f.store.Claim(ctx, report.ClaimRequest{Worker: "w", Limit: 1, Lease: time.Minute})
	if err != nil || len(claimed.Jobs) != 1 {
		t.Fatalf("claim: %v %v", claimed, err)
	}
	l := report.LeaseOf(claimed.Jobs[0])
	if result != "" {
		err = f.store.Complete(ctx, l, report.Completion{Result: result, Metadata: json.RawMessage(`{"provider":"perplexity"}`)})
	} else {
		_, err = f.store.Fail(ctx, l, report.Failure{Message: errMsg, ChargeAttempt: true})
	}
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func (f *fixture) delivery(t *testing.T, jobID string) report.Delivery {
	t.Helper()
	ds, err := f.store.JobDeliveries(context.Background(), f.user, jobID)
	if err != nil || len(ds) != 1 {
		t.Fatalf("deliveries of %s: %+v %v", jobID, ds, err)
	}
	return ds[0]
}

// awaitDelivery waits until the job's delivery reaches a final state.
func (f *fixture) awaitDelivery(t *testing.T, jobID string) report.Delivery {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		d := f.delivery(t, jobID)
		switch d.Status {
		case report.DeliveryDelivered, report.DeliveryFailed, report.DeliverySkipped:
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery of %s still %s", jobID, d.Status)
		}
		time.Sleep(5 * time.Millisecond) // polling the store, as an operator would
	}
}

func fastConfig(base string) Config {
	return Config{BaseURL: base, Secret: testSecret, Timeout: 2 * time.Second, MaxRetries: 3,
		BackoffBase: 5 * time.Millisecond, BackoffMax: 20 * time.Millisecond, PollInterval: 5 * time.Millisecond}
}

// run starts a dispatcher and stops it when the test ends.
func run(t *testing.T, cfg Config, outbox report.Outbox) *Dispatcher {
	t.Helper()
	d, err := New(cfg, outbox, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = d.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return d
}

func decode(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("payload %s: %v", body, err)
	}
	return m
}
