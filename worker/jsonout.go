package worker

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/polaris/reportd/report"
)

// DefaultSystemPrompt precedes every prompt, as the old route's preamble did.
const DefaultSystemPrompt = "You are a careful research assistant. Write a well-structured report in Markdown " +
	"that answers the request below, cites its sources, and says plainly where evidence is thin."

// DefaultJSONSystemPrompt replaces the Markdown preamble for jobs whose
// answer must be JSON: a model told to write Markdown wraps JSON in fences
// and prose.
const DefaultJSONSystemPrompt = "Answer with exactly one JSON document that follows the instructions below. " +
	"Write no prose before or after it and do not wrap it in Markdown code fences."

// invalidAnswerError is a finished answer that does not have the form the
// job asked for. Another attempt may do better, so it is retryable.
type invalidAnswerError struct {
	questionnaire bool // valid JSON, but not a questionnaire
	reason        string
}

func (e *invalidAnswerError) Error() string {
	if e.questionnaire {
		return "The model's answer is not a valid questionnaire: " + e.reason
	}
	return "The model's answer is not valid JSON: " + e.reason
}

// shapeOutput checks the answer of a job that asked for JSON and replaces
// it with the text to store; other answers pass unchanged.
func shapeOutput(job report.Job, out report.Output) (report.Output, error) {
	if job.ResponseFormat() != report.FormatJSON {
		return out, nil
	}
	text, err := cleanJSON(out.Text, job.IsQuestionnaire())
	if err != nil {
		return out, err
	}
	out.Text = text
	return out, nil
}

// cleanJSON turns a model's answer into the JSON text that is stored:
// Markdown code fences and surrounding prose are removed, the document is
// parsed, and it is stored compact (insignificant whitespace removed; key
// order and numbers exactly as the model wrote them). The document must be
// an object or an array. A questionnaire must be an object with a "stages"
// array, and only {"stages": [...]} is kept, as the old route did.
func cleanJSON(answer string, questionnaire bool) (string, error) {
	doc, err := extractJSON(answer)
	if err != nil {
		return "", err
	}
	if questionnaire {
		if doc, err = questionnaireStages(doc); err != nil {
			return "", err
		}
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, doc); err != nil { // valid by now; Compact only fails on invalid input
		return "", &invalidAnswerError{reason: err.Error()}
	}
	return buf.String(), nil
}

// extractJSON finds the JSON document in an answer: the whole answer, else
// the content of its code fence, else the span from the first { or [ to the
// last } or ] (prose around the document). The reason given is the parse
// error of the most likely candidate.
func extractJSON(answer string) ([]byte, error) {
	text := strings.TrimSpace(answer)
	if text == "" {
		return nil, &invalidAnswerError{reason: "the answer is empty"}
	}
	candidates := []string{text}
	if inner, ok := stripFences(text); ok {
		candidates = append(candidates, inner)
	}
	last := candidates[len(candidates)-1]
	if span, ok := outerSpan(last); ok && span != last {
		candidates = append(candidates, span)
	}
	var err error
	for _, c := range candidates {
		var doc []byte
		if doc, err = parseDocument(c); err == nil {
			return doc, nil
		}
	}
	return nil, err // the narrowest candidate's problem: what the model meant to be the document
}

// stripFences returns the content of a Markdown code fence in text
// (```json ... ```, ``` ... ```, or an opening fence whose closing fence was
// cut off), and whether there was one.
func stripFences(text string) (string, bool) {
	start := strings.Index(text, "```")
	if start < 0 {
		return "", false
	}
	rest := text[start+3:]
	if nl := strings.IndexByte(rest, '\n'); nl >= 0 && isFenceInfo(rest[:nl]) {
		rest = rest[nl+1:]
	} else if nl < 0 {
		// One line: ```json {...}``` or ```{...}```.
		rest = strings.TrimLeft(rest, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
	}
	if end := strings.LastIndex(rest, "```"); end >= 0 {
		rest = rest[:end]
	}
	return strings.TrimSpace(rest), true
}

// isFenceInfo reports whether s is a code fence's info string ("json",
// "JSON", "javascript", or nothing).
func isFenceInfo(s string) bool {
	for _, r := range strings.TrimSpace(s) {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// outerSpan returns text from its first { or [ to its last } or ].
func outerSpan(text string) (string, bool) {
	open := strings.IndexAny(text, "{[")
	end := strings.LastIndexAny(text, "}]")
	if open < 0 || end <= open {
		return "", false
	}
	return text[open : end+1], true
}

// parseDocument checks that s is exactly one JSON object or array.
func parseDocument(s string) ([]byte, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, &invalidAnswerError{reason: describeJSONError(err)}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, &invalidAnswerError{reason: fmt.Sprintf("there is more text after the JSON document (at byte %d)", dec.InputOffset())}
	}
	switch v.(type) {
	case map[string]any, []any:
		return []byte(s), nil
	}
	return nil, &invalidAnswerError{reason: "it is a single value, not an object or an array"}
}

// describeJSONError says what is wrong without echoing the answer.
func describeJSONError(err error) string {
	var syntax *json.SyntaxError
	switch {
	case errors.As(err, &syntax):
		return fmt.Sprintf("%s (at byte %d)", syntax.Error(), syntax.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "it ends before the document is complete (was the answer cut off?)"
	}
	return err.Error()
}

// questionnaireStages keeps the old contract: an object with a "stages"
// array, stored as {"stages": [...]}.
func questionnaireStages(doc []byte) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(doc, &m); err != nil {
		return nil, &invalidAnswerError{questionnaire: true, reason: `expected an object with a "stages" array`}
	}
	stages, ok := m["stages"]
	if !ok {
		return nil, &invalidAnswerError{questionnaire: true, reason: `it has no "stages" array`}
	}
	if t := bytes.TrimSpace(stages); len(t) == 0 || t[0] != '[' {
		return nil, &invalidAnswerError{questionnaire: true, reason: `"stages" is not an array`}
	}
	// Built by hand: json.Marshal would rewrite <, > and & inside strings.
	return []byte(`{"stages":` + string(stages) + `}`), nil
}
