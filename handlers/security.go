package handlers

import (
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// secureHeaders sets the headers an API answer should carry: no MIME
// sniffing, no framing, no referrer, a CSP that lets a browser load nothing
// from an answer, and HSTS when configured (Echo sends it on TLS requests
// and those forwarded as https).
func secureHeaders(hstsMaxAge int) echo.MiddlewareFunc {
	return middleware.SecureWithConfig(middleware.SecureConfig{
		ContentTypeNosniff:    "nosniff",
		XFrameOptions:         "DENY",
		ReferrerPolicy:        "no-referrer",
		ContentSecurityPolicy: "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
		HSTSMaxAge:            hstsMaxAge,
	})
}

// limitBody refuses bodies over the limit: at once when Content-Length says
// so, and while reading otherwise (readBody then answers 413).
func limitBody(limit int64) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			if req.ContentLength > limit {
				return newAPIError(http.StatusRequestEntityTooLarge, "body_too_large",
					"The request body is larger than "+strconv.FormatInt(limit, 10)+" bytes")
			}
			if req.Body != nil {
				req.Body = http.MaxBytesReader(c.Response(), req.Body, limit)
			}
			return next(c)
		}
	}
}

// restCORS is Echo's CORS middleware for /v1 (the drop-in routes keep the
// old route's own headers). It runs for every request, so preflights reach
// it even where no OPTIONS route exists.
func restCORS(origins []string) echo.MiddlewareFunc {
	if len(origins) == 0 {
		origins = []string{"*"}
	}
	return middleware.CORSWithConfig(middleware.CORSConfig{
		Skipper:      func(c echo.Context) bool { return !isREST(c) },
		AllowOrigins: origins,
		AllowMethods: []string{http.MethodGet, http.MethodPost, http.MethodDelete, http.MethodOptions},
		AllowHeaders: []string{echo.HeaderAuthorization, echo.HeaderContentType, "Idempotency-Key", "Last-Event-ID"},
		ExposeHeaders: []string{echo.HeaderLocation, echo.HeaderRetryAfter, echo.HeaderXRequestID,
			echo.HeaderWWWAuthenticate},
		MaxAge: 600,
	})
}

// isREST reports whether a request is for the /v1 API, whose validation
// errors are 422 and whose bodies must be JSON.
func isREST(c echo.Context) bool {
	p := c.Request().URL.Path
	return p == "/v1" || strings.HasPrefix(p, "/v1/")
}

// requireJSON answers 415 to a /v1 request whose body is not declared JSON.
// Requests without a body (a cancel, say) need no Content-Type.
func requireJSON(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if req.ContentLength == 0 || req.Body == nil || req.Body == http.NoBody {
			return next(c)
		}
		mt, _, err := mime.ParseMediaType(req.Header.Get(echo.HeaderContentType))
		if err != nil || (mt != echo.MIMEApplicationJSON && !strings.HasSuffix(mt, "+json")) {
			return newAPIError(http.StatusUnsupportedMediaType, "unsupported_media_type",
				"The request body must be JSON (Content-Type: application/json)")
		}
		return next(c)
	}
}
