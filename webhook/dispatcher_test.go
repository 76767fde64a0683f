package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/polaris/reportd/report"
)

// Acceptance 1: the receiver verifies the signature against the exact bytes
// it received, and the payload is the old one.
func TestReceiverVerifiesTheSignature(t *testing.T) {
	t.Parallel()
	rcv, f := newReceiver(t), newFixture()
	job := f.finish(t, `{"report_type":"greeting","report_id":"r-17","team":"blue","big":12345678901234567890}`, "# Hello <team> & co", "")
	run(t, fastConfig(rcv.srv.URL+"/hooks/"), f.store)

	got := rcv.next(t)
	if got.verdict != "accepted" {
		t.Fatalf("receiver verdict %q: %s", got.verdict, got.body)
	}
	d := f.awaitDelivery(t, job.JobID)
	h := got.header
	if h.Get("User-Agent") != "Polaris-Webhook/1.0" || h.Get("Content-Type") != "application/json" ||
		h.Get("X-Webhook-Id") != d.ID || h.Get("X-Webhook-Attempt") != "1" || !strings.HasPrefix(h.Get("X-Webhook-Signature"), "sha256=") {
		t.Fatalf("headers %v", h)
	}
	if rcv.paths[0] != "/hooks/prelim-report" {
		t.Fatalf("posted to %s", rcv.paths[0])
	}
	if !Verify([]byte(testSecret), got.body, h.Get("X-Webhook-Signature")) {
		t.Fatal("Verify disagrees with the receiver")
	}
	tampered := bytes.Replace(got.body, []byte("Hello"), []byte("Hellp"), 1)
	if Verify([]byte(testSecret), tampered, h.Get("X-Webhook-Signature")) || Verify([]byte("other"), got.body, h.Get("X-Webhook-Signature")) {
		t.Fatal("a changed body or another secret still verifies")
	}
	p := decode(t, got.body)
	meta, _ := p["research_metadata"].(map[string]any)
	switch {
	case p["job_id"] != job.JobID, p["report_id"] != "r-17", p["report_type"] != "greeting",
		p["research_report"] != "# Hello <team> & co", p["research_status"] != "completed", p["delivery_id"] != d.ID:
		t.Fatalf("payload %s", got.body)
	case p["user_id"] != job.UserID || job.UserID == "":
		t.Fatalf("the signed payload does not name the job's owner %q: %s", job.UserID, got.body)
	case meta["job_id"] != job.JobID || meta["model"] != "sonar" || meta["provider"] != "perplexity" || meta["team"] != "blue" || meta["completed_at"] == nil:
		t.Fatalf("research_metadata %v", meta)
	}
	if _, ok := p["error"]; ok {
		t.Fatalf("a completed report carries an error: %s", got.body)
	}
	if !bytes.Contains(got.body, []byte(`"big":12345678901234567890`)) || !bytes.Contains(got.body, []byte("<team> & co")) {
		t.Fatalf("numbers or text changed on the way: %s", got.body)
	}
	if d.Status != report.DeliveryDelivered || d.Attempts != 1 || d.LastStatusCode != 200 || d.DeliveredAt == nil {
		t.Fatalf("delivery %+v", d)
	}
}

// Acceptance 2: a receiver that fails twice, then succeeds, accepts exactly
// one delivery; every attempt is recorded.
func TestRetriesUntilTheReceiverAccepts(t *testing.T) {
	t.Parallel()
	rcv, f := newReceiver(t), newFixture()
	rcv.fail = 2
	job := f.finish(t, `{"report_type":"requirements","report_id":9}`, "# Needs", "")
	run(t, fastConfig(rcv.srv.URL), f.store)

	var attempts []received
	for range 3 {
		attempts = append(attempts, rcv.next(t))
	}
	d := f.awaitDelivery(t, job.JobID)
	for i, a := range attempts {
		if a.header.Get("X-Webhook-Id") != d.ID || a.header.Get("X-Webhook-Attempt") != []string{"1", "2", "3"}[i] {
			t.Fatalf("attempt %d headers %v", i+1, a.header)
		}
	}
	if attempts[0].verdict != "scripted failure" || attempts[1].verdict != "scripted failure" || attempts[2].verdict != "accepted" {
		t.Fatalf("verdicts %s, %s, %s", attempts[0].verdict, attempts[1].verdict, attempts[2].verdict)
	}
	if rcv.accepted() != 1 || d.Status != report.DeliveryDelivered || d.Attempts != 3 || d.LastStatusCode != 200 {
		t.Fatalf("accepted %d times; delivery %+v", rcv.accepted(), d)
	}
	if p := decode(t, attempts[2].body); p["report_id"] != float64(9) {
		t.Fatalf("a numeric report_id changed type: %v", p["report_id"])
	}
	select {
	case extra := <-rcv.requests:
		t.Fatalf("a delivered webhook was sent again: %s", extra.verdict)
	default:
	}
}

func TestGivesUpAfterTheLastRetry(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	f := newFixture()
	job := f.finish(t, `{"report_type":"org","report_id":"o-1"}`, "", "Perplexity timed out")
	cfg := fastConfig(srv.URL)
	cfg.MaxRetries = 2
	run(t, cfg, f.store)
	d := f.awaitDelivery(t, job.JobID)
	if d.Status != report.DeliveryFailed || d.Attempts != 3 || hits.Load() != 3 || d.LastStatusCode != 503 ||
		d.LastError != "Gave up after 3 attempts: The receiver answered HTTP 503 Service Unavailable" {
		t.Fatalf("delivery %+v after %d requests", d, hits.Load())
	}
}

// Acceptance 4: a replayed request carries the delivery id and timestamp it
// was signed with, so the receiver recognises it; once its timestamp is
// stale it is rejected outright, even by a receiver that forgot the id.
func TestReplaysAreDetectable(t *testing.T) {
	t.Parallel()
	rcv, f := newReceiver(t), newFixture()
	f.finish(t, `{"report_type":"greeting","report_id":"r-1"}`, "# Hi", "")
	run(t, fastConfig(rcv.srv.URL), f.store)
	original := rcv.next(t)
	if original.verdict != "accepted" {
		t.Fatalf("first delivery %s", original.verdict)
	}
	replay := func() received {
		req, _ := http.NewRequest(http.MethodPost, rcv.srv.URL+"/prelim-report", bytes.NewReader(original.body))
		req.Header = original.header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return rcv.next(t)
	}
	if got := replay(); got.verdict != "duplicate" {
		t.Fatalf("an exact replay was %s", got.verdict)
	}
	rcv.mu.Lock()
	rcv.seen = map[string]bool{}                                          // the receiver's dedupe window has passed...
	rcv.now = func() time.Time { return time.Now().Add(6 * time.Minute) } // ...and so has the timestamp's
	rcv.mu.Unlock()
	if got := replay(); got.verdict != "stale" || got.status != http.StatusBadRequest {
		t.Fatalf("a stale replay was %s (%d)", got.verdict, got.status)
	}
	var env envelope
	_ = json.Unmarshal(original.body, &env)
	if !Fresh(env.Timestamp, time.Now(), time.Minute) || Fresh(env.Timestamp, time.Now().Add(6*time.Minute), 5*time.Minute) {
		t.Fatal("Fresh disagrees with the receiver")
	}
}

func TestSkippedWhenWebhooksAreNotConfigured(t *testing.T) {
	t.Parallel()
	f := newFixture()
	job := f.finish(t, `{"report_type":"greeting","report_id":"r-1"}`, "# Hi", "")
	run(t, Config{PollInterval: 5 * time.Millisecond}, f.store)
	if d := f.awaitDelivery(t, job.JobID); d.Status != report.DeliverySkipped || d.LastError != NotConfigured || d.Attempts != 0 {
		t.Fatalf("delivery %+v", d)
	}
}

func TestQuestionnairePayload(t *testing.T) {
	t.Parallel()
	rcv, f := newReceiver(t), newFixture()
	job := f.finish(t, `{"report_type":"dynamic_questionnaire","report_id":"q-1"}`, `{"stages":[{"name":"Goals"}]}`, "")
	run(t, fastConfig(rcv.srv.URL), f.store)
	got := rcv.next(t)
	p := decode(t, got.body)
	stages, _ := p["questionnaire"].(map[string]any)["stages"].([]any)
	if rcv.paths[0] != "/dynamic-questionnaire" || got.verdict != "accepted" || p["job_id"] != job.JobID ||
		p["summary_id"] != "5f0c6a52-3c1e-4c7a-9d5e-2f4b8a1c0d9e" || p["status"] != "completed" || p["error"] != nil ||
		len(stages) != 1 {
		t.Fatalf("questionnaire delivery to %s: %s", rcv.paths[0], got.body)
	}
	if _, ok := p["error"]; !ok {
		t.Fatalf("the questionnaire payload always has error: %s", got.body)
	}
}

func TestFailedAndCancelledJobsAreDeliveredAsFailed(t *testing.T) {
	t.Parallel()
	rcv, f := newReceiver(t), newFixture()
	failed := f.finish(t, `{"report_type":"greeting","report_id":"r-1"}`, "", "Perplexity timed out")
	cancelled, _, err := f.store.Create(context.Background(), f.user, report.NewJob{JobID: report.NewJobID(time.Now()),
		Prompt: "p", Model: "sonar", Temperature: 0.2, MaxTokens: 10, MaxAttempts: 1,
		Metadata: json.RawMessage(`{"report_type":"dynamic_questionnaire","report_id":"q-2"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.Cancel(context.Background(), f.user, cancelled.JobID); err != nil {
		t.Fatal(err)
	}
	run(t, fastConfig(rcv.srv.URL), f.store)
	byJob := map[string]map[string]any{}
	for range 2 {
		p := decode(t, rcv.next(t).body)
		byJob[p["job_id"].(string)] = p
	}
	p := byJob[failed.JobID]
	if p["research_status"] != "failed" || p["error"] != "Perplexity timed out" || p["research_report"] != nil {
		t.Fatalf("failed job payload %v", p)
	}
	q := byJob[cancelled.JobID]
	if q["status"] != "failed" || q["error"] != "The job was cancelled" || q["questionnaire"] != nil {
		t.Fatalf("cancelled questionnaire payload %v", q)
	}
}

// Two dispatchers on one store: every delivery reaches the receiver once.
func TestOneDispatcherPerDelivery(t *testing.T) {
	t.Parallel()
	rcv, f := newReceiver(t), newFixture()
	var jobs []report.Job
	for i := range 20 {
		jobs = append(jobs, f.finish(t, `{"report_type":"greeting","report_id":"`+string(rune('a'+i))+`"}`, "# R", ""))
	}
	cfg := fastConfig(rcv.srv.URL)
	cfg.Batch = 3
	run(t, cfg, f.store)
	run(t, cfg, f.store)
	for _, j := range jobs {
		if d := f.awaitDelivery(t, j.JobID); d.Status != report.DeliveryDelivered || d.Attempts != 1 {
			t.Fatalf("delivery %+v", d)
		}
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if len(rcv.log) != len(jobs) {
		t.Fatalf("%d requests for %d deliveries", len(rcv.log), len(jobs))
	}
}

func TestRedirectsAreNotFollowed(t *testing.T) {
	t.Parallel()
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { elsewhere.Add(1) }))
	t.Cleanup(other.Close)
	redirect := httptest.NewServer(http.RedirectHandler(other.URL, http.StatusTemporaryRedirect))
	t.Cleanup(redirect.Close)
	f := newFixture()
	job := f.finish(t, `{"report_type":"greeting","report_id":"r-1"}`, "# Hi", "")
	cfg := fastConfig(redirect.URL)
	cfg.MaxRetries = 0
	run(t, cfg, f.store)
	d := f.awaitDelivery(t, job.JobID)
	if d.Status != report.DeliveryFailed || !strings.Contains(d.LastError, "redirect, which is not followed") || elsewhere.Load() != 0 {
		t.Fatalf("delivery %+v; the redirect target got %d requests", d, elsewhere.Load())
	}
}

func TestSlowReceiverTimesOut(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); slow.Close() })
	f := newFixture()
	job := f.finish(t, `{"report_type":"greeting","report_id":"r-1"}`, "# Hi", "")
	cfg := fastConfig(slow.URL)
	cfg.Timeout, cfg.MaxRetries = 50*time.Millisecond, 0
	run(t, cfg, f.store)
	if d := f.awaitDelivery(t, job.JobID); d.Status != report.DeliveryFailed || !strings.Contains(d.LastError, "did not answer within 50ms") {
		t.Fatalf("delivery %+v", d)
	}
}

func TestBackoffIsCappedAndJittered(t *testing.T) {
	t.Parallel()
	d, err := New(Config{BaseURL: "https://app.example.com", Secret: "s"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ceilings := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	for i, ceiling := range ceilings {
		seen := map[time.Duration]bool{}
		for range 50 {
			b := d.backoff(i + 1)
			if b < ceiling/2 || b > ceiling {
				t.Fatalf("backoff after attempt %d: %s, want within [%s, %s]", i+1, b, ceiling/2, ceiling)
			}
			seen[b] = true
		}
		if len(seen) < 2 {
			t.Fatalf("backoff after attempt %d has no jitter", i+1)
		}
	}
}

func TestConfigurationIsValidated(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ base, secret, problem string }{
		{"ftp://app.example.com", "s", "absolute http(s) URL"},
		{"/relative", "s", "absolute http(s) URL"},
		{"https://user:pw@app.example.com", "s", "credentials"},
		{"https://app.example.com/hooks?to=evil", "s", "query"},
		{"https://app.example.com/#x", "s", "fragment"},
		{"https://app.example.com", "", "WEBHOOK_SECRET is required"},
	} {
		if _, err := New(Config{BaseURL: c.base, Secret: c.secret}, nil, nil); err == nil || !strings.Contains(err.Error(), c.problem) {
			t.Errorf("%q: %v, want a problem mentioning %q", c.base, err, c.problem)
		}
	}
	if base, err := ValidateBaseURL(" https://app.example.com/api/webhooks/ "); err != nil || base != "https://app.example.com/api/webhooks" {
		t.Fatalf("valid base: %q %v", base, err)
	}
}
