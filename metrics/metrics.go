// Package metrics exposes the service's Prometheus metrics: HTTP requests by
// route, the job lifecycle, the LLM attempts' timing, tokens and cost, webhook
// outcomes, store calls, and the queue's depth. It keeps its own registry (with
// the Go and process collectors), never the global default, so that nothing a
// dependency registers leaks into /metrics.
//
// Nothing here knows a concrete store or the HTTP framework: the store
// metrics come from a decorator (Wrap) around the store in its roles, the HTTP
// ones from the API's request observer hook, and the attempt ones from the
// worker's report.AttemptRecorder hook. Every label has a bounded set of
// values: routes are patterns, never paths; model, provider and currency
// names beyond a fixed number of distinct values are counted as "other"; no
// user or job id is ever a label.
package metrics

import (
	"crypto/subtle"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// namespace prefixes every metric of this service.
const namespace = "reportd"

// Limits of distinct label values; later values count as "other".
const (
	maxModels     = 50
	maxProviders  = 16
	maxCurrencies = 8
)

// Metrics holds every metric of one process.
type Metrics struct {
	reg *prometheus.Registry

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec
	httpInFlight prometheus.Gauge

	jobs            *prometheus.CounterVec
	attempts        *prometheus.CounterVec
	jobDuration     *prometheus.HistogramVec
	ttft            *prometheus.HistogramVec
	tokensPerSecond *prometheus.HistogramVec
	tokens          *prometheus.CounterVec
	cost            *prometheus.CounterVec
	webhooks        *prometheus.CounterVec
	cleanupDeleted  prometheus.Counter

	storeDuration *prometheus.HistogramVec
	storeErrors   *prometheus.CounterVec

	queueJobs       *prometheus.GaugeVec
	queueOldest     prometheus.Gauge
	queueSampledAt  prometheus.Gauge
	queueSampleErrs prometheus.Counter

	models, providers, currencies *labelSet
}

// New registers every metric on a registry of its own.
func New() *Metrics {
	m := &Metrics{
		reg:    prometheus.NewRegistry(),
		models: newLabelSet(maxModels), providers: newLabelSet(maxProviders), currencies: newLabelSet(maxCurrencies),
	}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.registerHTTP()
	m.registerJobs()
	m.registerStore()
	m.registerQueue()
	return m
}

// Registry is the registry the metrics live on (tests gather from it).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus text format. With a non-empty
// token it answers 401 unless the request carries "Authorization: Bearer
// <token>" (compared in constant time).
func (m *Metrics) Handler(token string, log *slog.Logger) http.Handler {
	opts := promhttp.HandlerOpts{Registry: m.reg, MaxRequestsInFlight: 4}
	if log != nil {
		opts.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	}
	h := promhttp.HandlerFor(m.reg, opts)
	if token == "" {
		return h
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			http.Error(w, "metrics need the bearer token configured in METRICS_TOKEN", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// labelSet bounds the distinct values of a label that comes from outside
// (a model name a client chose, a provider's reported currency): the first
// max distinct values are kept, later ones become "other".
type labelSet struct {
	mu   sync.Mutex
	max  int
	seen map[string]struct{}
}

func newLabelSet(max int) *labelSet { return &labelSet{max: max, seen: map[string]struct{}{}} }

func (s *labelSet) value(v string) string {
	v = strings.TrimSpace(v)
	if v == "" {
		return "unknown"
	}
	if len(v) > 64 {
		return "other"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.seen[v]; ok {
		return v
	}
	if len(s.seen) >= s.max {
		return "other"
	}
	s.seen[v] = struct{}{}
	return v
}
