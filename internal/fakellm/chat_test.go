package fakellm_test

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/polaris/reportd/internal/fakellm"
	"github.com/sashabaranov/go-openai"
)

func TestChatStreamEveryFlavour(t *testing.T) {
	t.Parallel()
	for _, f := range []fakellm.Flavor{fakellm.OpenAI, fakellm.Perplexity, fakellm.Anthropic} {
		t.Run(f.String(), func(t *testing.T) {
			t.Parallel()
			s := start(t, f)
			s.Push(fakellm.Stream("Hello brave new world", 0, time.Millisecond))
			res, err := streamChat(timeout(t, 5*time.Second), newClient(chatBase(s), nil), chatRequest("some-model"))
			if err != nil || res.err != nil {
				t.Fatalf("stream: %v / %v", err, res.err)
			}
			if res.text != "Hello brave new world" || res.finish != openai.FinishReasonStop {
				t.Errorf("got text %q finish %q", res.text, res.finish)
			}
			rec := finished(t, s, 1)
			if rec.Chunks != 4 || !rec.Stream || rec.Model != "some-model" || rec.Prompt != "Tell me a fact." {
				t.Errorf("recorded %+v", rec)
			}
			if rec.Status != http.StatusOK || rec.ClientClosed || rec.HeadersAt.Before(rec.Start) || rec.End.Before(rec.HeadersAt) {
				t.Errorf("recorded status %d closed %v times %v %v %v", rec.Status, rec.ClientClosed, rec.Start, rec.HeadersAt, rec.End)
			}
		})
	}
}

func TestOpenAIChatUsageChunk(t *testing.T) {
	t.Parallel()
	s := start(t, fakellm.OpenAI)
	s.Push(fakellm.Script{Usage: &fakellm.Usage{InputTokens: 7, OutputTokens: 11}})
	req := chatRequest("gpt-4o")
	req.StreamOptions = &openai.StreamOptions{IncludeUsage: true}
	res, err := streamChat(timeout(t, 5*time.Second), newClient(s.BaseURL(), nil), req)
	if err != nil || res.err != nil {
		t.Fatalf("stream: %v / %v", err, res.err)
	}
	last := res.chunks[len(res.chunks)-1]
	if len(last.Choices) != 0 || last.Usage == nil || last.Usage.TotalTokens != 18 {
		t.Errorf("want a final usage chunk with 18 tokens, got %+v", last)
	}
	if res.text != fakellm.DefaultText {
		t.Errorf("text %q", res.text)
	}
}

func TestChatNonStreaming(t *testing.T) {
	t.Parallel()
	for _, f := range []fakellm.Flavor{fakellm.OpenAI, fakellm.Perplexity, fakellm.Anthropic} {
		t.Run(f.String(), func(t *testing.T) {
			t.Parallel()
			s := start(t, f)
			s.Push(fakellm.Instant("Forty-two."))
			resp, err := newClient(chatBase(s), nil).CreateChatCompletion(timeout(t, 5*time.Second), chatRequest("m"))
			if err != nil {
				t.Fatal(err)
			}
			if resp.Choices[0].Message.Content != "Forty-two." || resp.Choices[0].FinishReason != openai.FinishReasonStop {
				t.Errorf("got %+v", resp.Choices)
			}
			if resp.Usage.TotalTokens == 0 {
				t.Error("no usage")
			}
		})
	}
}

// perplexityChunk is the part of a Perplexity chunk typed decoders drop.
type perplexityChunk struct {
	Object        string   `json:"object"`
	Citations     []string `json:"citations"`
	SearchResults []struct {
		Title, URL, Date string
	} `json:"search_results"`
	Usage struct {
		TotalTokens int `json:"total_tokens"`
		Cost        struct {
			InputTokensCost  float64  `json:"input_tokens_cost"`
			OutputTokensCost float64  `json:"output_tokens_cost"`
			RequestCost      *float64 `json:"request_cost"`
			TotalCost        float64  `json:"total_cost"`
		} `json:"cost"`
	} `json:"usage"`
}

func TestPerplexityChatCostAndSources(t *testing.T) {
	t.Parallel()
	s := start(t, fakellm.Perplexity)
	s.Push(fakellm.Script{
		Text:    "Paris is the capital.",
		Usage:   &fakellm.Usage{InputTokens: 10, OutputTokens: 5, Cost: fakellm.Cost{Input: 0.01, Output: 0.02, Request: 0.005}},
		Sources: []fakellm.Source{{Title: "Paris", URL: "https://example.com/paris", Date: "2026-01-01"}},
	})
	res, err := streamChat(timeout(t, 5*time.Second), newClient(s.URL, nil), chatRequest("sonar"))
	if err != nil || res.err != nil {
		t.Fatalf("stream: %v / %v", err, res.err)
	}
	if finished(t, s, 1).Path != "/chat/completions" {
		t.Error("legacy chat should be served without /v1")
	}
	chunks := make([]perplexityChunk, len(res.raw))
	for i, raw := range res.raw {
		if err := json.Unmarshal(raw, &chunks[i]); err != nil {
			t.Fatal(err)
		}
		if chunks[i].Usage.TotalTokens == 0 || len(chunks[i].Citations) != 1 {
			t.Errorf("chunk %d lacks usage or citations: %s", i, raw)
		}
	}
	done := chunks[len(chunks)-1]
	if done.Object != "chat.completion.done" || math.Abs(done.Usage.Cost.TotalCost-0.035) > 1e-9 || done.Usage.Cost.RequestCost == nil {
		t.Errorf("final chunk %s", res.raw[len(res.raw)-1])
	}
	if done.SearchResults[0].URL != "https://example.com/paris" || done.SearchResults[0].Date != "2026-01-01" {
		t.Errorf("search results %+v", done.SearchResults)
	}
	if chunks[0].Usage.Cost.RequestCost != nil {
		t.Error("interim chunks carry no request_cost")
	}
	if res.text != "Paris is the capital." || res.finish != openai.FinishReasonStop {
		t.Errorf("text %q finish %q", res.text, res.finish)
	}
}

func TestPerplexityReasoningModelsThink(t *testing.T) {
	t.Parallel()
	s := start(t, fakellm.Perplexity)
	s.SetDefault(fakellm.Script{Text: "The answer.", Think: "Hmm, <sources> say so."})
	for _, model := range []string{"sonar-reasoning-pro", "sonar-deep-research", "sonar"} {
		res, err := streamChat(timeout(t, 5*time.Second), newClient(s.URL, nil), chatRequest(model))
		if err != nil || res.err != nil {
			t.Fatalf("%s: %v / %v", model, err, res.err)
		}
		thinks := strings.HasPrefix(res.text, "<think>Hmm, <sources> say so.</think>")
		if thinks != (model != "sonar") {
			t.Errorf("%s: text %q", model, res.text)
		}
		if answer := res.text[strings.LastIndex(res.text, "</think>")+1:]; !strings.HasSuffix(answer, "The answer.") {
			t.Errorf("%s: answer %q", model, answer)
		}
	}
}

func TestAnthropicAcceptsXAPIKey(t *testing.T) {
	t.Parallel()
	s := start(t, fakellm.Anthropic, fakellm.WithAPIKey("sk-ant-test"))
	req, err := http.NewRequestWithContext(timeout(t, 5*time.Second), http.MethodPost, s.BaseURL()+"/chat/completions",
		strings.NewReader(`{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("x-api-key", "sk-ant-test")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Request-Id") == "" {
		t.Errorf("status %d headers %v", resp.StatusCode, resp.Header)
	}

	// go-openai's own Anthropic config sends no key at all, so it is refused.
	cfg := openai.DefaultAnthropicConfig("sk-ant-test", s.BaseURL())
	_, err = openai.NewClientWithConfig(cfg).CreateChatCompletion(timeout(t, 5*time.Second), chatRequest("claude"))
	var apiErr *openai.APIError
	if !errors.As(err, &apiErr) || apiErr.HTTPStatusCode != http.StatusUnauthorized || apiErr.Type != "authentication_error" {
		t.Errorf("DefaultAnthropicConfig: got %v", err)
	}
}
