package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/polaris/reportd/report"
)

// Job lifecycle events counted by reportd_jobs_total.
const (
	eventCreated   = "created"   // a caller's create stored a new job
	eventClaimed   = "claimed"   // a worker of this process claimed it (rescues included)
	eventRescued   = "rescued"   // the claim took it over from an attempt whose lease expired
	eventSucceeded = "succeeded" // its result was stored
	eventRetried   = "retried"   // an attempt failed and the job was queued again
	eventFailed    = "failed"    // an attempt failed and the job failed for good
	eventCancelled = "cancelled" // a caller's cancel was accepted
	eventReleased  = "released"  // given back to the queue at shutdown
)

func (m *Metrics) registerJobs() {
	m.jobs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "jobs_total",
		Help: "Job lifecycle events seen by this process: created, claimed, rescued (claimed after the previous attempt's lease expired), succeeded, retried, failed, cancelled, released.",
	}, []string{"event"})
	for _, e := range []string{eventCreated, eventClaimed, eventRescued, eventSucceeded, eventRetried, eventFailed, eventCancelled, eventReleased} {
		m.jobs.WithLabelValues(e) // present at 0, so rate() works from the first scrape
	}
	m.attempts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "job_attempts_total",
		Help: "Attempts this process's worker finished, by provider, model and outcome (succeeded, retried, failed, cancelled, lost, released, unstored).",
	}, []string{"provider", "model", "outcome"})
	m.jobDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "job_duration_seconds",
		Help:    "Duration of finished attempts, from claim to outcome, by provider, model and outcome.",
		Buckets: []float64{0.1, 0.5, 1, 2.5, 5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600},
	}, []string{"provider", "model", "outcome"})
	m.ttft = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "llm_time_to_first_token_seconds",
		Help:    "Time from the start of an attempt to its first streamed token, by provider and model.",
		Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60},
	}, []string{"provider", "model"})
	m.tokensPerSecond = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "llm_tokens_per_second",
		Help:    "Output tokens per second after the first token, of attempts that streamed, by provider and model.",
		Buckets: []float64{1, 5, 10, 20, 30, 50, 75, 100, 150, 200, 300, 500, 1000},
	}, []string{"provider", "model"})
	m.tokens = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "llm_tokens_total",
		Help: "Tokens of finished attempts as providers reported them, by provider, model and kind (input, output).",
	}, []string{"provider", "model", "kind"})
	m.cost = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "llm_cost_total",
		Help: "Cost of finished attempts as providers reported it, by provider, model and currency.",
	}, []string{"provider", "model", "currency"})
	m.webhooks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "webhook_deliveries_total",
		Help: "Webhook delivery attempts recorded, by outcome: delivered, retry (failed, will be tried again), failed (gave up), skipped (not configured).",
	}, []string{"outcome"})
	m.cleanupDeleted = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "cleanup_deleted_jobs_total",
		Help: "Jobs deleted by cleanup runs of this process (expired, or finished more than a day ago).",
	})
	m.reg.MustRegister(m.jobs, m.attempts, m.jobDuration, m.ttft, m.tokensPerSecond, m.tokens, m.cost, m.webhooks, m.cleanupDeleted)
}

func (m *Metrics) event(e string, n int) {
	if n > 0 {
		m.jobs.WithLabelValues(e).Add(float64(n))
	}
}

var _ report.AttemptRecorder = (*Metrics)(nil)

// AttemptFinished implements report.AttemptRecorder for the worker.
func (m *Metrics) AttemptFinished(a report.AttemptStats) {
	provider, model := m.providers.value(a.Provider), m.models.value(a.Model)
	m.attempts.WithLabelValues(provider, model, a.Outcome).Inc()
	m.jobDuration.WithLabelValues(provider, model, a.Outcome).Observe(a.Duration.Seconds())
	if a.TimeToFirstToken > 0 {
		m.ttft.WithLabelValues(provider, model).Observe(a.TimeToFirstToken.Seconds())
	}
	if tps := a.TokensPerSecond(); tps > 0 {
		m.tokensPerSecond.WithLabelValues(provider, model).Observe(tps)
	}
	if a.InputTokens > 0 {
		m.tokens.WithLabelValues(provider, model, "input").Add(float64(a.InputTokens))
	}
	if a.OutputTokens > 0 {
		m.tokens.WithLabelValues(provider, model, "output").Add(float64(a.OutputTokens))
	}
	if a.Cost != nil && *a.Cost > 0 {
		m.cost.WithLabelValues(provider, model, m.currencies.value(a.Currency)).Add(*a.Cost)
	}
}

// webhookOutcome names a recorded delivery outcome for the label.
func webhookOutcome(s report.DeliveryStatus) string {
	switch s {
	case report.DeliveryDelivered:
		return "delivered"
	case report.DeliveryPending:
		return "retry"
	case report.DeliveryFailed:
		return "failed"
	case report.DeliverySkipped:
		return "skipped"
	}
	return "other"
}

// CountRunning exposes reportd_worker_jobs_running, read from running at
// every scrape (the worker's count of attempts it runs now).
func (m *Metrics) CountRunning(running func() int) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: namespace, Name: "worker_jobs_running",
		Help: "Attempts this process's worker is running now (in-flight LLM streams).",
	}, func() float64 { return float64(running()) }))
}
