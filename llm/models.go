package llm

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/polaris/reportd/report"
)

// Perplexity's model family, as the old route named it.
var perplexityModels = map[string]bool{
	"sonar": true, "sonar-pro": true, "sonar-reasoning": true, "sonar-reasoning-pro": true,
	"sonar-deep-research": true,
}

// NormalizePerplexity maps a model name to Perplexity's family the way the
// old route did (spaces and underscores become hyphens, old aliases map to
// current names) and reports whether the name belongs to that family.
func NormalizePerplexity(name string) (string, bool) {
	n := strings.ToLower(strings.TrimSpace(name))
	n = strings.NewReplacer(" ", "-", "_", "-").Replace(n)
	switch {
	case perplexityModels[n]:
		return n, true
	case n == "sonar-large" || n == "sonar-medium":
		return "sonar-pro", true
	case strings.HasPrefix(n, "llama-3.1-sonar-small"):
		return "sonar", true
	case strings.HasPrefix(n, "llama-3.1-sonar-large"), strings.HasPrefix(n, "llama-3.1-sonar-huge"):
		return "sonar-pro", true
	case strings.HasPrefix(n, "sonar"), strings.Contains(n, "-sonar-"):
		return "sonar", true // the old route's fallback, kept within the family
	}
	return "", false
}

// Reasoning reports whether a model thinks before answering; such jobs get
// a longer time limit.
func Reasoning(model string) bool {
	return strings.Contains(model, "reasoning") || strings.Contains(model, "deep-research")
}

// isOpenAIModel reports whether a (lower-case) name is one of OpenAI's:
// gpt-* (gpt-4o, gpt-4.1-mini, gpt-5...), chatgpt-* (chatgpt-4o-latest),
// and the o-series: o1, o3 and o4, alone or followed by "-" and a variant
// (o1-mini, o3-pro, o4-mini-2025-04-16). There never was an o2; names that
// merely start with "o" (ollama, olmo, o1x) are not OpenAI's.
func isOpenAIModel(name string) bool {
	if strings.HasPrefix(name, "gpt-") || strings.HasPrefix(name, "chatgpt-") {
		return true
	}
	for _, series := range []string{"o1", "o3", "o4"} {
		if rest, ok := strings.CutPrefix(name, series); ok && (rest == "" || strings.HasPrefix(rest, "-")) {
			return true
		}
	}
	return false
}

// isAnthropicModel reports whether a (lower-case) name is a Claude model.
func isAnthropicModel(name string) bool { return strings.HasPrefix(name, "claude-") }

// Router sends each model to the provider that serves it. It implements
// report.Models (what may be asked for) and report.Generator (dispatch),
// and gives the worker each model's time limit (Timeout).
//
// Routing, by name and configuration:
//   - demo: the offline demo model;
//   - Perplexity's names and their old aliases (NormalizePerplexity) →
//     Perplexity, stored normalised;
//   - gpt-*, chatgpt-*, o1, o3, o4 and their variants (isOpenAIModel) →
//     OpenAI; claude-* → Anthropic (and "claude" → AnthropicModel); stored
//     in lower case. When that provider is not configured but Compatible
//     is, they go there (gateways and local servers serve such names too,
//     e.g. gpt-oss:20b on Ollama);
//   - any other name → Compatible, stored as given (vLLM names are case
//     sensitive).
//
// A name no configured provider serves is refused by Resolve with
// ErrInvalid, naming the variable that would enable it.
type Router struct {
	// DefaultModel is the model of jobs that name none (PERPLEXITY_MODEL,
	// else sonar, as the old route stored it); see Default.
	DefaultModel string
	// QuestionnaireModel is the model of questionnaire jobs that name none
	// (the old route asked an Anthropic model for those); empty: the default.
	QuestionnaireModel string
	AnthropicModel     string           // what "claude" means; empty: no such alias
	Demo               report.Generator // the offline model
	Perplexity         *Provider        // nil when not configured
	OpenAI             *Provider
	Anthropic          *Provider
	Compatible         *Provider // OpenAI-compatible server at LLM_BASE_URL
}

var (
	_ report.Models    = (*Router)(nil)
	_ report.Generator = (*Router)(nil)
)

// Resolve implements report.Models.
func (r *Router) Resolve(name string, questionnaire bool) (string, error) {
	if strings.TrimSpace(name) == "" {
		name = r.Default()
		if questionnaire && r.QuestionnaireModel != "" {
			name = r.QuestionnaireModel
		}
	}
	model, _, err := r.route(name)
	return model, err
}

// Default implements report.Models: DefaultModel (sonar unless
// PERPLEXITY_MODEL says otherwise), or the offline demo model when no real
// provider is configured at all (a development setup, where a job without a
// model would otherwise always be refused).
func (r *Router) Default() string {
	if r.Perplexity == nil && r.OpenAI == nil && r.Anthropic == nil && r.Compatible == nil && r.Demo != nil {
		return DemoModel
	}
	return r.DefaultModel
}

// Suggested implements report.Models: the default, then the models of the
// configured providers that have fixed names, then the demo model.
func (r *Router) Suggested() []string {
	out := []string{r.Default()}
	add := func(models ...string) {
		for _, m := range models {
			if !slices.Contains(out, m) {
				out = append(out, m)
			}
		}
	}
	if r.Perplexity != nil {
		add("sonar", "sonar-pro", "sonar-reasoning", "sonar-reasoning-pro")
	}
	if r.Anthropic != nil && r.AnthropicModel != "" {
		add("claude")
	}
	if r.Demo != nil {
		add(DemoModel)
	}
	return out
}

// route returns the name to store and send for a requested name, and its
// provider (nil for the demo model).
func (r *Router) route(name string) (string, *Provider, error) {
	name = strings.TrimSpace(name)
	lower := strings.ToLower(name)
	if name == "" {
		return "", nil, report.Errorf(report.ErrInvalid, "a model is required; this service serves %s", r.served())
	}
	if lower == DemoModel && r.Demo != nil {
		return DemoModel, nil, nil
	}
	if m, ok := NormalizePerplexity(name); ok {
		if r.Perplexity == nil {
			return "", nil, r.needs(m, "PERPLEXITY_API_KEY")
		}
		return m, r.Perplexity, nil
	}
	if lower == "claude" && r.AnthropicModel != "" {
		lower = r.AnthropicModel
	}
	switch {
	case isOpenAIModel(lower) && r.OpenAI != nil:
		return lower, r.OpenAI, nil
	case isAnthropicModel(lower) && r.Anthropic != nil:
		return lower, r.Anthropic, nil
	case r.Compatible != nil:
		return name, r.Compatible, nil
	case isOpenAIModel(lower):
		return "", nil, r.needs(lower, "OPENAI_API_KEY")
	case isAnthropicModel(lower):
		return "", nil, r.needs(lower, "ANTHROPIC_API_KEY")
	}
	return "", nil, report.Errorf(report.ErrInvalid,
		"model %q is not supported; this service serves %s. Other models need an OpenAI-compatible server at LLM_BASE_URL",
		name, r.served())
}

func (r *Router) needs(model, variable string) error {
	return report.Errorf(report.ErrInvalid, "model %q needs %s, which is not configured on this service; it serves %s",
		model, variable, r.served())
}

// served describes the models this router accepts, for error messages.
func (r *Router) served() string {
	var parts []string
	if r.Demo != nil {
		parts = append(parts, fmt.Sprintf("%q (offline)", DemoModel))
	}
	if r.Perplexity != nil {
		parts = append(parts, strings.Join(sortedKeys(perplexityModels), ", ")+" (Perplexity)")
	}
	if r.OpenAI != nil {
		parts = append(parts, "gpt-*, chatgpt-*, o1*, o3*, o4* (OpenAI)")
	}
	if r.Anthropic != nil {
		parts = append(parts, "claude-* (Anthropic)")
	}
	if len(parts) == 0 {
		return "no models"
	}
	return strings.Join(parts, "; ")
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Timeout is the worker's time limit for one attempt of a model's job (0:
// the worker's default): the provider's limit, Perplexity's reasoning rule
// included, plus the longest wait for a stream slot.
func (r *Router) Timeout(model string) time.Duration {
	m, p, err := r.route(model)
	if err != nil || p == nil {
		return 0
	}
	return p.jobTimeout(m)
}

// Generate implements report.Generator by dispatching on p.Model.
func (r *Router) Generate(ctx context.Context, p report.Prompt, emit func(report.Delta)) (report.Output, error) {
	model, prov, err := r.route(p.Model)
	if err != nil {
		// Stored when its provider was configured; it no longer is.
		return report.Output{}, &report.ProviderError{Provider: "router", Message: fmt.Sprintf("no provider is configured for model %q", p.Model)}
	}
	p.Model = model
	if prov == nil {
		return r.Demo.Generate(ctx, p, emit)
	}
	return prov.Generate(ctx, p, emit)
}
