package worker

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/polaris/reportd/internal/fakellm"
	"github.com/polaris/reportd/report"
)

func TestCleanJSON(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name          string
		answer        string
		questionnaire bool
		want          string // stored text; empty when the answer is refused
		reason        string // part of the error when refused
	}{
		{"plain object", `{"a": 1, "b": [true, null]}`, false, `{"a":1,"b":[true,null]}`, ""},
		{"array", " [1, 2]\n", false, `[1,2]`, ""},
		{"json fence", "```json\n{\"a\": 1}\n```", false, `{"a":1}`, ""},
		{"bare fence", "```\n[1]\n```", false, `[1]`, ""},
		{"fence with prose around", "Here it is:\n```JSON\n{\"a\": \"x\"}\n```\nHope this helps.", false, `{"a":"x"}`, ""},
		{"one-line fence", "```json {\"a\":1}```", false, `{"a":1}`, ""},
		{"unclosed fence", "```json\n{\"a\": 1}", false, `{"a":1}`, ""},
		{"prose without fence", "Sure! {\"a\": 1} Done.", false, `{"a":1}`, ""},
		{"fences inside strings are kept", "{\"md\": \"```x```\"}", false, "{\"md\":\"```x```\"}", ""},
		{"key order, numbers and markup kept", `{"z": 1.50, "a": 12345678901234567890, "h": "<b>&</b>"}`, false,
			`{"z":1.50,"a":12345678901234567890,"h":"<b>&</b>"}`, ""},
		{"empty", "  \n", false, "", "empty"},
		{"prose only", "I cannot help with that.", false, "", "invalid character"},
		{"cut off", "```json\n{\"a\": [1, 2", false, "", "ends before the document is complete"},
		{"trailing comma", `{"a": 1,}`, false, "", "invalid character"},
		{"a single value", `"just a string"`, false, "", "not an object or an array"},
		{"two documents", `{"a":1} {"b":2}`, false, "", "more text after"},
		{"questionnaire", "```json\n{\"title\": \"t\", \"stages\": [{\"name\": \"Intro\", \"questions\": []}]}\n```", true,
			`{"stages":[{"name":"Intro","questions":[]}]}`, ""},
		{"questionnaire without stages", `{"questions": []}`, true, "", `no "stages" array`},
		{"questionnaire stages not an array", `{"stages": {"a": 1}}`, true, "", `"stages" is not an array`},
		{"questionnaire as a bare array", `[{"name": "Intro"}]`, true, "", `expected an object`},
		{"questionnaire not JSON", `stages: intro`, true, "", "not valid JSON"},
	}
	for _, c := range cases {
		got, err := cleanJSON(c.answer, c.questionnaire)
		if c.want != "" {
			if err != nil || got != c.want {
				t.Errorf("%s: got %q, %v; want %q", c.name, got, err, c.want)
			}
			continue
		}
		var invalid *invalidAnswerError
		if !errors.As(err, &invalid) || !strings.Contains(err.Error(), c.reason) {
			t.Errorf("%s: got %q, %v; want a refusal mentioning %q", c.name, got, err, c.reason)
		}
	}
}

func (e *engine) submitMeta(t *testing.T, meta string) report.Job {
	t.Helper()
	j, _, err := e.store.Create(context.Background(), e.user, report.NewJob{
		JobID: report.NewJobID(time.Now()), Prompt: "Write a questionnaire.", Model: "sonar",
		Temperature: 0.2, MaxTokens: 500, MaxAttempts: 3, Metadata: json.RawMessage(meta),
	})
	if err != nil {
		t.Fatal(err)
	}
	e.worker.OnChange(report.Change{Kind: report.ChangeCreated, JobID: j.JobID})
	return j
}

// awaitFinal waits until the job is final, reading it after each worker write.
func (e *engine) awaitFinal(t *testing.T, jobID string) report.Job {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		if got := e.job(t, jobID); got.Status.Final() {
			return got
		}
		select {
		case <-e.spy.events:
		case <-deadline:
			t.Fatalf("job %s did not finish", jobID)
		}
	}
}

// jsonCase is a JSON job: what it asks, what the model answers on each
// attempt, and how it must end.
type jsonCase struct {
	name     string
	meta     string
	answers  []string
	status   report.Status
	result   string
	attempts int
	errText  string
}

const stages = `{"stages":[{"name":"Goals","questions":["What do you need?"]}]}`

func TestJSONJobs(t *testing.T) {
	t.Parallel()
	cases := []jsonCase{
		{"valid JSON is stored compact", `{"response_format":"json"}`, []string{"{\n  \"a\": [1, 2]\n}"}, report.StatusSucceeded, `{"a":[1,2]}`, 1, ""},
		{"fenced questionnaire is cleaned", `{"report_type":"dynamic_questionnaire","report_id":"s1"}`,
			[]string{"```json\n" + stages + "\n```"}, report.StatusSucceeded, stages, 1, ""},
		{"invalid JSON is retried", `{"response_format":"json"}`, []string{"Sorry, here you go: {oops", `{"ok":true}`},
			report.StatusSucceeded, `{"ok":true}`, 2, ""},
		{"invalid JSON on every attempt fails clearly", `{"response_format":"json"}`, []string{"nope", "still nope", "{\"a\":"},
			report.StatusFailed, "", 3, "The model's answer is not valid JSON: it ends before the document is complete"},
		{"a questionnaire without stages fails clearly", `{"report_type":"dynamic_questionnaire","report_id":"s1"}`,
			[]string{`{"q":1}`, `{"q":2}`, `{"q":3}`}, report.StatusFailed, "", 3, `not a valid questionnaire: it has no "stages" array`},
		{"text jobs are stored as written", `{}`, []string{"```json\n{\"a\": 1}\n```"}, report.StatusSucceeded, "```json\n{\"a\": 1}\n```", 1, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			forEachBackend(t, func(t *testing.T, b backend) { testJSONJob(t, b, c) })
		})
	}
}

func testJSONJob(t *testing.T, b backend, c jsonCase) {
	e := startEngine(t, b, fastConfig())
	for _, a := range c.answers {
		e.fake.Push(fakellm.Instant(a))
	}
	got := e.awaitFinal(t, e.submitMeta(t, c.meta).JobID)
	if got.Status != c.status || got.Attempts != c.attempts {
		t.Fatalf("status %s after %d attempts, want %s after %d (error %v)", got.Status, got.Attempts, c.status, c.attempts, got.Error)
	}
	if c.status == report.StatusSucceeded && (got.Result == nil || *got.Result != c.result) {
		t.Fatalf("result %v, want %q", got.Result, c.result)
	}
	if c.errText != "" && (got.Error == nil || !strings.Contains(*got.Error, c.errText)) {
		t.Fatalf("error %v, want it to contain %q", got.Error, c.errText)
	}
	wantJSON := c.meta != `{}`
	for _, r := range e.fake.Requests() {
		system := string(r.Body)
		if strings.Contains(system, "exactly one JSON document") != wantJSON {
			t.Fatalf("JSON job %v, but the provider got: %s", wantJSON, r.Body)
		}
	}
}
