package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/polaris/reportd/report"
)

// Verifier checks a bearer token (the auth package implements it).
type Verifier interface {
	Verify(ctx context.Context, token string) (report.Caller, error)
}

const callerKey = "reportd.caller"

// authenticate requires a verified bearer token and stores the caller. It
// never falls back to any other identity when the token is missing.
func authenticate(v Verifier) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			token, ok := bearer(c.Request().Header.Get(echo.HeaderAuthorization))
			if !ok {
				e := newAPIError(http.StatusUnauthorized, "unauthenticated",
					"Authentication required: send an Authorization: Bearer header with a Supabase access token")
				e.header = http.Header{"Www-Authenticate": {`Bearer realm="reportd"`}}
				return e
			}
			caller, err := v.Verify(c.Request().Context(), token)
			if err != nil {
				return err
			}
			c.Set(callerKey, caller)
			return next(c)
		}
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

// logRequests writes one structured line per request, with its id. It logs
// the route pattern, never query strings or bodies (they may hold prompts).
func logRequests(log *slog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			if err != nil {
				c.Error(err)
			}
			status := c.Response().Status
			level := slog.LevelInfo
			if status >= 500 {
				level = slog.LevelError
			}
			log.LogAttrs(c.Request().Context(), level, "request",
				slog.String("request_id", requestID(c)),
				slog.String("method", c.Request().Method),
				slog.String("route", c.Path()),
				slog.Int("status", status),
				slog.Int64("duration_us", time.Since(start).Microseconds()),
				slog.String("user_id", callerOf(c).UserID),
			)
			return nil
		}
	}
}
