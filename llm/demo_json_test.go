package llm

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/polaris/reportd/report"
)

func TestDemoAnswersJSONWhenAskedTo(t *testing.T) {
	t.Parallel()
	out, err := Demo{}.Generate(context.Background(), report.Prompt{Text: "Onboarding \"needs\"", JSON: true}, func(report.Delta) {})
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Title  string            `json:"title"`
		Stages []json.RawMessage `json:"stages"`
	}
	if err := json.Unmarshal([]byte(out.Text), &doc); err != nil || len(doc.Stages) == 0 || doc.Title != `Demo questionnaire: Onboarding "needs"` {
		t.Fatalf("demo JSON answer %q: %v", out.Text, err)
	}
}
