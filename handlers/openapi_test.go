package handlers

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/polaris/reportd/report"
)

func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(OpenAPI())
	if err != nil {
		t.Fatalf("openapi.json does not load: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi %q, want 3.1.0", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.json is not a valid OpenAPI 3.1 document: %v", err)
	}
	return doc
}

// Every route the server has is in the document, and the document has no
// route the server lacks.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}
	served := map[string]bool{}
	for _, r := range New(Deps{Store: spyStore{t: t}, Verifier: nil, Page: Page{DevSignIn: devSignIn}}).Routes() {
		if strings.HasPrefix(r.Method, "echo_") {
			continue // Echo's catch-alls for group middleware
		}
		path := strings.Replace(r.Path, "/app/*", "/app/{asset}", 1) // the page's files, one operation
		if strings.Contains(path, "*") {
			t.Errorf("%s %s: a wildcard route the document cannot describe", r.Method, r.Path)
		}
		for _, p := range []string{"job_id"} {
			path = strings.ReplaceAll(path, ":"+p, "{"+p+"}")
		}
		served[r.Method+" "+path] = true
	}
	for k := range served {
		if !documented[k] {
			t.Errorf("%s is served but not documented", k)
		}
	}
	for k := range documented {
		if !served[k] {
			t.Errorf("%s is documented but not served", k)
		}
	}
}

// Real answers of every endpoint, successes and failures, match the
// document: status codes, headers and JSON bodies.
func TestOpenAPIMatchesRecordedAnswers(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	var rec []exchange
	exerciseEveryEndpoint(t, &rec)
	covered := map[*openapi3.Operation]bool{}
	for _, x := range rec {
		route := validateExchange(t, router, x)
		if route != nil {
			covered[route.Operation] = true
		}
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if !covered[op] {
				t.Errorf("no recorded answer for %s %s", method, path)
			}
		}
	}
}

func validateExchange(t *testing.T, router routers.Router, x exchange) *routers.Route {
	t.Helper()
	route, params, err := router.FindRoute(x.req)
	if err != nil {
		t.Errorf("%s %s: no documented route: %v", x.req.Method, x.req.URL.Path, err)
		return nil
	}
	ctype := x.ans.header.Get("Content-Type")
	stream := strings.HasPrefix(ctype, "text/event-stream")
	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: x.req, PathParams: params, Route: route},
		Status:                 x.ans.status,
		Header:                 x.ans.header,
		Body:                   io.NopCloser(bytes.NewReader(x.ans.body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true,
			ExcludeResponseBody: stream || !strings.Contains(ctype, "json")}, // the page's files: their type is checked
	}
	if err := openapi3filter.ValidateResponse(context.Background(), input); err != nil {
		t.Errorf("%s %s -> %d does not match the document: %v\nbody: %.300s", x.req.Method, x.req.URL, x.ans.status, err, x.ans.body)
	}
	if stream {
		if resp := route.Operation.Responses.Status(x.ans.status); resp == nil || resp.Value.Content.Get("text/event-stream") == nil {
			t.Errorf("%s %s: an event stream answer is not documented", x.req.Method, x.req.URL.Path)
		}
	}
	return route
}

// downStore is a store that cannot be reached.
type downStore struct{ spyStore }

func (downStore) Get(context.Context, report.Caller, string) (report.Job, error) {
	return report.Job{}, report.Errorf(report.ErrUnavailable, "down")
}

func (downStore) List(context.Context, report.Caller, report.Filter) ([]report.Job, error) {
	return nil, report.Errorf(report.ErrUnavailable, "down")
}

func (downStore) Ping(context.Context) error { return report.Errorf(report.ErrUnavailable, "down") }

// exerciseEveryEndpoint calls every documented operation, for each of its
// documented answers that a test can provoke.
func exerciseEveryEndpoint(t *testing.T, rec *[]exchange) {
	a := newAPI(t, func(d *Deps) { d.Page.DevSignIn = devSignIn })
	a.recorded = rec
	userID, token := a.user()
	svc := a.service()
	job := map[string]any{"prompt": "p", "model": "demo"}

	a.do("GET", "/healthz", "", nil)
	a.do("GET", "/readyz", "", nil)
	a.do("GET", "/openapi.json", "", nil)
	page := a.do("GET", "/", "", nil)
	a.do("GET", "/", "", nil, "If-None-Match", page.header.Get("ETag"))
	for _, f := range []string{"reportd.js", "reportd.d.ts", "app.css", "icon.svg", "main.js", "index.html", "nope.js"} {
		a.do("GET", "/app/"+f, "", nil)
	}
	a.do("GET", "/v1/config", "", nil)
	a.do("POST", "/v1/dev/token", "", map[string]any{"name": "ada"})
	a.do("POST", "/v1/dev/token", "", map[string]any{"name": ""})
	a.do("POST", "/v1/dev/token", "", "name=ada", "Content-Type", "text/plain")
	for _, p := range []string{"/api/reportJobsDb", "/api/reportJobs"} {
		created := a.do("POST", p, token, job, "Idempotency-Key", "k"+p)
		a.do("POST", p, token, map[string]any{"model": "demo"})
		a.do("POST", p, "", job)
		a.do("POST", p, token, map[string]any{"prompt": strings.Repeat("x", 10_001), "model": "demo"})
		a.do("GET", p+"?job_id="+created.json(t)["job_id"].(string), token, nil)
		a.do("GET", p, token, nil)
		a.do("GET", p+"?job_id=job_0_none", token, nil)
		a.do("OPTIONS", p, "", nil)
		for _, m := range []string{"PUT", "PATCH", "DELETE", "HEAD"} {
			a.do(m, p, "", nil)
		}
	}
	first := a.do("POST", "/v1/jobs", token, job, "Idempotency-Key", "v1")
	jobID := first.json(t)["job_id"].(string)
	a.do("POST", "/v1/jobs", token, job, "Idempotency-Key", "v1")
	a.do("POST", "/v1/jobs", token, map[string]any{"prompt": "q", "model": "demo"}, "Idempotency-Key", "v1")
	a.do("POST", "/v1/jobs", token, map[string]any{"prompt": "p", "colour": 1})
	a.do("POST", "/v1/jobs", token, "{")
	a.do("POST", "/v1/jobs", token, "prompt=p", "Content-Type", "text/plain")
	a.do("POST", "/v1/jobs", token, map[string]any{"prompt": strings.Repeat("x", 10_001), "model": "demo"})
	a.do("POST", "/v1/jobs", "", job)
	a.do("GET", "/v1/jobs?limit=1&status=queued,cancelled", token, nil)
	a.do("GET", "/v1/jobs?limit=1000", token, nil)
	a.do("GET", "/v1/jobs/"+jobID, token, nil)
	a.do("GET", "/v1/jobs/job_0_none", token, nil)
	a.do("GET", "/v1/stats", token, nil)
	a.do("GET", "/v1/stats/active", token, nil)
	cancelled := a.do("POST", "/v1/jobs/"+jobID+"/cancel", token, nil)
	a.do("POST", "/v1/jobs/job_0_none/cancel", token, nil)
	a.do("POST", "/v1/jobs/"+jobID+"/cancel", token, `{}`, "Content-Type", "text/plain")
	a.do("POST", "/v1/jobs/"+finishedJob(t, a, token)+"/cancel", token, nil)
	a.do("GET", "/v1/jobs/"+jobID+"/events", token, nil)
	a.do("GET", "/v1/jobs/"+jobID+"/result", token, nil) // cancelled before it ran: no result
	a.do("GET", "/v1/jobs/"+finishedJob(t, a, token)+"/result", token, nil)
	a.do("GET", "/v1/jobs/job_0_none/result", token, nil)
	a.do("GET", "/v1/jobs/"+jobID+"/result", svc, nil)
	a.do("GET", "/v1/jobs/"+jobID+"/events", token, nil, "Last-Event-ID", jsonNumber(t, cancelled, "version"))
	a.do("GET", "/v1/jobs/job_0_none/events", token, nil)
	a.doFor("GET", "/v1/events", token, 200*time.Millisecond)
	a.do("GET", "/v1/events?since=soon", token, nil)
	a.do("DELETE", "/v1/jobs/"+jobID, token, nil)
	a.do("DELETE", "/v1/jobs/"+jobID, token, nil)
	delivered := a.create(token, map[string]any{"prompt": "p", "model": "demo", "report_type": "greeting", "report_id": "r-9"})
	a.do("POST", "/v1/jobs/"+delivered+"/cancel", token, nil)
	a.do("GET", "/v1/jobs/"+delivered, token, nil) // with its webhook delivery
	a.do("GET", "/v1/admin/stats", svc, nil, "X-User-Id", userID)
	a.do("GET", "/v1/admin/stats?days=0", svc, nil)
	a.do("GET", "/v1/admin/stats", token, nil)
	a.do("POST", "/v1/admin/cleanup", svc, nil)
	a.do("POST", "/v1/admin/cleanup", token, nil)
	a.do("POST", "/v1/admin/cleanup", svc, "{}", "Content-Type", "text/plain")

	limited := newAPI(t, func(d *Deps) { d.HTTP.RateLimit = RateLimit{PerSecond: 0.001, Burst: 1} })
	limited.recorded = rec
	_, lt := limited.user()
	for _, e := range authedEndpoints {
		limited.do(e.method, strings.ReplaceAll(e.path, "job_1_x", "job_0_none"), lt, nil) // the first one spends the burst
	}
	limited.do("GET", "/v1/admin/stats", limited.service(), nil)
	limited.do("POST", "/v1/admin/cleanup", limited.service(), nil)

	b := memoryBackend()
	b.store = downStore{spyStore{t: t}}
	down := newAPIOn(t, b)
	down.recorded = rec
	_, dt := down.user()
	down.do("GET", "/readyz", "", nil)
	down.do("GET", "/v1/jobs", dt, nil)
	down.do("GET", "/api/reportJobsDb?job_id=job_1", dt, nil)
}

// finishedJob makes a job that succeeded, through the queue.
func finishedJob(t *testing.T, a *api, token string) string {
	t.Helper()
	drainQueue(t, a)
	id := a.create(token, map[string]any{"prompt": "p", "model": "demo"})
	claimed, err := a.backend.queue.Claim(t.Context(), report.ClaimRequest{Worker: "t", Limit: 10, Lease: time.Minute})
	jobs := claimed.Jobs
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		if err := a.backend.queue.Complete(t.Context(), report.LeaseOf(j), report.Completion{Result: "done"}); err != nil {
			t.Fatal(err)
		}
	}
	return id
}

func drainQueue(t *testing.T, a *api) {
	t.Helper()
	claimed, _ := a.backend.queue.Claim(t.Context(), report.ClaimRequest{Worker: "t", Limit: 100, Lease: time.Minute})
	jobs := claimed.Jobs
	for _, j := range jobs {
		_ = a.backend.queue.Complete(t.Context(), report.LeaseOf(j), report.Completion{Result: "drained"})
	}
}

func jsonNumber(t *testing.T, r answer, field string) string {
	v, _ := r.json(t)[field].(float64)
	return strconv.FormatInt(int64(v), 10)
}

// doFor reads a stream that does not end by itself for d, and records it.
func (a *api) doFor(method, path, token string, d time.Duration) answer {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	req := a.request(method, path, token, nil).WithContext(ctx)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body) // ends when ctx does
	ans := answer{status: resp.StatusCode, header: resp.Header, body: body}
	if a.recorded != nil {
		*a.recorded = append(*a.recorded, exchange{req: req, ans: ans})
	}
	return ans
}
