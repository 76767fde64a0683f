package supabase

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/polaris/reportd/report"
)

// APIError is an error answer from PostgREST (or the gateway in front of
// it): the HTTP status and PostgREST's JSON body. It is the Cause of the
// domain error translate makes of it, so logs keep the database's own text.
type APIError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Details any    `json:"details"` // a string, or an array for some PostgREST errors
	Hint    any    `json:"hint"`
}

func (e *APIError) Error() string {
	return fmt.Sprintf("postgrest %d %s: %s", e.Status, e.Code, e.Message)
}

// decodeAPIError reads an error answer; a body that is not PostgREST's JSON
// (a proxy's HTML page, say) still yields the status.
func decodeAPIError(status int, body []byte) *APIError {
	e := &APIError{Status: status}
	if json.Unmarshal(body, e) != nil || e.Message == "" {
		e.Message = http.StatusText(status)
	}
	return e
}

// unreachable wraps a transport failure: the store is unavailable, unless the
// caller's own context ended.
func unreachable(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", what, ctx.Err())
	}
	return &report.Error{Kind: report.ErrUnavailable, Message: "The job store cannot be reached", Cause: fmt.Errorf("%s: %w", what, err)}
}

// translate turns a PostgREST error into a domain error. Public messages are
// written here; PostgreSQL's own text stays in the cause, for logs only.
func translate(e *APIError) error {
	public := func(kind error, msg string) error { return &report.Error{Kind: kind, Message: msg, Cause: e} }
	switch {
	case e.Code == "PGRST116" || e.Code == "PT404":
		return public(report.ErrNotFound, "Job not found")
	case e.Code == "PT409":
		return public(report.ErrConflict, e.Message) // raised by our own functions, written for users
	case e.Code == "23505":
		return public(report.ErrConflict, "A job with the same id already exists")
	case e.Code == "23503":
		return public(report.ErrInvalid, "summary_id does not refer to an existing summary")
	case e.Code == "PT413" || (e.Code == "22023" && field(e) != ""):
		// A limit the database enforces on every insert; the detail names
		// the field (raised by report_jobs_enforce, written for users).
		return &report.ValidationError{Fields: []report.FieldError{{Field: field(e), Message: e.Message}}, TooLarge: e.Code == "PT413"}
	case e.Code == "PT429":
		secs, _ := strconv.Atoi(fmt.Sprint(e.Hint))
		return &report.LimitError{Message: e.Message, RetryAfter: time.Duration(secs) * time.Second}
	case e.Code == "22023" || e.Code == "P0001":
		return public(report.ErrInvalid, e.Message) // raised by our own functions, written for users
	case strings.HasPrefix(e.Code, "22") || strings.HasPrefix(e.Code, "23"):
		return public(report.ErrInvalid, "The database rejected a value in the request")
	case e.Status == http.StatusUnauthorized:
		return public(report.ErrUnauthenticated, "The access token was rejected")
	case e.Code == "42501" || e.Status == http.StatusForbidden:
		return public(report.ErrForbidden, "Not allowed")
	case e.Status == http.StatusServiceUnavailable || e.Status == http.StatusBadGateway ||
		e.Status == http.StatusGatewayTimeout || e.Code == "57014" || e.Code == "57P01":
		return public(report.ErrUnavailable, "The job store is unavailable")
	}
	return e
}

// field is the request field an error's detail names ("" when none).
func field(e *APIError) string {
	f, _ := e.Details.(string)
	return f
}
