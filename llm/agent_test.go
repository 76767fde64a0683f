package llm

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/polaris/reportd/internal/fakellm"
	"github.com/polaris/reportd/report"
)

func agentFor(s *fakellm.Server, stall time.Duration, keep bool) *Agent {
	return NewAgent(ChatConfig{Provider: "perplexity", BaseURL: s.URL, APIKey: fakellm.DefaultAPIKey,
		StallTimeout: stall, KeepReasoning: keep})
}

func TestAgentStreamsPerplexityAnswer(t *testing.T) {
	t.Parallel()
	s := fake(t, fakellm.Perplexity)
	s.Push(fakellm.Script{
		Text: "Tea grows in Kenya.", Model: "perplexity/sonar-2026-01",
		Usage:   &fakellm.Usage{InputTokens: 11, OutputTokens: 7, Cost: fakellm.Cost{Total: 0.0123}},
		Sources: []fakellm.Source{{Title: "Tea board", URL: "https://tea.example/board", Date: "2026-01-02"}},
	})
	out, deltas, err := generate(t, agentFor(s, 5*time.Second, false), "sonar-pro")
	if err != nil {
		t.Fatal(err)
	}
	if out.Text != "Tea grows in Kenya." || out.Model != "perplexity/sonar-2026-01" || out.Provider != "perplexity" || out.Truncated {
		t.Fatalf("output %+v", out)
	}
	u := out.Usage
	if u.InputTokens != 11 || u.OutputTokens != 7 || u.TotalTokens != 18 || u.Cost == nil || *u.Cost != 0.0123 || u.Currency != "USD" {
		t.Fatalf("usage %+v", u)
	}
	want := []report.Citation{{URL: "https://tea.example/board", Title: "Tea board", Date: "2026-01-02"}}
	if !slices.Equal(out.Citations, want) {
		t.Fatalf("citations %+v, want %+v", out.Citations, want)
	}
	if out.Reasoning != "" {
		t.Fatalf("reasoning kept without KEEP_REASONING: %q", out.Reasoning)
	}
	var visible strings.Builder
	for _, d := range deltas {
		visible.WriteString(d.Text)
	}
	if visible.String() != "Tea grows in Kenya." {
		t.Fatalf("streamed %q", visible.String())
	}
	req := s.Requests()[0]
	if req.Path != "/v1/responses" || req.Header.Get("Authorization") != "Bearer "+fakellm.DefaultAPIKey {
		t.Fatalf("sent to %s with %q", req.Path, req.Header.Get("Authorization"))
	}
	// Exactly the fields the Agent API accepts; temperature is not one.
	var keys []string
	for k := range req.JSON {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"input", "instructions", "max_output_tokens", "model", "preset", "stream"}) {
		t.Fatalf("request fields %v", keys)
	}
	if req.JSON["model"] != AgentModel || req.JSON["preset"] != "low" || req.JSON["max_output_tokens"] != float64(300) ||
		req.JSON["instructions"] != "be brief" || req.Prompt != "tea" || req.JSON["stream"] != true {
		t.Fatalf("request %s", req.Body)
	}
}

// The old model names map to presets, as the table in agent.go says.
func TestAgentPresets(t *testing.T) {
	t.Parallel()
	s := fake(t, fakellm.Perplexity)
	want := map[string]string{
		"sonar": "fast", "sonar-pro": "low", "sonar-reasoning": "low", "sonar-reasoning-pro": "low",
		"sonar-deep-research": "medium",
	}
	if len(want) != len(perplexityModels) {
		t.Fatalf("the table covers %d models, the family has %d", len(want), len(perplexityModels))
	}
	for model, preset := range want {
		if _, _, err := generate(t, agentFor(s, 5*time.Second, false), model); err != nil {
			t.Fatalf("%s: %v", model, err)
		}
		reqs := s.Requests()
		last := reqs[len(reqs)-1]
		if last.JSON["preset"] != preset || last.JSON["model"] != AgentModel {
			t.Errorf("%s sent preset %v model %v, want %s", model, last.JSON["preset"], last.JSON["model"], preset)
		}
	}
}

func TestAgentKeepsReasoningOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	s := fake(t, fakellm.Perplexity)
	s.SetDefault(fakellm.Script{Text: "<think>weigh the sources</think>Answer."})
	out, _, err := generate(t, agentFor(s, 5*time.Second, true), "sonar-reasoning-pro")
	if err != nil || out.Text != "Answer." || !strings.Contains(out.Reasoning, "weigh the sources") ||
		!strings.Contains(out.Reasoning, "Searching the web.") {
		t.Fatalf("kept: %+v %v", out, err)
	}
	out, _, err = generate(t, agentFor(s, 5*time.Second, false), "sonar-reasoning-pro")
	if err != nil || out.Text != "Answer." || out.Reasoning != "" {
		t.Fatalf("not kept: %+v %v", out, err)
	}
}

// response.incomplete at max_output_tokens is the job's own limit: the text
// so far is kept and marked truncated.
func TestAgentIncompleteKeepsTheTextSoFar(t *testing.T) {
	t.Parallel()
	s := fake(t, fakellm.Perplexity)
	sc := fakellm.ResponseIncomplete()
	sc.Text = "A report cut short"
	s.Push(sc)
	out, _, err := generate(t, agentFor(s, 5*time.Second, false), "sonar")
	if err != nil || out.Text != "A report cut short" || !out.Truncated || len(out.Citations) == 0 || out.Usage.Cost == nil {
		t.Fatalf("%+v %v", out, err)
	}
}

func TestAgentFailuresAreClassified(t *testing.T) {
	t.Parallel()
	rateLimitedInStream := fakellm.ErrorMidStream(1, "slow down")
	rateLimitedInStream.Kind = fakellm.KindRateLimited
	quotaFailed := fakellm.ResponseFailed("no credit left")
	quotaFailed.Kind = fakellm.KindQuotaExhausted
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
		{"insufficient quota", fakellm.QuotaExhausted(), false, false, 0, "quota"},
		{"500", fakellm.ServerError(500), true, false, 0, ""},
		{"502", fakellm.ServerError(502), true, false, 0, ""},
		{"503", fakellm.ServerError(503), true, false, 0, ""},
		{"504", fakellm.ServerError(504), true, false, 0, ""},
		{"400 keeps the provider's message", fakellm.BadRequest("max_output_tokens is too large"), false, false, 0, "max_output_tokens is too large"},
		{"401 behind an HTML page", fakellm.Unauthorized(), false, false, 0, "Unauthorized"},
		{"403", fakellm.HTTPError(http.StatusForbidden, fakellm.KindForbidden, "this key may not use presets"), false, false, 0, "this key may not use presets"},
		{"404", fakellm.HTTPError(http.StatusNotFound, fakellm.KindNotFound, "no such preset"), false, false, 0, "no such preset"},
		{"stall before headers", fakellm.StallBeforeHeaders(time.Minute), true, false, 0, "sent nothing for"},
		{"stall mid-stream", fakellm.StallMidStream(2), true, false, 0, "sent nothing for"},
		{"reset before headers", fakellm.Reset(fakellm.BeforeHeaders), true, false, 0, "connection"},
		{"reset mid-stream", fakellm.Reset(2), true, false, 0, "connection"},
		{"error object mid-stream", fakellm.ErrorMidStream(2, "upstream exploded"), true, false, 0, "stream reported an error: upstream exploded"},
		{"rate limit inside the stream", rateLimitedInStream, true, true, 0, "slow down"},
		{"missing terminal event", fakellm.MissingTerminal(), true, false, 0, "ended before"},
		{"response.failed under HTTP 200", fakellm.ResponseFailed("model overloaded"), true, false, 0, "the response failed: model overloaded"},
		{"response.failed for want of credit", quotaFailed, false, false, 0, "no credit left"},
		{"response.cancelled", fakellm.ResponseCancelled(), true, false, 0, "cancelled"},
		{"bare error event", fakellm.ResponseError("search backend down"), true, false, 0, "search backend down"},
	}
	s := fake(t, fakellm.Perplexity)
	s.Handle(func(r *fakellm.Request) *fakellm.Script {
		for _, c := range cases {
			if r.Prompt == c.name {
				sc := c.script
				return &sc
			}
		}
		return nil
	})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_, err := agentFor(s, 300*time.Millisecond, false).Generate(ctx,
				report.Prompt{Model: "sonar", Text: c.name, MaxTokens: 50}, func(report.Delta) {})
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
			if pe.Message == "" || !strings.Contains(strings.ToLower(pe.Message), strings.ToLower(c.message)) {
				t.Fatalf("message %q, want it to contain %q", pe.Message, c.message)
			}
		})
	}
}

func TestAgentSurvivesThousandsOfKeepAlives(t *testing.T) {
	t.Parallel()
	s := fake(t, fakellm.Perplexity)
	sc := fakellm.KeepAlives(5000)
	sc.KeepAlivesBetween = 500
	sc.Text = "still here"
	s.Push(sc)
	out, _, err := generate(t, agentFor(s, 5*time.Second, false), "sonar")
	if err != nil || out.Text != "still here" {
		t.Fatalf("keep-alives: %q %v", out.Text, err)
	}
}

func TestAgentStopsWhenCancelled(t *testing.T) {
	t.Parallel()
	s := fake(t, fakellm.Perplexity)
	s.Push(fakellm.Stream("one two three four five six seven eight", 8, time.Second))
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan struct{}, 8)
	errc := make(chan error, 1)
	go func() {
		_, err := agentFor(s, 5*time.Second, false).Generate(ctx, report.Prompt{Model: "sonar", Text: "x", MaxTokens: 10},
			func(report.Delta) { got <- struct{}{} })
		errc <- err
	}()
	<-got
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled generation returned %v", err)
	}
}
