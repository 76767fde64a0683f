// Package fakellm runs local fake LLM provider servers for tests, benchmarks
// and worker processes, so that no test ever calls a real provider.
//
// Each Server speaks one provider's wire format (see Flavor) closely enough
// that github.com/sashabaranov/go-openai and raw SSE readers parse it as they
// would the real thing:
//
//   - OpenAI: chat completions (JSON and SSE, optional usage chunk) at
//     /v1/chat/completions and /chat/completions, and the Responses API at
//     /v1/responses ("event:" + "data:" SSE frames, no [DONE]).
//   - Perplexity: legacy Sonar chat completions at /chat/completions and
//     /v1/chat/completions (citations, search_results, usage with cost on
//     every chunk, a final "chat.completion.done" chunk, <think> blocks for
//     reasoning models, no [DONE]), and the Agent API at /v1/responses and
//     /v1/agent (strict request validation, data-only events with a growing
//     sequence_number, one terminal event, a search_results output item,
//     usage with cost).
//   - Anthropic: the OpenAI-compatible chat completions at
//     /v1/chat/completions with errors in Anthropic's
//     {"type":"error","error":{...}} shape.
//
// What a request gets is scripted: a Script describes one response (an HTTP
// error, a stall, a reset, keep-alives, an error inside the stream, a missing
// terminal event, or a normal answer split into timed chunks). Scripts come
// from a per-request hook (Server.Handle), then a FIFO queue (Server.Push),
// then a default (Server.SetDefault). Every request is recorded (see Request)
// with its timings and whether the client hung up first, and tests wait for
// requests with Server.WaitFor or Server.Finished instead of sleeping.
//
// # Wire details
//
// HTTP error bodies: OpenAI {"error":{"message","type","param":null,"code"}};
// Perplexity chat {"error":{"message","type","code":STATUS}}; Perplexity
// Agent API {"error":{"message","type","code":"request_rate_limit_exceeded"}}
// (internal_error, bad_gateway, gateway_timeout, ...); a bad Perplexity key
// gets the HTML 401 page of its proxy; Anthropic
// {"type":"error","error":{"type","message"},"request_id"}. A 429 also
// carries the flavour's X-RateLimit-style headers.
//
// In-stream errors (FaultError, and failing terminals on chat): OpenAI and
// Perplexity chat send `data: {"error":{...}}`; Anthropic sends
// `event: error` then `data: {"type":"error","error":{...}}`; the Responses
// and Agent APIs send a bare {"type":"error","code","message"} event.
//
// Keep-alives are single SSE comment lines, ": keep-alive\n". go-openai
// counts every non-data line, the blank line after each event included,
// against its EmptyMessagesLimit (300) and restarts the count at each data
// line, so with the defaults 300 keep-alives before the first chunk pass
// and 301 fail, while between chunks 299 pass and 300 fail (298 and 299 on
// OpenAI's Responses API, whose "event:" lines count too).
//
// The package does not import testing, so benchmark commands and separate
// worker processes can run a fake provider too (see WithAddr). A server holds
// one goroutine per open connection and no timers beyond those of the
// streams that are waiting, so thousands of concurrent streams are cheap.
//
// Response bytes are deterministic for a given script and request order: IDs
// are counters and the "created" timestamps are fixed.
package fakellm
