package fakellm_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/polaris/reportd/internal/fakellm"
	"github.com/sashabaranov/go-openai"
)

// start runs a fake provider for the test's lifetime.
func start(t *testing.T, f fakellm.Flavor, opts ...fakellm.Option) *fakellm.Server {
	t.Helper()
	s, err := fakellm.New(f, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// headerDoer keeps the headers of the last response, because go-openai's
// APIError and RequestError do not carry them (Retry-After included).
type headerDoer struct {
	mu   sync.Mutex
	last http.Header
}

func (d *headerDoer) Do(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		d.mu.Lock()
		d.last = resp.Header.Clone()
		d.mu.Unlock()
	}
	return resp, err
}

func (d *headerDoer) header() http.Header {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.last
}

// newClient is a go-openai client for base; doer may be nil.
func newClient(base string, doer openai.HTTPDoer) *openai.Client {
	cfg := openai.DefaultConfig(fakellm.DefaultAPIKey)
	cfg.BaseURL = base
	if doer != nil {
		cfg.HTTPClient = doer
	}
	return openai.NewClientWithConfig(cfg)
}

// chatBase is the base URL go-openai needs for a flavour's chat API.
func chatBase(s *fakellm.Server) string {
	if s.Flavor() == fakellm.Perplexity {
		return s.URL // Perplexity's legacy chat API has no /v1 prefix
	}
	return s.BaseURL()
}

// timeout bounds a test step; nothing here should take seconds.
func timeout(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

func chatRequest(model string) openai.ChatCompletionRequest {
	return openai.ChatCompletionRequest{
		Model:    model,
		Messages: []openai.ChatCompletionMessage{{Role: openai.ChatMessageRoleUser, Content: "Tell me a fact."}},
	}
}

// chatResult is what a go-openai chat stream delivered.
type chatResult struct {
	text    string
	chunks  []openai.ChatCompletionStreamResponse
	raw     [][]byte
	finish  openai.FinishReason
	usage   *openai.Usage
	headers http.Header
	err     error // the error that ended the stream; nil for io.EOF
}

// streamChat reads a chat stream to its end through RecvRaw, decoding each
// raw chunk as go-openai's Recv would.
func streamChat(ctx context.Context, c *openai.Client, req openai.ChatCompletionRequest) (chatResult, error) {
	stream, err := c.CreateChatCompletionStream(ctx, req)
	if err != nil {
		return chatResult{}, err
	}
	defer stream.Close()
	res := chatResult{headers: stream.Header()}
	for {
		raw, err := stream.RecvRaw()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				res.err = err
			}
			return res, nil
		}
		res.raw = append(res.raw, append([]byte(nil), raw...))
		var chunk openai.ChatCompletionStreamResponse
		if err := json.Unmarshal(raw, &chunk); err != nil {
			res.err = err
			return res, nil
		}
		res.add(chunk)
	}
}

func (r *chatResult) add(chunk openai.ChatCompletionStreamResponse) {
	r.chunks = append(r.chunks, chunk)
	if chunk.Usage != nil {
		r.usage = chunk.Usage
	}
	for _, ch := range chunk.Choices {
		r.text += ch.Delta.Content
		if ch.FinishReason != "" {
			r.finish = ch.FinishReason
		}
	}
}

// eventsResult is what a go-openai Responses stream delivered.
type eventsResult struct {
	events []openai.ResponseStreamEvent
	err    error // the error that ended the stream; nil for io.EOF
}

// streamEvents reads a Responses stream to its end.
func streamEvents(ctx context.Context, c *openai.Client, req openai.CreateResponseRequest) (eventsResult, error) {
	stream, err := c.CreateResponseStream(ctx, req)
	if err != nil {
		return eventsResult{}, err
	}
	defer stream.Close()
	var res eventsResult
	for {
		ev, err := stream.Recv()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				res.err = err
			}
			return res, nil
		}
		res.events = append(res.events, ev)
	}
}

// terminals lists the terminal events of a Responses stream.
func terminals(events []openai.ResponseStreamEvent) []openai.ResponseStreamEventType {
	var out []openai.ResponseStreamEventType
	for _, ev := range events {
		switch ev.Type {
		case openai.ResponseStreamEventCompleted, openai.ResponseStreamEventFailed,
			openai.ResponseStreamEventIncomplete, "response.cancelled", openai.ResponseStreamEventError:
			out = append(out, ev.Type)
		}
	}
	return out
}

// deltas joins the text deltas of a Responses stream.
func deltas(events []openai.ResponseStreamEvent) string {
	var b strings.Builder
	for _, ev := range events {
		if ev.Type == openai.ResponseStreamEventOutputTextDelta {
			b.WriteString(ev.Delta)
		}
	}
	return b.String()
}

// post sends a raw JSON request and returns the status, headers and body.
func post(t *testing.T, url, key, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(timeout(t, 5*time.Second), http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// finished waits for the server to finish the request with the given ID.
func finished(t *testing.T, s *fakellm.Server, id int) fakellm.Request {
	t.Helper()
	r, err := s.WaitFor(timeout(t, 5*time.Second), func(r fakellm.Request) bool { return r.ID == id })
	if err != nil {
		t.Fatalf("request %d never finished: %v", id, err)
	}
	return r
}
