package fakellm

import (
	"net/http"
	"strconv"
	"time"
)

// DefaultText is the answer a script streams when its Text is empty.
const DefaultText = "The quick brown fox jumps over the lazy dog."

// BeforeHeaders is a Script.FaultAfter that makes the fault happen before the
// status line is sent: a stall then holds the request without any response,
// and a reset closes the connection before a single byte is written.
const BeforeHeaders = -1

// Fault is something that goes wrong with a response once it has started.
type Fault int

const (
	// NoFault lets the response run to its end.
	NoFault Fault = iota
	// FaultStall stops sending bytes while keeping the connection open, until
	// the client goes away, the server closes, or Script.StallFor passes
	// (after which the response carries on as if nothing had happened).
	FaultStall
	// FaultReset hijacks the connection and closes it with a TCP reset.
	FaultReset
	// FaultError sends the provider's in-stream error object and ends the
	// response cleanly (see "Wire details" in the package documentation).
	FaultError
)

// Terminal is how a successful-status response ends.
type Terminal int

const (
	// Completed ends normally: finish_reason "stop" for chat completions,
	// response.completed for the Responses and Agent APIs.
	Completed Terminal = iota
	// Failed ends with response.failed (status "failed") under HTTP 200; on
	// chat completions it sends the in-stream error object instead.
	Failed
	// Incomplete ends with response.incomplete and
	// incomplete_details.reason "max_output_tokens"; on chat completions it
	// sends finish_reason "length".
	Incomplete
	// Cancelled ends with response.cancelled (status "cancelled"); on chat
	// completions it sends the in-stream error object instead.
	Cancelled
	// ErrorEvent ends with a bare "error" event; on chat completions it sends
	// the in-stream error object.
	ErrorEvent
)

// Usage overrides the token counts and cost a response reports.
type Usage struct {
	// InputTokens is reported as prompt_tokens or input_tokens.
	InputTokens int
	// OutputTokens is reported as completion_tokens or output_tokens.
	OutputTokens int
	// Cost is reported by Perplexity only; a zero Total is filled in as the
	// sum of the parts.
	Cost Cost
}

// Cost is Perplexity's per-request price breakdown in US dollars. The chat
// API reports it as input_tokens_cost, output_tokens_cost, request_cost and
// total_cost; the Agent API as input_cost, output_cost, tool_calls_cost,
// total_cost and currency.
type Cost struct {
	// Input is the price of the input tokens.
	Input float64
	// Output is the price of the output tokens.
	Output float64
	// Request is the flat request (search) fee, chat API only.
	Request float64
	// ToolCalls is the price of tool calls such as web search, Agent API only.
	ToolCalls float64
	// Total is the whole price; zero means the sum of the other fields.
	Total float64
}

// Source is one web search result Perplexity cites.
type Source struct {
	// Title is the page title.
	Title string
	// URL is the page address; the chat API also lists it in citations.
	URL string
	// Date is the publication date, YYYY-MM-DD.
	Date string
	// Snippet is the quoted page text.
	Snippet string
}

// Script describes one response. The zero Script answers 200 with
// DefaultText streamed one word per chunk, as fast as possible.
type Script struct {
	// Status is the HTTP status; 0 means 200. A status of 400 or more sends
	// the provider's standard error body for Kind (or for the status). The
	// Anthropic flavour reports KindQuotaExhausted as 400 and KindOverloaded
	// as 529, whatever Status says, as Anthropic does.
	Status int
	// Kind selects the standard error body for an error status, and the
	// error sent by FaultError and by the Failed, Cancelled and ErrorEvent
	// terminals (KindServer when unset).
	Kind Kind
	// Message replaces the standard error message.
	Message string
	// Header is added to the response headers.
	Header http.Header
	// Body, when not empty, is sent verbatim as the whole response body.
	Body string

	// Delay is waited before the response headers, like a slow first byte.
	// It ends early if the client goes away.
	Delay time.Duration

	// Text is the answer; empty means DefaultText.
	Text string
	// Chunks is how many pieces Text is split into; 0 means one per word.
	Chunks int
	// Interval is waited before each chunk after the first.
	Interval time.Duration
	// Duration, when Interval is 0, spreads the chunks over this time.
	Duration time.Duration

	// KeepAlivesBefore is how many ": keep-alive" comment lines a stream
	// sends right after the headers, before any data.
	KeepAlivesBefore int
	// KeepAlivesBetween is how many comment lines precede every chunk after
	// the first.
	KeepAlivesBetween int
	// KeepAliveEvery paces the comment lines; 0 sends each batch at once.
	KeepAliveEvery time.Duration

	// Fault goes wrong after FaultAfter chunks (BeforeHeaders: before the
	// status line). A FaultAfter past the last chunk means after all chunks,
	// before the terminal event.
	Fault Fault
	// FaultAfter is how many chunks are delivered before Fault strikes.
	// Chunks count text pieces only (Perplexity's <think> pieces included),
	// not role chunks, keep-alives or Responses bookkeeping events.
	FaultAfter int
	// StallFor bounds a FaultStall; 0 holds until the client goes away or the
	// server closes.
	StallFor time.Duration

	// OmitTerminal ends the stream after the chunks without the terminal
	// event, finish_reason or [DONE]; a non-streaming body is cut in half.
	OmitTerminal bool
	// Terminal chooses how the response ends.
	Terminal Terminal

	// Model is the resolved model reported; empty echoes the request (or the
	// preset's model on Perplexity's Agent API).
	Model string
	// Think is the reasoning Perplexity's reasoning models (sonar-reasoning*,
	// sonar-deep-research) stream inside <think>...</think> before the answer.
	Think string
	// Usage overrides the reported token counts and cost.
	Usage *Usage
	// Sources are Perplexity's search results; nil means two example sources,
	// an empty non-nil slice means none.
	Sources []Source
}

// Instant answers text in one chunk with no delay.
func Instant(text string) Script {
	return Script{Text: text, Chunks: 1}
}

// Stream answers text split into chunks pieces with interval between them.
func Stream(text string, chunks int, interval time.Duration) Script {
	return Script{Text: text, Chunks: chunks, Interval: interval}
}

// HTTPError answers status (0: the kind's usual status) with the provider's
// standard body for kind (KindNone: the kind that fits status) and message
// (empty: the standard one).
func HTTPError(status int, kind Kind, message string) Script {
	if status == 0 {
		status = kindTable[kind].status
	}
	return Script{Status: status, Kind: kind, Message: message}
}

// RateLimited answers 429 with Retry-After in whole seconds, rounded up.
func RateLimited(retryAfter time.Duration) Script {
	s := HTTPError(http.StatusTooManyRequests, KindRateLimited, "")
	s.Header = http.Header{"Retry-After": {ceilSeconds(retryAfter)}}
	return s
}

// RateLimitedMs answers 429 with Retry-After-Ms in milliseconds and no
// Retry-After.
func RateLimitedMs(retryAfter time.Duration) Script {
	s := HTTPError(http.StatusTooManyRequests, KindRateLimited, "")
	s.Header = http.Header{"Retry-After-Ms": {strconv.FormatInt(retryAfter.Milliseconds(), 10)}}
	return s
}

// RateLimitedReset answers 429 with X-RateLimit-Reset set to the seconds
// (rounded up) until the limit resets, and no Retry-After.
func RateLimitedReset(reset time.Duration) Script {
	s := HTTPError(http.StatusTooManyRequests, KindRateLimited, "")
	s.Header = http.Header{"X-Ratelimit-Reset": {ceilSeconds(reset)}}
	return s
}

// QuotaExhausted answers the provider's out-of-credit error: 429
// insufficient_quota (Anthropic: 400 invalid_request_error).
func QuotaExhausted() Script {
	return HTTPError(http.StatusTooManyRequests, KindQuotaExhausted, "")
}

// ServerError answers status (500, 502, 503, 504, 529, ...) with the
// provider's standard body for it.
func ServerError(status int) Script {
	return HTTPError(status, KindNone, "")
}

// Overloaded answers the provider's overload error (Anthropic: 529
// overloaded_error; others: 503).
func Overloaded() Script {
	return HTTPError(http.StatusServiceUnavailable, KindOverloaded, "")
}

// BadRequest answers 400 with message.
func BadRequest(message string) Script {
	return HTTPError(http.StatusBadRequest, KindBadRequest, message)
}

// Unauthorized answers the provider's 401, whatever key was sent.
func Unauthorized() Script {
	return HTTPError(http.StatusUnauthorized, KindUnauthorized, "")
}

// StallBeforeHeaders holds the request without answering for d (0: until the
// client goes away), then answers normally.
func StallBeforeHeaders(d time.Duration) Script {
	return Script{Fault: FaultStall, FaultAfter: BeforeHeaders, StallFor: d}
}

// StallMidStream sends afterChunks chunks, then nothing at all until the
// client goes away or the server closes.
func StallMidStream(afterChunks int) Script {
	return Script{Fault: FaultStall, FaultAfter: afterChunks}
}

// Reset sends afterChunks chunks (BeforeHeaders: nothing), then resets the
// connection.
func Reset(afterChunks int) Script {
	return Script{Fault: FaultReset, FaultAfter: afterChunks}
}

// KeepAlives sends n ": keep-alive" comment lines before the first data,
// then a normal answer.
func KeepAlives(n int) Script {
	return Script{KeepAlivesBefore: n}
}

// ErrorMidStream sends afterChunks chunks, then the provider's in-stream
// error object carrying message, then ends the stream.
func ErrorMidStream(afterChunks int, message string) Script {
	return Script{Fault: FaultError, FaultAfter: afterChunks, Message: message}
}

// MissingTerminal streams every chunk, then closes the stream cleanly
// without finish_reason, terminal event or [DONE].
func MissingTerminal() Script {
	return Script{OmitTerminal: true}
}

// ResponseFailed streams every chunk, then response.failed with message
// under HTTP 200 (chat completions: the in-stream error object).
func ResponseFailed(message string) Script {
	return Script{Terminal: Failed, Message: message}
}

// ResponseIncomplete streams every chunk, then response.incomplete with
// reason max_output_tokens (chat completions: finish_reason "length").
func ResponseIncomplete() Script {
	return Script{Terminal: Incomplete}
}

// ResponseCancelled streams every chunk, then response.cancelled.
func ResponseCancelled() Script {
	return Script{Terminal: Cancelled}
}

// ResponseError streams every chunk, then a bare "error" event carrying
// message.
func ResponseError(message string) Script {
	return Script{Terminal: ErrorEvent, Message: message}
}

// ceilSeconds formats d as whole seconds, rounded up.
func ceilSeconds(d time.Duration) string {
	secs := (d + time.Second - 1) / time.Second
	return strconv.FormatInt(int64(secs), 10)
}
