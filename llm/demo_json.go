package llm

import (
	"encoding/json"
	"strings"
)

// demoJSONPieces is the demo model's answer when JSON is asked for: a small
// questionnaire in the shape the app's questionnaire jobs expect
// ({"stages": [...]}), so JSON jobs and their webhooks can be tried offline.
func demoJSONPieces(prompt string) []string {
	topic := strings.TrimSpace(strings.SplitN(prompt, "\n", 2)[0])
	if len([]rune(topic)) > 80 {
		topic = string([]rune(topic)[:80]) + "…"
	}
	doc := map[string]any{
		"title": "Demo questionnaire: " + topic,
		"stages": []map[string]any{
			{"name": "Context", "questions": []string{"What is your role?", "Which team do you work in?"}},
			{"name": "Needs", "questions": []string{"Which skills do you want to build this year?"}},
		},
	}
	b, _ := json.MarshalIndent(doc, "", "  ") // maps of strings always encode
	return strings.SplitAfter(string(b), "\n")
}
