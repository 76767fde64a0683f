package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/polaris/reportd/internal/fakellm"
)

// scrape reads the metrics of a reportd process.
func scrape(t *testing.T, url, token string) map[string]*dto.MetricFamily {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("metrics are not in the text format: %v", err)
	}
	return families
}

// sample finds the series of a family whose labels include labels; ok is
// false when there is none.
func sample(families map[string]*dto.MetricFamily, name string, labels map[string]string) (*dto.Metric, bool) {
	f := families[name]
	if f == nil {
		return nil, false
	}
next:
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range labels {
			if got[k] != v {
				continue next
			}
		}
		return m, true
	}
	return nil, false
}

// number is a counter's or gauge's value, or a histogram's count; -1 when
// the series is missing.
func number(families map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	m, ok := sample(families, name, labels)
	switch {
	case !ok:
		return -1
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Histogram != nil:
		return float64(m.GetHistogram().GetSampleCount())
	}
	return -1
}

func labels(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// Acceptance 1: after one job runs (created over the API, streamed from the
// provider, delivered to the webhook), /metrics holds exactly what happened.
func TestMetricsAfterAJob(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			env, p := b.env(t)
			fake, env := withLLM(t, env)
			fake.SetDefault(fakellm.Script{Text: "one two three four five six seven eight", Chunks: 8, Interval: 30 * time.Millisecond,
				Usage: &fakellm.Usage{InputTokens: 12, OutputTokens: 8, Cost: fakellm.Cost{Input: 0.001, Output: 0.002}}})
			h := newHook(t)
			env = webhookEnv(env, h)
			metricsURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", freePort(t))
			env["METRICS_ADDR"] = strings.TrimSuffix(strings.TrimPrefix(metricsURL, "http://"), "/metrics")
			env["METRICS_TOKEN"] = "scrape-" + uuid.NewString()
			env["METRICS_QUEUE_INTERVAL"] = "50ms"
			env["PERPLEXITY_RATE_LIMIT"] = "none"
			proc := start(t, env)
			_, token := user(t, p)

			r := call(t, "POST", proc.URL+"/v1/jobs", token, map[string]any{"prompt": "Count to eight", "model": "sonar",
				"metadata": map[string]any{"report_type": "greeting", "report_id": "42"}})
			if r.status != http.StatusCreated {
				t.Fatalf("create: %d %s", r.status, r.raw)
			}
			jobID := r.body["job_id"].(string)
			polls := 0
			for deadline := time.Now().Add(20 * time.Second); ; {
				polls++
				j := call(t, "GET", proc.URL+"/v1/jobs/"+jobID, token, nil)
				if j.body["status"] == "succeeded" {
					break
				}
				if time.Now().After(deadline) || j.status != 200 {
					t.Fatalf("job: %d %s", j.status, j.raw)
				}
				time.Sleep(20 * time.Millisecond) // polling as the app does
			}
			if c := h.next(t); c.status != http.StatusOK {
				t.Fatalf("webhook answered %d", c.status)
			}

			req, _ := http.NewRequest("GET", metricsURL, nil)
			if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("metrics without the token: %v %v", resp, err)
			}
			// The outcome is recorded just after the receiver answers, and the
			// queue is sampled every 50 ms: wait for both.
			var m map[string]*dto.MetricFamily
			for deadline := time.Now().Add(10 * time.Second); ; {
				m = scrape(t, metricsURL, env["METRICS_TOKEN"])
				if number(m, "reportd_webhook_deliveries_total", labels("outcome", "delivered")) == 1 &&
					number(m, "reportd_queue_jobs", labels("state", "running")) == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the delivery and the idle queue never showed in the metrics")
				}
				time.Sleep(20 * time.Millisecond) // polling the scrape endpoint
			}
			perplexity := labels("provider", "perplexity", "model", "sonar")
			want := []struct {
				name   string
				labels map[string]string
				value  float64
			}{
				{"reportd_jobs_total", labels("event", "created"), 1},
				{"reportd_jobs_total", labels("event", "claimed"), 1},
				{"reportd_jobs_total", labels("event", "succeeded"), 1},
				{"reportd_jobs_total", labels("event", "failed"), 0},
				{"reportd_jobs_total", labels("event", "retried"), 0},
				{"reportd_jobs_total", labels("event", "rescued"), 0},
				{"reportd_job_attempts_total", labels("provider", "perplexity", "model", "sonar", "outcome", "succeeded"), 1},
				{"reportd_http_requests_total", labels("method", "POST", "route", "/v1/jobs", "status", "201"), 1},
				{"reportd_http_requests_total", labels("method", "GET", "route", "/v1/jobs/:job_id", "status", "200"), float64(polls)},
				{"reportd_http_request_duration_seconds", labels("method", "GET", "route", "/v1/jobs/:job_id"), float64(polls)},
				{"reportd_job_duration_seconds", labels("provider", "perplexity", "model", "sonar", "outcome", "succeeded"), 1},
				{"reportd_llm_time_to_first_token_seconds", perplexity, 1},
				{"reportd_llm_tokens_per_second", perplexity, 1},
				{"reportd_llm_tokens_total", labels("provider", "perplexity", "model", "sonar", "kind", "output"), 8},
				{"reportd_llm_tokens_total", labels("provider", "perplexity", "model", "sonar", "kind", "input"), 12},
				{"reportd_webhook_deliveries_total", labels("outcome", "delivered"), 1},
				{"reportd_store_call_duration_seconds", labels("operation", "create"), 1},
				{"reportd_store_call_duration_seconds", labels("operation", "get"), float64(polls)},
				{"reportd_store_call_duration_seconds", labels("operation", "complete"), 1},
				{"reportd_store_call_duration_seconds", labels("operation", "record_delivery"), 1},
				{"reportd_worker_jobs_running", nil, 0},
				{"reportd_queue_jobs", labels("state", "queued"), 0},
				{"reportd_http_requests_in_flight", nil, 0},
			}
			for _, w := range want {
				if got := number(m, w.name, w.labels); got != w.value {
					t.Errorf("%s%v = %v, want %v", w.name, w.labels, got, w.value)
				}
			}
			if got := number(m, "reportd_llm_cost_total", labels("provider", "perplexity", "model", "sonar", "currency", "USD")); got < 0.0029 || got > 0.0031 {
				t.Errorf("cost %v, want 0.003 USD", got)
			}
			if got := number(m, "reportd_store_call_duration_seconds", labels("operation", "claim")); got < 1 {
				t.Errorf("%v claims timed", got)
			}
			if got := number(m, "reportd_queue_last_sample_timestamp_seconds", nil); got < float64(time.Now().Add(-time.Minute).Unix()) {
				t.Errorf("the queue was last sampled at %v", got)
			}
			for _, name := range []string{"go_goroutines", "process_resident_memory_bytes"} {
				if m[name] == nil {
					t.Errorf("%s is missing: the Go and process collectors belong in the registry", name)
				}
			}
			if t.Failed() {
				raw, _ := json.MarshalIndent(m["reportd_jobs_total"], "", " ")
				t.Logf("jobs_total: %s", raw)
			}
		})
	}
}
