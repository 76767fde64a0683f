package handlers

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/polaris/reportd/report"
)

// errorBody is the one error shape of every endpoint. "error" is a message
// for people (the old route's messages are kept word for word); "code" is
// stable for programs.
type errorBody struct {
	Error     string      `json:"error"`
	Code      string      `json:"code"`
	Fields    []fieldView `json:"fields,omitempty"`
	RequestID string      `json:"request_id,omitempty"`
}

// fieldView is one field's problem in an error body.
type fieldView struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// apiError is an error a handler returns with its HTTP answer decided.
type apiError struct {
	status  int
	code    string
	message string
	fields  []report.FieldError
	header  http.Header
}

func (e *apiError) Error() string { return e.message }

func newAPIError(status int, code, message string) *apiError {
	return &apiError{status: status, code: code, message: message}
}

// renderError is Echo's HTTPErrorHandler: it maps any error a handler
// returns to a status and the JSON error shape, logs server faults with their
// cause, and never shows a client an internal message.
func renderError(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		e := classify(err, isREST(c))
		for k, vs := range e.header {
			for _, v := range vs {
				c.Response().Header().Add(k, v)
			}
		}
		if e.status >= 500 {
			log.ErrorContext(c.Request().Context(), "request failed", "status", e.status, "err", err,
				"request_id", requestID(c), "method", c.Request().Method, "path", c.Path())
		}
		body := errorBody{Error: e.message, Code: e.code, RequestID: requestID(c)}
		for _, f := range e.fields {
			body.Fields = append(body.Fields, fieldView{Field: f.Field, Message: f.Message})
		}
		if c.Request().Method == http.MethodHead {
			_ = c.NoContent(e.status)
			return
		}
		_ = c.JSON(e.status, body)
	}
}

// classify decides the HTTP answer for an error. A request that fails
// validation is 400 on the drop-in routes (as the old route answered) and
// 422 on the REST API; an oversized payload is 413 on both.
func classify(err error, rest bool) *apiError {
	e := classifyError(err)
	if rest && e.status == http.StatusBadRequest && e.code == "invalid_request" {
		e.status = http.StatusUnprocessableEntity
	}
	return e
}

func classifyError(err error) *apiError {
	var api *apiError
	if errors.As(err, &api) {
		return api
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		return fromEcho(he)
	}
	var verr *report.ValidationError
	if errors.As(err, &verr) {
		status := http.StatusBadRequest
		if verr.TooLarge {
			status = http.StatusRequestEntityTooLarge
		}
		return &apiError{status: status, code: "invalid_request", message: verr.Error(), fields: verr.Fields}
	}
	var limited *report.LimitError
	if errors.As(err, &limited) {
		secs := int((limited.RetryAfter + time.Second - 1) / time.Second)
		return &apiError{status: http.StatusTooManyRequests, code: "rate_limited", message: limited.Message,
			header: http.Header{"Retry-After": {strconv.Itoa(max(secs, 1))}}}
	}
	return fromDomain(err)
}

var domainStatus = []struct {
	kind    error
	status  int
	code    string
	message string // used when the error carries no public message
}{
	{report.ErrNotFound, http.StatusNotFound, "not_found", "Job not found"},
	{report.ErrUnauthenticated, http.StatusUnauthorized, "unauthenticated", "Authentication required"},
	{report.ErrForbidden, http.StatusForbidden, "forbidden", "Not allowed"},
	{report.ErrConflict, http.StatusConflict, "conflict", "The request conflicts with the job's state"},
	{report.ErrInvalid, http.StatusBadRequest, "invalid_request", "The request is invalid"},
	{report.ErrLimited, http.StatusTooManyRequests, "rate_limited", "A limit was reached; try again later"},
	{report.ErrUnavailable, http.StatusServiceUnavailable, "unavailable", "The job store is unavailable; try again shortly"},
}

func fromDomain(err error) *apiError {
	for _, d := range domainStatus {
		if !errors.Is(err, d.kind) {
			continue
		}
		msg := d.message
		var pub *report.Error
		if errors.As(err, &pub) && pub.Message != "" && d.status < 500 {
			msg = pub.Message
		}
		e := &apiError{status: d.status, code: d.code, message: msg}
		if d.status == http.StatusUnauthorized {
			e.header = http.Header{"Www-Authenticate": {bearerChallenge(msg)}}
		}
		if d.status == http.StatusServiceUnavailable {
			e.header = http.Header{"Retry-After": {"5"}}
		}
		return e
	}
	return &apiError{status: http.StatusInternalServerError, code: "internal", message: "Internal server error"}
}

func fromEcho(he *echo.HTTPError) *apiError {
	switch he.Code {
	case http.StatusRequestEntityTooLarge:
		return newAPIError(he.Code, "body_too_large", "The request body is too large")
	case http.StatusMethodNotAllowed:
		return newAPIError(he.Code, "method_not_allowed", "Method not allowed")
	case http.StatusNotFound:
		return newAPIError(he.Code, "not_found", "Not found")
	case http.StatusUnsupportedMediaType:
		return newAPIError(he.Code, "unsupported_media_type", "The request body must be JSON (Content-Type: application/json)")
	}
	if he.Code >= 500 {
		return newAPIError(http.StatusInternalServerError, "internal", "Internal server error")
	}
	return newAPIError(he.Code, "invalid_request", http.StatusText(he.Code))
}

// bearerChallenge is the WWW-Authenticate value of a 401 (RFC 6750).
func bearerChallenge(msg string) string {
	return fmt.Sprintf(`Bearer error="invalid_token", error_description=%q`, msg)
}
