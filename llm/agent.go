package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	openai "github.com/sashabaranov/go-openai"

	"github.com/polaris/reportd/report"
)

// AgentModel is the model every Agent API request pins: a preset alone may
// resolve to a third-party model, and the old names all meant Sonar.
const AgentModel = "perplexity/sonar"

// agentPresets maps Perplexity's chat-completions model names to the Agent
// API preset that replaces each. The preset turns web search on and sets
// the effort; reasoning names get "low" like sonar-pro (the Agent API has no
// Sonar model that thinks aloud), deep research the slower "medium".
var agentPresets = map[string]string{
	"sonar":               "fast",
	"sonar-pro":           "low",
	"sonar-reasoning":     "low",
	"sonar-reasoning-pro": "low",
	"sonar-deep-research": "medium",
}

// AgentPreset returns the Agent API preset for a Perplexity model name as
// NormalizePerplexity stores it.
func AgentPreset(model string) (string, bool) {
	p, ok := agentPresets[model]
	return p, ok
}

// Agent streams from Perplexity's Agent API (the OpenAI Responses format)
// through go-openai's CreateResponseStream. It reads raw events, because
// go-openai's typed event drops the cost and the search results.
type Agent struct {
	cfg    ChatConfig
	client *openai.Client
}

// NewAgent returns an Agent API generator. cfg.BaseURL is the API root
// (https://api.perplexity.ai); requests go to its /v1/responses.
func NewAgent(cfg ChatConfig) *Agent {
	base := strings.TrimRight(cfg.BaseURL, "/")
	if !strings.HasSuffix(base, "/v1") {
		base += "/v1"
	}
	oc := openai.DefaultConfig(cfg.APIKey)
	oc.BaseURL = base
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = NewHTTPClient()
	}
	oc.HTTPClient = cfg.HTTPClient
	oc.EmptyMessagesLimit = math.MaxInt32 // silence is the stall timer's business
	return &Agent{cfg: cfg, client: openai.NewClientWithConfig(oc)}
}

// request builds the Agent API request. The API rejects any field outside
// its schema with 400 "unknown field", so only model, preset, input,
// instructions, max_output_tokens and stream are sent. Dropped on purpose:
// temperature (and top_p): the Agent API does not accept them, so a job's
// temperature does not apply on this API. The preset travels in ExtraBody,
// as go-openai's request has no such field.
func (g *Agent) request(p report.Prompt) (openai.CreateResponseRequest, error) {
	preset, ok := AgentPreset(p.Model)
	if !ok {
		return openai.CreateResponseRequest{}, &report.ProviderError{Provider: g.cfg.Provider,
			Message: fmt.Sprintf("model %q has no Agent API preset; set PERPLEXITY_API=chat to use it", p.Model)}
	}
	limit := p.MaxTokens
	if limit <= 0 {
		limit = g.cfg.DefaultMaxTokens
	}
	return openai.CreateResponseRequest{
		Model:           AgentModel,
		Instructions:    p.System,
		Input:           []openai.ResponseInputMessage{{Role: openai.ChatMessageRoleUser, Content: p.Text}},
		MaxOutputTokens: limit,
		ExtraBody:       map[string]any{"preset": preset},
	}, nil
}

// Generate implements report.Generator.
func (g *Agent) Generate(ctx context.Context, p report.Prompt, emit func(report.Delta)) (report.Output, error) {
	req, err := g.request(p)
	if err != nil {
		return report.Output{}, err
	}
	callCtx, t := startTrace(ctx, g.cfg.StallTimeout)
	defer t.stop()
	stream, err := g.client.CreateResponseStream(callCtx, req)
	if err != nil {
		return report.Output{}, classify(ctx, g.cfg.Provider, t, err)
	}
	defer stream.Close()

	acc := &agentAccumulator{accumulator: newAccumulator(g.cfg.Provider, g.cfg.KeepReasoning)}
	for {
		raw, err := stream.RecvRaw()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return report.Output{}, classify(ctx, g.cfg.Provider, t, err)
		}
		ev, err := g.decode(raw)
		if err != nil {
			return report.Output{}, err
		}
		if done, err := acc.add(ev, emit); done || err != nil {
			if err != nil {
				return report.Output{}, err
			}
			return acc.output(), nil
		}
	}
	// go-openai reports a connection closed without a terminal event as a
	// normal end; the Agent API always sends one.
	return report.Output{}, &report.ProviderError{Provider: g.cfg.Provider, Retryable: true,
		Message: "the stream ended before the provider finished its answer"}
}

// decode reads one raw event. go-openai hands back an empty line when an
// error frame follows keep-alive comments.
func (g *Agent) decode(raw []byte) (agentEvent, error) {
	var ev agentEvent
	if len(raw) == 0 {
		return ev, &report.ProviderError{Provider: g.cfg.Provider, Retryable: true, Message: "the stream reported an error"}
	}
	if err := json.Unmarshal(raw, &ev); err != nil {
		return ev, &report.ProviderError{Provider: g.cfg.Provider, Retryable: true, Message: "the provider sent an event that is not JSON"}
	}
	if ev.Type == "" && ev.Error != nil { // an OpenAI-style {"error":{...}} frame
		ev.Type, ev.Code, ev.Message = "error", ev.Error.Code, ev.Error.Message
	}
	return ev, nil
}

// agentEvent is one streamed Agent API event, with the fields this client
// reads.
type agentEvent struct {
	Type     string         `json:"type"`
	Delta    string         `json:"delta"`   // response.output_text.delta, response.reasoning_text.delta
	Thought  string         `json:"thought"` // response.reasoning.started
	Item     *agentItem     `json:"item"`    // response.output_item.added / .done
	Response *agentResponse `json:"response"`
	Code     flexString     `json:"code"` // bare "error" event
	Message  string         `json:"message"`
	Error    *agentError    `json:"error"`
}

type agentItem struct {
	Type    string `json:"type"`
	Content []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	} `json:"content"`
	Results []searchEntry `json:"results"`
}

type agentResponse struct {
	Status            string      `json:"status"`
	Model             string      `json:"model"`
	Output            []agentItem `json:"output"`
	OutputText        string      `json:"output_text"`
	Error             *agentError `json:"error"`
	IncompleteDetails *struct {
		Reason string `json:"reason"`
	} `json:"incomplete_details"`
	Usage *struct {
		InputTokens  int       `json:"input_tokens"`
		OutputTokens int       `json:"output_tokens"`
		TotalTokens  int       `json:"total_tokens"`
		Cost         *wireCost `json:"cost"`
	} `json:"usage"`
}

type agentError struct {
	Code    flexString `json:"code"`
	Message string     `json:"message"`
}

// flexString accepts a JSON string or number (providers send codes as
// either).
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*f = flexString(s)
		return nil
	}
	*f = flexString(strings.Trim(string(b), `"`))
	return nil
}

func (f flexString) String() string { return string(f) }

// agentAccumulator follows an Agent API stream to its one terminal event.
type agentAccumulator struct {
	*accumulator
	results []searchEntry
}

// add takes one event; it reports whether the event ended the response,
// and the failure when it ended it badly.
func (a *agentAccumulator) add(ev agentEvent, emit func(report.Delta)) (bool, error) {
	switch ev.Type {
	case "response.output_text.delta":
		a.write(ev.Delta, emit)
	case "response.reasoning.started": // Perplexity's steps, one thought each
		a.reasoning.WriteString(ev.Thought + "\n")
	case "response.reasoning_text.delta":
		a.reasoning.WriteString(ev.Delta)
	case "response.output_item.added", "response.output_item.done":
		if ev.Item != nil && ev.Item.Type == "search_results" {
			a.results = append(a.results, ev.Item.Results...)
		}
	case "response.created", "response.in_progress":
		if ev.Response != nil && ev.Response.Model != "" {
			a.out.Model = ev.Response.Model
		}
	case "response.completed":
		a.final(ev.Response, emit)
		return true, nil
	case "response.incomplete":
		return true, a.incomplete(ev.Response, emit)
	case "response.failed":
		code, msg := ev.Code.String(), "the provider reported the response as failed"
		for _, e := range []*agentError{ev.Error, responseError(ev.Response)} {
			if e != nil && e.Message != "" {
				code, msg = e.Code.String(), "the response failed: "+e.Message
				break
			}
		}
		return true, streamFailure(a.provider, code, msg)
	case "response.cancelled":
		return true, &report.ProviderError{Provider: a.provider, Retryable: true, Message: "the provider cancelled the response"}
	case "error":
		msg := "the stream reported an error"
		if ev.Message != "" {
			msg += ": " + ev.Message
		}
		return true, streamFailure(a.provider, ev.Code.String(), msg)
	}
	return false, nil
}

// incomplete ends a response.incomplete. Cut at max_output_tokens, the text
// so far is the answer the job asked for (its own max_tokens): another
// attempt would stop at the same place, so it succeeds, marked truncated.
// Any other reason (a content filter, say) fails the attempt.
func (a *agentAccumulator) incomplete(r *agentResponse, emit func(report.Delta)) error {
	reason := ""
	if r != nil && r.IncompleteDetails != nil {
		reason = r.IncompleteDetails.Reason
	}
	if reason != "max_output_tokens" {
		return &report.ProviderError{Provider: a.provider, Retryable: true,
			Message: fmt.Sprintf("the provider stopped the answer early (%s)", orUnknown(reason))}
	}
	a.final(r, emit)
	a.out.Truncated = true
	return nil
}

// final reads the response object of the terminal event: the resolved
// model, the usage, the sources, and the text when no deltas carried it.
func (a *agentAccumulator) final(r *agentResponse, emit func(report.Delta)) {
	if r == nil {
		a.out.Citations = citations(a.results, nil)
		return
	}
	if r.Model != "" {
		a.out.Model = r.Model
	}
	if u := r.Usage; u != nil {
		a.out.Usage = report.Usage{InputTokens: u.InputTokens, OutputTokens: u.OutputTokens, TotalTokens: u.TotalTokens}
		if u.Cost != nil && u.Cost.TotalCost != nil {
			a.out.Usage.Cost, a.out.Usage.Currency = u.Cost.TotalCost, orUSD(u.Cost.Currency)
		}
	}
	var text strings.Builder
	for _, item := range r.Output {
		switch item.Type {
		case "search_results":
			a.results = append(a.results, item.Results...)
		case "message":
			for _, c := range item.Content {
				if c.Type == "output_text" {
					text.WriteString(c.Text)
				}
			}
		}
	}
	if a.text.Len() == 0 {
		if text.Len() == 0 {
			text.WriteString(r.OutputText)
		}
		a.write(text.String(), emit)
	}
	a.out.Citations = citations(a.results, nil)
}

func responseError(r *agentResponse) *agentError {
	if r == nil {
		return nil
	}
	return r.Error
}

// streamFailure classifies an error reported inside a stream by its code:
// out of credit is final, a rate limit waits without spending an attempt,
// anything else is worth another attempt.
func streamFailure(provider, code, msg string) *report.ProviderError {
	e := &report.ProviderError{Provider: provider, Code: code, Message: msg, Retryable: true}
	switch {
	case isQuota(code, msg):
		e.Retryable = false
	case strings.Contains(code, "rate_limit"):
		e.RateLimit = true
	}
	return e
}

func orUnknown(s string) string {
	if s == "" {
		return "no reason given"
	}
	return s
}
