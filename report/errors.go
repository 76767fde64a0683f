package report

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Kinds of failure every layer speaks. Adapters translate their own errors
// into these (wrapped with context); the HTTP layer maps them to statuses.
var (
	// ErrNotFound: the job does not exist or the caller may not see it.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the request clashes with the job's state or another job.
	ErrConflict = errors.New("conflict")
	// ErrForbidden: the caller is known but not allowed to do this.
	ErrForbidden = errors.New("forbidden")
	// ErrUnauthenticated: the caller's credentials are missing or invalid.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrInvalid: the request is malformed or out of range.
	ErrInvalid = errors.New("invalid")
	// ErrUnavailable: the store (or a dependency) cannot be reached now.
	ErrUnavailable = errors.New("unavailable")
	// ErrLeaseLost: a worker write was refused because its attempt no
	// longer holds the job (lease expired, job deleted or re-claimed).
	ErrLeaseLost = errors.New("lease lost")
	// ErrCancelled: a worker write was refused because the job was cancelled.
	ErrCancelled = errors.New("job cancelled")
	// ErrLimited: the caller reached a limit (its request rate, its open
	// live views, its queued jobs, its budget); it may try again later.
	ErrLimited = errors.New("limit reached")
)

// Error is a failure with a message that is safe to show to API clients.
// Kind is one of the sentinel errors above; Cause, when set, is the internal
// reason and is only logged.
type Error struct {
	Kind    error
	Message string
	Cause   error
}

// Errorf builds an *Error of the given kind with a client-safe message.
func Errorf(kind error, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return e.Message + ": " + e.Cause.Error()
	}
	return e.Message
}

// Unwrap lets errors.Is match both the kind and the cause.
func (e *Error) Unwrap() []error {
	if e.Cause != nil {
		return []error{e.Kind, e.Cause}
	}
	return []error{e.Kind}
}

// FieldError says what is wrong with one request field.
type FieldError struct {
	Field   string
	Message string
}

// ValidationError lists every problem found in a request. It matches
// ErrInvalid with errors.Is. TooLarge marks a payload that exceeds a size
// limit (the HTTP layer answers 413 for it).
type ValidationError struct {
	Fields   []FieldError
	TooLarge bool
}

// Add records a problem with field.
func (v *ValidationError) Add(field, format string, args ...any) {
	v.Fields = append(v.Fields, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// OrNil returns v when it holds problems, else nil.
func (v *ValidationError) OrNil() error {
	if v == nil || len(v.Fields) == 0 {
		return nil
	}
	return v
}

func (v *ValidationError) Error() string {
	parts := make([]string, len(v.Fields))
	for i, f := range v.Fields {
		parts[i] = f.Message
	}
	return strings.Join(parts, "; ")
}

// Unwrap makes a ValidationError match ErrInvalid.
func (v *ValidationError) Unwrap() error { return ErrInvalid }

// LimitError is ErrLimited with a message for the caller and, when known,
// how long until the limit lets it through again.
type LimitError struct {
	Message    string
	RetryAfter time.Duration // 0: unknown
}

func (e *LimitError) Error() string { return e.Message }

// Unwrap makes a LimitError match ErrLimited.
func (e *LimitError) Unwrap() error { return ErrLimited }
