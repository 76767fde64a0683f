package fakellm_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/polaris/reportd/internal/fakellm"
	"github.com/sashabaranov/go-openai"
)

// TestHTTPErrorsReachGoOpenAI checks that each scripted HTTP error comes
// back from go-openai as an *APIError with the status, type and code a
// worker would branch on, and that the headers it needs are on the wire.
func TestHTTPErrorsReachGoOpenAI(t *testing.T) {
	t.Parallel()
	// go-openai turns OpenAI's "code": null into the int 0; Anthropic bodies
	// have no code at all, so theirs stays nil.
	tests := []struct {
		name     string
		flavor   fakellm.Flavor
		script   fakellm.Script
		status   int
		errType  string
		code     any
		header   string // a header that must be present
		value    string
		absent   string // a header that must not be
		inMsg    string
		endpoint string
	}{
		{"openai retry-after", fakellm.OpenAI, fakellm.RateLimited(1500 * time.Millisecond), 429, "requests", "rate_limit_exceeded", "Retry-After", "2", "Retry-After-Ms", "", "chat"},
		{"openai retry-after-ms", fakellm.OpenAI, fakellm.RateLimitedMs(1500 * time.Millisecond), 429, "requests", "rate_limit_exceeded", "Retry-After-Ms", "1500", "Retry-After", "", "chat"},
		{"openai ratelimit-reset", fakellm.OpenAI, fakellm.RateLimitedReset(3 * time.Second), 429, "requests", "rate_limit_exceeded", "X-RateLimit-Reset", "3", "Retry-After", "", "chat"},
		{"openai quota", fakellm.OpenAI, fakellm.QuotaExhausted(), 429, "insufficient_quota", "insufficient_quota", "", "", "Retry-After", "quota", "chat"},
		{"openai 503", fakellm.OpenAI, fakellm.ServerError(503), 503, "server_error", 0, "X-Request-Id", "req_fake_1", "", "", "chat"},
		{"openai bad request", fakellm.OpenAI, fakellm.BadRequest("messages must not be empty"), 400, "invalid_request_error", 0, "", "", "", "messages must not be empty", "chat"},
		{"openai unauthorized", fakellm.OpenAI, fakellm.Unauthorized(), 401, "invalid_request_error", "invalid_api_key", "", "", "", "", "chat"},
		{"perplexity chat 429", fakellm.Perplexity, fakellm.RateLimited(time.Second), 429, "request_rate_limit_exceeded", 429, "X-RateLimit-Limit", "50", "", "", "chat"},
		{"perplexity chat quota", fakellm.Perplexity, fakellm.QuotaExhausted(), 429, "insufficient_quota", 429, "", "", "", "", "chat"},
		{"perplexity agent 429", fakellm.Perplexity, fakellm.RateLimited(time.Second), 429, "request_rate_limit_exceeded", "request_rate_limit_exceeded", "X-RateLimit-Remaining", "0", "", "", "responses"},
		{"perplexity agent 500", fakellm.Perplexity, fakellm.ServerError(500), 500, "internal_error", "internal_error", "", "", "", "", "responses"},
		{"perplexity agent 502", fakellm.Perplexity, fakellm.ServerError(502), 502, "bad_gateway", "bad_gateway", "", "", "", "", "responses"},
		{"perplexity agent 504", fakellm.Perplexity, fakellm.ServerError(504), 504, "gateway_timeout", "gateway_timeout", "", "", "", "", "responses"},
		{"anthropic 429", fakellm.Anthropic, fakellm.RateLimited(time.Second), 429, "rate_limit_error", nil, "Anthropic-Ratelimit-Requests-Remaining", "0", "", "", "chat"},
		{"anthropic quota is a 400", fakellm.Anthropic, fakellm.QuotaExhausted(), 400, "invalid_request_error", nil, "", "", "", "credit balance", "chat"},
		{"anthropic overloaded", fakellm.Anthropic, fakellm.Overloaded(), 529, "overloaded_error", nil, "Request-Id", "req_fake_1", "", "", "chat"},
		{"anthropic 504", fakellm.Anthropic, fakellm.ServerError(504), 504, "timeout_error", nil, "", "", "", "", "chat"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := start(t, tt.flavor)
			s.Push(tt.script)
			doer := &headerDoer{}
			err := callOnce(t, s, tt.endpoint, doer)
			var apiErr *openai.APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("want *openai.APIError, got %T %v", err, err)
			}
			if apiErr.HTTPStatusCode != tt.status || apiErr.Type != tt.errType || apiErr.Code != tt.code {
				t.Errorf("got status %d type %q code %#v", apiErr.HTTPStatusCode, apiErr.Type, apiErr.Code)
			}
			if !strings.Contains(apiErr.Message, tt.inMsg) {
				t.Errorf("message %q lacks %q", apiErr.Message, tt.inMsg)
			}
			h := doer.header()
			if tt.header != "" && h.Get(tt.header) != tt.value {
				t.Errorf("header %s = %q, want %q", tt.header, h.Get(tt.header), tt.value)
			}
			if tt.absent != "" && h.Get(tt.absent) != "" {
				t.Errorf("header %s should be absent", tt.absent)
			}
		})
	}
}

// callOnce makes one streaming call to the endpoint and returns its error.
func callOnce(t *testing.T, s *fakellm.Server, endpoint string, doer openai.HTTPDoer) error {
	t.Helper()
	ctx := timeout(t, 5*time.Second)
	if endpoint == "responses" {
		_, err := streamEvents(ctx, newClient(s.BaseURL(), doer), openai.CreateResponseRequest{Model: "perplexity/sonar", Input: "hi"})
		return err
	}
	_, err := streamChat(ctx, newClient(chatBase(s), doer), chatRequest("m"))
	return err
}

func TestWrongKeyIsRefused(t *testing.T) {
	t.Parallel()
	for _, f := range []fakellm.Flavor{fakellm.OpenAI, fakellm.Perplexity, fakellm.Anthropic} {
		t.Run(f.String(), func(t *testing.T) {
			t.Parallel()
			s := start(t, f, fakellm.WithAPIKey("right"))
			_, err := streamChat(timeout(t, 5*time.Second), newClient(chatBase(s), nil), chatRequest("m"))
			var apiErr *openai.APIError
			var reqErr *openai.RequestError
			switch {
			case f == fakellm.Perplexity:
				// Perplexity's proxy answers a bad key with an HTML page, which
				// go-openai reports as a RequestError carrying the body.
				if !errors.As(err, &reqErr) || reqErr.HTTPStatusCode != http.StatusUnauthorized || !strings.Contains(string(reqErr.Body), "401 Authorization Required") {
					t.Errorf("got %T %v", err, err)
				}
			case !errors.As(err, &apiErr) || apiErr.HTTPStatusCode != http.StatusUnauthorized:
				t.Errorf("got %T %v", err, err)
			}
			if rec := finished(t, s, 1); rec.Status != 401 || rec.Header.Get("Authorization") != "Bearer "+fakellm.DefaultAPIKey {
				t.Errorf("recorded %d %v", rec.Status, rec.Header)
			}
		})
	}
}

func TestServerErrorThenSuccess(t *testing.T) {
	t.Parallel()
	s := start(t, fakellm.OpenAI)
	s.Push(fakellm.ServerError(502), fakellm.ServerError(500), fakellm.Instant("finally"))
	c := newClient(s.BaseURL(), nil)
	var statuses []int
	for range 3 {
		res, err := streamChat(timeout(t, 5*time.Second), c, chatRequest("m"))
		var apiErr *openai.APIError
		switch {
		case errors.As(err, &apiErr):
			statuses = append(statuses, apiErr.HTTPStatusCode)
		case err == nil && res.text == "finally":
			statuses = append(statuses, 200)
		default:
			t.Fatalf("unexpected %v %+v", err, res)
		}
	}
	if len(statuses) != 3 || statuses[0] != 502 || statuses[1] != 500 || statuses[2] != 200 {
		t.Errorf("statuses %v", statuses)
	}
	if s.Pending() != 0 {
		t.Errorf("%d scripts left", s.Pending())
	}
}

func TestUnknownPathAndBadJSON(t *testing.T) {
	t.Parallel()
	s := start(t, fakellm.OpenAI)
	if status, _, body := post(t, s.URL+"/v1/embeddings", fakellm.DefaultAPIKey, `{}`); status != 404 || !strings.Contains(body, `"error"`) {
		t.Errorf("unknown path: %d %s", status, body)
	}
	if status, _, body := post(t, s.BaseURL()+"/chat/completions", fakellm.DefaultAPIKey, `not json`); status != 400 || !strings.Contains(body, "JSON object") {
		t.Errorf("bad JSON: %d %s", status, body)
	}
	if s.Pending() != 0 || len(s.Requests()) != 2 {
		t.Errorf("rejected requests must be recorded and consume no script")
	}
}
