package llm

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/polaris/reportd/report"
)

// offline is a provider that never calls anything, for routing tests.
func offline(name string, cfg ProviderConfig) *Provider { return NewProvider(name, Demo{}, cfg) }

func fullRouter() *Router {
	return &Router{
		DefaultModel: "sonar", AnthropicModel: "claude-sonnet-4-5", Demo: Demo{},
		Perplexity: offline("perplexity", ProviderConfig{}), OpenAI: offline("openai", ProviderConfig{}),
		Anthropic: offline("anthropic", ProviderConfig{}), Compatible: offline("compatible", ProviderConfig{}),
	}
}

func TestRoutingTable(t *testing.T) {
	t.Parallel()
	r := fullRouter()
	cases := []struct{ in, model, provider string }{
		{"", "sonar", "perplexity"}, // the default model, as the old route's
		{"DEMO", "demo", ""},
		{"sonar", "sonar", "perplexity"},
		{"Sonar Pro", "sonar-pro", "perplexity"},
		{"sonar large", "sonar-pro", "perplexity"},
		{"sonar medium", "sonar-pro", "perplexity"},
		{"sonar_reasoning_pro", "sonar-reasoning-pro", "perplexity"},
		{" SONAR-DEEP-RESEARCH ", "sonar-deep-research", "perplexity"},
		{"llama-3.1-sonar-small-128k-online", "sonar", "perplexity"},
		{"llama-3.1-sonar-large-128k-online", "sonar-pro", "perplexity"},
		{"llama_3.1_sonar_huge_128k_online", "sonar-pro", "perplexity"},
		{"gpt-4o", "gpt-4o", "openai"},
		{"GPT-4.1-mini", "gpt-4.1-mini", "openai"},
		{"gpt-5", "gpt-5", "openai"},
		{"chatgpt-4o-latest", "chatgpt-4o-latest", "openai"},
		{"o1", "o1", "openai"},
		{"o1-mini", "o1-mini", "openai"},
		{"o3-pro", "o3-pro", "openai"},
		{"O4-mini-2025-04-16", "o4-mini-2025-04-16", "openai"},
		{"claude-sonnet-4-5", "claude-sonnet-4-5", "anthropic"},
		{"Claude-3-5-Haiku-Latest", "claude-3-5-haiku-latest", "anthropic"},
		{"claude", "claude-sonnet-4-5", "anthropic"}, // ANTHROPIC_MODEL
		{"llama3.1:8b", "llama3.1:8b", "compatible"},
		{"Qwen/Qwen2.5-7B-Instruct", "Qwen/Qwen2.5-7B-Instruct", "compatible"}, // case kept: vLLM names are case sensitive
		{"openai/gpt-4o", "openai/gpt-4o", "compatible"},                       // OpenRouter's names
		{"o2", "o2", "compatible"},
		{"o1x", "o1x", "compatible"},
		{"ollama", "ollama", "compatible"},
	}
	for _, c := range cases {
		model, p, err := r.route(orDefault(c.in, r.DefaultModel))
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		name := ""
		if p != nil {
			name = p.Name
		}
		if model != c.model || name != c.provider {
			t.Errorf("%q routes to %q on %q, want %q on %q", c.in, model, name, c.model, c.provider)
		}
		if got, err := r.Resolve(c.in, false); err != nil || got != c.model {
			t.Errorf("Resolve(%q) = %q, %v; want %q", c.in, got, err, c.model)
		}
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Names no configured provider serves are refused at creation, with the
// model, what is served, and the variable that would enable it.
func TestRoutingRefusesWhatIsNotConfigured(t *testing.T) {
	t.Parallel()
	perplexityOnly := &Router{DefaultModel: "sonar", Demo: Demo{}, Perplexity: offline("perplexity", ProviderConfig{})}
	demoOnly := &Router{DefaultModel: "sonar", Demo: Demo{}}
	openAIOnly := &Router{DefaultModel: "sonar", Demo: Demo{}, OpenAI: offline("openai", ProviderConfig{})}
	cases := []struct {
		r    *Router
		in   string
		want []string
	}{
		{perplexityOnly, "gpt-4o", []string{`"gpt-4o"`, "OPENAI_API_KEY", "sonar-pro", `"demo"`}},
		{perplexityOnly, "o3", []string{`"o3"`, "OPENAI_API_KEY"}},
		{perplexityOnly, "Claude-Opus-4", []string{`"claude-opus-4"`, "ANTHROPIC_API_KEY"}},
		{perplexityOnly, "mistral-large", []string{`model "mistral-large" is not supported`, "LLM_BASE_URL", "sonar-reasoning-pro (Perplexity)"}},
		{perplexityOnly, "claude", []string{`"claude" is not supported`}}, // no ANTHROPIC_MODEL alias configured
		{openAIOnly, "", []string{`"sonar"`, "PERPLEXITY_API_KEY", `"demo" (offline)`}},
		{demoOnly, "sonar large", []string{`"sonar-pro"`, "PERPLEXITY_API_KEY"}},
		{demoOnly, "llama-3.1-sonar-small-128k-online", []string{`"sonar"`, "PERPLEXITY_API_KEY"}},
		{&Router{Compatible: offline("compatible", ProviderConfig{})}, " ", []string{"a model is required"}}, // no default model
	}
	for _, c := range cases {
		_, err := c.r.Resolve(c.in, false)
		var re *report.Error
		if !errors.As(err, &re) || !errors.Is(err, report.ErrInvalid) {
			t.Errorf("Resolve(%q) = %v, want a report.Error of kind ErrInvalid", c.in, err)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(re.Message, w) {
				t.Errorf("Resolve(%q): %q does not mention %s", c.in, re.Message, w)
			}
		}
	}
}

// With no real provider configured at all (a development setup), a job that
// names no model runs on the offline demo model, and the default says so;
// as soon as one provider is configured, the default is DefaultModel again.
func TestDefaultModel(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		r    *Router
		want string
	}{
		{&Router{DefaultModel: "sonar", Demo: Demo{}}, DemoModel},
		{&Router{DefaultModel: "sonar", Demo: Demo{}, Perplexity: offline("perplexity", ProviderConfig{})}, "sonar"},
		{&Router{DefaultModel: "sonar-pro", Demo: Demo{}, Perplexity: offline("perplexity", ProviderConfig{})}, "sonar-pro"},
	} {
		got, err := c.r.Resolve("", false)
		if err != nil || got != c.want || c.r.Default() != c.want || c.r.Suggested()[0] != c.want {
			t.Errorf("Resolve(\"\") = %q, %v; Default() = %q; Suggested() = %v; want %q", got, err, c.r.Default(), c.r.Suggested(), c.want)
		}
	}
	q := &Router{DefaultModel: "sonar", Demo: Demo{}, QuestionnaireModel: "demo", Perplexity: offline("perplexity", ProviderConfig{})}
	if got, _ := q.Resolve("", true); got != DemoModel {
		t.Errorf("a questionnaire naming no model got %q, want the questionnaire model", got)
	}
	if got, _ := q.Resolve("sonar-pro", true); got != "sonar-pro" {
		t.Errorf("a questionnaire naming a model got %q", got)
	}
}

// With only a self-hosted server, OpenAI-style names go there (Ollama
// serves gpt-oss:20b) and Perplexity's still need Perplexity.
func TestRoutingFallsBackToTheCompatibleServer(t *testing.T) {
	t.Parallel()
	r := &Router{DefaultModel: "sonar", Demo: Demo{}, Compatible: offline("compatible", ProviderConfig{})}
	for _, in := range []string{"gpt-oss:20b", "gpt-4o", "claude-3-haiku", "mistral"} {
		if _, p, err := r.route(in); err != nil || p.Name != "compatible" {
			t.Errorf("%q: %v %v", in, p, err)
		}
	}
	if _, err := r.Resolve("sonar", false); err == nil || !strings.Contains(err.Error(), "PERPLEXITY_API_KEY") {
		t.Errorf("sonar without Perplexity: %v", err)
	}
}

func TestRouterTimeouts(t *testing.T) {
	t.Parallel()
	r := &Router{
		Demo:       Demo{},
		Perplexity: offline("perplexity", ProviderConfig{Timeout: 75 * time.Second, ReasoningCap: 110 * time.Second}),
		OpenAI: offline("openai", ProviderConfig{Timeout: 3 * time.Minute,
			Limits: Limits{Concurrency: 4, SlotWait: 20 * time.Second}}),
		Compatible: offline("compatible", ProviderConfig{}),
	}
	cases := map[string]time.Duration{
		"sonar":               75 * time.Second,
		"sonar-pro":           75 * time.Second,
		"sonar-reasoning-pro": 110 * time.Second, // 1.5x capped
		"sonar-deep-research": 110 * time.Second,
		"gpt-4o":              3*time.Minute + 20*time.Second, // plus the longest wait for a stream
		"demo":                0,                              // the worker's default
		"llama3":              0,
	}
	for model, want := range cases {
		if got := r.Timeout(model); got != want {
			t.Errorf("Timeout(%q) = %s, want %s", model, got, want)
		}
	}
	r.Perplexity = offline("perplexity", ProviderConfig{Timeout: 60 * time.Second, ReasoningCap: 110 * time.Second})
	if got := r.Timeout("sonar-reasoning"); got != 90*time.Second {
		t.Errorf("reasoning timeout %s, want 1.5 x 60s", got)
	}
}

func TestRouterRefusesJobsWhoseProviderIsGone(t *testing.T) {
	t.Parallel()
	r := &Router{Demo: Demo{}}
	_, err := r.Generate(t.Context(), report.Prompt{Model: "gpt-4o", Text: "x", MaxTokens: 5}, func(report.Delta) {})
	var pe *report.ProviderError
	if !errors.As(err, &pe) || pe.Retryable || !strings.Contains(pe.Message, "gpt-4o") {
		t.Fatalf("%v", err)
	}
}
