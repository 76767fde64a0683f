// Package handlers is the HTTP API of the service, on Echo: the drop-in
// /api/reportJobsDb route of the old system, the REST API under /v1 (jobs,
// statistics, live event streams, operator endpoints), health endpoints, the
// OpenAPI document, and the middleware that authenticates and rate-limits
// every caller. Handlers are thin: they bind and validate a request, make one
// call to the store, and answer; every error goes through one renderer.
package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/polaris/reportd/logging"
	"github.com/polaris/reportd/report"
)

// Deps is what the API needs. Fields left zero take the defaults of New.
type Deps struct {
	Store   report.Store
	Models  report.Models
	Changes report.Changes // hears of every write the API makes (the local worker, live views); nil: nobody
	Live    report.Live    // live views for the event streams
	// Maintenance runs cleanup for operators; nil: unavailable here.
	Maintenance Maintenance
	// Deliveries shows a finished job's webhook deliveries (report.Outbox
	// implements it); nil leaves them out.
	Deliveries Deliveries
	Verifier   Verifier
	// Ready are readiness checks besides the store, by name (the JWKS, the
	// worker's claims).
	Ready       map[string]func(context.Context) error
	Limits      report.Limits
	MaxAttempts int
	HTTP        HTTP
	// Page configures the monitor page at / (page.go).
	Page Page
	// Requests hears of every request (metrics); nil: nobody.
	Requests RequestObserver
	Stop     <-chan struct{} // closed when the server shuts down: live streams end
	Log      *slog.Logger
	Now      func() time.Time
}

// HTTP tunes the listener's answers.
type HTTP struct {
	MaxBody     int64 // request bodies; default 1 MiB
	CORSOrigins []string
	HSTSMaxAge  int // seconds; 0 sends no Strict-Transport-Security
	RateLimit   RateLimit
	// Heartbeat is how often a comment line keeps an idle event stream open
	// through proxies. Default 15 s.
	Heartbeat time.Duration
	// StreamWriteTimeout ends a stream whose client stops reading. Default 30 s.
	StreamWriteTimeout time.Duration
}

func (d Deps) withDefaults() Deps {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	// Lines logged with a request's context carry its id, whatever logger
	// the API is given.
	d.Log = slog.New(logging.Handler(d.Log.Handler()))
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Changes == nil {
		d.Changes = nobody{}
	}
	if d.HTTP.MaxBody <= 0 {
		d.HTTP.MaxBody = 1 << 20
	}
	if d.HTTP.Heartbeat <= 0 {
		d.HTTP.Heartbeat = 15 * time.Second
	}
	if d.HTTP.StreamWriteTimeout <= 0 {
		d.HTTP.StreamWriteTimeout = 30 * time.Second
	}
	return d
}

// RequestObserver hears of requests: when one starts, and when it has been
// answered, with the route pattern it matched ("" for none).
type RequestObserver interface {
	RequestStarted()
	ObserveRequest(method, route string, status int, took time.Duration)
}

// Deliveries reads a job's webhook deliveries as its owner.
type Deliveries interface {
	JobDeliveries(ctx context.Context, c report.Caller, jobID string) ([]report.Delivery, error)
}

// Maintenance is the operators' cleanup (report.Queue implements it).
type Maintenance interface {
	Cleanup(ctx context.Context) (int, error)
}

type handler struct {
	Deps
	creator report.Creator
	page    *page
	ready   readiness
}

// New builds the Echo instance with every route.
func New(d Deps) *echo.Echo {
	d = d.withDefaults()
	pg, err := newPage(d.Page, d.Models, d.Log)
	if err != nil {
		panic("the embedded monitor page does not load: " + err.Error()) // a build defect, not a runtime state
	}
	h := &handler{Deps: d, page: pg, creator: report.Creator{Store: d.Store, Models: d.Models, Limits: d.Limits,
		MaxAttempts: d.MaxAttempts, Changes: d.Changes, Now: d.Now}}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = renderError(h.Log)
	e.Use(dropOddRequestID)
	e.Use(middleware.RequestIDWithConfig(middleware.RequestIDConfig{RequestIDHandler: requestIDIntoContext}))
	e.Use(logRequests(h.Log, d.Requests))
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			h.Log.ErrorContext(c.Request().Context(), "panic", "err", err, "request_id", requestID(c), "stack", string(stack))
			return err
		},
	}))
	e.Use(secureHeaders(d.HTTP.HSTSMaxAge))
	e.Use(limitBody(d.HTTP.MaxBody))
	e.Use(restCORS(d.HTTP.CORSOrigins))
	routes(e, h)
	return e
}

// routes registers every endpoint; this is the one place to read the API.
// openapi.json describes the same endpoints for clients.
func routes(e *echo.Echo, h *handler) {
	e.GET("/healthz", h.healthz)
	e.GET("/readyz", h.readyz)
	e.GET("/openapi.json", openAPIDocument)
	e.GET("/", h.servePage)
	e.GET("/app/*", h.serveAsset)

	auth := []echo.MiddlewareFunc{authenticate(h.Verifier), rateLimit(h.HTTP.RateLimit, h.Now), noStore}
	for _, path := range []string{"/api/reportJobsDb", "/api/reportJobs"} {
		g := e.Group(path, legacyCORS(h.HTTP.CORSOrigins))
		g.OPTIONS("", func(c echo.Context) error { return c.NoContent(http.StatusOK) })
		g.POST("", h.legacyCreate, auth...)
		g.GET("", h.legacyGet, auth...)
		g.Match([]string{http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodHead}, "", methodNotAllowed)
	}

	v1 := e.Group("/v1", requireJSON)
	v1.POST("/jobs", h.createJob, auth...)
	v1.GET("/jobs", h.listJobs, auth...)
	v1.GET("/jobs/:job_id", h.getJob, auth...)
	v1.POST("/jobs/:job_id/cancel", h.cancelJob, auth...)
	v1.DELETE("/jobs/:job_id", h.deleteJob, auth...)
	v1.GET("/jobs/:job_id/events", h.jobEvents, auth...)
	v1.GET("/events", h.events, auth...)
	v1.GET("/stats", h.stats, auth...)
	v1.GET("/stats/active", h.activeJobs, auth...)
	v1.GET("/jobs/:job_id/result", h.result, auth...)
	v1.GET("/config", h.publicSettings)
	if h.Page.DevSignIn != nil && h.Page.SupabaseURL == "" {
		v1.POST("/dev/token", h.devToken)
	}

	operator := append(append([]echo.MiddlewareFunc{}, auth...), requireService)
	v1.GET("/admin/stats", h.operatorStats, operator...)
	v1.POST("/admin/cleanup", h.cleanup, operator...)
}

// healthz answers when the process serves requests.
func (h *handler) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 when the store is reachable and every other check
// (the JWKS, when one is configured; the worker's claims) passes; else 503
// naming what failed. It is public and unauthenticated, so the answer is
// computed at most once a second however often it is asked for.
func (h *handler) readyz(c echo.Context) error {
	status, body := h.ready.answer(h.Now(), h.checkReady)
	if status != http.StatusOK {
		c.Response().Header().Set("Retry-After", "5")
	}
	return c.JSON(status, body)
}

// readiness caches the last readiness answer.
type readiness struct {
	mu     sync.Mutex
	at     time.Time
	status int
	body   map[string]any
}

// answer returns the answer computed within the last second, or computes
// one; concurrent callers wait for the one computation.
func (r *readiness) answer(now time.Time, compute func() (int, map[string]any)) (int, map[string]any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.body == nil || now.Sub(r.at) >= time.Second || now.Before(r.at) {
		r.status, r.body = compute()
		r.at = now
	}
	return r.status, r.body
}

func (h *handler) checkReady() (int, map[string]any) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	checks := map[string]string{"store": "ok"}
	ready := true
	if err := h.Store.Ping(ctx); err != nil {
		h.Log.WarnContext(ctx, "readiness: store unreachable", "err", err)
		checks["store"], ready = "unreachable", false
	}
	for name, check := range h.Ready {
		checks[name] = "ok"
		if err := check(ctx); err != nil {
			h.Log.WarnContext(ctx, "readiness check failed", "check", name, "err", err)
			checks[name], ready = "failing", false
		}
	}
	if !ready {
		return http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "checks": checks}
	}
	return http.StatusOK, map[string]any{"status": "ok", "checks": checks}
}

func methodNotAllowed(echo.Context) error {
	return newAPIError(http.StatusMethodNotAllowed, "method_not_allowed", "Method not allowed")
}

// nobody stands in when no one listens for changes.
type nobody struct{}

func (nobody) Announce(report.Change) {}
