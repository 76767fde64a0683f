package handlers

import (
	"net/http"
	"strings"
	"testing"
)

func TestLegacyCreateAndPoll(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	for i, path := range []string{"/api/reportJobsDb", "/api/reportJobs"} {
		_, token := a.user()
		r := a.do("POST", path, token, map[string]any{"prompt": "Tea in Kenya", "model": "demo"})
		if r.status != http.StatusAccepted {
			t.Fatalf("%s: POST %d %s", path, r.status, r.body)
		}
		m := r.json(t)
		id, _ := m["job_id"].(string)
		if !strings.HasPrefix(id, "job_") || m["status_url"] != path+"?job_id="+id || len(m) != 2 {
			t.Fatalf("%s: 202 body %v", path, m)
		}
		if got := <-a.notify.created; got != id {
			t.Fatalf("notifier heard %s, want %s", got, id)
		}
		g := a.do("GET", path+"?job_id="+id, token, nil)
		// A queued job's ETA is an estimate: with no history yet, 60 s for each
		// job ahead of it in the queue (any user's) and 60 s for itself.
		eta := float64(60 * (i + 1))
		want := map[string]any{"job_id": id, "status": "queued", "percent": float64(0), "eta_seconds": eta, "result": nil, "error": nil}
		if g.status != 200 || !equalMaps(g.json(t), want) {
			t.Fatalf("%s: GET %d %s", path, g.status, g.body)
		}
	}
}

func equalMaps(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range b {
		if av, ok := a[k]; !ok || av != v {
			return false
		}
	}
	return true
}

func TestLegacyDefaultsAndMetadata(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id, token := a.user()
	r := a.do("POST", "/api/reportJobsDb", token, `{"prompt": "p", "model": "demo", "report_type": "greeting",
		"report_id": 17, "metadata": {"big": 12345678901234567890, "source": "client"}, "user_id": "someone-else"}`)
	if r.status != http.StatusAccepted {
		t.Fatalf("POST %d %s", r.status, r.body)
	}
	job, err := a.store.Get(t.Context(), callerFor(id, token), r.json(t)["job_id"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if job.UserID != id || job.Temperature != 0.2 || job.MaxTokens != 2600 {
		t.Fatalf("defaults or owner wrong: user %s temp %v max %d", job.UserID, job.Temperature, job.MaxTokens)
	}
	meta := string(job.Metadata)
	for _, want := range []string{`"report_type":"greeting"`, `"report_id":"17"`, `"big":12345678901234567890`, `"source":"api"`, `"timestamp":"`} {
		if !strings.Contains(meta, want) {
			t.Fatalf("metadata %s lacks %s", meta, want)
		}
	}
}

func TestLegacyValidation(t *testing.T) {
	t.Parallel()
	// A real provider is configured, but not Perplexity: the default model
	// (sonar) is refused, naming what would enable it.
	a := newAPI(t, withOpenAIOnly)
	_, token := a.user()
	long := strings.Repeat("é", 10_001)
	cases := []struct {
		name   string
		body   any
		status int
		msg    string
	}{
		{"missing prompt", map[string]any{"model": "demo"}, 400, "prompt is required"},
		{"blank prompt", map[string]any{"prompt": "  ", "model": "demo"}, 400, "prompt is required"},
		{"prompt over the limit is refused, not cut", map[string]any{"prompt": long, "model": "demo"}, 413, "prompt is 10001 characters long; the limit is 10000"},
		{"prompt of the wrong type", map[string]any{"prompt": 5, "model": "demo"}, 400, "prompt must be a string"},
		{"temperature out of range", map[string]any{"prompt": "p", "model": "demo", "temperature": 2.5}, 400, "temperature must be between 0 and 2"},
		{"max_tokens not an integer", map[string]any{"prompt": "p", "model": "demo", "max_tokens": 2.5}, 400, "max_tokens must be a whole number"},
		{"max_tokens zero", map[string]any{"prompt": "p", "model": "demo", "max_tokens": 0}, 400, "max_tokens must be between 1 and"},
		{"summary_id not a uuid", map[string]any{"prompt": "p", "model": "demo", "summary_id": "abc"}, 400, "summary_id must be a uuid"},
		{"metadata not an object", map[string]any{"prompt": "p", "model": "demo", "metadata": []int{1}}, 400, "metadata must be a JSON object"},
		{"unknown model", map[string]any{"prompt": "p", "model": "mistral-nope"}, 400, `model "mistral-nope" is not supported`},
		{"model of an unconfigured provider", map[string]any{"prompt": "p", "model": "claude-sonnet-4-5"}, 400, `model "claude-sonnet-4-5" needs ANTHROPIC_API_KEY`},
		{"default model needs its key", map[string]any{"prompt": "p"}, 400, "needs PERPLEXITY_API_KEY"},
		{"not JSON", "prompt=hello", 400, "not valid JSON"},
		{"a JSON array", "[1,2]", 400, "must be a JSON object"},
		{"invalid UTF-8", []byte("{\"prompt\":\"\xff\xfe\"}"), 400, "not valid UTF-8"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := a.do("POST", "/api/reportJobsDb", token, c.body)
			if r.status != c.status {
				t.Fatalf("status %d, want %d: %s", r.status, c.status, r.body)
			}
			m := r.json(t)
			if msg, _ := m["error"].(string); !strings.Contains(msg, c.msg) || m["code"] == "" {
				t.Fatalf("error %q, want it to contain %q", msg, c.msg)
			}
		})
	}
	if n := len(a.notify.created); n != 0 {
		t.Fatalf("%d jobs were created from invalid requests", n)
	}
}

func TestLegacyStringBodyIsParsedAsJSON(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	_, token := a.user()
	r := a.do("POST", "/api/reportJobsDb", token, `"{\"prompt\":\"tea\",\"model\":\"demo\"}"`, "Content-Type", "text/plain")
	if r.status != http.StatusAccepted {
		t.Fatalf("string body: %d %s", r.status, r.body)
	}
}

func TestLegacyIdempotency(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	_, tokenA := a.user()
	_, tokenB := a.user()
	body := map[string]any{"prompt": "p", "model": "demo"}
	first := a.do("POST", "/api/reportJobsDb", tokenA, body, "Idempotency-Key", "greeting:9").json(t)["job_id"]
	second := a.do("POST", "/api/reportJobsDb", tokenA, map[string]any{"prompt": "p", "model": "demo", "idempotency_key": "other"},
		"Idempotency-Key", "greeting:9").json(t)["job_id"]
	viaBody := a.do("POST", "/api/reportJobsDb", tokenA, map[string]any{"prompt": "p", "model": "demo", "idempotency_key": "greeting:9"}).json(t)["job_id"]
	other := a.do("POST", "/api/reportJobsDb", tokenB, body, "Idempotency-Key", "greeting:9").json(t)["job_id"]
	if first != second || first != viaBody {
		t.Fatalf("same user and key gave %v, %v, %v", first, second, viaBody)
	}
	if other == first {
		t.Fatal("another user's key returned the first user's job")
	}
	if n := len(a.notify.created); n != 2 {
		t.Fatalf("%d creations notified, want 2", n)
	}
}

func TestLegacyAuthAndIsolation(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	_, tokenA := a.user()
	_, tokenB := a.user()
	id := a.do("POST", "/api/reportJobsDb", tokenA, map[string]any{"prompt": "p", "model": "demo"}).json(t)["job_id"].(string)

	if r := a.do("GET", "/api/reportJobsDb?job_id="+id, tokenB, nil); r.status != 404 || r.json(t)["error"] != "Job not found" {
		t.Fatalf("user B: %d %s", r.status, r.body)
	}
	for _, token := range []string{"", "not-a-jwt", tokenA[:len(tokenA)-4] + "AAAA"} {
		r := a.do("GET", "/api/reportJobsDb?job_id="+id, token, nil)
		if r.status != 401 || r.header.Get("WWW-Authenticate") == "" || r.json(t)["code"] != "unauthenticated" {
			t.Fatalf("token %q: %d %s", token, r.status, r.body)
		}
	}
	if r := a.do("GET", "/api/reportJobsDb", tokenA, nil); r.status != 400 || r.json(t)["error"] != "job_id is required" {
		t.Fatalf("missing job_id: %d %s", r.status, r.body)
	}
}

func TestLegacyCORSAndMethods(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	r := a.do("OPTIONS", "/api/reportJobsDb", "", nil)
	if r.status != 200 || len(r.body) != 0 {
		t.Fatalf("OPTIONS: %d %q", r.status, r.body)
	}
	want := map[string]string{
		"Access-Control-Allow-Origin":  "*",
		"Access-Control-Allow-Methods": "GET, POST, OPTIONS",
		"Access-Control-Allow-Headers": "Content-Type, Authorization, Idempotency-Key",
	}
	for _, resp := range []answer{r, a.do("GET", "/api/reportJobsDb", "", nil), a.do("PUT", "/api/reportJobs", "", nil)} {
		for k, v := range want {
			if got := resp.header.Get(k); got != v {
				t.Fatalf("%s = %q, want %q (status %d)", k, got, v, resp.status)
			}
		}
	}
	if r := a.do("PUT", "/api/reportJobsDb", "", nil); r.status != 405 || r.json(t)["error"] != "Method not allowed" {
		t.Fatalf("PUT: %d %s", r.status, r.body)
	}
}
