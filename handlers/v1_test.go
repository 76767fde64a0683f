package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestCreateReturnsTheWholeJob(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id, token := a.user()
	r := a.do("POST", "/v1/jobs", token, map[string]any{
		"prompt": "Tea in Kenya", "model": "demo", "temperature": 0.5, "max_tokens": 1200,
		"summary_id": "5F0C6A52-3C1E-4C7A-9D5E-2F4B8A1C0D9E", "metadata": map[string]any{"k": "v"},
		"report_type": "greeting", "report_id": 7,
	})
	if r.status != http.StatusCreated {
		t.Fatalf("create: %s", r)
	}
	job := r.json(t)
	jobID, _ := job["job_id"].(string)
	if r.header.Get("Location") != "/v1/jobs/"+jobID || <-a.notify.created != jobID {
		t.Fatalf("Location %q for %s", r.header.Get("Location"), jobID)
	}
	want := map[string]any{"status": "queued", "model": "demo", "prompt": "Tea in Kenya", "temperature": 0.5,
		"max_tokens": float64(1200), "summary_id": "5f0c6a52-3c1e-4c7a-9d5e-2f4b8a1c0d9e", "user_id": id,
		"percent": float64(0), "attempts": float64(0), "max_attempts": float64(3), "result": nil, "error": nil}
	for k, v := range want {
		if job[k] != v {
			t.Errorf("%s = %v, want %v", k, job[k], v)
		}
	}
	for _, k := range []string{"created_at", "updated_at", "expires_at", "metadata", "version", "eta_seconds", "started_at", "completed_at"} {
		if _, ok := job[k]; !ok {
			t.Errorf("%s missing from %v", k, job)
		}
	}
	for _, k := range []string{"lease_token", "locked_by", "lease_expires_at", "request_hash", "id"} {
		if _, ok := job[k]; ok {
			t.Errorf("the job shows %s", k)
		}
	}
	meta := job["metadata"].(map[string]any)
	if meta["k"] != "v" || meta["report_type"] != "greeting" || meta["report_id"] != "7" || meta["source"] != "api/v1" {
		t.Fatalf("metadata %v", meta)
	}
	got := a.do("GET", "/v1/jobs/"+jobID, token, nil)
	if got.status != 200 || got.json(t)["job_id"] != jobID {
		t.Fatalf("get: %s", got)
	}
}

func TestIdempotencyKeyOnV1(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	_, token := a.user()
	_, other := a.user()
	body := map[string]any{"prompt": "p", "model": "demo", "metadata": map[string]any{"a": 1, "b": 2}}
	key := []string{"Idempotency-Key", "org:1"}
	first := a.do("POST", "/v1/jobs", token, body, key...)
	same := a.do("POST", "/v1/jobs", token, `{"metadata":{"b":2,"a":1},"model":"demo","prompt":"p"}`, key...)
	if first.status != 201 || same.status != 200 || same.json(t)["job_id"] != first.json(t)["job_id"] {
		t.Fatalf("same key, same body: %s then %s", first, same)
	}
	changed := a.do("POST", "/v1/jobs", token, map[string]any{"prompt": "q", "model": "demo"}, key...)
	if changed.status != 422 || changed.json(t)["code"] != "idempotency_key_reused" {
		t.Fatalf("same key, another body: %s", changed)
	}
	if r := a.do("POST", "/v1/jobs", other, body, key...); r.status != 201 {
		t.Fatalf("another user's key is theirs: %s", r)
	}
	viaBody := a.do("POST", "/v1/jobs", token, map[string]any{"prompt": "p", "model": "demo", "idempotency_key": "org:2"})
	again := a.do("POST", "/v1/jobs", token, map[string]any{"prompt": "p", "model": "demo", "idempotency_key": "org:2"})
	if viaBody.status != 201 || again.status != 200 {
		t.Fatalf("key in the body: %s then %s", viaBody, again)
	}
}

func TestV1Validation(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	_, token := a.user()
	cases := []struct {
		name   string
		body   any
		ctype  string
		status int
		fields []string
	}{
		{"unknown fields are named", `{"prompt":"p","model":"demo","colour":"red","size":1}`, "", 422, []string{"colour", "size"}},
		{"wrong types", map[string]any{"prompt": 1, "temperature": "hot", "max_tokens": []int{1}}, "", 422, []string{"prompt", "temperature", "max_tokens"}},
		{"ranges", map[string]any{"prompt": "p", "model": "demo", "temperature": 2.5, "max_tokens": 0, "summary_id": "x"}, "", 422,
			[]string{"temperature", "max_tokens", "summary_id"}},
		{"missing prompt", map[string]any{"model": "demo"}, "", 422, []string{"prompt"}},
		{"unknown model", map[string]any{"prompt": "p", "model": "gpt-nope"}, "", 422, []string{"model"}},
		{"prompt too long", map[string]any{"prompt": strings.Repeat("a", 10_001), "model": "demo"}, "", 413, []string{"prompt"}},
		{"metadata too large", map[string]any{"prompt": "p", "model": "demo", "metadata": map[string]any{"x": strings.Repeat("a", 17_000)}}, "", 413, []string{"metadata"}},
		{"not JSON", "prompt=p", "application/json", 400, nil},
		{"form body", "prompt=p", "application/x-www-form-urlencoded", 415, nil},
		{"text body", `{"prompt":"p"}`, "text/plain", 415, nil},
		{"service user id from a user is a uuid check only for services", map[string]any{"prompt": "p", "model": "demo", "user_id": "not-a-uuid"}, "", 201, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var headers []string
			if c.ctype != "" {
				headers = []string{"Content-Type", c.ctype}
			}
			r := a.do("POST", "/v1/jobs", token, c.body, headers...)
			if r.status != c.status {
				t.Fatalf("status %s, want %d", r, c.status)
			}
			if r.status < 400 {
				return
			}
			m := r.json(t)
			if m["error"] == "" || m["code"] == "" || m["request_id"] == "" {
				t.Fatalf("error shape: %s", r.body)
			}
			var named []string
			fields, _ := m["fields"].([]any)
			for _, f := range fields {
				named = append(named, f.(map[string]any)["field"].(string))
			}
			for _, want := range c.fields {
				if !strings.Contains(strings.Join(named, ","), want) {
					t.Errorf("fields %v do not name %s", named, want)
				}
			}
		})
	}
}

func TestListFiltersAndPages(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	_, token := a.user()
	summary := "0b7e9d2c-1a4f-4e3b-8c6d-5a9f2e1b7c3d"
	var ids []string
	for i := range 7 {
		body := map[string]any{"prompt": "p", "model": "demo"}
		if i%2 == 0 {
			body["summary_id"] = summary
		}
		ids = append(ids, a.create(token, body))
	}
	if r := a.do("POST", "/v1/jobs/"+ids[0]+"/cancel", token, nil); r.status != 200 || r.json(t)["status"] != "cancelled" {
		t.Fatalf("cancel: %s", r)
	}
	page := func(q string) (jobs []string, next string) {
		t.Helper()
		r := a.do("GET", "/v1/jobs?"+q, token, nil)
		if r.status != 200 {
			t.Fatalf("list %s: %s", q, r)
		}
		var p struct {
			Jobs []struct {
				JobID string `json:"job_id"`
			} `json:"jobs"`
			NextCursor *string `json:"next_cursor"`
		}
		_ = json.Unmarshal(r.body, &p)
		for _, j := range p.Jobs {
			jobs = append(jobs, j.JobID)
		}
		if p.NextCursor != nil {
			next = *p.NextCursor
		}
		return jobs, next
	}
	var all []string
	for q := "limit=3"; ; {
		jobs, next := page(q)
		all = append(all, jobs...)
		if next == "" {
			break
		}
		q = "limit=3&cursor=" + url.QueryEscape(next)
	}
	if len(all) != 7 || all[0] != ids[6] || all[6] != ids[0] {
		t.Fatalf("paging newest first saw %v, made %v", all, ids)
	}
	if jobs, _ := page("status=cancelled"); len(jobs) != 1 || jobs[0] != ids[0] {
		t.Fatalf("status filter: %v", jobs)
	}
	if jobs, _ := page("status=queued,cancelled&summary_id=" + summary); len(jobs) != 4 {
		t.Fatalf("status list and summary filter: %v", jobs)
	}
	if jobs, _ := page("status=queued&status=cancelled&model=demo"); len(jobs) != 7 {
		t.Fatalf("repeated status: %v", jobs)
	}
	if jobs, _ := page("created_after=2999-01-01T00:00:00Z"); len(jobs) != 0 {
		t.Fatalf("created_after in the future: %v", jobs)
	}
	if jobs, _ := page("created_before=2999-01-01T00:00:00Z"); len(jobs) != 7 {
		t.Fatalf("created_before in the future: %v", jobs)
	}
	for q, field := range map[string]string{
		"limit=101": "limit", "limit=0": "limit", "status=done": "status", "summary_id=x": "summary_id",
		"created_after=yesterday": "created_after", "cursor=not-a-cursor": "cursor", "stauts=queued": "stauts",
	} {
		r := a.do("GET", "/v1/jobs?"+q, token, nil)
		if r.status != 422 || !strings.Contains(string(r.body), `"field":"`+field+`"`) {
			t.Errorf("%s: %s", q, r)
		}
	}
}

func TestCancelDeleteStats(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	_, token := a.user()
	one, two := a.create(token, map[string]any{"prompt": "p", "model": "demo"}), a.create(token, map[string]any{"prompt": "p", "model": "demo"})
	if r := a.do("GET", "/v1/stats/active", token, nil); r.status != 200 || string(r.body) != `{"hasActiveJobs":true,"activeCount":2}`+"\n" {
		t.Fatalf("active: %s", r)
	}
	if r := a.do("POST", "/v1/jobs/"+one+"/cancel", token, nil); r.status != 200 || <-a.notify.cancelled != one {
		t.Fatalf("cancel: %s", r)
	}
	if r := a.do("POST", "/v1/jobs/"+one+"/cancel", token, nil); r.status != 200 || r.json(t)["status"] != "cancelled" || <-a.notify.cancelled != one {
		t.Fatalf("cancel again: %s", r)
	}
	if r := a.do("DELETE", "/v1/jobs/"+two, token, nil); r.status != 204 || len(r.body) != 0 || <-a.notify.cancelled != two {
		t.Fatalf("delete: %s", r)
	}
	if r := a.do("GET", "/v1/jobs/"+two, token, nil); r.status != 404 || r.json(t)["error"] != "Job not found" {
		t.Fatalf("get after delete: %s", r)
	}
	if r := a.do("DELETE", "/v1/jobs/"+two, token, nil); r.status != 404 {
		t.Fatalf("delete twice: %s", r)
	}
	r := a.do("GET", "/v1/stats", token, nil)
	want := `{"total":1,"queued":0,"running":0,"succeeded":0,"failed":0,"cancelled":1,"avgDurationMs":0,"budget":` +
		`{"daily_tokens":null,"used_tokens":0,"daily_cost":null,"used_cost":0,"max_queued":100,"resets_at":"` +
		time.Now().UTC().Truncate(24*time.Hour).Add(24*time.Hour).Format(time.RFC3339) + `"}}` + "\n"
	if r.status != 200 || string(r.body) != want {
		t.Fatalf("stats: %s, want %s", r, want)
	}
	if r := a.do("GET", "/v1/stats/active", token, nil); string(r.body) != `{"hasActiveJobs":false,"activeCount":0}`+"\n" {
		t.Fatalf("active: %s", r)
	}
	for _, id := range []string{"job_0_nope", strings.Repeat("x", 300), "a%00b", "%E2%80%AE"} {
		if r := a.do("GET", "/v1/jobs/"+id, token, nil); r.status != 404 {
			t.Errorf("job id %q: %s", id, r)
		}
	}
}

func TestServiceCallersActForANamedUser(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id, token := a.user()
	svc := a.service()
	as := []string{"X-User-Id", id}
	jobID := a.create(svc, map[string]any{"prompt": "p", "model": "demo"}, as...)
	if r := a.do("GET", "/v1/jobs/"+jobID, token, nil); r.status != 200 || r.json(t)["user_id"] != id {
		t.Fatalf("the user does not see the job made for them: %s", r)
	}
	viaBody := a.do("POST", "/api/reportJobsDb", svc, map[string]any{"prompt": "p", "model": "demo", "user_id": strings.ToUpper(id)})
	if viaBody.status != 202 {
		t.Fatalf("legacy create with a body user_id: %s", viaBody)
	}
	if r := a.do("GET", "/api/reportJobsDb?job_id="+viaBody.json(t)["job_id"].(string), token, nil); r.status != 200 {
		t.Fatalf("the user does not see the job made through the old route: %s", r)
	}
	apikey := a.do("GET", "/v1/jobs", "", nil, "apikey", svc, "X-User-Id", id)
	if apikey.status != 200 || len(apikey.json(t)["jobs"].([]any)) != 2 {
		t.Fatalf("service by apikey: %s", apikey)
	}
	for _, path := range []string{"/v1/jobs", "/v1/stats", "/v1/jobs/" + jobID, "/api/reportJobsDb?job_id=" + jobID} {
		r := a.do("GET", path, svc, nil)
		if r.status != 422 && r.status != 400 || !strings.Contains(string(r.body), "X-User-Id") {
			t.Errorf("%s without a named user: %s", path, r)
		}
	}
	if r := a.do("GET", "/v1/jobs", svc, nil, "X-User-Id", "not-a-uuid"); r.status != 422 {
		t.Fatalf("a malformed X-User-Id: %s", r)
	}
	// A user's X-User-Id and user_id are ignored: they act for themselves.
	_, other := a.user()
	if r := a.do("GET", "/v1/jobs/"+jobID, other, nil, "X-User-Id", id); r.status != 404 {
		t.Fatalf("another user naming the owner: %s", r)
	}
	mine := a.do("POST", "/v1/jobs", other, map[string]any{"prompt": "p", "model": "demo", "user_id": id})
	if mine.status != 201 || mine.json(t)["user_id"] == id {
		t.Fatalf("a user's user_id was honoured: %s", mine)
	}
}

func TestOperatorEndpoints(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id, token := a.user()
	a.create(token, map[string]any{"prompt": "p", "model": "demo"})
	for _, p := range []struct{ method, path string }{{"GET", "/v1/admin/stats"}, {"POST", "/v1/admin/cleanup"}} {
		if r := a.do(p.method, p.path, token, nil); r.status != 403 || r.json(t)["code"] != "forbidden" {
			t.Errorf("user on %s: %s", p.path, r)
		}
		if r := a.do(p.method, p.path, "", nil); r.status != 401 {
			t.Errorf("anonymous on %s: %s", p.path, r)
		}
	}
	r := a.do("GET", "/v1/admin/stats?days=7&top_users=5", a.service(), nil)
	var st struct {
		Daily    []map[string]any `json:"daily"`
		Models   []map[string]any `json:"models"`
		TopUsers []map[string]any `json:"top_users"`
	}
	if r.status != 200 || json.Unmarshal(r.body, &st) != nil || len(st.Daily) != 7 || len(st.TopUsers) != 1 ||
		st.TopUsers[0]["user_id"] != id || st.Models[0]["model"] != "demo" {
		t.Fatalf("operator stats: %s", r)
	}
	if r := a.do("GET", "/v1/admin/stats?days=0&colour=1", a.service(), nil); r.status != 422 || !strings.Contains(string(r.body), "colour") {
		t.Fatalf("bad window: %s", r)
	}
	if r := a.do("POST", "/v1/admin/cleanup", a.service(), nil, "X-User-Id", id); r.status != 200 || string(r.body) != `{"deleted":0}`+"\n" {
		t.Fatalf("cleanup: %s", r)
	}
}

func TestSecurityHeadersAndCORS(t *testing.T) {
	t.Parallel()
	a := newAPI(t, func(d *Deps) { d.HTTP.CORSOrigins = []string{"https://app.example"} })
	_, token := a.user()
	r := a.do("GET", "/v1/jobs", token, nil, "Origin", "https://app.example")
	for k, v := range map[string]string{
		"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
		"Cache-Control": "no-store", "Access-Control-Allow-Origin": "https://app.example",
	} {
		if got := r.header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if !strings.Contains(r.header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Errorf("CSP %q", r.header.Get("Content-Security-Policy"))
	}
	pre := a.do("OPTIONS", "/v1/jobs/job_1/cancel", "", nil, "Origin", "https://app.example", "Access-Control-Request-Method", "POST")
	if pre.status != 204 || pre.header.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		!strings.Contains(pre.header.Get("Access-Control-Allow-Methods"), "POST") {
		t.Fatalf("preflight: %s %v", pre, pre.header)
	}
	if r := a.do("GET", "/v1/jobs", token, nil, "Origin", "https://evil.example"); r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("a foreign origin was allowed")
	}
	if h := a.do("GET", "/healthz", "", nil); h.status != 200 || h.header.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("healthz: %s", h)
	}
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	_, token := a.user()
	big := `{"prompt":"` + strings.Repeat("a", 2<<20) + `"}`
	for _, path := range []string{"/v1/jobs", "/api/reportJobsDb"} {
		if r := a.do("POST", path, token, big); r.status != 413 || r.json(t)["code"] != "body_too_large" {
			t.Errorf("%s: %d %.100s", path, r.status, r.body)
		}
	}
}

func TestReadiness(t *testing.T) {
	t.Parallel()
	ok := newAPI(t)
	if r := ok.do("GET", "/readyz", "", nil); r.status != 200 {
		t.Fatalf("ready: %s", r)
	}
	down := newAPI(t, func(d *Deps) {
		d.Ready = map[string]func(ctx context.Context) error{"jwks": func(context.Context) error { return errors.New("down") }}
	})
	r := down.do("GET", "/readyz", "", nil)
	if r.status != 503 || !strings.Contains(string(r.body), `"jwks":"failing"`) || r.header.Get("Retry-After") == "" {
		t.Fatalf("not ready: %s", r)
	}
}
