package fakellm

import (
	"fmt"
	"slices"
)

// agentFieldNames are the top-level request fields Perplexity's Agent API
// documents (its OpenAPI schema, mirrored by the perplexityai SDKs). Anything
// else, temperature and top_p included, is answered with 400.
var agentFieldNames = []string{
	"background", "input", "instructions", "language_preference",
	"max_output_tokens", "max_steps", "model", "models", "preset",
	"reasoning", "response_format", "stream", "tools",
}

func defaultAgentFields() map[string]bool {
	fields := make(map[string]bool, len(agentFieldNames))
	for _, f := range agentFieldNames {
		fields[f] = true
	}
	return fields
}

// defaultPresets maps the presets the Agent API accepts to the model each
// resolves to here. The models are illustrative, not Perplexity's current
// choices; the point is that a preset may resolve to a third-party model.
func defaultPresets() map[string]string {
	return map[string]string{
		"fast":          "perplexity/sonar",
		"low":           "perplexity/sonar",
		"medium":        "openai/gpt-5-mini",
		"high":          "anthropic/claude-sonnet-4-6",
		"xhigh":         "anthropic/claude-opus-4-6",
		"fast-search":   "perplexity/sonar",
		"pro-search":    "openai/gpt-5-mini",
		"deep-research": "anthropic/claude-sonnet-4-6",
	}
}

// validateAgent returns the 400 message the Agent API gives body, or "".
func (s *Server) validateAgent(body map[string]any) string {
	if msg := s.unknownField(body); msg != "" {
		return msg
	}
	if body["input"] == nil {
		return "input is required"
	}
	_, hasModel := body["model"].(string)
	models, _ := body["models"].([]any)
	preset, hasPreset := body["preset"].(string)
	if !hasModel && len(models) == 0 && !hasPreset {
		return "one of model, models or preset is required"
	}
	if hasPreset {
		if _, ok := s.cfg.presets[preset]; !ok {
			return fmt.Sprintf("unknown preset %q", preset)
		}
	}
	if len(models) > 5 {
		return "models accepts at most 5 entries"
	}
	if n, ok := body["max_steps"].(float64); ok && (n < 1 || n > 10) {
		return "max_steps must be between 1 and 10"
	}
	if n, ok := body["max_output_tokens"].(float64); ok && n < 1 {
		return "max_output_tokens must be at least 1"
	}
	return ""
}

// unknownField names the first (alphabetically) field the API does not know.
func (s *Server) unknownField(body map[string]any) string {
	var unknown []string
	for k := range body {
		if !s.cfg.agentFields[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return ""
	}
	slices.Sort(unknown)
	return fmt.Sprintf("unknown field %q", unknown[0])
}

// agentModel is the model an Agent API response reports.
func (s *Server) agentModel(body map[string]any) string {
	if m, ok := body["model"].(string); ok && m != "" {
		return m
	}
	if models, _ := body["models"].([]any); len(models) > 0 {
		if m, ok := models[0].(string); ok {
			return m
		}
	}
	preset, _ := body["preset"].(string)
	if m := s.cfg.presets[preset]; m != "" {
		return m
	}
	return "perplexity/sonar"
}
