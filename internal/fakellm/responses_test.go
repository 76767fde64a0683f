package fakellm_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/polaris/reportd/internal/fakellm"
	"github.com/sashabaranov/go-openai"
)

func agentRequest() openai.CreateResponseRequest {
	return openai.CreateResponseRequest{Input: "What is new in Go?", ExtraBody: map[string]any{"preset": "fast"}}
}

func TestOpenAIResponsesStream(t *testing.T) {
	t.Parallel()
	s := start(t, fakellm.OpenAI)
	s.Push(fakellm.Stream("Go 1.26 is out.", 3, time.Millisecond))
	res, err := streamEvents(timeout(t, 5*time.Second), newClient(s.BaseURL(), nil),
		openai.CreateResponseRequest{Model: "gpt-5", Input: "news?"})
	if err != nil || res.err != nil {
		t.Fatalf("stream: %v / %v", err, res.err)
	}
	checkSequence(t, res.events)
	if got := terminals(res.events); len(got) != 1 || got[0] != openai.ResponseStreamEventCompleted {
		t.Fatalf("terminals %v", got)
	}
	done := res.events[len(res.events)-1].Response
	if deltas(res.events) != "Go 1.26 is out." || done.GetOutputText() != "Go 1.26 is out." || done.Model != "gpt-5" {
		t.Errorf("deltas %q output %q model %q", deltas(res.events), done.GetOutputText(), done.Model)
	}
	if done.Usage == nil || done.Usage.TotalTokens == 0 {
		t.Errorf("usage %+v", done.Usage)
	}
	if res.events[0].Type != openai.ResponseStreamEventCreated {
		t.Errorf("first event %s", res.events[0].Type)
	}
}

// checkSequence checks that sequence_number counts up from 0.
func checkSequence(t *testing.T, events []openai.ResponseStreamEvent) {
	t.Helper()
	for i, ev := range events {
		if ev.SequenceNumber != i {
			t.Fatalf("event %d (%s) has sequence_number %d", i, ev.Type, ev.SequenceNumber)
		}
	}
}

func TestResponsesNonStreaming(t *testing.T) {
	t.Parallel()
	for _, f := range []fakellm.Flavor{fakellm.OpenAI, fakellm.Perplexity} {
		t.Run(f.String(), func(t *testing.T) {
			t.Parallel()
			s := start(t, f)
			s.Push(fakellm.Instant("All good."))
			resp, err := newClient(s.BaseURL(), nil).CreateResponse(timeout(t, 5*time.Second),
				openai.CreateResponseRequest{Model: "openai/gpt-5-mini", Input: "hi"})
			if err != nil || resp.Status != openai.ResponseStatusCompleted || resp.GetOutputText() != "All good." {
				t.Errorf("got %v %+v", err, resp)
			}
		})
	}
}

// agentCompleted is the raw completed response the typed decoder trims.
type agentCompleted struct {
	Response struct {
		Model  string            `json:"model"`
		Output []json.RawMessage `json:"output"`
		Usage  struct {
			TotalTokens int `json:"total_tokens"`
			Cost        struct {
				Currency      string  `json:"currency"`
				InputCost     float64 `json:"input_cost"`
				OutputCost    float64 `json:"output_cost"`
				ToolCallsCost float64 `json:"tool_calls_cost"`
				TotalCost     float64 `json:"total_cost"`
			} `json:"cost"`
		} `json:"usage"`
	} `json:"response"`
}

func TestPerplexityAgentStream(t *testing.T) {
	t.Parallel()
	s := start(t, fakellm.Perplexity)
	s.Push(fakellm.Script{
		Text:  "Go 1.26 shipped.",
		Usage: &fakellm.Usage{InputTokens: 3, OutputTokens: 4, Cost: fakellm.Cost{Input: 1, Output: 2, ToolCalls: 3, Total: 6}},
	})
	res, err := streamEvents(timeout(t, 5*time.Second), newClient(s.BaseURL(), nil), agentRequest())
	if err != nil || res.err != nil {
		t.Fatalf("stream: %v / %v", err, res.err)
	}
	checkSequence(t, res.events)
	if got := terminals(res.events); len(got) != 1 || got[0] != openai.ResponseStreamEventCompleted {
		t.Fatalf("terminals %v", got)
	}
	var done agentCompleted
	if err := json.Unmarshal(res.events[len(res.events)-1].Raw, &done); err != nil {
		t.Fatal(err)
	}
	if done.Response.Model != "perplexity/sonar" {
		t.Errorf("preset fast resolved to %q", done.Response.Model)
	}
	if c := done.Response.Usage.Cost; c.Currency != "USD" || c.TotalCost != 6 || c.ToolCallsCost != 3 {
		t.Errorf("cost %+v", c)
	}
	checkSearchResults(t, done.Response.Output)
	if text := res.events[len(res.events)-1].Response.GetOutputText(); text != "Go 1.26 shipped." {
		t.Errorf("output_text %q", text)
	}
	if rec := finished(t, s, 1); rec.Path != "/v1/responses" || rec.Model != "fast" {
		t.Errorf("recorded %s %q", rec.Path, rec.Model)
	}
}

// checkSearchResults checks the first output item is Perplexity's sources.
func checkSearchResults(t *testing.T, output []json.RawMessage) {
	t.Helper()
	var item struct {
		Type    string `json:"type"`
		Results []struct {
			URL, Title, Snippet, Date string
		} `json:"results"`
	}
	if len(output) != 2 || json.Unmarshal(output[0], &item) != nil {
		t.Fatalf("output %s", output)
	}
	if item.Type != "search_results" || len(item.Results) != 2 || item.Results[0].URL == "" || item.Results[0].Snippet == "" {
		t.Errorf("search item %+v", item)
	}
}

func TestPerplexityAgentIsDataOnly(t *testing.T) {
	t.Parallel()
	s := start(t, fakellm.Perplexity)
	_, h, body := post(t, s.URL+"/v1/agent", fakellm.DefaultAPIKey, `{"preset":"low","input":"hi","stream":true}`)
	if strings.Contains(body, "event:") || strings.Contains(body, "[DONE]") || !strings.HasPrefix(h.Get("Content-Type"), "text/event-stream") {
		t.Errorf("content type %q body %s", h.Get("Content-Type"), body)
	}
	for _, line := range strings.Split(strings.TrimSpace(body), "\n\n") {
		if !strings.HasPrefix(line, "data: {") || strings.Contains(line, "\n") {
			t.Fatalf("not a single-line data event: %q", line)
		}
	}
}

// TestAgentTerminals checks each terminal arrives under HTTP 200, alone, as
// an event (never as a go-openai error).
func TestAgentTerminals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		script fakellm.Script
		want   openai.ResponseStreamEventType
		check  func(openai.ResponseStreamEvent) bool
	}{
		{fakellm.ResponseFailed("model crashed"), openai.ResponseStreamEventFailed, func(ev openai.ResponseStreamEvent) bool {
			return ev.Response.Status == openai.ResponseStatusFailed && ev.Response.Error.Message == "model crashed"
		}},
		{fakellm.ResponseIncomplete(), openai.ResponseStreamEventIncomplete, func(ev openai.ResponseStreamEvent) bool {
			return ev.Response.IncompleteDetails.Reason == "max_output_tokens"
		}},
		{fakellm.ResponseCancelled(), "response.cancelled", func(ev openai.ResponseStreamEvent) bool {
			return ev.Response.Status == openai.ResponseStatusCancelled
		}},
		{fakellm.ResponseError("try again"), openai.ResponseStreamEventError, func(ev openai.ResponseStreamEvent) bool {
			return ev.Message == "try again" && ev.Code != ""
		}},
		{fakellm.ErrorMidStream(2, "cut"), openai.ResponseStreamEventError, func(ev openai.ResponseStreamEvent) bool {
			return ev.Message == "cut"
		}},
	}
	for _, f := range []fakellm.Flavor{fakellm.OpenAI, fakellm.Perplexity} {
		for _, tt := range tests {
			t.Run(f.String()+"/"+string(tt.want), func(t *testing.T) {
				t.Parallel()
				s := start(t, f)
				s.Push(tt.script)
				doer := &headerDoer{}
				res, err := streamEvents(timeout(t, 5*time.Second), newClient(s.BaseURL(), doer), agentRequest())
				if err != nil || res.err != nil {
					t.Fatalf("go-openai returned an error: %v / %v", err, res.err)
				}
				checkSequence(t, res.events)
				got := terminals(res.events)
				last := res.events[len(res.events)-1]
				if len(got) != 1 || got[0] != tt.want || last.Type != tt.want || !tt.check(last) {
					t.Errorf("terminals %v, last %s", got, last.Raw)
				}
				if rec := finished(t, s, 1); rec.Status != http.StatusOK {
					t.Errorf("status %d", rec.Status)
				}
			})
		}
	}
}

func TestResponsesMissingTerminal(t *testing.T) {
	t.Parallel()
	s := start(t, fakellm.Perplexity)
	s.Push(fakellm.MissingTerminal())
	res, err := streamEvents(timeout(t, 5*time.Second), newClient(s.BaseURL(), nil), agentRequest())
	if err != nil || res.err != nil {
		t.Fatalf("%v / %v", err, res.err)
	}
	if got := terminals(res.events); len(got) != 0 || deltas(res.events) != fakellm.DefaultText {
		t.Errorf("terminals %v text %q", got, deltas(res.events))
	}
}

func TestAgentValidation(t *testing.T) {
	t.Parallel()
	temp := float32(0.2)
	tests := []struct {
		name string
		req  openai.CreateResponseRequest
		want string
	}{
		{"temperature is not an Agent API field", openai.CreateResponseRequest{Model: "perplexity/sonar", Input: "x", Temperature: &temp}, `unknown field "temperature"`},
		{"extra body field", openai.CreateResponseRequest{Model: "perplexity/sonar", Input: "x", ExtraBody: map[string]any{"web_search_options": 1}}, `unknown field "web_search_options"`},
		{"no model or preset", openai.CreateResponseRequest{Input: "x"}, "one of model, models or preset"},
		{"unknown preset", openai.CreateResponseRequest{Input: "x", ExtraBody: map[string]any{"preset": "turbo"}}, `unknown preset "turbo"`},
		{"max_steps", openai.CreateResponseRequest{Input: "x", ExtraBody: map[string]any{"preset": "fast", "max_steps": 11}}, "max_steps"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := start(t, fakellm.Perplexity)
			_, err := streamEvents(timeout(t, 5*time.Second), newClient(s.BaseURL(), nil), tt.req)
			var apiErr *openai.APIError
			if !errors.As(err, &apiErr) || apiErr.HTTPStatusCode != 400 || !strings.Contains(apiErr.Message, tt.want) {
				t.Errorf("got %v, want 400 with %q", err, tt.want)
			}
		})
	}
}

func TestAgentAcceptsDocumentedFields(t *testing.T) {
	t.Parallel()
	s := start(t, fakellm.Perplexity)
	req := openai.CreateResponseRequest{
		Model: "openai/gpt-5-mini", Input: "x", Instructions: "be brief", MaxOutputTokens: 100,
		Reasoning: &openai.ResponseReasoning{Effort: "low"},
		Tools:     []openai.ResponseTool{{Type: "web_search"}},
		ExtraBody: map[string]any{"max_steps": 3, "language_preference": "en"},
	}
	res, err := streamEvents(timeout(t, 5*time.Second), newClient(s.BaseURL(), nil), req)
	if err != nil || res.err != nil {
		t.Fatalf("%v / %v", err, res.err)
	}
	if last := res.events[len(res.events)-1]; last.Response.Model != "openai/gpt-5-mini" {
		t.Errorf("model %q", last.Response.Model)
	}
}

func TestResponsesReset(t *testing.T) {
	t.Parallel()
	s := start(t, fakellm.OpenAI)
	s.Push(fakellm.Reset(1))
	res, err := streamEvents(timeout(t, 5*time.Second), newClient(s.BaseURL(), nil),
		openai.CreateResponseRequest{Model: "gpt-5", Input: "x"})
	if err != nil || res.err == nil || len(terminals(res.events)) != 0 {
		t.Errorf("create %v stream %v terminals %v", err, res.err, terminals(res.events))
	}
}
