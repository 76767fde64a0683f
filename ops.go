package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/polaris/reportd/config"
	"github.com/polaris/reportd/metrics"
	"github.com/polaris/reportd/report"
)

// serveObservability starts the metrics and profiling listeners that are
// configured, each on its own address, never the public one. The queue
// gauges are sampled only where the store has service authority (always in
// memory mode; with SUPABASE_SERVICE_ROLE_KEY on Supabase).
func serveObservability(ctx context.Context, g *errgroup.Group, cfg config.Config, m *metrics.Metrics,
	store report.Backend, ready map[string]func(context.Context) error, log *slog.Logger) error {
	o := cfg.Observability
	if o.MetricsAddr != "" {
		l, err := net.Listen("tcp", o.MetricsAddr)
		if err != nil {
			return fmt.Errorf("metrics listener: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", m.Handler(o.MetricsToken.Reveal(), log))
		// A worker-only process (MODE=worker) has no API listener: its
		// health is answered here.
		mux.Handle("GET /readyz", readiness(store, ready, log))
		g.Go(func() error { return serveAux(ctx, l, mux, 30*time.Second, log, "metrics") })
	}
	if o.PprofAddr != "" {
		l, err := net.Listen("tcp", o.PprofAddr)
		if err != nil {
			return fmt.Errorf("pprof listener: %w", err)
		}
		// A CPU profile or trace streams for as long as its ?seconds= asks.
		g.Go(func() error { return serveAux(ctx, l, profiles(), 0, log, "pprof") })
	}
	if !cfg.Supabase.Enabled() || cfg.Supabase.ServiceRoleKey.Set() {
		g.Go(func() error { m.SampleQueue(ctx, store, o.QueueInterval, log); return nil })
	}
	return nil
}

// profiles serves net/http/pprof on a mux of its own (the package's init
// registers on http.DefaultServeMux, which this service never serves).
func profiles() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// serveAux serves an operators' listener until ctx ends.
func serveAux(ctx context.Context, l net.Listener, h http.Handler, writeTimeout time.Duration, log *slog.Logger, what string) error {
	srv := &http.Server{
		Handler: h, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: writeTimeout, IdleTimeout: time.Minute,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	log.Info("listening", "listener", what, "addr", l.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("%s listener: %w", what, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s listener shutdown: %w", what, err)
	}
	return nil
}

// readiness answers like the API's /readyz: 200 when the store answers and
// every check passes (the worker's: its claims work), else 503 naming what
// failed.
func readiness(store report.Backend, checks map[string]func(context.Context) error, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		status, code := map[string]string{"store": "ok"}, http.StatusOK
		if err := store.Ping(ctx); err != nil {
			log.WarnContext(ctx, "readiness: store unreachable", "err", err)
			status["store"], code = "unreachable", http.StatusServiceUnavailable
		}
		for name, check := range checks {
			status[name] = "ok"
			if err := check(ctx); err != nil {
				log.WarnContext(ctx, "readiness check failed", "check", name, "err", err)
				status[name], code = "failing", http.StatusServiceUnavailable
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		state := "ok"
		if code != http.StatusOK {
			state = "unavailable"
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"status": state, "checks": status})
	})
}
