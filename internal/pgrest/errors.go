package pgrest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// apiError is an error response in PostgREST's shape: {"code","details","hint","message"}, with
// null for an absent details or hint.
type apiError struct {
	Status  int
	Code    string
	Message string
	Details *string
	Hint    *string

	// authenticate is the WWW-Authenticate value of a 401; "Bearer" when empty.
	authenticate string
	// messageOnly renders {"message"} alone, as Supabase's front gateway does.
	messageOnly bool
}

func (e *apiError) Error() string {
	return strconv.Itoa(e.Status) + " " + e.Code + ": " + e.Message
}

func newError(status int, code, message string) *apiError {
	return &apiError{Status: status, Code: code, Message: message}
}

func (e *apiError) withDetails(d string) *apiError {
	e.Details = &d
	return e
}

func (e *apiError) withHint(h string) *apiError {
	e.Hint = &h
	return e
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// Connection failures. PostgREST 12 answers 503 with PGRST000 when it cannot get a connection and
// PGRST001 when one breaks mid-request; the gateway does the same.
const (
	codeConnection = "PGRST000"
	codeClient     = "PGRST001"
)

// fromDB turns an error from the database into a response. anon selects 401 over 403 for
// 42501, as PostgREST does for requests running as the anonymous role.
func fromDB(err error, anon bool) *apiError {
	var apiErr *apiError
	if errors.As(err, &apiErr) {
		return apiErr
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return &apiError{
			Status:  statusFor(pgErr.Code, pgErr.Message, anon),
			Code:    pgErr.Code,
			Message: pgErr.Message,
			Details: optional(pgErr.Detail),
			Hint:    optional(pgErr.Hint),
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return newError(http.StatusServiceUnavailable, codeConnection, "Database connection error. Retrying the connection.")
	}
	return newError(http.StatusServiceUnavailable, codeClient, "Database client error. Retrying the connection.").
		withDetails(err.Error())
}

// statusFor is PostgREST's SQLSTATE to HTTP status table.
func statusFor(code, message string, anon bool) int {
	switch code {
	case "23503", "23505":
		return http.StatusConflict
	case "25006":
		return http.StatusMethodNotAllowed
	case "21000":
		// pg-safeupdate's error is the client's fault; other cardinality errors come from
		// functions or views.
		if strings.HasSuffix(message, "requires a WHERE clause") {
			return http.StatusBadRequest
		}
		return http.StatusInternalServerError
	case "22023":
		if strings.HasPrefix(message, "role") && strings.HasSuffix(message, "does not exist") {
			return http.StatusUnauthorized // the JWT names a role that does not exist
		}
		return http.StatusBadRequest
	case "42501":
		if anon {
			return http.StatusUnauthorized
		}
		return http.StatusForbidden
	case "42883", "42P01":
		return http.StatusNotFound
	case "42P17", "53400":
		return http.StatusInternalServerError
	case "57P01":
		return http.StatusServiceUnavailable
	case "P0001":
		return http.StatusBadRequest
	}
	if strings.HasPrefix(code, "PT") {
		if n, err := strconv.Atoi(code[2:]); err == nil && n >= 100 && n <= 599 {
			return n
		}
		return http.StatusInternalServerError
	}
	if len(code) >= 2 {
		if s, ok := classStatus[code[:2]]; ok {
			return s
		}
	}
	return http.StatusBadRequest
}

// classStatus maps SQLSTATE classes; anything not listed is the client's fault (400).
var classStatus = map[string]int{
	"08": http.StatusServiceUnavailable, // connection exception
	"09": http.StatusInternalServerError,
	"0L": http.StatusForbidden, // invalid grantor
	"0P": http.StatusForbidden, // invalid role specification
	"25": http.StatusInternalServerError,
	"28": http.StatusForbidden, // invalid authorization specification
	"2D": http.StatusInternalServerError,
	"38": http.StatusInternalServerError,
	"39": http.StatusInternalServerError,
	"3B": http.StatusInternalServerError,
	"40": http.StatusInternalServerError, // rollback: serialization, deadlock
	"53": http.StatusServiceUnavailable,  // insufficient resources
	"54": http.StatusInternalServerError,
	"55": http.StatusInternalServerError,
	"57": http.StatusInternalServerError, // operator intervention, including statement timeout
	"58": http.StatusInternalServerError,
	"F0": http.StatusInternalServerError,
	"HV": http.StatusInternalServerError,
	"P0": http.StatusInternalServerError, // PL/pgSQL errors other than a plain RAISE
	"XX": http.StatusInternalServerError,
}

// isConnectionLoss reports whether err means the connection or the server went away, after
// which the pool's other idle connections are likely dead too.
func isConnectionLoss(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "57P01" || pgErr.Code == "57P02" || pgErr.Code == "57P03" || strings.HasPrefix(pgErr.Code, "08")
	}
	var apiErr *apiError
	if errors.As(err, &apiErr) {
		return false
	}
	return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

type errorBody struct {
	Code    string  `json:"code"`
	Details *string `json:"details"`
	Hint    *string `json:"hint"`
	Message string  `json:"message"`
}

// writeError renders e. Every 401 carries WWW-Authenticate.
func writeError(w http.ResponseWriter, e *apiError) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	if e.Status == http.StatusUnauthorized {
		auth := e.authenticate
		if auth == "" {
			auth = "Bearer"
		}
		h.Set("WWW-Authenticate", auth)
	}
	var body []byte
	if e.messageOnly {
		body, _ = json.Marshal(struct {
			Message string `json:"message"`
		}{e.Message})
	} else {
		body, _ = json.Marshal(errorBody{Code: e.Code, Details: e.Details, Hint: e.Hint, Message: e.Message})
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.Status)
	_, _ = w.Write(body)
}
