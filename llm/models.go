package llm

import (
	"context"
	"fmt"
	"sort"
	"strings"

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

// Router sends each model to the provider that serves it. It implements
// report.Models (what may be asked for) and report.Generator (dispatch).
type Router struct {
	DefaultModel string
	Perplexity   report.Generator // nil when no key is configured
	Demo         report.Generator
}

var (
	_ report.Models    = (*Router)(nil)
	_ report.Generator = (*Router)(nil)
)

// Resolve implements report.Models.
func (r *Router) Resolve(name string) (string, error) {
	if strings.TrimSpace(name) == "" {
		name = r.DefaultModel
	}
	if strings.EqualFold(strings.TrimSpace(name), DemoModel) {
		return DemoModel, nil
	}
	if m, ok := NormalizePerplexity(name); ok {
		if r.Perplexity == nil {
			return "", report.Errorf(report.ErrInvalid,
				"model %q needs PERPLEXITY_API_KEY, which is not configured on this service; use model %q to try the service offline", m, DemoModel)
		}
		return m, nil
	}
	return "", report.Errorf(report.ErrInvalid, "model %q is not supported; supported models: %s", name, strings.Join(r.Known(), ", "))
}

// Known lists the model names this router accepts.
func (r *Router) Known() []string {
	out := []string{DemoModel}
	if r.Perplexity != nil {
		for m := range perplexityModels {
			out = append(out, m)
		}
	}
	sort.Strings(out)
	return out
}

// Generate implements report.Generator by dispatching on p.Model.
func (r *Router) Generate(ctx context.Context, p report.Prompt, emit func(report.Delta)) (report.Output, error) {
	g, err := r.generatorFor(p.Model)
	if err != nil {
		return report.Output{}, err
	}
	return g.Generate(ctx, p, emit)
}

func (r *Router) generatorFor(model string) (report.Generator, error) {
	if model == DemoModel && r.Demo != nil {
		return r.Demo, nil
	}
	if _, ok := NormalizePerplexity(model); ok && r.Perplexity != nil {
		return r.Perplexity, nil
	}
	return nil, &report.ProviderError{Provider: "router", Message: fmt.Sprintf("no provider is configured for model %q", model)}
}
