package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/polaris/reportd/report"
)

// renderedError is what a client receives for an error a handler returns.
type renderedError struct {
	status int
	header http.Header
	body   errorBody
	raw    string
	logged string
}

// renderAt returns err from a handler at path, through the server's error
// renderer, and reads the answer as a client would.
func renderAt(t *testing.T, path string, err error) renderedError {
	t.Helper()
	var logs bytes.Buffer
	e := echo.New()
	e.HTTPErrorHandler = renderError(slog.New(slog.NewJSONHandler(&logs, nil)))
	e.GET(path, func(echo.Context) error { return err })
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	out := renderedError{status: rec.Code, header: rec.Header(), raw: rec.Body.String(), logged: logs.String()}
	if jerr := json.Unmarshal(rec.Body.Bytes(), &out.body); jerr != nil {
		t.Fatalf("the error body is not JSON: %q", out.raw)
	}
	return out
}

// Paths of the two APIs, which answer validation errors differently.
const (
	dropInPath = "/api/reportJobsDb"
	restPath   = "/v1/jobs"
)

func TestErrorAnswers(t *testing.T) {
	internal := errors.New("dial tcp 10.0.0.5:5432: connect: connection refused")
	validation := &report.ValidationError{}
	validation.Add("temperature", "temperature must be between 0 and 2")
	tooLarge := &report.ValidationError{TooLarge: true}
	tooLarge.Add("prompt", "prompt is longer than 10000 characters")

	tests := []struct {
		name    string
		path    string
		err     error
		status  int
		code    string
		message string
		header  map[string]string // headers the answer must carry
	}{
		// Domain kinds: the default message, or the error's public one.
		{"not found", restPath, report.ErrNotFound, 404, "not_found", "Job not found", nil},
		{"not found, wrapped, with a public message", restPath,
			fmt.Errorf("get delivery: %w", report.Errorf(report.ErrNotFound, "Delivery not found")), 404, "not_found", "Delivery not found", nil},
		{"unauthenticated", restPath, report.ErrUnauthenticated, 401, "unauthenticated", "Authentication required",
			map[string]string{"WWW-Authenticate": `Bearer error="invalid_token", error_description="Authentication required"`}},
		{"unauthenticated with a public message", dropInPath, report.Errorf(report.ErrUnauthenticated, "The access token was rejected"),
			401, "unauthenticated", "The access token was rejected",
			map[string]string{"WWW-Authenticate": `Bearer error="invalid_token", error_description="The access token was rejected"`}},
		{"forbidden", restPath, report.ErrForbidden, 403, "forbidden", "Not allowed", nil},
		{"conflict", restPath, fmt.Errorf("cancel job: %w", report.Errorf(report.ErrConflict, "Job is already finished")),
			409, "conflict", "Job is already finished", nil},
		{"conflict without a message", dropInPath, report.ErrConflict, 409, "conflict", "The request conflicts with the job's state", nil},
		{"invalid on the drop-in route", dropInPath, report.ErrInvalid, 400, "invalid_request", "The request is invalid", nil},
		{"invalid on /v1", restPath, report.Errorf(report.ErrInvalid, "summary_id does not refer to an existing summary"),
			422, "invalid_request", "summary_id does not refer to an existing summary", nil},
		{"unavailable: its cause and message stay internal", restPath,
			&report.Error{Kind: report.ErrUnavailable, Message: "The job store cannot be reached", Cause: internal},
			503, "unavailable", "The job store is unavailable; try again shortly", map[string]string{"Retry-After": "5"}},
		{"lease lost is a server fault", restPath, fmt.Errorf("heartbeat job_1: %w", report.ErrLeaseLost), 500, "internal", "Internal server error", nil},
		{"cancelled (a worker's error) is a server fault", dropInPath, report.ErrCancelled, 500, "internal", "Internal server error", nil},

		// Validation: 400 on the drop-in route, 422 on /v1, 413 when too large.
		{"validation on the drop-in route", dropInPath, validation, 400, "invalid_request", "temperature must be between 0 and 2", nil},
		{"validation on /v1", restPath, validation, 422, "invalid_request", "temperature must be between 0 and 2", nil},
		{"too large on the drop-in route", dropInPath, tooLarge, 413, "invalid_request", "prompt is longer than 10000 characters", nil},
		{"too large on /v1", restPath, tooLarge, 413, "invalid_request", "prompt is longer than 10000 characters", nil},

		// Rate limits: Retry-After in whole seconds, rounded up, at least 1.
		{"rate limited", restPath, &report.LimitError{Message: "rate limit exceeded, retry after 2s", RetryAfter: 1500 * time.Millisecond},
			429, "rate_limited", "rate limit exceeded, retry after 2s", map[string]string{"Retry-After": "2"}},
		{"rate limited, due now", dropInPath, &report.LimitError{Message: "rate limit exceeded"}, 429, "rate_limited",
			"rate limit exceeded", map[string]string{"Retry-After": "1"}},
		{"a limit with its kind only", restPath, fmt.Errorf("create: %w", report.ErrLimited), 429, "rate_limited",
			"A limit was reached; try again later", nil},

		// Echo's own errors.
		{"echo: body too large", restPath, echo.ErrStatusRequestEntityTooLarge, 413, "body_too_large", "The request body is too large", nil},
		{"echo: method not allowed", dropInPath, echo.ErrMethodNotAllowed, 405, "method_not_allowed", "Method not allowed", nil},
		{"echo: not found", restPath, echo.ErrNotFound, 404, "not_found", "Not found", nil},
		{"echo: unsupported media type", restPath, echo.ErrUnsupportedMediaType, 415, "unsupported_media_type",
			"The request body must be JSON (Content-Type: application/json)", nil},
		{"echo: other client error keeps its status, not its text", dropInPath, echo.NewHTTPError(400, "strconv.Atoi: parsing \"x\""),
			400, "invalid_request", "Bad Request", nil},
		{"echo: server error hides its text", restPath, echo.NewHTTPError(502, "upstream 10.0.0.5 said no"), 500, "internal", "Internal server error", nil},

		// An answer a handler decided, and anything unknown.
		{"decided by the handler", restPath, newAPIError(409, "no_result", "This job has no result yet"), 409, "no_result", "This job has no result yet", nil},
		{"unknown error", restPath, fmt.Errorf("list jobs: %w", internal), 500, "internal", "Internal server error", nil},
		{"unknown error on the drop-in route", dropInPath, internal, 500, "internal", "Internal server error", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := renderAt(t, tt.path, tt.err)
			if got.status != tt.status || got.body.Code != tt.code || got.body.Error != tt.message {
				t.Fatalf("answer %d %q %q; want %d %q %q", got.status, got.body.Code, got.body.Error, tt.status, tt.code, tt.message)
			}
			for k, v := range tt.header {
				if got.header.Get(k) != v {
					t.Errorf("%s: %q, want %q", k, got.header.Get(k), v)
				}
			}
			if tt.status != 401 && got.header.Get("WWW-Authenticate") != "" {
				t.Errorf("a %d carries a bearer challenge", tt.status)
			}
			for _, secret := range []string{"10.0.0.5", "dial tcp", "strconv", "heartbeat"} {
				if strings.Contains(got.raw, secret) {
					t.Errorf("the body shows internal text %q: %s", secret, got.raw)
				}
			}
			if logged := got.logged != ""; logged != (tt.status >= 500) {
				t.Errorf("logged = %v for a %d: %s", logged, tt.status, got.logged)
			}
		})
	}
}

// A validation error names each field and what is wrong with it.
func TestValidationErrorsListTheirFields(t *testing.T) {
	v := &report.ValidationError{}
	v.Add("temperature", "temperature must be between 0 and 2")
	v.Add("max_tokens", "max_tokens must be at least 1")
	got := renderAt(t, restPath, v)
	want := []report.FieldError{
		{Field: "temperature", Message: "temperature must be between 0 and 2"},
		{Field: "max_tokens", Message: "max_tokens must be at least 1"},
	}
	if got.status != 422 || fmt.Sprint(got.body.Fields) != fmt.Sprint(want) ||
		got.body.Error != "temperature must be between 0 and 2; max_tokens must be at least 1" {
		t.Fatalf("%d %+v", got.status, got.body)
	}
}
