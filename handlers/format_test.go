package handlers

import (
	"net/http"
	"strings"
	"testing"

	"github.com/polaris/reportd/llm"
)

// response_format reaches the job's metadata (where the worker reads it);
// a value the service cannot honour is refused, not ignored.
func TestResponseFormat(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id, token := a.user()
	cases := []struct {
		name, body string
		status     int
		want       string // in metadata, or in the error
	}{
		{"top level", `{"prompt":"p","model":"demo","response_format":"json"}`, 202, `"response_format":"json"`},
		{"normalised", `{"prompt":"p","model":"demo","response_format":" JSON "}`, 202, `"response_format":"json"`},
		{"inside metadata", `{"prompt":"p","model":"demo","metadata":{"response_format":"json"}}`, 202, `"response_format":"json"`},
		{"top level wins", `{"prompt":"p","model":"demo","response_format":"text","metadata":{"response_format":"json"}}`, 202, `"response_format":"text"`},
		{"unknown format", `{"prompt":"p","model":"demo","response_format":"xml"}`, 400, `response_format must be "json" or "text"`},
		{"not a string in metadata", `{"prompt":"p","model":"demo","metadata":{"response_format":5}}`, 400, `response_format must be "json" or "text"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := a.do("POST", "/api/reportJobsDb", token, c.body)
			if r.status != c.status {
				t.Fatalf("status %d, want %d: %s", r.status, c.status, r.body)
			}
			if c.status != http.StatusAccepted {
				m := r.json(t)
				if msg, _ := m["error"].(string); !strings.Contains(msg, c.want) {
					t.Fatalf("error %q, want %q", msg, c.want)
				}
				return
			}
			job, err := a.store.Get(t.Context(), callerFor(id, token), r.json(t)["job_id"].(string))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(job.Metadata), c.want) {
				t.Fatalf("metadata %s lacks %s", job.Metadata, c.want)
			}
		})
	}
}

// A questionnaire that names no model gets the questionnaire model (the
// old route's ANTHROPIC_MODEL); one the service cannot serve is a clear 400.
func TestQuestionnaireModel(t *testing.T) {
	t.Parallel()
	body := `{"prompt":"p","report_type":"dynamic_questionnaire","report_id":"s-1"}`
	served := newAPI(t, func(d *Deps) {
		d.Models = &llm.Router{DefaultModel: "sonar", Demo: llm.Demo{}, QuestionnaireModel: "demo", OpenAI: openAINowhere()}
	})
	id, token := served.user()
	r := served.do("POST", "/api/reportJobsDb", token, body)
	if r.status != http.StatusAccepted {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	job, err := served.store.Get(t.Context(), callerFor(id, token), r.json(t)["job_id"].(string))
	if err != nil || job.Model != "demo" {
		t.Fatalf("model %q, want the questionnaire model (err %v)", job.Model, err)
	}
	// A model named in the request wins, and other jobs keep the default.
	if r := served.do("POST", "/api/reportJobsDb", token, `{"prompt":"p"}`); r.status != 400 ||
		!strings.Contains(string(r.body), "PERPLEXITY_API_KEY") {
		t.Fatalf("a greeting without a model: %d %s", r.status, r.body)
	}

	unserved := newAPI(t, func(d *Deps) {
		d.Models = &llm.Router{DefaultModel: "sonar", Demo: llm.Demo{}, QuestionnaireModel: "claude-sonnet-4-5"}
	})
	_, token = unserved.user()
	r = unserved.do("POST", "/api/reportJobsDb", token, body)
	if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), `model \"claude-sonnet-4-5\" needs ANTHROPIC_API_KEY`) {
		t.Fatalf("unserved questionnaire model: %d %s", r.status, r.body)
	}
}
