package metrics

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/polaris/reportd/report"
)

func (m *Metrics) registerStore() {
	m.storeDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "store_call_duration_seconds",
		Help:    "Duration of job store calls, by operation (create, get, claim, heartbeat, ...), failed ones included.",
		Buckets: latencyBuckets,
	}, []string{"operation"})
	m.storeErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "store_call_errors_total",
		Help: "Job store calls that returned an error, by operation and kind (unavailable, timeout, not_found, conflict, invalid, forbidden, unauthenticated, lease_lost, cancelled, canceled, other).",
	}, []string{"operation", "kind"})
	m.reg.MustRegister(m.storeDuration, m.storeErrors)
}

// Store is a report.Backend that times every call and counts its errors, and counts
// the job lifecycle events the calls' results show. Wrap returns one.
type Store struct {
	next report.Backend
	m    *Metrics
}

var _ report.Backend = (*Store)(nil)

// Wrap decorates b with metrics.
func (m *Metrics) Wrap(b report.Backend) *Store { return &Store{next: b, m: m} }

// observe records one call; use it as defer s.observe(op, time.Now(), &err).
func (s *Store) observe(op string, start time.Time, err *error) {
	s.m.storeDuration.WithLabelValues(op).Observe(time.Since(start).Seconds())
	if *err != nil {
		s.m.storeErrors.WithLabelValues(op, errorKind(*err)).Inc()
	}
}

// errorKinds name the domain kinds of store errors, for the label; the
// first that matches wins.
var errorKinds = []struct {
	err  error
	name string
}{
	{report.ErrUnavailable, "unavailable"}, {context.DeadlineExceeded, "timeout"},
	{report.ErrNotFound, "not_found"}, {report.ErrConflict, "conflict"}, {report.ErrInvalid, "invalid"},
	{report.ErrForbidden, "forbidden"}, {report.ErrUnauthenticated, "unauthenticated"},
	{report.ErrLeaseLost, "lease_lost"}, {report.ErrCancelled, "cancelled"}, {context.Canceled, "canceled"},
}

// errorKind names the domain kind of a store error.
func errorKind(err error) string {
	for _, k := range errorKinds {
		if errors.Is(err, k.err) {
			return k.name
		}
	}
	return "other"
}

// Create implements report.Store.
func (s *Store) Create(ctx context.Context, c report.Caller, in report.NewJob) (j report.Job, created bool, err error) {
	defer s.observe("create", time.Now(), &err)
	j, created, err = s.next.Create(ctx, c, in)
	if err == nil && created {
		s.m.event(eventCreated, 1)
	}
	return j, created, err
}

// Get implements report.Store.
func (s *Store) Get(ctx context.Context, c report.Caller, jobID string) (j report.Job, err error) {
	defer s.observe("get", time.Now(), &err)
	return s.next.Get(ctx, c, jobID)
}

// List implements report.Store.
func (s *Store) List(ctx context.Context, c report.Caller, f report.Filter) (js []report.Job, err error) {
	defer s.observe("list", time.Now(), &err)
	return s.next.List(ctx, c, f)
}

// Cancel implements report.Store. Every accepted cancel counts, a repeated
// cancel of a cancelled job too: the store does not tell them apart.
func (s *Store) Cancel(ctx context.Context, c report.Caller, jobID string) (j report.Job, err error) {
	defer s.observe("cancel", time.Now(), &err)
	j, err = s.next.Cancel(ctx, c, jobID)
	if err == nil {
		s.m.event(eventCancelled, 1)
	}
	return j, err
}

// Delete implements report.Store.
func (s *Store) Delete(ctx context.Context, c report.Caller, jobID string) (err error) {
	defer s.observe("delete", time.Now(), &err)
	return s.next.Delete(ctx, c, jobID)
}

// Stats implements report.Store.
func (s *Store) Stats(ctx context.Context, c report.Caller) (st report.Stats, err error) {
	defer s.observe("stats", time.Now(), &err)
	return s.next.Stats(ctx, c)
}

// OperatorStats implements report.Store.
func (s *Store) OperatorStats(ctx context.Context, c report.Caller, w report.StatsWindow) (st report.OperatorStats, err error) {
	defer s.observe("operator_stats", time.Now(), &err)
	return s.next.OperatorStats(ctx, c, w)
}

// Ping implements report.Store.
func (s *Store) Ping(ctx context.Context) (err error) {
	defer s.observe("ping", time.Now(), &err)
	return s.next.Ping(ctx)
}

// Configure implements report.Settings.
func (s *Store) Configure(ctx context.Context, l report.Limits) (out report.Limits, err error) {
	defer s.observe("configure", time.Now(), &err)
	return s.next.Configure(ctx, l)
}
