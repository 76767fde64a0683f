package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/polaris/reportd/auth"
	"github.com/polaris/reportd/handlers"
	"github.com/polaris/reportd/internal/stack"
	"github.com/polaris/reportd/llm"
	"github.com/polaris/reportd/logging"
	"github.com/polaris/reportd/memory"
	"github.com/polaris/reportd/metrics"
	"github.com/polaris/reportd/report"
	"github.com/polaris/reportd/supabase"
)

// storeClock adds up the time a request spends in store calls.
type storeClock struct{ ns atomic.Int64 }

type clockKey struct{}

func clockOf(ctx context.Context) *storeClock {
	c, _ := ctx.Value(clockKey{}).(*storeClock)
	return c
}

// timedStore times the caller-facing store calls a request makes, into the
// request's storeClock.
type timedStore struct{ report.Backend }

func (s timedStore) since(ctx context.Context, start time.Time) {
	if c := clockOf(ctx); c != nil {
		c.ns.Add(int64(time.Since(start)))
	}
}

func (s timedStore) Create(ctx context.Context, c report.Caller, in report.NewJob) (report.Job, bool, error) {
	defer s.since(ctx, time.Now())
	return s.Backend.Create(ctx, c, in)
}

func (s timedStore) Get(ctx context.Context, c report.Caller, id string) (report.Job, error) {
	defer s.since(ctx, time.Now())
	return s.Backend.Get(ctx, c, id)
}

// overheads records, per request, the time in the handler and in the store.
type overheads struct {
	mu      sync.Mutex
	handler []time.Duration
	store   []time.Duration
	extra   []time.Duration // handler minus store
}

func (o *overheads) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &storeClock{}
		start := time.Now()
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), clockKey{}, c)))
		took, store := time.Since(start), time.Duration(c.ns.Load())
		o.mu.Lock()
		o.handler, o.store, o.extra = append(o.handler, took), append(o.store, store), append(o.extra, took-store)
		o.mu.Unlock()
	})
}

func (o *overheads) reset() {
	o.mu.Lock()
	o.handler, o.store, o.extra = nil, nil, nil
	o.mu.Unlock()
}

// overheadServer is the API built as main builds it (metrics around the
// store, JSON logging, HS256 tokens, the caller rate limit), in this process
// so that each request's time in the handler can be set against its time in
// the store. Logs are encoded but discarded: the encoding is part of the
// overhead, the disk is not.
func overheadServer(ctx context.Context, env *Env, kind string) (srv *httptest.Server, o *overheads, token string, closeAll func(), err error) {
	var backend report.Backend
	secret := []byte(benchSecret)
	closeAll = func() {}
	if kind == "memory" {
		m := memory.New(nil)
		backend = m
		if _, err = m.Configure(ctx, benchLimits); err == nil {
			token, err = auth.MintUserToken(secret, uuid.NewString(), "bench@example.com", time.Hour, time.Now())
		}
	} else {
		var p *stack.Stack
		if p, err = env.Project.Fork(ctx, stack.Options{MaxConns: 20}); err != nil {
			return nil, nil, "", nil, err
		}
		closeAll = func() { p.Close() }
		secret = p.JWTSecret
		backend, _ = supabase.New(supabase.Config{URL: p.URL, AnonKey: p.AnonKey, ServiceKey: p.ServiceKey})
		if _, err = p.DB.Exec(ctx, `update public.report_job_settings set max_queued_per_user = $1`, benchLimits.MaxQueuedPerUser); err == nil {
			_, token, err = p.NewUser(ctx)
		}
	}
	if err != nil {
		closeAll()
		return nil, nil, "", nil, err
	}
	v, err := auth.New(ctx, auth.Config{HS256Secret: secret})
	if err != nil {
		closeAll()
		return nil, nil, "", nil, err
	}
	m := metrics.New()
	models := &llm.Router{DefaultModel: "sonar", Perplexity: llm.NewPerplexity(llm.PerplexityAgent,
		llm.ProviderConfig{BaseURL: "http://127.0.0.1:9", APIKey: "unused"})}
	api := handlers.New(handlers.Deps{
		Store: m.Wrap(timedStore{backend}), Models: models, Verifier: v, Limits: benchLimits, MaxAttempts: 3,
		HTTP: handlers.HTTP{MaxBody: 1 << 20, CORSOrigins: []string{"*"},
			RateLimit: handlers.RateLimit{PerSecond: 100_000, Burst: 1_000_000}},
		Log: logging.New(io.Discard, slog.LevelInfo), Requests: m,
	})
	o = &overheads{}
	srv = httptest.NewServer(o.wrap(api))
	closeStore := closeAll
	return srv, o, token, func() { srv.Close(); closeStore() }, nil
}

// APIOverhead (P5) measures what the API adds to the store call it makes:
// for every request, the time in the HTTP handler (routing, authentication,
// rate limit, validation, JSON, logging, metrics) minus the time in the
// store, at a steady 200 requests per second.
func APIOverhead(kind string) Scenario {
	return Scenario{Name: fmt.Sprintf("API overhead over the store call (%s)", kind), Run: func(ctx context.Context, env *Env) ([]Metric, error) {
		srv, o, token, closeAll, err := overheadServer(ctx, env, kind)
		if err != nil {
			return nil, err
		}
		defer closeAll()
		t := &apiTarget{proc: &proc{URL: srv.URL}, token: token}
		if t.jobID, err = t.create(); err != nil {
			return nil, err
		}
		d := time.Duration(env.size(10, 3)) * time.Second
		var out []Metric
		for _, c := range []struct {
			op     string
			target vegeta.Target
		}{{"status", t.statusTarget()}, {"create", t.createTarget()}} {
			attack(c.target, 200, 20, time.Second) // warm up
			o.reset()
			l := attack(c.target, 200, 20, d)
			if l.errors > 0 {
				return nil, fmt.Errorf("%s: %d errors", c.op, l.errors)
			}
			o.mu.Lock()
			out = append(out,
				Metric{Name: c.op + " overhead p50 (handler minus store)", Value: Percentile(o.extra, 50), Unit: "ms"},
				Metric{Name: c.op + " overhead p99", Value: Percentile(o.extra, 99), Unit: "ms"},
				Metric{Name: c.op + " store call p50", Value: Percentile(o.store, 50), Unit: "ms"},
				Metric{Name: c.op + " client latency p50", Value: Percentile(l.latencies, 50), Unit: "ms"})
			o.mu.Unlock()
		}
		return out, nil
	}}
}
