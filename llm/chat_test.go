package llm

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/polaris/reportd/internal/fakellm"
	"github.com/polaris/reportd/report"
)

func fake(t *testing.T, f fakellm.Flavor) *fakellm.Server {
	t.Helper()
	s, err := fakellm.New(f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// chatFor points a chat client at the fake's base URL, which is the root for
// Perplexity and .../v1 for OpenAI and Anthropic, as with the real services.
func chatFor(s *fakellm.Server, stall time.Duration) *Chat {
	base := s.BaseURL()
	if s.Flavor() == fakellm.Perplexity {
		base = s.URL
	}
	return NewChat(ChatConfig{Provider: "perplexity", BaseURL: base, APIKey: fakellm.DefaultAPIKey, StallTimeout: stall})
}

func generate(t *testing.T, g report.Generator, model string) (report.Output, []report.Delta, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var deltas []report.Delta
	out, err := g.Generate(ctx, report.Prompt{Model: model, System: "be brief", Text: "tea", Temperature: 0, MaxTokens: 300},
		func(d report.Delta) { deltas = append(deltas, d) })
	return out, deltas, err
}

func TestChatStreamsPerplexityAnswer(t *testing.T) {
	t.Parallel()
	s := fake(t, fakellm.Perplexity)
	s.Push(fakellm.Script{
		Text: "Tea grows in Kenya.", Think: "let me think", Model: "sonar-reasoning-pro-2026",
		Usage:   &fakellm.Usage{InputTokens: 11, OutputTokens: 7, Cost: fakellm.Cost{Total: 0.0123}},
		Sources: []fakellm.Source{{Title: "Tea board", URL: "https://tea.example/board", Date: "2026-01-02"}},
	})
	out, deltas, err := generate(t, chatFor(s, 5*time.Second), "sonar-reasoning-pro")
	if err != nil {
		t.Fatal(err)
	}
	if out.Text != "Tea grows in Kenya." || out.Model != "sonar-reasoning-pro-2026" || out.Provider != "perplexity" {
		t.Fatalf("output %+v", out)
	}
	if out.Usage.InputTokens != 11 || out.Usage.OutputTokens != 7 || out.Usage.Cost == nil || *out.Usage.Cost != 0.0123 {
		t.Fatalf("usage %+v", out.Usage)
	}
	if len(out.Citations) == 0 || out.Citations[0].URL != "https://tea.example/board" || out.Citations[0].Title != "Tea board" {
		t.Fatalf("citations %+v", out.Citations)
	}
	var visible strings.Builder
	for _, d := range deltas {
		visible.WriteString(d.Text)
	}
	if strings.Contains(visible.String(), "think") || strings.TrimSpace(visible.String()) != "Tea grows in Kenya." {
		t.Fatalf("streamed text %q leaks reasoning or misses the answer", visible.String())
	}
	req := s.Requests()[0]
	if req.Model != "sonar-reasoning-pro" || req.Header.Get("Authorization") != "Bearer "+fakellm.DefaultAPIKey ||
		req.JSON["max_tokens"] != float64(300) || req.JSON["temperature"] == nil {
		t.Fatalf("request: model %q auth %q body %v", req.Model, req.Header.Get("Authorization"), req.JSON)
	}
	if msgs, _ := req.JSON["messages"].([]any); len(msgs) != 2 {
		t.Fatalf("messages %v, want system and user", req.JSON["messages"])
	}
}

func TestChatFailuresAreClassified(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		script     fakellm.Script
		retryable  bool
		rateLimit  bool
		retryAfter time.Duration
		message    string
	}{
		{"429 with Retry-After", fakellm.RateLimited(7 * time.Second), true, true, 7 * time.Second, ""},
		{"429 with Retry-After-Ms", fakellm.RateLimitedMs(1500 * time.Millisecond), true, true, 1500 * time.Millisecond, ""},
		{"429 with X-RateLimit-Reset", fakellm.RateLimitedReset(9 * time.Second), true, true, 9 * time.Second, ""},
		{"quota exhausted", fakellm.QuotaExhausted(), false, false, 0, ""},
		{"503", fakellm.ServerError(503), true, false, 0, ""},
		{"502", fakellm.ServerError(502), true, false, 0, ""},
		{"400 keeps the provider's message", fakellm.BadRequest("max_tokens is too large"), false, false, 0, "max_tokens is too large"},
		{"401", fakellm.Unauthorized(), false, false, 0, ""},
		{"stall mid-stream", fakellm.StallMidStream(2), true, false, 0, "sent nothing for"},
		{"stall before headers", fakellm.StallBeforeHeaders(time.Minute), true, false, 0, "sent nothing for"},
		{"connection reset", fakellm.Reset(2), true, false, 0, "connection"},
		{"error object mid-stream", fakellm.ErrorMidStream(2, "upstream exploded"), true, false, 0, "stream reported an error"},
		{"missing terminal", fakellm.MissingTerminal(), true, false, 0, "ended before"},
		{"500", fakellm.ServerError(500), true, false, 0, ""},
		{"504", fakellm.ServerError(504), true, false, 0, ""},
		{"403 keeps the provider's message", fakellm.HTTPError(http.StatusForbidden, fakellm.KindForbidden, "model not allowed"), false, false, 0, "model not allowed"},
		{"404 keeps the provider's message", fakellm.HTTPError(http.StatusNotFound, fakellm.KindNotFound, "no such model"), false, false, 0, "no such model"},
		{"reset before headers", fakellm.Reset(fakellm.BeforeHeaders), true, false, 0, "connection"},
		{"failed terminal", fakellm.ResponseFailed("model overloaded"), true, false, 0, "model overloaded"},
		{"error terminal", fakellm.ResponseError("search backend down"), true, false, 0, "search backend down"},
	}
	for _, flavor := range []fakellm.Flavor{fakellm.Perplexity, fakellm.OpenAI, fakellm.Anthropic} {
		s := fake(t, flavor)
		for _, c := range cases {
			t.Run(flavorName(flavor)+"/"+c.name, func(t *testing.T) {
				done := make(chan struct{})
				s.Handle(func(r *fakellm.Request) *fakellm.Script {
					if r.Prompt == c.name {
						sc := c.script
						return &sc
					}
					return nil
				})
				defer close(done)
				g := chatFor(s, 300*time.Millisecond)
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				_, err := g.Generate(ctx, report.Prompt{Model: "sonar", Text: c.name, MaxTokens: 50}, func(report.Delta) {})
				var pe *report.ProviderError
				if !errors.As(err, &pe) {
					t.Fatalf("error %v (%T) is not a ProviderError", err, err)
				}
				if pe.Retryable != c.retryable || pe.RateLimit != c.rateLimit {
					t.Fatalf("%+v: retryable %v rate limit %v, want %v %v", pe, pe.Retryable, pe.RateLimit, c.retryable, c.rateLimit)
				}
				if c.retryAfter > 0 && (pe.RetryAfter < c.retryAfter-time.Second || pe.RetryAfter > c.retryAfter+time.Second) {
					t.Fatalf("retry after %s, want about %s", pe.RetryAfter, c.retryAfter)
				}
				if !strings.Contains(pe.Message, c.message) || pe.Message == "" {
					t.Fatalf("message %q, want it to contain %q", pe.Message, c.message)
				}
			})
		}
	}
}

func flavorName(f fakellm.Flavor) string {
	switch f {
	case fakellm.Perplexity:
		return "perplexity"
	case fakellm.OpenAI:
		return "openai"
	}
	return "anthropic"
}

func TestChatSurvivesThousandsOfKeepAlives(t *testing.T) {
	t.Parallel()
	s := fake(t, fakellm.Perplexity)
	sc := fakellm.KeepAlives(5000)
	sc.KeepAlivesBetween = 500
	sc.Text = "still here"
	s.Push(sc)
	out, _, err := generate(t, chatFor(s, 5*time.Second), "sonar")
	if err != nil || out.Text != "still here" {
		t.Fatalf("keep-alives: %q %v", out.Text, err)
	}
}

func TestChatStopsWhenCancelled(t *testing.T) {
	t.Parallel()
	s := fake(t, fakellm.Perplexity)
	s.Push(fakellm.Stream("one two three four five six seven eight", 8, time.Second))
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan struct{}, 8)
	errc := make(chan error, 1)
	go func() {
		_, err := chatFor(s, 5*time.Second).Generate(ctx, report.Prompt{Model: "sonar", Text: "x", MaxTokens: 10},
			func(report.Delta) { got <- struct{}{} })
		errc <- err
	}()
	<-got
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled generation returned %v", err)
	}
	wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer wcancel()
	req, err := s.WaitFor(wctx, func(r fakellm.Request) bool { return r.Finished() })
	if err != nil || !req.ClientClosed {
		t.Fatalf("the provider did not see the stream closed: %+v %v", req, err)
	}
}

// finish_reason "length" is the job's own max_tokens: the answer is kept,
// marked truncated, as on the Agent API.
func TestChatKeepsAnswersCutAtMaxTokens(t *testing.T) {
	t.Parallel()
	for _, flavor := range []fakellm.Flavor{fakellm.Perplexity, fakellm.OpenAI, fakellm.Anthropic} {
		s := fake(t, flavor)
		sc := fakellm.ResponseIncomplete()
		sc.Text = "cut short"
		s.Push(sc)
		out, _, err := generate(t, chatFor(s, 5*time.Second), "sonar")
		if err != nil || out.Text != "cut short" || !out.Truncated {
			t.Fatalf("%s: %+v %v", flavorName(flavor), out, err)
		}
	}
}

// OpenAI's reasoning models take max_completion_tokens and no temperature
// (go-openai refuses anything else before sending); other models keep both.
func TestChatRequestFitsTheModel(t *testing.T) {
	t.Parallel()
	s := fake(t, fakellm.OpenAI)
	cases := []struct {
		model       string
		cfg         ChatConfig
		temperature bool
		limitField  string
	}{
		{"o3-mini", ChatConfig{}, false, "max_completion_tokens"},
		{"gpt-5", ChatConfig{}, false, "max_completion_tokens"},
		{"gpt-4o", ChatConfig{MaxCompletionTokens: true}, true, "max_completion_tokens"},
		{"llama3", ChatConfig{}, true, "max_tokens"},
	}
	for _, c := range cases {
		cfg := c.cfg
		cfg.Provider, cfg.BaseURL, cfg.APIKey, cfg.StallTimeout = "openai", s.BaseURL(), fakellm.DefaultAPIKey, 5*time.Second
		if _, _, err := generate(t, NewChat(cfg), c.model); err != nil {
			t.Fatalf("%s: %v", c.model, err)
		}
		reqs := s.Requests()
		body := reqs[len(reqs)-1].JSON
		_, hasTemp := body["temperature"]
		// model, messages, stream and the limit, plus the temperature
		if hasTemp != c.temperature || body[c.limitField] != float64(300) || len(body) != 4+boolInt(hasTemp) {
			t.Errorf("%s: request %v", c.model, body)
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
