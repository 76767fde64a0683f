package handlers

import (
	"encoding/json"
	"strings"

	"github.com/polaris/reportd/report"
)

// setResponseFormat stores the requested answer format in metadata as
// response_format ("json" or "text"). It may be given at the top level (it
// wins) or inside metadata; any other value is refused rather than ignored,
// since a job that silently answers in prose would break a caller that
// parses JSON.
func setResponseFormat(m map[string]any, top *string) error {
	var raw any
	if top != nil {
		raw = *top
	} else if v, ok := m["response_format"]; ok && v != nil {
		raw = v
	}
	if raw == nil {
		return nil
	}
	s, ok := raw.(string)
	f := strings.ToLower(strings.TrimSpace(s))
	if !ok || (f != report.FormatJSON && f != report.FormatText) {
		return &report.ValidationError{Fields: []report.FieldError{{
			Field: "response_format", Message: `response_format must be "json" or "text"`}}}
	}
	m["response_format"] = f
	return nil
}

// modelFor is the model name to resolve: the request's, or for a
// questionnaire that names none the configured questionnaire model (the old
// route asked an Anthropic model, ANTHROPIC_MODEL, for questionnaires).
func (h *handler) modelFor(r createRequest, meta json.RawMessage) string {
	name := strings.TrimSpace(deref(r.Model))
	if name == "" && h.questionnaireModel != "" && (report.Job{Metadata: meta}).IsQuestionnaire() {
		return h.questionnaireModel
	}
	return name
}
