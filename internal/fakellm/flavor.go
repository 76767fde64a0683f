package fakellm

// Flavor is the provider whose wire format a Server speaks.
type Flavor int

const (
	// OpenAI serves chat completions and the Responses API.
	OpenAI Flavor = iota + 1
	// Perplexity serves the legacy Sonar chat completions and the Agent API.
	Perplexity
	// Anthropic serves the OpenAI-compatible chat completions endpoint.
	Anthropic
)

// String returns the flavour's lower-case name.
func (f Flavor) String() string {
	switch f {
	case OpenAI:
		return "openai"
	case Perplexity:
		return "perplexity"
	case Anthropic:
		return "anthropic"
	default:
		return "unknown"
	}
}

// Endpoint is the API a request was sent to.
type Endpoint int

const (
	// NoEndpoint marks a request to a path the flavour does not serve.
	NoEndpoint Endpoint = iota
	// ChatCompletions is the OpenAI-style chat completions API.
	ChatCompletions
	// Responses is the OpenAI Responses API or Perplexity's Agent API.
	Responses
)

// String returns the endpoint's name.
func (e Endpoint) String() string {
	switch e {
	case ChatCompletions:
		return "chat.completions"
	case Responses:
		return "responses"
	default:
		return "none"
	}
}

// routes maps each flavour's POST paths to the endpoint they serve.
var routes = map[Flavor]map[string]Endpoint{
	OpenAI: {
		"/v1/chat/completions": ChatCompletions,
		"/chat/completions":    ChatCompletions,
		"/v1/responses":        Responses,
	},
	Perplexity: {
		"/chat/completions":    ChatCompletions,
		"/v1/chat/completions": ChatCompletions,
		"/v1/responses":        Responses,
		"/v1/agent":            Responses,
	},
	Anthropic: {
		"/v1/chat/completions": ChatCompletions,
	},
}

// endpointFor returns the endpoint a POST to path reaches on flavour f.
func endpointFor(f Flavor, path string) Endpoint {
	return routes[f][path]
}
