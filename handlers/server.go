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
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/polaris/reportd/logging"
	"github.com/polaris/reportd/report"
)

// Deps is what the API needs.
type Deps struct {
	Store       report.Store
	Models      report.Models
	Notifier    report.Notifier // the local worker, or nil
	Feed        report.Feed     // changes announced in this process, or nil (streams then poll only)
	Maintenance Maintenance     // runs cleanup for operators, or nil
	Verifier    Verifier
	Ready       map[string]func(context.Context) error // readiness checks besides the store, by name
	Limits      report.Limits
	MaxAttempts int
	MaxBody     int64
	CORSOrigins []string
	RateLimit   RateLimit
	Streams     Streams
	HSTSMaxAge  int             // seconds; 0 sends no Strict-Transport-Security
	Stop        <-chan struct{} // closed when the server shuts down: live streams end
	Log         *slog.Logger
	Now         func() time.Time
	// QuestionnaireModel is the model of questionnaire jobs that name none
	// (ANTHROPIC_MODEL); empty: the default model.
	QuestionnaireModel string
	// Deliveries shows a finished job's webhook deliveries (report.Outbox
	// implements it); nil leaves them out.
	Deliveries Deliveries
	// Page configures the monitor page at / (page.go).
	Page Page
	// Requests hears of every request (metrics); nil: nobody.
	Requests RequestObserver
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
	store       report.Store
	models      report.Models
	notify      report.Notifier
	feed        report.Feed
	maintenance Maintenance
	ready       map[string]func(context.Context) error
	limits      report.Limits
	maxAttempts int
	maxBody     int64
	streams     Streams
	stop        <-chan struct{}
	now         func() time.Time
	log         *slog.Logger
	// questionnaireModel: see Deps.QuestionnaireModel.
	questionnaireModel string
	deliveries         Deliveries
	page               *page
}

// New builds the Echo instance with every route.
func New(d Deps) *echo.Echo {
	h := newHandler(d)
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = renderError(h.log)
	e.Use(dropOddRequestID)
	e.Use(middleware.RequestIDWithConfig(middleware.RequestIDConfig{RequestIDHandler: requestIDIntoContext}))
	e.Use(logRequests(h.log, d.Requests))
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			h.log.ErrorContext(c.Request().Context(), "panic", "err", err, "request_id", requestID(c), "stack", string(stack))
			return err
		},
	}))
	e.Use(secureHeaders(d.HSTSMaxAge))
	e.Use(limitBody(h.maxBody))
	e.Use(restCORS(d.CORSOrigins))
	routes(e, h, d)
	return e
}

func newHandler(d Deps) *handler {
	h := &handler{
		store: d.Store, models: d.Models, notify: d.Notifier, feed: d.Feed, maintenance: d.Maintenance,
		ready: d.Ready, limits: d.Limits, maxAttempts: d.MaxAttempts, maxBody: d.MaxBody,
		streams: d.Streams.withDefaults(), stop: d.Stop, now: d.Now, log: d.Log,
		questionnaireModel: d.QuestionnaireModel, deliveries: d.Deliveries,
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	// Lines logged with a request's context carry its id, whatever logger
	// the API is given.
	h.log = slog.New(logging.Handler(h.log.Handler()))
	if h.now == nil {
		h.now = time.Now
	}
	if h.notify == nil {
		h.notify = noNotifier{}
	}
	if h.feed == nil {
		h.feed = noFeed{}
	}
	if h.maxBody <= 0 {
		h.maxBody = 1 << 20
	}
	pg, err := newPage(d.Page, h.log)
	if err != nil {
		panic("the embedded monitor page does not load: " + err.Error()) // a build defect, not a runtime state
	}
	h.page = pg
	return h
}

// routes registers every endpoint; this is the one place to read the API.
// openapi.json describes the same endpoints for clients.
func routes(e *echo.Echo, h *handler, d Deps) {
	e.GET("/healthz", h.healthz)
	e.GET("/readyz", h.readyz)
	e.GET("/openapi.json", openAPIDocument)
	e.GET("/", h.servePage)
	e.GET("/app/*", h.serveAsset)

	auth := []echo.MiddlewareFunc{authenticate(d.Verifier), rateLimit(d.RateLimit, h.now), noStore}
	for _, path := range []string{"/api/reportJobsDb", "/api/reportJobs"} {
		g := e.Group(path, legacyCORS(d.CORSOrigins))
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
	if d.Page.DevSignIn != nil && d.Page.SupabaseURL == "" {
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
// (the JWKS, when one is configured) passes; else 503 naming what failed.
func (h *handler) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 3*time.Second)
	defer cancel()
	checks := map[string]string{"store": "ok"}
	ready := true
	if err := h.store.Ping(ctx); err != nil {
		h.log.WarnContext(ctx, "readiness: store unreachable", "err", err)
		checks["store"], ready = "unreachable", false
	}
	for name, check := range h.ready {
		checks[name] = "ok"
		if err := check(ctx); err != nil {
			h.log.WarnContext(ctx, "readiness check failed", "check", name, "err", err)
			checks[name], ready = "failing", false
		}
	}
	if !ready {
		c.Response().Header().Set("Retry-After", "5")
		return c.JSON(http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "checks": checks})
	}
	return c.JSON(http.StatusOK, map[string]any{"status": "ok", "checks": checks})
}

func methodNotAllowed(echo.Context) error {
	return newAPIError(http.StatusMethodNotAllowed, "method_not_allowed", "Method not allowed")
}

type noNotifier struct{}

func (noNotifier) JobCreated(string)   {}
func (noNotifier) JobCancelled(string) {}

// noFeed stands in when no feed is wired: subscriptions never wake, so
// streams rely on polling alone.
type noFeed struct{}

func (noFeed) Publish(...string)                       {}
func (noFeed) Subscribe(...string) report.Subscription { return noSubscription{} }

type noSubscription struct{}

func (noSubscription) Changed() <-chan struct{} { return nil }
func (noSubscription) Watch(...string)          {}
func (noSubscription) Unwatch(...string)        {}
func (noSubscription) Close()                   {}
