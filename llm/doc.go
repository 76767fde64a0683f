// Package llm implements report.Generator for LLM providers: OpenAI-compatible
// chat completions through go-openai (Perplexity, OpenAI, Anthropic's
// compatible endpoint, self-hosted servers), and an offline demo model. It
// classifies provider failures for the worker's retry policy and routes each
// model name to its provider.
package llm
