package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"github.com/polaris/reportd/report"
)

// classify turns what a provider call returned into a *report.ProviderError
// (or the caller's own context error, untouched, when the job itself was
// stopped). status and header are the HTTP answer the trace saw.
func classify(ctx context.Context, provider string, t *trace, err error) error {
	if ctx.Err() != nil {
		return ctx.Err() // cancelled, lease lost, shutdown or job timeout: the worker decides
	}
	if t.didStall() {
		return &report.ProviderError{Provider: provider, Retryable: true,
			Message: fmt.Sprintf("the provider sent nothing for %s", t.stallAfter)}
	}
	status, header := t.answer()
	var apiErr *openai.APIError
	var reqErr *openai.RequestError
	switch {
	case errors.As(err, &apiErr) && apiErr.HTTPStatusCode > 0:
		return byStatus(provider, apiErr.HTTPStatusCode, codeOf(apiErr), apiErr.Message, header)
	case errors.As(err, &reqErr) && reqErr.HTTPStatusCode > 0:
		code, msg := decodeErrorBody(reqErr.Body)
		if msg == "" {
			msg = http.StatusText(reqErr.HTTPStatusCode)
		}
		return byStatus(provider, reqErr.HTTPStatusCode, code, msg, header)
	case errors.As(err, &apiErr):
		// An error object inside a stream that had started fine.
		return &report.ProviderError{Provider: provider, Status: status, Code: codeOf(apiErr), Retryable: true,
			Message: "the stream reported an error: " + apiErr.Message}
	case errors.Is(err, openai.ErrTooManyEmptyStreamMessages):
		return &report.ProviderError{Provider: provider, Retryable: true, Message: "the stream sent only empty messages"}
	}
	var pe *report.ProviderError
	if errors.As(err, &pe) {
		return pe
	}
	// Connection refused or reset, EOF mid-stream, TLS failures: try again.
	return &report.ProviderError{Provider: provider, Status: status, Retryable: true,
		Message: "the connection to the provider failed: " + err.Error()}
}

// byStatus classifies an error answer by its HTTP status.
func byStatus(provider string, status int, code, msg string, header http.Header) *report.ProviderError {
	e := &report.ProviderError{Provider: provider, Status: status, Code: code, Message: msg}
	switch {
	case status == http.StatusTooManyRequests && isQuota(code, msg):
		// Out of credit: waiting will not help.
	case status == http.StatusTooManyRequests:
		e.Retryable, e.RateLimit = true, true
		e.RetryAfter = retryAfter(header, time.Now())
	case status == http.StatusRequestTimeout, status == http.StatusConflict, status >= 500:
		e.Retryable = true
		e.RetryAfter = retryAfter(header, time.Now())
	}
	return e
}

func isQuota(code, msg string) bool {
	return code == "insufficient_quota" || strings.Contains(strings.ToLower(msg), "insufficient_quota") ||
		strings.Contains(strings.ToLower(msg), "quota exceeded")
}

// codeOf reads an APIError's code, which providers send as a string or number.
func codeOf(e *openai.APIError) string {
	switch c := e.Code.(type) {
	case string:
		if c != "" {
			return c
		}
	case float64:
		return strconv.FormatFloat(c, 'f', -1, 64)
	}
	return e.Type
}

// decodeErrorBody reads the error shapes providers use: OpenAI's
// {"error":{"message","type","code"}} and Anthropic's
// {"type":"error","error":{"type","message"}}, or a bare {"message"}.
func decodeErrorBody(body []byte) (code, msg string) {
	var v struct {
		Message string `json:"message"`
		Error   *struct {
			Message string `json:"message"`
			Type    string `json:"type"`
			Code    any    `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &v) != nil {
		text := strings.TrimSpace(string(body))
		if strings.HasPrefix(text, "<") {
			return "", "" // a proxy's HTML page: the status text says more
		}
		return "", text
	}
	if v.Error == nil {
		return "", v.Message
	}
	code = v.Error.Type
	if c, ok := v.Error.Code.(string); ok && c != "" {
		code = c
	}
	return code, v.Error.Message
}

// retryAfter reads how long a provider asked us to wait: Retry-After-Ms,
// Retry-After (seconds or an HTTP date), or X-RateLimit-Reset (seconds to
// wait, or a Unix time).
func retryAfter(h http.Header, now time.Time) time.Duration {
	if h == nil {
		return 0
	}
	if v := h.Get("Retry-After-Ms"); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms >= 0 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	if v := h.Get("Retry-After"); v != "" {
		if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
			return time.Duration(s * float64(time.Second))
		}
		if t, err := http.ParseTime(v); err == nil {
			return max(t.Sub(now), 0)
		}
	}
	if v := h.Get("X-RateLimit-Reset"); v != "" {
		if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
			if s > 1e9 { // a Unix time
				return max(time.Unix(int64(s), 0).Sub(now), 0)
			}
			return time.Duration(s * float64(time.Second))
		}
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
	}
	return 0
}
