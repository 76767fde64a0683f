package handlers

import (
	"encoding/json"
	"io/fs"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/polaris/reportd/auth"
	"github.com/polaris/reportd/internal/jwttest"
	"github.com/polaris/reportd/llm"
	"github.com/polaris/reportd/report"
	"github.com/polaris/reportd/web"
)

// devSignIn mints dev tokens the test verifier accepts, as main does in
// memory mode.
func devSignIn(name string) (string, string, time.Time, error) {
	id := auth.DevUserID(name)
	now := time.Now()
	token, err := auth.MintUserToken(testSecret, id, "", time.Hour, now)
	return id, token, now.Add(time.Hour), err
}

// The page is sent with a CSP that allows its own scripts and nothing
// else, and the project's Auth as the only other origin it may call.
func TestPageHasAStrictCSP(t *testing.T) {
	t.Parallel()
	a := newAPI(t, func(d *Deps) { d.Page = Page{SupabaseURL: "https://abc.supabase.co", AnonKey: "sb_publishable_x"} })
	r := a.do("GET", "/", "", nil)
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") || !strings.Contains(string(r.body), `<script type="module" src="/app/main.js">`) {
		t.Fatalf("page: %d %s", r.status, r.header.Get("Content-Type"))
	}
	csp := r.header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "object-src 'none'", "base-uri 'none'",
		"frame-ancestors 'none'", "form-action 'none'", "connect-src 'self' https://abc.supabase.co",
		"require-trusted-types-for 'script'", "trusted-types reportd-result"} {
		if !strings.Contains(csp, want+";") && !strings.HasSuffix(csp, want) {
			t.Errorf("CSP lacks %q: %s", want, csp)
		}
	}
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "*", "data:", "http:"} {
		if strings.Contains(csp, bad) {
			t.Errorf("CSP allows %s: %s", bad, csp)
		}
	}
	if again := a.do("GET", "/", "", nil, "If-None-Match", r.header.Get("ETag")); again.status != http.StatusNotModified {
		t.Errorf("revalidation: %d", again.status)
	}
	// The API's answers keep the API's CSP, which lets a browser load nothing.
	if api := a.do("GET", "/v1/config", "", nil); !strings.HasPrefix(api.header.Get("Content-Security-Policy"), "default-src 'none'; frame-ancestors") {
		t.Errorf("an API answer's CSP: %s", api.header.Get("Content-Security-Policy"))
	}
}

func TestPageAssets(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	for path, ctype := range map[string]string{
		"/app/reportd.js": "text/javascript", "/app/reportd.d.ts": "text/plain", "/app/app.css": "text/css",
		"/app/main.js": "text/javascript", "/app/icon.svg": "image/svg+xml",
	} {
		r := a.do("GET", path, "", nil)
		if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), ctype) || r.header.Get("ETag") == "" ||
			r.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: %d %s", path, r.status, r.header.Get("Content-Type"))
		}
	}
	for _, path := range []string{"/app/index.html", "/app/nope.js", "/app/../openapi.json", "/app/%2e%2e/web.go", "/app/", "/app/js"} {
		if r := a.do("GET", path, "", nil); r.status != 404 {
			t.Errorf("%s: %d, want 404", path, r.status)
		}
	}
}

// The page's own files keep to the rules the CSP enforces, so that a
// violation is a bug found here rather than a broken page: no inline
// script, style or event handler attributes in the HTML, and no code that
// parses strings as HTML or code except the one Trusted Types policy.
func TestPageSourcesKeepTheRules(t *testing.T) {
	t.Parallel()
	files := web.Files()
	index, err := fs.ReadFile(files, web.Index)
	if err != nil {
		t.Fatal(err)
	}
	for _, re := range []string{`<script(?:(?:\s[^>]*)?>)\s*[^<\s]`, `\son[a-z]+\s*=`, `\sstyle\s*=`, `<style`, `javascript:`} {
		if m := regexp.MustCompile(`(?i)` + re).Find(index); m != nil {
			t.Errorf("index.html has %q", m)
		}
	}
	sinks := regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|setAttribute\(\s*['"]on|createContextualFragment|srcdoc`)
	err = fs.WalkDir(files, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(name, ".js") {
			return err
		}
		src, err := fs.ReadFile(files, name)
		if err != nil {
			return err
		}
		if m := sinks.Find(src); m != nil {
			t.Errorf("%s uses %s", name, m)
		}
		if strings.Contains(string(src), "DOMParser") != (name == "safehtml.js") {
			t.Errorf("%s: only safehtml.js may parse HTML", name)
		}
		if lines := strings.Count(string(src), "\n"); lines > 500 {
			t.Errorf("%s has %d lines; keep page modules small", name, lines)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestPublicConfig(t *testing.T) {
	t.Parallel()
	anon := jwttest.AnonKey(t, testSecret)
	cases := []struct {
		name string
		page Page
		auth string
	}{
		{"memory", Page{DevSignIn: devSignIn}, "dev"},
		{"project", Page{SupabaseURL: "https://abc.supabase.co", AnonKey: anon}, "supabase"},
		{"publishable key", Page{SupabaseURL: "https://abc.supabase.co", AnonKey: "sb_publishable_abc"}, "supabase"},
		{"secret key by mistake", Page{SupabaseURL: "https://abc.supabase.co", AnonKey: "sb_secret_abc"}, "none"},
		{"service_role key by mistake", Page{SupabaseURL: "https://abc.supabase.co", AnonKey: jwttest.ServiceRoleKey(t, testSecret)}, "none"},
		{"not a key", Page{SupabaseURL: "https://abc.supabase.co", AnonKey: "hello"}, "none"},
	}
	for _, c := range cases {
		a := newAPI(t, func(d *Deps) { d.Page = c.page })
		r := a.do("GET", "/v1/config", "", nil)
		body := r.json(t)
		if r.status != 200 || body["auth"] != c.auth {
			t.Errorf("%s: %s", c.name, r)
		}
		if c.auth == "none" && (strings.Contains(string(r.body), c.page.AnonKey) || body["supabase_url"] != nil) {
			t.Errorf("%s: published %s", c.name, r.body)
		}
		if c.auth == "supabase" && (body["supabase_anon_key"] != c.page.AnonKey || body["supabase_url"] != c.page.SupabaseURL) {
			t.Errorf("%s: %s", c.name, r.body)
		}
	}
}

// Dev sign-in gives a working token for the name's user; it exists only
// without a Supabase project.
func TestDevSignIn(t *testing.T) {
	t.Parallel()
	a := newAPI(t, func(d *Deps) { d.Page.DevSignIn = devSignIn })
	r := a.do("POST", "/v1/dev/token", "", map[string]any{"name": " Ada "})
	var s struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
		User        struct{ ID string }
	}
	if err := json.Unmarshal(r.body, &s); err != nil || r.status != 200 || s.User.ID != auth.DevUserID("ada") || s.ExpiresIn != 3600 {
		t.Fatalf("dev token: %s", r)
	}
	if stats := a.do("GET", "/v1/stats", s.AccessToken, nil); stats.status != 200 {
		t.Fatalf("the dev token does not work: %s", stats)
	}
	for _, body := range []any{map[string]any{"name": ""}, map[string]any{}, map[string]any{"name": strings.Repeat("x", 65)},
		map[string]any{"name": "a\x00b"}, `[1]`} {
		if r := a.do("POST", "/v1/dev/token", "", body); r.status != 422 {
			t.Errorf("%v: %s, want 422", body, r)
		}
	}
	for name, page := range map[string]Page{
		"no dev sign-in configured": {},
		"a Supabase project":        {SupabaseURL: "https://abc.supabase.co", AnonKey: "sb_publishable_x", DevSignIn: devSignIn},
	} {
		b := newAPI(t, func(d *Deps) { d.Page = page })
		if r := b.do("POST", "/v1/dev/token", "", map[string]any{"name": "ada"}); r.status != 404 {
			t.Errorf("%s: dev sign-in answered %s, want 404", name, r)
		}
	}
}

// A result is rendered on the server: hostile HTML shows as text, links and
// citations keep safe URLs only. Only the owner sees it.
func TestResultIsRenderedSafely(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	_, token := a.user()
	drainQueue(t, a)
	id := a.create(token, map[string]any{"prompt": "p", "model": "demo"})
	if r := a.do("GET", "/v1/jobs/"+id+"/result", token, nil); r.status != 409 || r.json(t)["code"] != "no_result" {
		t.Fatalf("before a result: %s", r)
	}
	hostile := "# Title\n\n<script>alert(1)</script>\n\nSee [x](javascript:alert(1)) and [y](https://example.org) ![i](https://example.org/i.png) [1]\n"
	meta := `{"citations":[{"url":"https://example.org/a","title":"A"},"https://example.org/b",{"url":"javascript:alert(1)","title":"bad"},{"url":"ftp://x"}]}`
	complete(t, a, hostile, meta)
	r := a.do("GET", "/v1/jobs/"+id+"/result", token, nil)
	var res struct {
		Markdown  string `json:"markdown"`
		HTML      string `json:"html"`
		Format    string `json:"format"`
		Citations []struct {
			Index      int
			URL, Title string
		}
	}
	if err := json.Unmarshal(r.body, &res); err != nil || r.status != 200 {
		t.Fatalf("result: %s", r)
	}
	if res.Markdown != hostile || res.Format != "markdown" {
		t.Errorf("markdown %q format %s", res.Markdown, res.Format)
	}
	for _, want := range []string{"<h1>Title</h1>", "&lt;script&gt;alert(1)&lt;/script&gt;", "See x and",
		`<a href="https://example.org" rel="noopener noreferrer nofollow" target="_blank">y</a>`, `>image: i</a>`} {
		if !strings.Contains(res.HTML, want) {
			t.Errorf("html lacks %s:\n%s", want, res.HTML)
		}
	}
	if strings.Contains(res.HTML, "<script") || strings.Contains(res.HTML, "<img") || strings.Contains(res.HTML, "javascript:") {
		t.Errorf("unsafe html:\n%s", res.HTML)
	}
	if len(res.Citations) != 2 || res.Citations[0].Index != 1 || res.Citations[0].Title != "A" ||
		res.Citations[1].Index != 2 || res.Citations[1].URL != "https://example.org/b" || res.Citations[1].Title != "example.org" {
		t.Errorf("citations %+v", res.Citations)
	}
	_, other := a.user()
	if r := a.do("GET", "/v1/jobs/"+id+"/result", other, nil); r.status != 404 {
		t.Errorf("another user: %s", r)
	}
}

// A JSON output job's result is shown as a code block.
func TestJSONResultIsACodeBlock(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	_, token := a.user()
	drainQueue(t, a)
	id := a.create(token, map[string]any{"prompt": "p", "model": "demo", "metadata": map[string]any{"response_format": "json"}})
	complete(t, a, `{"stages":["<b>one</b>"]}`, `{}`)
	r := a.do("GET", "/v1/jobs/"+id+"/result", token, nil).json(t)
	html, _ := r["html"].(string)
	if r["format"] != "json" || !strings.Contains(html, `<pre><code class="language-json">{`) || !strings.Contains(html, "&lt;b&gt;one&lt;/b&gt;") {
		t.Errorf("json result: %v", r)
	}
}

// complete finishes the one queued job with a result and metadata.
func complete(t *testing.T, a *api, result, meta string) {
	t.Helper()
	claimed, err := a.backend.queue.Claim(t.Context(), report.ClaimRequest{Worker: "t", Limit: 1, Lease: time.Minute})
	jobs := claimed.Jobs
	if err != nil || len(jobs) != 1 {
		t.Fatalf("claim: %v %d", err, len(jobs))
	}
	if err := a.backend.queue.Complete(t.Context(), report.LeaseOf(jobs[0]), report.Completion{Result: result, Metadata: json.RawMessage(meta)}); err != nil {
		t.Fatal(err)
	}
}

// /v1/config names as the default model the one a job that names none
// really gets, whichever providers are configured.
func TestPublicConfigDefaultModelIsTheCreateDefault(t *testing.T) {
	t.Parallel()
	perplexity := llm.NewPerplexity(llm.PerplexityAgent, llm.ProviderConfig{BaseURL: "http://127.0.0.1:1", APIKey: "k"})
	for _, c := range []struct {
		name   string
		router *llm.Router
		want   string
	}{
		{"no provider", &llm.Router{DefaultModel: "sonar", Demo: llm.Demo{}}, "demo"},
		{"perplexity", &llm.Router{DefaultModel: "sonar", Demo: llm.Demo{}, Perplexity: perplexity}, "sonar"},
		{"perplexity, PERPLEXITY_MODEL", &llm.Router{DefaultModel: "sonar-pro", Demo: llm.Demo{}, Perplexity: perplexity}, "sonar-pro"},
	} {
		a := newAPI(t, func(d *Deps) { d.Models = c.router })
		cfg := a.do("GET", "/v1/config", "", nil).json(t)
		_, token := a.user()
		r := a.do("POST", "/v1/jobs", token, map[string]any{"prompt": "no model named"})
		if r.status != 201 {
			t.Fatalf("%s: create without a model: %s", c.name, r)
		}
		if got := r.json(t)["model"]; cfg["default_model"] != c.want || got != c.want {
			t.Errorf("%s: /v1/config says %v, the job got %v; want %s", c.name, cfg["default_model"], got, c.want)
		}
		if models, _ := cfg["models"].([]any); len(models) == 0 || models[0] != c.want {
			t.Errorf("%s: suggested models %v do not start with the default", c.name, cfg["models"])
		}
	}
}
