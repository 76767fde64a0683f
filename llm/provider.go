package llm

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/polaris/reportd/report"
)

// PerplexityAPI selects the API Perplexity jobs use.
type PerplexityAPI string

// Perplexity's APIs: the Agent API (the default; Perplexity's replacement
// for Sonar chat completions) and the legacy chat completions.
const (
	PerplexityAgent PerplexityAPI = "agent"
	PerplexityChat  PerplexityAPI = "chat"
)

// ProviderConfig is what a provider needs from the configuration.
type ProviderConfig struct {
	BaseURL string
	APIKey  string
	// Timeout bounds one attempt, counted from when the request is sent
	// (waiting for a stream slot does not count); 0 leaves it to the worker.
	Timeout time.Duration
	// ReasoningCap, when set, gives reasoning models (Reasoning) 1.5 times
	// Timeout, up to this cap: the old route's rule for Perplexity.
	ReasoningCap  time.Duration
	StallTimeout  time.Duration
	Limits        Limits
	KeepReasoning bool
	MaxTokens     int          // max_tokens for prompts that set none
	HTTPClient    *http.Client // shared; NewHTTPClient when nil
}

// Provider is one LLM service as this process uses it: its wire-format
// client, its time limit per attempt, and the limits this process keeps.
// It implements report.Generator.
type Provider struct {
	Name string
	gen  report.Generator
	cfg  ProviderConfig
	gate *gate
}

var _ report.Generator = (*Provider)(nil)

// NewProvider wraps a generator with a provider's time limit and limits.
func NewProvider(name string, gen report.Generator, cfg ProviderConfig) *Provider {
	return &Provider{Name: name, gen: gen, cfg: cfg, gate: newGate(name, cfg.Limits)}
}

// NewPerplexity returns Perplexity on the Agent API or the legacy chat
// completions. cfg.BaseURL is the API root, https://api.perplexity.ai.
func NewPerplexity(api PerplexityAPI, cfg ProviderConfig) *Provider {
	cfg.Limits.Env = "PERPLEXITY"
	cc := chatConfig("perplexity", cfg)
	if api == PerplexityChat {
		// Perplexity sends usage (with cost) on every chunk unasked.
		return NewProvider("perplexity", NewChat(cc), cfg)
	}
	return NewProvider("perplexity", NewAgent(cc), cfg)
}

// NewOpenAI returns OpenAI's chat completions (base URL .../v1). The token
// limit is sent as max_completion_tokens, as OpenAI now names it.
func NewOpenAI(cfg ProviderConfig) *Provider {
	cfg.Limits.Env = "OPENAI"
	cc := chatConfig("openai", cfg)
	cc.IncludeUsage, cc.MaxCompletionTokens = true, true
	return NewProvider("openai", NewChat(cc), cfg)
}

// NewAnthropic returns Anthropic's OpenAI-compatible chat completions (base
// URL https://api.anthropic.com/v1/). Anthropic requires max_tokens, so
// cfg.MaxTokens fills it in for prompts that set none.
func NewAnthropic(cfg ProviderConfig) *Provider {
	cfg.Limits.Env = "ANTHROPIC"
	cc := chatConfig("anthropic", cfg)
	cc.IncludeUsage = true
	return NewProvider("anthropic", NewChat(cc), cfg)
}

// NewCompatible returns a self-hosted or third-party server speaking OpenAI
// chat completions (Ollama, vLLM, llama.cpp, OpenRouter...) at cfg.BaseURL,
// e.g. http://localhost:11434/v1. The key may be empty.
func NewCompatible(cfg ProviderConfig) *Provider {
	cfg.Limits.Env = "LLM"
	cc := chatConfig("compatible", cfg)
	cc.IncludeUsage = true
	return NewProvider("compatible", NewChat(cc), cfg)
}

func chatConfig(name string, cfg ProviderConfig) ChatConfig {
	return ChatConfig{
		Provider: name, BaseURL: cfg.BaseURL, APIKey: cfg.APIKey, StallTimeout: cfg.StallTimeout,
		KeepReasoning: cfg.KeepReasoning, DefaultMaxTokens: cfg.MaxTokens, HTTPClient: cfg.HTTPClient,
	}
}

// attemptTimeout is the time limit of one call for model.
func (p *Provider) attemptTimeout(model string) time.Duration {
	if p.cfg.ReasoningCap > 0 && Reasoning(model) {
		return min(p.cfg.Timeout*3/2, p.cfg.ReasoningCap)
	}
	return p.cfg.Timeout
}

// jobTimeout is the worker's limit for an attempt: the call's own limit
// plus the longest wait for a stream slot, so that waiting never eats into
// the provider's time.
func (p *Provider) jobTimeout(model string) time.Duration {
	d := p.attemptTimeout(model)
	if d > 0 && p.gate.streams != nil {
		d += p.gate.limits.SlotWait
	}
	return d
}

// Generate implements report.Generator: it waits for the provider's limits,
// then streams within the attempt's time limit.
func (p *Provider) Generate(ctx context.Context, pr report.Prompt, emit func(report.Delta)) (report.Output, error) {
	leave, err := p.gate.enter(ctx)
	if err != nil {
		return report.Output{}, err
	}
	defer leave()
	limit := p.attemptTimeout(pr.Model)
	if limit <= 0 {
		return p.gen.Generate(ctx, pr, emit)
	}
	callCtx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	out, err := p.gen.Generate(callCtx, pr, emit)
	if err != nil && ctx.Err() == nil && errors.Is(callCtx.Err(), context.DeadlineExceeded) {
		return report.Output{}, &report.ProviderError{Provider: p.Name, Retryable: true,
			Message: fmt.Sprintf("The model did not finish within %s", limit)}
	}
	return out, err
}
