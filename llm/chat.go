package llm

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"strings"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"github.com/polaris/reportd/report"
)

// ChatConfig configures a chat-completions provider (and, with the fields
// that apply, the Perplexity Agent API client).
type ChatConfig struct {
	Provider      string // name used in errors, metadata and metrics
	BaseURL       string // e.g. https://api.perplexity.ai
	APIKey        string
	StallTimeout  time.Duration // no byte for this long aborts the call
	IncludeUsage  bool          // ask for a final usage chunk (stream_options)
	KeepReasoning bool          // keep <think> text in Output.Reasoning
	// MaxCompletionTokens sends the limit as max_completion_tokens, the
	// name OpenAI uses (max_tokens is deprecated there); others read max_tokens.
	MaxCompletionTokens bool
	DefaultMaxTokens    int          // sent when a prompt has no MaxTokens
	HTTPClient          *http.Client // shared; NewHTTPClient when nil
}

// Chat streams from an OpenAI-compatible chat-completions endpoint through
// go-openai. It reads raw chunks, because go-openai's typed chunk drops what
// Perplexity adds (citations, search results, cost).
type Chat struct {
	cfg    ChatConfig
	client *openai.Client
}

// NewChat returns a chat-completions generator.
func NewChat(cfg ChatConfig) *Chat {
	oc := openai.DefaultConfig(cfg.APIKey)
	oc.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = NewHTTPClient()
	}
	oc.HTTPClient = cfg.HTTPClient
	// Keep-alive comments are normal while a provider searches; silence is
	// caught by the stall timer instead of go-openai's counter.
	oc.EmptyMessagesLimit = math.MaxInt32
	return &Chat{cfg: cfg, client: openai.NewClientWithConfig(oc)}
}

// chunk is one streamed chat-completions event, with the fields Perplexity
// adds.
type chunk struct {
	Type    string          `json:"type"`  // "error" in Anthropic's in-stream error frames
	Error   json.RawMessage `json:"error"` // an error object sent inside the stream
	Object  string          `json:"object"`
	Model   string          `json:"model"`
	Choices []struct {
		Delta struct {
			Content string `json:"content"`
		} `json:"delta"`
		Message *struct {
			Content string `json:"content"`
		} `json:"message"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage         *wireUsage    `json:"usage"`
	Citations     []string      `json:"citations"`
	SearchResults []searchEntry `json:"search_results"`
}

type wireUsage struct {
	PromptTokens     int       `json:"prompt_tokens"`
	CompletionTokens int       `json:"completion_tokens"`
	TotalTokens      int       `json:"total_tokens"`
	Cost             *wireCost `json:"cost"`
}

type wireCost struct {
	TotalCost *float64 `json:"total_cost"`
	Currency  string   `json:"currency"`
}

type searchEntry struct {
	URL   string `json:"url"`
	Title string `json:"title"`
	Date  string `json:"date"`
}

// Generate implements report.Generator.
func (g *Chat) Generate(ctx context.Context, p report.Prompt, emit func(report.Delta)) (report.Output, error) {
	callCtx, t := startTrace(ctx, g.cfg.StallTimeout)
	defer t.stop()
	stream, err := g.client.CreateChatCompletionStream(callCtx, g.request(p))
	if err != nil {
		return report.Output{}, classify(ctx, g.cfg.Provider, t, err)
	}
	defer stream.Close()

	acc := newAccumulator(g.cfg.Provider, g.cfg.KeepReasoning)
	finished := false
	for {
		raw, err := stream.RecvRaw()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return report.Output{}, classify(ctx, g.cfg.Provider, t, err)
		}
		c, perr := g.decode(raw)
		if perr != nil {
			return report.Output{}, perr
		}
		finished = acc.add(c, emit) || finished
	}
	if !finished {
		// go-openai reports a connection closed before [DONE] as a normal end.
		return report.Output{}, &report.ProviderError{Provider: g.cfg.Provider, Retryable: true,
			Message: "the stream ended before the provider finished its answer"}
	}
	return acc.output(), nil
}

// decode reads one raw chunk. go-openai hands back an empty line when an
// error frame follows keep-alive comments, and passes Anthropic's
// {"type":"error"} frames through as data; both end the attempt.
func (g *Chat) decode(raw []byte) (chunk, error) {
	var c chunk
	streamErr := func(detail string) error {
		return &report.ProviderError{Provider: g.cfg.Provider, Retryable: true, Message: "the stream reported an error" + detail}
	}
	if len(raw) == 0 {
		return c, streamErr("")
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return c, &report.ProviderError{Provider: g.cfg.Provider, Retryable: true, Message: "the provider sent a chunk that is not JSON"}
	}
	if c.Type == "error" || (len(c.Error) > 0 && string(c.Error) != "null") {
		if _, msg := decodeErrorBody(raw); msg != "" {
			return c, streamErr(": " + msg)
		}
		return c, streamErr("")
	}
	return c, nil
}

func (g *Chat) request(p report.Prompt) openai.ChatCompletionRequest {
	var msgs []openai.ChatCompletionMessage
	if p.System != "" {
		msgs = append(msgs, openai.ChatCompletionMessage{Role: openai.ChatMessageRoleSystem, Content: p.System})
	}
	msgs = append(msgs, openai.ChatCompletionMessage{Role: openai.ChatMessageRoleUser, Content: p.Text})
	req := openai.ChatCompletionRequest{Model: p.Model, Messages: msgs, Stream: true}
	limit := p.MaxTokens
	if limit <= 0 {
		limit = g.cfg.DefaultMaxTokens
	}
	if g.cfg.MaxCompletionTokens || fixedSampling(p.Model) {
		req.MaxCompletionTokens = limit
	} else {
		req.MaxTokens = limit //nolint:staticcheck // deprecated by OpenAI only; Perplexity, Anthropic and OpenAI-compatible servers read max_tokens
	}
	// Reasoning models fix their sampling: OpenAI answers 400 to any
	// temperature but 1, and go-openai refuses the request before sending
	// it. Their jobs' temperature is therefore not sent (see README).
	if !fixedSampling(p.Model) {
		req.Temperature = float32(p.Temperature)
		if req.Temperature == 0 {
			req.Temperature = math.SmallestNonzeroFloat32 // go-openai omits a zero temperature; the provider would use its default
		}
	}
	if g.cfg.IncludeUsage {
		req.StreamOptions = &openai.StreamOptions{IncludeUsage: true}
	}
	return req
}

// fixedSampling reports whether a model is one of OpenAI's reasoning
// models, which take max_completion_tokens and no temperature: the o-series
// and gpt-5. The prefixes are the ones go-openai's request validator checks.
func fixedSampling(model string) bool {
	for _, prefix := range []string{"o1", "o3", "o4", "gpt-5"} {
		if strings.HasPrefix(model, prefix) {
			return true
		}
	}
	return false
}

// accumulator collects a streamed answer.
type accumulator struct {
	provider  string
	keep      bool
	text      strings.Builder
	reasoning strings.Builder // reasoning the provider sent apart from the text
	think     thinkFilter
	out       report.Output
}

func newAccumulator(provider string, keep bool) *accumulator {
	return &accumulator{provider: provider, keep: keep}
}

// add takes one chunk and reports whether it ends the answer.
func (a *accumulator) add(c chunk, emit func(report.Delta)) bool {
	if c.Model != "" {
		a.out.Model = c.Model
	}
	if c.Usage != nil {
		a.out.Usage = report.Usage{InputTokens: c.Usage.PromptTokens, OutputTokens: c.Usage.CompletionTokens,
			TotalTokens: c.Usage.TotalTokens}
		if c.Usage.Cost != nil && c.Usage.Cost.TotalCost != nil {
			a.out.Usage.Cost, a.out.Usage.Currency = c.Usage.Cost.TotalCost, orUSD(c.Usage.Cost.Currency)
		}
	}
	if len(c.SearchResults) > 0 || len(c.Citations) > 0 {
		a.out.Citations = citations(c.SearchResults, c.Citations)
	}
	done := c.Object == "chat.completion.done"
	for _, ch := range c.Choices {
		piece := ch.Delta.Content
		if ch.Message != nil && piece == "" && a.text.Len() == 0 {
			piece = ch.Message.Content // some servers repeat the whole message in the last chunk
		}
		a.write(piece, emit)
		if ch.FinishReason != nil && *ch.FinishReason != "" {
			done = true
			// "length": the answer reached max_tokens. It is kept, marked
			// truncated, as the Agent API's incomplete answers are.
			a.out.Truncated = a.out.Truncated || *ch.FinishReason == "length"
		}
	}
	return done
}

// write adds a piece of answer text and streams its visible part.
func (a *accumulator) write(piece string, emit func(report.Delta)) {
	if piece == "" {
		return
	}
	a.text.WriteString(piece)
	emit(report.Delta{Text: a.think.feed(piece), Tokens: approxTokens(piece)})
}

func (a *accumulator) output() report.Output {
	out := a.out
	out.Provider = a.provider
	answer, reasoning := splitThink(a.text.String())
	out.Text = strings.TrimSpace(answer)
	if a.keep {
		out.Reasoning = strings.TrimSpace(a.reasoning.String() + "\n\n" + reasoning)
	}
	return out
}

func orUSD(c string) string {
	if c == "" {
		return "USD"
	}
	return c
}

// citations prefers search results (they carry titles and dates) and adds
// bare citation URLs not already listed.
func citations(results []searchEntry, urls []string) []report.Citation {
	seen := map[string]bool{}
	var out []report.Citation
	for _, r := range results {
		if r.URL != "" && !seen[r.URL] {
			seen[r.URL] = true
			out = append(out, report.Citation{URL: r.URL, Title: r.Title, Date: r.Date})
		}
	}
	for _, u := range urls {
		if u != "" && !seen[u] {
			seen[u] = true
			out = append(out, report.Citation{URL: u})
		}
	}
	return out
}
