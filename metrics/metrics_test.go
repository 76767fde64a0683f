package metrics

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/polaris/reportd/memory"
	"github.com/polaris/reportd/report"
)

func newJob() report.NewJob {
	return report.NewJob{JobID: report.NewJobID(time.Now()), Prompt: "p", Model: "sonar", MaxTokens: 10, MaxAttempts: 1,
		Metadata: []byte(`{"report_type":"greeting","report_id":"7"}`)}
}

func value(t *testing.T, m *Metrics, name string, labels ...string) float64 {
	t.Helper()
	switch name {
	case "jobs":
		return testutil.ToFloat64(m.jobs.WithLabelValues(labels...))
	case "store_errors":
		return testutil.ToFloat64(m.storeErrors.WithLabelValues(labels...))
	case "webhooks":
		return testutil.ToFloat64(m.webhooks.WithLabelValues(labels...))
	}
	t.Fatalf("unknown metric %s", name)
	return 0
}

// histogramCount is how many observations a histogram series holds.
func histogramCount(t *testing.T, m *Metrics, name string, labels map[string]string) uint64 {
	t.Helper()
	families, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, s := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range s.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue series
				}
			}
			return s.GetHistogram().GetSampleCount()
		}
	}
	return 0
}

// The decorator counts what the store calls did, the way the worker and the
// API make them.
func TestStoreDecoratorCountsTheJobLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := New()
	s := m.Wrap(memory.New(nil))
	u := report.Caller{UserID: uuid.NewString(), Role: report.RoleUser}

	ok, _, _ := s.Create(ctx, u, newJob())
	retry, _, _ := s.Create(ctx, u, newJob())
	in := newJob()
	in.MaxAttempts = 2
	_, _, _ = s.Create(ctx, u, in)
	if _, created, _ := s.Create(ctx, u, report.NewJob{JobID: ok.JobID, Prompt: "p", Model: "sonar", MaxTokens: 10, MaxAttempts: 1}); created {
		t.Fatal("a duplicate job id created a job")
	}
	cancelled, _, _ := s.Create(ctx, u, newJob())
	if _, err := s.Cancel(ctx, u, cancelled.JobID); err != nil {
		t.Fatal(err)
	}
	claimed, err := s.Claim(ctx, report.ClaimRequest{Worker: "w", Limit: 10, Lease: time.Minute})
	if err != nil || len(claimed.Jobs) != 3 {
		t.Fatalf("claimed %d (%v)", len(claimed.Jobs), err)
	}
	byID := map[string]report.Job{}
	for _, j := range claimed.Jobs {
		byID[j.JobID] = j
	}
	if err := s.Complete(ctx, report.LeaseOf(byID[ok.JobID]), report.Completion{Result: "r"}); err != nil {
		t.Fatal(err)
	}
	if st, err := s.Fail(ctx, report.LeaseOf(byID[retry.JobID]), report.Failure{Message: "x", Retryable: true, ChargeAttempt: true}); err != nil || st != report.StatusFailed {
		t.Fatalf("fail: %s %v", st, err)
	}
	if st, err := s.Fail(ctx, report.LeaseOf(byID[in.JobID]), report.Failure{Message: "x", Retryable: true, ChargeAttempt: true}); err != nil || st != report.StatusQueued {
		t.Fatalf("fail: %s %v", st, err)
	}
	if _, err := s.Get(ctx, u, "job_missing"); err == nil {
		t.Fatal("got a missing job")
	}

	for event, want := range map[string]float64{
		"created": 4, "claimed": 3, "succeeded": 1, "failed": 1, "retried": 1, "cancelled": 1, "rescued": 0, "released": 0,
	} {
		if got := value(t, m, "jobs", event); got != want {
			t.Errorf("jobs_total{event=%q} = %v, want %v", event, got, want)
		}
	}
	if got := value(t, m, "store_errors", "get", "not_found"); got != 1 {
		t.Errorf("store_call_errors_total{get,not_found} = %v, want 1", got)
	}
	if got := histogramCount(t, m, "reportd_store_call_duration_seconds", map[string]string{"operation": "create"}); got != 5 {
		t.Errorf("%d create calls timed, want 5", got)
	}

	ds, err := s.ClaimDeliveries(ctx, report.DeliveryClaim{Worker: "d", Limit: 10, Lease: time.Minute, MaxAttempts: 3})
	if err != nil || len(ds) == 0 {
		t.Fatalf("claimed %d deliveries (%v)", len(ds), err)
	}
	if err := s.RecordDelivery(ctx, ds[0].Lease(), report.DeliveryOutcome{Status: report.DeliveryPending, Error: "503", RetryAfter: time.Second}); err != nil {
		t.Fatal(err)
	}
	if got := value(t, m, "webhooks", "retry"); got != 1 {
		t.Errorf("webhook_deliveries_total{outcome=retry} = %v, want 1", got)
	}
}

// A claim that takes a job over from an expired lease counts as a rescue.
func TestRescueIsCounted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Now()
	clock := func() time.Time { return now }
	m := New()
	s := m.Wrap(memory.New(func() time.Time { return clock() }))
	u := report.Caller{UserID: uuid.NewString(), Role: report.RoleUser}
	in := newJob()
	in.MaxAttempts = 3
	if _, _, err := s.Create(ctx, u, in); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Claim(ctx, report.ClaimRequest{Worker: "a", Limit: 1, Lease: time.Second}); len(got.Jobs) != 1 {
		t.Fatal("not claimed")
	}
	now = now.Add(time.Minute) // worker a died; its lease ran out
	if got, _ := s.Claim(ctx, report.ClaimRequest{Worker: "b", Limit: 1, Lease: time.Second}); len(got.Jobs) != 1 || !got.Jobs[0].Rescued {
		t.Fatalf("the expired job was not rescued: %+v", got)
	}
	if c, r := value(t, m, "jobs", "claimed"), value(t, m, "jobs", "rescued"); c != 2 || r != 1 {
		t.Fatalf("claimed %v rescued %v, want 2 and 1", c, r)
	}
}

func TestAttemptsAreObservedByProviderAndModel(t *testing.T) {
	t.Parallel()
	m := New()
	cost := 0.0125
	m.AttemptFinished(report.AttemptStats{Model: "sonar", Provider: "perplexity", Outcome: report.AttemptSucceeded,
		Duration: 3 * time.Second, TimeToFirstToken: time.Second, InputTokens: 20, OutputTokens: 100, Cost: &cost, Currency: "USD"})
	m.AttemptFinished(report.AttemptStats{Model: "sonar", Provider: "perplexity", Outcome: report.AttemptRetried, Duration: time.Second})

	pm := map[string]string{"provider": "perplexity", "model": "sonar"}
	if n := histogramCount(t, m, "reportd_job_duration_seconds", map[string]string{"provider": "perplexity", "model": "sonar", "outcome": "succeeded"}); n != 1 {
		t.Errorf("%d succeeded durations, want 1", n)
	}
	if n := histogramCount(t, m, "reportd_llm_time_to_first_token_seconds", pm); n != 1 {
		t.Errorf("%d TTFT observations, want 1 (the retried attempt streamed nothing)", n)
	}
	if n := histogramCount(t, m, "reportd_llm_tokens_per_second", pm); n != 1 {
		t.Errorf("%d tokens-per-second observations, want 1", n)
	}
	text, err := testutil.CollectAndFormat(m.reg, expfmt.TypeTextPlain, "reportd_llm_tokens_per_second", "reportd_llm_cost_total", "reportd_llm_tokens_total")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`reportd_llm_tokens_per_second_sum{model="sonar",provider="perplexity"} 50`, // 100 tokens in the 2 s after the first
		`reportd_llm_cost_total{currency="USD",model="sonar",provider="perplexity"} 0.0125`,
		`reportd_llm_tokens_total{kind="output",model="sonar",provider="perplexity"} 100`,
	} {
		if !strings.Contains(string(text), want) {
			t.Errorf("missing %s in\n%s", want, text)
		}
	}
}

// Labels that clients choose (model names) cannot grow without bound.
func TestModelLabelsAreBounded(t *testing.T) {
	t.Parallel()
	m := New()
	for i := range 3 * maxModels {
		m.AttemptFinished(report.AttemptStats{Model: fmt.Sprintf("gpt-made-up-%d", i), Provider: "openai", Outcome: report.AttemptFailed, Duration: time.Second})
	}
	if n := testutil.CollectAndCount(m.attempts); n != maxModels+1 {
		t.Fatalf("%d attempt series for %d models, want %d (the rest as other)", n, 3*maxModels, maxModels+1)
	}
	if got := testutil.ToFloat64(m.attempts.WithLabelValues("openai", "other", "failed")); got != 2*maxModels {
		t.Fatalf("other counted %v attempts, want %d", got, 2*maxModels)
	}
}

func TestRequestsByRoutePatternAndKnownMethods(t *testing.T) {
	t.Parallel()
	m := New()
	for _, r := range []struct{ method, route string }{{"GET", "/v1/jobs/:job_id"}, {"GET", "/v1/jobs/:job_id"}, {"BREW", "/v1/*"}, {"GET", ""}} {
		m.RequestStarted()
		m.ObserveRequest(r.method, r.route, 200, time.Millisecond)
	}
	if got := testutil.ToFloat64(m.httpRequests.WithLabelValues("GET", "/v1/jobs/:job_id", "200")); got != 2 {
		t.Errorf("route pattern counted %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.httpRequests.WithLabelValues("OTHER", "/v1/*", "200")); got != 1 {
		t.Errorf("an unknown method counted %v as OTHER, want 1", got)
	}
	if got := testutil.ToFloat64(m.httpRequests.WithLabelValues("GET", "unmatched", "200")); got != 1 {
		t.Errorf("no route counted %v as unmatched, want 1", got)
	}
	if got := testutil.ToFloat64(m.httpInFlight); got != 0 {
		t.Errorf("%v requests still in flight", got)
	}
}

func TestHandlerNeedsTheTokenWhenOneIsSet(t *testing.T) {
	t.Parallel()
	m := New()
	for _, c := range []struct {
		token, header string
		want          int
	}{{"", "", 200}, {"s3cret", "", 401}, {"s3cret", "Bearer wrong", 401}, {"s3cret", "Bearer s3cret", 200}} {
		req := httptest.NewRequest("GET", "/metrics", nil)
		if c.header != "" {
			req.Header.Set("Authorization", c.header)
		}
		rec := httptest.NewRecorder()
		m.Handler(c.token, nil).ServeHTTP(rec, req)
		if rec.Code != c.want {
			t.Errorf("token %q, header %q: %d, want %d", c.token, c.header, rec.Code, c.want)
		}
		if rec.Code == http.StatusOK && !strings.Contains(rec.Body.String(), "go_goroutines") {
			t.Errorf("the Go collector is missing: %.200s", rec.Body.String())
		}
	}
}

type fixedMonitor struct{ d report.QueueDepth }

func (f fixedMonitor) QueueDepth(context.Context) (report.QueueDepth, error) { return f.d, nil }

func TestQueueGauges(t *testing.T) {
	t.Parallel()
	m := New()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.SampleQueue(ctx, fixedMonitor{report.QueueDepth{Queued: 7, Ready: 5, Running: 3, Expired: 1, OldestReady: 90 * time.Second}}, time.Hour, nil)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for testutil.ToFloat64(m.queueSampledAt) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no sample within 5s")
		}
		time.Sleep(5 * time.Millisecond) // polling a gauge with a deadline
	}
	cancel()
	<-done
	for state, want := range map[string]float64{"queued": 7, "ready": 5, "running": 3, "expired": 1} {
		if got := testutil.ToFloat64(m.queueJobs.WithLabelValues(state)); got != want {
			t.Errorf("queue_jobs{state=%q} = %v, want %v", state, got, want)
		}
	}
	if got := testutil.ToFloat64(m.queueOldest); got != 90 {
		t.Errorf("oldest ready %v s, want 90", got)
	}
}
