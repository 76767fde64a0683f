// Package llm implements report.Generator for LLM providers: Perplexity's
// Agent API (the OpenAI Responses format) and its legacy chat completions,
// OpenAI, Anthropic's OpenAI-compatible endpoint and self-hosted servers
// through go-openai, and an offline demo model. It routes each model name to
// its provider (Router), keeps each provider's time limit, concurrency and
// request rate per process (Provider), and classifies provider failures for
// the worker's retry policy.
package llm
