package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/polaris/reportd/internal/fakellm"
)

// The whole path on both stores: user A's job goes in through the old
// route, the worker streams it from the (fake) LLM, the result comes out;
// user B cannot see it; an anonymous caller is refused.
func TestWholePath(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			env, proj := b.env(t)
			fake, env := withLLM(t, env)
			fake.SetDefault(fakellm.Stream("Kenyan tea is grown in the highlands.", 8, 20*time.Millisecond))
			p := start(t, env)
			_, tokenA := user(t, proj)
			_, tokenB := user(t, proj)

			jobID := create(t, p.URL, tokenA, map[string]any{"prompt": "Write about tea", "model": "sonar-pro"})
			r := await(t, p.URL, tokenA, jobID, 20*time.Second)
			if r.body["status"] != "succeeded" || r.body["percent"] != float64(100) ||
				r.body["result"] != "Kenyan tea is grown in the highlands." || r.body["error"] != nil {
				t.Fatalf("final state: %s", r.raw)
			}
			// Perplexity's Agent API (the default): sonar-pro is Sonar with the "low" preset.
			req := fake.Requests()[0]
			if req.Path != "/v1/responses" || req.Model != "perplexity/sonar" || req.JSON["preset"] != "low" || req.Prompt != "Write about tea" {
				t.Fatalf("the provider got %s model %q preset %v prompt %q", req.Path, req.Model, req.JSON["preset"], req.Prompt)
			}
			if r := call(t, "GET", p.URL+"/api/reportJobsDb?job_id="+jobID, tokenB, nil); r.status != http.StatusNotFound {
				t.Fatalf("user B: %d %s", r.status, r.raw)
			}
			if r := call(t, "GET", p.URL+"/api/reportJobsDb?job_id="+jobID, "", nil); r.status != http.StatusUnauthorized {
				t.Fatalf("anonymous: %d %s", r.status, r.raw)
			}
		})
	}
}

// Idempotency through the API on both stores.
func TestIdempotencyAcrossUsers(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			env, proj := b.env(t)
			_, env = withLLM(t, env)
			p := start(t, env)
			_, tokenA := user(t, proj)
			_, tokenB := user(t, proj)
			body := map[string]any{"prompt": "p", "model": "demo"}
			key := []string{"Idempotency-Key", "greeting:99"}
			a1 := call(t, "POST", p.URL+"/api/reportJobsDb", tokenA, body, key...).body["job_id"]
			a2 := call(t, "POST", p.URL+"/api/reportJobsDb", tokenA, body, key...).body["job_id"]
			b1 := call(t, "POST", p.URL+"/api/reportJobsDb", tokenB, body, key...).body["job_id"]
			if a1 == nil || a1 != a2 || b1 == a1 || b1 == nil {
				t.Fatalf("job ids: A %v %v, B %v", a1, a2, b1)
			}
		})
	}
}

// The README's run command: no configuration at all. The service prints a
// dev token, accepts a demo job and completes it.
func TestRunsWithNoConfiguration(t *testing.T) {
	t.Parallel()
	p := start(t, map[string]string{"DEMO_CHUNK_DELAY": "5ms"})
	token := p.devToken()
	jobID := create(t, p.URL, token, map[string]any{"prompt": "Hello", "model": "demo"})
	r := await(t, p.URL, token, jobID, 20*time.Second)
	if r.body["status"] != "succeeded" || r.body["result"] == nil {
		t.Fatalf("demo job: %s", r.raw)
	}
}
