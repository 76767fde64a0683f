package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// latencyBuckets suit calls that take from a fraction of a millisecond (the
// memory store) to seconds (a slow database), in seconds.
var latencyBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

func (m *Metrics) registerHTTP() {
	m.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "http_requests_total",
		Help: "HTTP requests answered, by method, route pattern and status.",
	}, []string{"method", "route", "status"})
	m.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "http_request_duration_seconds",
		Help:    "Time from receiving a request to its answer, by method and route pattern (live event streams last as long as they stay open).",
		Buckets: latencyBuckets,
	}, []string{"method", "route"})
	m.httpInFlight = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "http_requests_in_flight",
		Help: "Requests being served now, live event streams included.",
	})
	m.reg.MustRegister(m.httpRequests, m.httpDuration, m.httpInFlight)
}

// RequestStarted counts a request in flight until RequestDone; the API's
// observer hook calls both.
func (m *Metrics) RequestStarted() { m.httpInFlight.Inc() }

// ObserveRequest records one answered request. route is the pattern the
// router matched ("/v1/jobs/:job_id"), "" when none matched.
func (m *Metrics) ObserveRequest(method, route string, status int, took time.Duration) {
	m.httpInFlight.Dec()
	method = knownMethod(method)
	if route == "" {
		route = "unmatched"
	}
	m.httpRequests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	m.httpDuration.WithLabelValues(method, route).Observe(took.Seconds())
}

// knownMethod keeps the method label to the standard methods: a client may
// send any token as a method.
func knownMethod(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	}
	return "OTHER"
}
