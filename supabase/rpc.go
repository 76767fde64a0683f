package supabase

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/polaris/reportd/report"
)

// APIError is an error answer from PostgREST (or the gateway in front of
// it), with the HTTP status kept: postgrest-go's Rpc ignores the status and
// its table calls flatten errors to a string.
type APIError struct {
	Status  int
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

// credentials are the headers that say who a request is from.
type credentials struct {
	apikey string
	bearer string // empty: no Authorization header
}

func (c credentials) apply(h http.Header) {
	h.Set("apikey", c.apikey)
	if c.bearer != "" {
		h.Set("Authorization", "Bearer "+c.bearer)
	}
}

// keyCredentials are the headers for acting with an API key alone. Legacy
// keys are JWTs and go in both headers; the new sb_ keys go in apikey only
// (Supabase rejects them in Authorization).
func keyCredentials(key string) credentials {
	if strings.HasPrefix(key, "sb_") {
		return credentials{apikey: key}
	}
	return credentials{apikey: key, bearer: key}
}

// rpc calls a database function through POST /rest/v1/rpc/<fn> and decodes
// its JSON answer into out (nil to ignore it). It maps every status: 200 and
// 204 succeed, anything else becomes a domain error.
func (s *Store) rpc(ctx context.Context, who credentials, fn string, args any, out any) error {
	body, err := json.Marshal(args)
	if err != nil {
		return fmt.Errorf("rpc %s: encode arguments: %w", fn, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.restURL+"/rpc/"+fn, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("rpc %s: %w", fn, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-Client-Info", clientInfo)
	who.apply(req.Header)
	resp, err := s.http.Do(req)
	if err != nil {
		return unreachable(ctx, fn, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return unreachable(ctx, fn, err)
	}
	switch {
	case resp.StatusCode == http.StatusNoContent:
		return nil
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		if out == nil {
			return nil
		}
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("rpc %s: decode answer: %w", fn, err)
		}
		return nil
	}
	return fmt.Errorf("rpc %s: %w", fn, translate(decodeAPIError(resp.StatusCode, data)))
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
