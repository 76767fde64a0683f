package fakellm

import (
	"encoding/json"
	"fmt"
	"strings"
)

// created is the fixed Unix time every response reports, for stable bytes.
const created = 1767225600

// doneFrame ends OpenAI-style streams.
const doneFrame = "data: [DONE]\n\n"

// chatEncoder renders chat completions for all three flavours.
type chatEncoder struct {
	flavor       Flavor
	id           string
	model        string
	includeUsage bool
	sc           Script
	failure      providerError
	text         []string
	usage        Usage
	sources      []Source
	sent         strings.Builder
}

func newChatEncoder(f Flavor, rec *Request, sc Script, failure providerError) *chatEncoder {
	e := &chatEncoder{flavor: f, sc: sc, failure: failure, model: rec.Model}
	if sc.Model != "" {
		e.model = sc.Model
	}
	switch f {
	case Perplexity:
		e.id = fmt.Sprintf("00000000-0000-4000-8000-%012d", rec.ID)
		e.sources = sc.sources()
		if isReasoningModel(rec.Model) {
			e.text = thinkPieces(sc.Think)
		}
	case Anthropic:
		e.id = fmt.Sprintf("msg_fake_%d", rec.ID)
	default:
		e.id = fmt.Sprintf("chatcmpl-fake-%d", rec.ID)
	}
	opts, _ := rec.JSON["stream_options"].(map[string]any)
	e.includeUsage, _ = opts["include_usage"].(bool)
	e.text = append(e.text, splitText(sc.answer(), sc.Chunks)...)
	e.usage = sc.usage(rec.Prompt, strings.Join(e.text, ""))
	return e
}

func (e *chatEncoder) pieces() []string { return e.text }

// head is OpenAI's opening role chunk; Perplexity sends none.
func (e *chatEncoder) head() []byte {
	if e.flavor == Perplexity {
		return nil
	}
	return e.frame(e.base([]chatChoice{{Delta: &chatMessage{Role: "assistant", Content: ptr("")}}}))
}

func (e *chatEncoder) chunk(piece string) []byte {
	e.sent.WriteString(piece)
	delta := &chatMessage{Content: &piece}
	if e.flavor == Perplexity {
		delta.Role = "assistant"
	}
	c := e.base([]chatChoice{{Delta: delta}})
	if e.flavor == Perplexity {
		e.addSources(&c)
		c.Usage = e.usageJSON(false)
	}
	return e.frame(c)
}

// tail is the finish chunk (plus the usage chunk and [DONE]); Perplexity
// ends with one "chat.completion.done" chunk carrying usage and cost.
func (e *chatEncoder) tail() []byte {
	finish := "stop"
	switch e.sc.Terminal {
	case Incomplete:
		finish = "length"
	case Failed, Cancelled, ErrorEvent:
		return e.fault()
	}
	if e.flavor == Perplexity {
		c := e.base([]chatChoice{{
			Message:      &chatMessage{Role: "assistant", Content: ptr(e.sent.String())},
			Delta:        &chatMessage{Role: "assistant", Content: ptr("")},
			FinishReason: &finish,
		}})
		c.Object = "chat.completion.done"
		e.addSources(&c)
		c.Usage = e.usageJSON(true)
		return e.frame(c)
	}
	out := e.frame(e.base([]chatChoice{{Delta: &chatMessage{}, FinishReason: &finish}}))
	if e.includeUsage {
		c := e.base([]chatChoice{})
		c.Usage = e.usageJSON(true)
		out = append(out, e.frame(c)...)
	}
	return append(out, doneFrame...)
}

func (e *chatEncoder) fault() []byte { return chatErrorFrame(e.flavor, e.failure) }

func (e *chatEncoder) whole() ([]byte, bool) {
	finish := "stop"
	switch e.sc.Terminal {
	case Incomplete:
		finish = "length"
	case Failed, Cancelled, ErrorEvent:
		return nil, true
	}
	c := e.base([]chatChoice{{
		Message:      &chatMessage{Role: "assistant", Content: ptr(strings.Join(e.text, ""))},
		FinishReason: &finish,
	}})
	c.Object = "chat.completion"
	if e.flavor == Perplexity {
		e.addSources(&c)
	}
	c.Usage = e.usageJSON(true)
	return mustJSON(c), false
}

// base is a chunk with the common fields.
func (e *chatEncoder) base(choices []chatChoice) chatChunk {
	return chatChunk{ID: e.id, Object: "chat.completion.chunk", Created: created, Model: e.model, Choices: choices}
}

// frame renders a chunk; with include_usage OpenAI sends "usage": null on
// every chunk but the usage one.
func (e *chatEncoder) frame(c chatChunk) []byte {
	if e.includeUsage && c.Usage == nil {
		c.Usage = json.RawMessage("null")
	}
	return dataFrame(mustJSON(c))
}

// addSources attaches Perplexity's citations and search results.
func (e *chatEncoder) addSources(c *chatChunk) {
	for _, s := range e.sources {
		c.Citations = append(c.Citations, s.URL)
		c.SearchResults = append(c.SearchResults, searchResult{
			Title: s.Title, URL: s.URL, Date: s.Date, LastUpdated: s.Date, Snippet: s.Snippet,
		})
	}
}

// usageJSON renders usage; Perplexity's interim chunks carry the running
// token count and a zero cost without request_cost, final ones the full cost.
func (e *chatEncoder) usageJSON(final bool) json.RawMessage {
	u := chatUsage{PromptTokens: e.usage.InputTokens, CompletionTokens: e.usage.OutputTokens}
	if !final {
		u.CompletionTokens = min(u.CompletionTokens, estimateTokens(e.sent.String()))
	}
	u.TotalTokens = u.PromptTokens + u.CompletionTokens
	if e.flavor == Perplexity {
		u.SearchContextSize = "low"
		u.Cost = &chatCost{}
		if final {
			c := e.usage.Cost
			u.Cost = &chatCost{InputTokensCost: c.Input, OutputTokensCost: c.Output, RequestCost: &c.Request,
				TotalCost: orSum(c.Total, c.Input, c.Output, c.Request)}
		}
	}
	return mustJSON(u)
}

// orSum returns total, or the sum of parts when total is zero.
func orSum(total float64, parts ...float64) float64 {
	if total != 0 {
		return total
	}
	for _, p := range parts {
		total += p
	}
	return total
}

func ptr[T any](v T) *T { return &v }

type chatChunk struct {
	ID            string          `json:"id"`
	Object        string          `json:"object"`
	Created       int64           `json:"created"`
	Model         string          `json:"model"`
	Citations     []string        `json:"citations,omitempty"`
	SearchResults []searchResult  `json:"search_results,omitempty"`
	Choices       []chatChoice    `json:"choices"`
	Usage         json.RawMessage `json:"usage,omitempty"`
}

type chatChoice struct {
	Index        int          `json:"index"`
	Message      *chatMessage `json:"message,omitempty"`
	Delta        *chatMessage `json:"delta,omitempty"`
	FinishReason *string      `json:"finish_reason"`
}

type chatMessage struct {
	Role    string  `json:"role,omitempty"`
	Content *string `json:"content,omitempty"`
}

type chatUsage struct {
	PromptTokens      int       `json:"prompt_tokens"`
	CompletionTokens  int       `json:"completion_tokens"`
	TotalTokens       int       `json:"total_tokens"`
	SearchContextSize string    `json:"search_context_size,omitempty"`
	Cost              *chatCost `json:"cost,omitempty"`
}

type chatCost struct {
	InputTokensCost  float64  `json:"input_tokens_cost"`
	OutputTokensCost float64  `json:"output_tokens_cost"`
	RequestCost      *float64 `json:"request_cost,omitempty"`
	TotalCost        float64  `json:"total_cost"`
}

// searchResult is one Perplexity search result; the Agent API numbers them.
type searchResult struct {
	ID          int    `json:"id,omitempty"`
	Title       string `json:"title"`
	URL         string `json:"url"`
	Date        string `json:"date,omitempty"`
	LastUpdated string `json:"last_updated,omitempty"`
	Snippet     string `json:"snippet"`
	Source      string `json:"source,omitempty"`
}
