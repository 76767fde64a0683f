package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/polaris/reportd/logging"
	"github.com/polaris/reportd/report"
)

// Verifier authenticates callers (the auth package implements it): a bearer
// token (a user's access token, a service_role token, or the secret key) or,
// without one, an apikey header holding the secret key.
type Verifier interface {
	Authenticate(ctx context.Context, bearer, apikey string) (report.Caller, error)
}

const (
	callerKey = "reportd.caller"
	// headerUserID names the user a service caller acts for.
	headerUserID = "X-User-Id"
)

// authenticate requires credentials and stores the caller. A service caller
// may name the user it acts for in X-User-Id; a user's X-User-Id is ignored
// (users act for themselves). Nothing falls back to another identity when
// the credentials are missing.
func authenticate(v Verifier) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			token, _ := bearer(req.Header.Get(echo.HeaderAuthorization))
			apikey := strings.TrimSpace(req.Header.Get("apikey"))
			if token == "" && apikey == "" {
				e := newAPIError(http.StatusUnauthorized, "unauthenticated",
					"Authentication required: send an Authorization: Bearer header with a Supabase access token")
				e.header = http.Header{"Www-Authenticate": {`Bearer realm="reportd"`}}
				return e
			}
			caller, err := v.Authenticate(req.Context(), token, apikey)
			if err != nil {
				return err
			}
			if caller.IsService() {
				if caller, err = namedUser(caller, req.Header.Get(headerUserID)); err != nil {
					return err
				}
			}
			c.Set(callerKey, caller)
			return next(c)
		}
	}
}

// namedUser sets the user a service caller acts for, from X-User-Id or a
// create body's user_id.
func namedUser(caller report.Caller, id string) (report.Caller, error) {
	id = strings.TrimSpace(id)
	if id == "" {
		return caller, nil
	}
	if !report.ValidUUID(id) {
		return caller, &report.ValidationError{Fields: []report.FieldError{{Field: headerUserID, Message: "the user a service acts for must be a uuid"}}}
	}
	caller.UserID = strings.ToLower(id)
	return caller, nil
}

// actor is the caller a job request acts as. Users act for themselves (a
// user_id they send is ignored); a service caller acts for the user named by
// X-User-Id or, on create, by the body's user_id, and must name one.
func actor(c echo.Context, bodyUserID *string) (report.Caller, error) {
	caller := callerOf(c)
	if !caller.IsService() {
		return caller, nil
	}
	if bodyUserID != nil && c.Request().Header.Get(headerUserID) == "" {
		named, err := namedUser(caller, *bodyUserID)
		if err != nil {
			return caller, &report.ValidationError{Fields: []report.FieldError{{Field: "user_id", Message: "user_id must be a uuid"}}}
		}
		caller = named
	}
	if caller.UserID == "" {
		return caller, &report.ValidationError{Fields: []report.FieldError{{Field: headerUserID,
			Message: "a service caller must name the user it acts for (X-User-Id header)"}}}
	}
	return caller, nil
}

// requireService keeps operator endpoints to service callers.
func requireService(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !callerOf(c).IsService() {
			return newAPIError(http.StatusForbidden, "forbidden", "Operator endpoints are for service callers only")
		}
		return next(c)
	}
}

// noStore keeps answers about a caller's jobs out of shared caches.
func noStore(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
		return next(c)
	}
}

// bearer extracts the token of an "Authorization: Bearer <token>" header
// (the scheme is case-insensitive).
func bearer(h string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(h), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return token, true
}

func callerOf(c echo.Context) report.Caller {
	caller, _ := c.Get(callerKey).(report.Caller)
	return caller
}

func requestID(c echo.Context) string {
	return c.Response().Header().Get(echo.HeaderXRequestID)
}

// logRequests writes one structured line per request, with its id, and
// tells obs (metrics) about it. It logs the route pattern, never query
// strings or bodies (they may hold prompts).
func logRequests(log *slog.Logger, obs RequestObserver) echo.MiddlewareFunc {
	if obs == nil {
		obs = noObserver{}
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			obs.RequestStarted()
			err := next(c)
			if err != nil {
				c.Error(err)
			}
			took := time.Since(start)
			status := c.Response().Status
			obs.ObserveRequest(c.Request().Method, c.Path(), status, took)
			level := slog.LevelInfo
			if status >= 500 {
				level = slog.LevelError
			}
			caller := callerOf(c)
			log.LogAttrs(c.Request().Context(), level, "request",
				slog.String("request_id", requestID(c)),
				slog.String("method", c.Request().Method),
				slog.String("route", c.Path()),
				slog.Int("status", status),
				slog.Int64("duration_us", took.Microseconds()),
				slog.String("user_id", caller.UserID),
				slog.Bool("service", caller.IsService()),
			)
			return nil
		}
	}
}

type noObserver struct{}

func (noObserver) RequestStarted()                                   {}
func (noObserver) ObserveRequest(string, string, int, time.Duration) {}

// maxRequestIDLength bounds a request id a client sends in X-Request-Id.
const maxRequestIDLength = 128

// dropOddRequestID removes an X-Request-Id that is not a short token of
// letters, digits and -_.:, so that the id generated instead is what the
// logs and the answer carry: a client cannot write arbitrary text into every
// log line of its request.
func dropOddRequestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Request().Header
		if id := h.Get(echo.HeaderXRequestID); id != "" && !validRequestID(id) {
			h.Del(echo.HeaderXRequestID)
		}
		return next(c)
	}
}

func validRequestID(id string) bool {
	if len(id) > maxRequestIDLength {
		return false
	}
	for _, r := range id {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.:", r)
		if !ok {
			return false
		}
	}
	return true
}

// requestIDIntoContext puts the request's id into its context, so every line
// logged with that context, however deep, carries it.
func requestIDIntoContext(c echo.Context, id string) {
	req := c.Request()
	c.SetRequest(req.WithContext(logging.With(req.Context(), slog.String("request_id", id))))
}
