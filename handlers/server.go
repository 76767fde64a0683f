// Package handlers is the HTTP API of the service, on Echo: the drop-in
// /api/reportJobsDb route of the old system, health endpoints, and the
// middleware that authenticates every caller. Handlers are thin: they bind
// and validate a request, make one call to the store, and answer; every
// error goes through one renderer.
package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/polaris/reportd/report"
)

// Deps is what the API needs.
type Deps struct {
	Store       report.Store
	Models      report.Models
	Notifier    report.Notifier // the local worker, or nil
	Verifier    Verifier
	Limits      report.Limits
	MaxAttempts int
	MaxBody     int64
	CORSOrigins []string
	Log         *slog.Logger
	Now         func() time.Time
	// QuestionnaireModel is the model of questionnaire jobs that name none
	// (ANTHROPIC_MODEL); empty: the default model.
	QuestionnaireModel string
}

type handler struct {
	store       report.Store
	models      report.Models
	notify      report.Notifier
	limits      report.Limits
	maxAttempts int
	maxBody     int64
	now         func() time.Time
	log         *slog.Logger
	// questionnaireModel: see Deps.QuestionnaireModel.
	questionnaireModel string
}

// New builds the Echo instance with every route.
func New(d Deps) *echo.Echo {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Notifier == nil {
		d.Notifier = noNotifier{}
	}
	if d.MaxBody <= 0 {
		d.MaxBody = 1 << 20
	}
	h := &handler{
		store: d.Store, models: d.Models, notify: d.Notifier, limits: d.Limits,
		maxAttempts: d.MaxAttempts, maxBody: d.MaxBody, now: d.Now, log: d.Log,
		questionnaireModel: d.QuestionnaireModel,
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = renderError(d.Log)
	e.Use(middleware.RequestID())
	e.Use(logRequests(d.Log))
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			d.Log.Error("panic", "err", err, "request_id", requestID(c), "stack", string(stack))
			return err
		},
	}))
	routes(e, h, d)
	return e
}

// routes registers every endpoint; this is the one place to read the API.
func routes(e *echo.Echo, h *handler, d Deps) {
	e.GET("/healthz", h.healthz)
	e.GET("/readyz", h.readyz)

	auth := authenticate(d.Verifier)
	for _, path := range []string{"/api/reportJobsDb", "/api/reportJobs"} {
		g := e.Group(path, legacyCORS(d.CORSOrigins))
		g.OPTIONS("", func(c echo.Context) error { return c.NoContent(http.StatusOK) })
		g.POST("", h.legacyCreate, auth)
		g.GET("", h.legacyGet, auth)
		g.Match([]string{http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodHead}, "", methodNotAllowed)
	}
}

// actingFor is the caller a request acts as: users always act for
// themselves (a user_id they send is ignored); a service caller acts for the
// user it names.
func (h *handler) actingFor(c report.Caller, userID *string) report.Caller {
	if c.IsService() && userID != nil {
		c.UserID = strings.ToLower(*userID)
	}
	return c
}

// healthz answers when the process serves requests.
func (h *handler) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 when the store is reachable, else 503.
func (h *handler) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 3*time.Second)
	defer cancel()
	if err := h.store.Ping(ctx); err != nil {
		h.log.Warn("readiness check failed", "err", err)
		return c.JSON(http.StatusServiceUnavailable, map[string]any{
			"status": "unavailable", "checks": map[string]string{"store": "unreachable"}})
	}
	return c.JSON(http.StatusOK, map[string]any{"status": "ok", "checks": map[string]string{"store": "ok"}})
}

func methodNotAllowed(echo.Context) error {
	return newAPIError(http.StatusMethodNotAllowed, "method_not_allowed", "Method not allowed")
}

type noNotifier struct{}

func (noNotifier) JobCreated(string)   {}
func (noNotifier) JobCancelled(string) {}
