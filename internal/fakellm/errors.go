package fakellm

import (
	"encoding/json"
	"net/http"
)

// Kind is a provider error category; each flavour renders it in its own
// shape (see Server).
type Kind int

const (
	// KindNone lets the HTTP status choose the kind.
	KindNone Kind = iota
	// KindBadRequest is a 400 invalid request.
	KindBadRequest
	// KindUnauthorized is a 401 bad or missing API key.
	KindUnauthorized
	// KindForbidden is a 403 permission error.
	KindForbidden
	// KindNotFound is a 404, such as an unknown model or path.
	KindNotFound
	// KindRateLimited is a 429 request rate limit.
	KindRateLimited
	// KindQuotaExhausted is an out-of-credit error that retrying cannot fix.
	KindQuotaExhausted
	// KindServer is a 500 internal error.
	KindServer
	// KindBadGateway is a 502.
	KindBadGateway
	// KindUnavailable is a 503.
	KindUnavailable
	// KindGatewayTimeout is a 504.
	KindGatewayTimeout
	// KindOverloaded is Anthropic's 529 overloaded_error (503 elsewhere).
	KindOverloaded
)

// kindInfo holds how each flavour names one kind.
type kindInfo struct {
	status     int
	openaiType string
	openaiCode string // empty renders as null
	perplexity string // legacy chat "type" and Agent API "code"
	anthropic  string
	message    string
}

var kindTable = map[Kind]kindInfo{
	KindBadRequest:     {400, "invalid_request_error", "", "invalid_request", "invalid_request_error", "Invalid request."},
	KindUnauthorized:   {401, "invalid_request_error", "invalid_api_key", "unauthorized", "authentication_error", "Invalid API key."},
	KindForbidden:      {403, "permission_error", "", "forbidden", "permission_error", "Permission denied."},
	KindNotFound:       {404, "invalid_request_error", "not_found", "not_found", "not_found_error", "Not found."},
	KindRateLimited:    {429, "requests", "rate_limit_exceeded", "request_rate_limit_exceeded", "rate_limit_error", "Rate limit reached for requests. Please try again later."},
	KindQuotaExhausted: {429, "insufficient_quota", "insufficient_quota", "insufficient_quota", "invalid_request_error", "You exceeded your current quota; your credit balance is too low."},
	KindServer:         {500, "server_error", "", "internal_error", "api_error", "Internal server error."},
	KindBadGateway:     {502, "server_error", "", "bad_gateway", "api_error", "Bad gateway."},
	KindUnavailable:    {503, "server_error", "", "service_unavailable", "api_error", "Service unavailable."},
	KindGatewayTimeout: {504, "server_error", "", "gateway_timeout", "timeout_error", "Gateway timeout."},
	KindOverloaded:     {503, "server_error", "", "service_unavailable", "overloaded_error", "Overloaded."},
}

// kindForStatus picks the kind that fits an HTTP status.
func kindForStatus(status int) Kind {
	switch status {
	case http.StatusUnauthorized:
		return KindUnauthorized
	case http.StatusForbidden:
		return KindForbidden
	case http.StatusNotFound:
		return KindNotFound
	case http.StatusTooManyRequests:
		return KindRateLimited
	case http.StatusBadGateway:
		return KindBadGateway
	case http.StatusServiceUnavailable:
		return KindUnavailable
	case http.StatusGatewayTimeout:
		return KindGatewayTimeout
	case 529:
		return KindOverloaded
	}
	if status >= 500 {
		return KindServer
	}
	return KindBadRequest
}

// providerError is one error resolved for a flavour.
type providerError struct {
	status  int
	kind    Kind
	message string
}

// resolveError fills in the kind, status and message a flavour reports.
func resolveError(f Flavor, status int, kind Kind, message string) providerError {
	if kind == KindNone {
		kind = kindForStatus(status)
	}
	info := kindTable[kind]
	if status == 0 {
		status = info.status
	}
	if f == Anthropic {
		switch kind {
		case KindQuotaExhausted:
			status = http.StatusBadRequest
		case KindOverloaded:
			status = 529
		}
	}
	if message == "" {
		message = info.message
	}
	return providerError{status: status, kind: kind, message: message}
}

// code is the machine-readable code the flavour's streaming APIs use.
func (e providerError) code(f Flavor) string {
	info := kindTable[e.kind]
	switch f {
	case Perplexity:
		return info.perplexity
	case Anthropic:
		return info.anthropic
	default:
		if info.openaiCode != "" {
			return info.openaiCode
		}
		return info.openaiType
	}
}

// perplexity401 is the HTML page Perplexity's proxy sends for a bad key.
const perplexity401 = "<html>\r\n<head><title>401 Authorization Required</title></head>\r\n" +
	"<body>\r\n<center><h1>401 Authorization Required</h1></center>\r\n" +
	"<hr><center>openresty</center>\r\n</body>\r\n</html>\r\n"

// errorBody renders e as the flavour's HTTP error body and content type.
func errorBody(f Flavor, ep Endpoint, e providerError, requestID string) (string, []byte) {
	if f == Perplexity && e.status == http.StatusUnauthorized {
		return "text/html", []byte(perplexity401)
	}
	switch f {
	case Anthropic:
		return "application/json", mustJSON(anthropicError{
			Type: "error", Error: anthropicDetail{Type: kindTable[e.kind].anthropic, Message: e.message},
			RequestID: requestID,
		})
	case Perplexity:
		var code any = e.status // the legacy chat API puts the status in code
		if ep == Responses {
			code = e.code(f)
		}
		return "application/json", mustJSON(envelope{Error: detail{
			Message: e.message, Type: kindTable[e.kind].perplexity, Code: code,
		}})
	default:
		return "application/json", openAIError(e)
	}
}

// openAIError renders e in OpenAI's {"error":{...}} shape.
func openAIError(e providerError) []byte {
	info := kindTable[e.kind]
	var code any
	if info.openaiCode != "" {
		code = info.openaiCode
	}
	return mustJSON(envelope{Error: detail{
		Message: e.message, Type: info.openaiType, Param: new(any), Code: code,
	}})
}

// chatErrorFrame renders e as the in-stream error frame of chat completions.
func chatErrorFrame(f Flavor, e providerError) []byte {
	if f == Anthropic {
		body := mustJSON(anthropicError{
			Type: "error", Error: anthropicDetail{Type: kindTable[e.kind].anthropic, Message: e.message},
		})
		return append(append([]byte("event: error\ndata: "), body...), "\n\n"...)
	}
	var body []byte
	if f == Perplexity {
		body = mustJSON(envelope{Error: detail{Message: e.message, Type: kindTable[e.kind].perplexity, Code: e.status}})
	} else {
		body = openAIError(e)
	}
	return dataFrame(body)
}

// rateLimitHeaders are the informational headers each flavour adds to a 429.
func rateLimitHeaders(f Flavor) http.Header {
	switch f {
	case Perplexity:
		return http.Header{"X-Ratelimit-Limit": {"50"}, "X-Ratelimit-Remaining": {"0"}}
	case Anthropic:
		return http.Header{
			"Anthropic-Ratelimit-Requests-Limit":     {"50"},
			"Anthropic-Ratelimit-Requests-Remaining": {"0"},
		}
	default:
		return http.Header{"X-Ratelimit-Limit-Requests": {"50"}, "X-Ratelimit-Remaining-Requests": {"0"}}
	}
}

type envelope struct {
	Error detail `json:"error"`
}

type detail struct {
	Message string `json:"message"`
	Type    string `json:"type"`
	Param   *any   `json:"param,omitempty"`
	Code    any    `json:"code"`
}

type anthropicError struct {
	Type      string          `json:"type"`
	Error     anthropicDetail `json:"error"`
	RequestID string          `json:"request_id,omitempty"`
}

type anthropicDetail struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// mustJSON marshals values whose types cannot fail to encode.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("fakellm: encode: " + err.Error())
	}
	return b
}

// dataFrame wraps a JSON payload as one SSE data event.
func dataFrame(payload []byte) []byte {
	out := make([]byte, 0, len(payload)+8)
	out = append(out, "data: "...)
	out = append(out, payload...)
	return append(out, "\n\n"...)
}
