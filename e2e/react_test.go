package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/polaris/reportd/internal/jwttest"
	"github.com/polaris/reportd/internal/stack"
)

// The React package (clients/react), built with tsc and mounted by its test
// page in headless Chromium, against the built binary on both stores: the
// monitor lists the user's jobs with live percent and statistics, Cancel
// stops a running job, useReportJob follows one job to its result,
// useActiveJobs counts, another user's jobs never show, the live streams
// outlive their short-lived tokens, and the monitor polls while its stream
// is down.

const reactDir = "clients/react"

// tokenTTL is short so that every stream's token expires during the test
// and the package must reopen it with a fresh one.
const tokenTTL = 4 * time.Second

func TestReactPackage(t *testing.T) {
	t.Parallel()
	chromiumPath(t)
	assets := buildReactPage(t)
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			env, p := b.env(t)
			// A demo job takes about 8 s: long enough that Cancel lands while
			// it runs, even when a loaded machine delays the click.
			env["DEMO_CHUNK_DELAY"], env["PROGRESS_INTERVAL"] = "150ms", "100ms"
			env["WORKER_POLL_INTERVAL"], env["STREAM_POLL_INTERVAL"] = "50ms", "200ms"
			env["RATE_LIMIT_PER_SECOND"] = "0"
			adaID, ada := user(t, p)
			_, bob := user(t, p)
			page := newReactPage(t, assets, p, map[string]string{"ada": adaID})
			env["CORS_ORIGINS"] = page.URL // the app's origin is not the service's
			svc := start(t, env)
			api := newFront(t, svc.URL)
			bobsJob := createV1(t, svc.URL, bob, "Bob's private survey")

			br := newBrowser(t, "react-"+b.name)
			br.run(chromedp.Navigate(page.URL + "/?user=ada&api=" + url.QueryEscape(api.URL)))
			br.waitFor("the empty monitor", `document.querySelector('.reportd-monitor__empty')?.textContent === 'No jobs yet'`, 15*time.Second)
			br.waitFor("the live feed", `document.querySelector('.reportd-monitor').dataset.mode === 'live'`, 10*time.Second)
			t.Run("live progress", func(t *testing.T) { reactLiveProgress(t, br.on(t), svc, api, ada) })
			t.Run("cancel", func(t *testing.T) { reactCancel(t, br.on(t), svc, ada) })
			t.Run("useReportJob", func(t *testing.T) { reactOneJob(t, br.on(t), svc, ada) })
			t.Run("another user's job stays out", func(t *testing.T) { reactIsolation(t, br.on(t), bobsJob) })
			t.Run("streams outlive their tokens", func(t *testing.T) { reactTokenRenewal(t, api, page) })
			t.Run("polling while the stream is down", func(t *testing.T) { reactFallback(t, br.on(t), svc, api, ada) })
			reactShot(br, "monitor")
			br.noPageErrors()
		})
	}
}

// buildReactPage builds the package as `npm run build` does, type-checks the
// test page against the declarations it emitted, and bundles the page.
func buildReactPage(t *testing.T) string {
	t.Helper()
	why := "the React package's browser tests build it"
	tsc := npmTool(t, reactDir, "tsc", why)
	esbuild := npmTool(t, reactDir, "esbuild", why)
	runTool(t, reactDir, nil, tsc, "-p", "tsconfig.json")
	runTool(t, reactDir, nil, tsc, "-p", "test/tsconfig.json")
	out := t.TempDir()
	runTool(t, reactDir, nil, esbuild, "test/page.tsx", "--bundle", "--format=esm", "--log-level=warning",
		`--define:process.env.NODE_ENV="development"`, "--outfile="+filepath.Join(out, "page.js"))
	html, err := os.ReadFile(filepath.Join("..", reactDir, "test", "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "index.html"), html, 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// reactPage serves the test page on an origin of its own and hands out a
// fresh short-lived token per request, as Supabase Auth refreshes sessions.
type reactPage struct {
	URL string

	mu     sync.Mutex
	minted int
}

func newReactPage(t *testing.T, assets string, p *stack.Stack, users map[string]string) *reactPage {
	t.Helper()
	rp := &reactPage{}
	mux := http.NewServeMux()
	mux.Handle("GET /", http.FileServer(http.Dir(assets)))
	mux.HandleFunc("GET /token", func(w http.ResponseWriter, r *http.Request) {
		id, ok := users[r.URL.Query().Get("user")]
		if !ok {
			http.Error(w, "unknown user", http.StatusNotFound)
			return
		}
		token, err := p.Token(id, jwttest.WithTTL(tokenTTL))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		rp.mu.Lock()
		rp.minted++
		rp.mu.Unlock()
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte(token))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	rp.URL = srv.URL
	return rp
}

// createV1 creates a demo job through the REST API, as the app does.
func createV1(t *testing.T, base, token, prompt string) string {
	t.Helper()
	r := call(t, "POST", base+"/v1/jobs", token, map[string]any{"prompt": prompt, "model": "demo", "max_tokens": 300})
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	return r.body["job_id"].(string)
}

// reactRow is an expression for the monitor's row of a job.
func reactRow(id string) string {
	return fmt.Sprintf(`document.querySelector('.reportd-monitor li[data-job-id=%q]')`, id)
}

func reactStat(name string) string {
	return fmt.Sprintf(`document.querySelector('.reportd-monitor [data-stat=%q]')?.textContent`, name)
}

// reactLiveProgress: a job created elsewhere appears, its percent rises
// live to 100 and succeeded, the statistics and the active count follow,
// and nothing polls while the stream is up.
func reactLiveProgress(t *testing.T, b *browser, svc *proc, api *front, token string) {
	lists := func() int {
		return len(api.requests(func(r request) bool { return r.method == "GET" && r.path == "/v1/jobs" }))
	}
	listsBefore := lists()
	b.exec(`window.__percents = []; new MutationObserver((ms) => { for (const m of ms) {
		if (m.target.getAttribute('role') === 'progressbar') window.__percents.push(Number(m.target.getAttribute('aria-valuenow'))) }
	}).observe(document.querySelector('.reportd-monitor'), {subtree: true, attributes: true, attributeFilter: ['aria-valuenow']}); true`)
	id := createV1(t, svc.URL, token, "Tea markets in Kenya")
	b.waitFor("the new job in the list", reactRow(id)+` !== null`, 10*time.Second)
	b.waitFor("one active job", `document.getElementById('active').textContent === '1 active'`, 10*time.Second)
	b.waitFor("progress above 10%", reactRow(id)+`.querySelector('[role=progressbar]').getAttribute('aria-valuenow') > 10`, 20*time.Second)
	reactShot(b, "running")
	b.waitFor("the job to succeed at 100%", reactRow(id)+`.dataset.status === 'succeeded' && `+
		reactRow(id)+`.querySelector('.reportd-monitor__percent').textContent === '100%'`, 30*time.Second)
	if rising := distinctRising(evalAs[[]int](b, `window.__percents`)); len(rising) < 3 || rising[len(rising)-1] != 100 {
		t.Errorf("the percent rose through %v; want at least 3 increasing values ending at 100", rising)
	}
	b.waitFor("the statistics", reactStat("succeeded")+` === '1' && `+reactStat("total")+` === '1'`, 10*time.Second)
	b.waitFor("no active jobs", `document.getElementById('active').textContent === 'No active jobs'`, 10*time.Second)
	if n := lists() - listsBefore; n != 0 {
		t.Errorf("the monitor listed jobs %d times while its live stream was up; it should not poll", n)
	}
}

// reactCancel: Cancel on a running job stops it in the service.
func reactCancel(t *testing.T, b *browser, svc *proc, token string) {
	id := createV1(t, svc.URL, token, "A long survey to stop halfway")
	b.waitFor("the job to run", reactRow(id)+`?.dataset.status === 'running'`, 15*time.Second)
	b.press(fmt.Sprintf(`li[data-job-id=%q] button.reportd-monitor__cancel`, id))
	b.waitFor("the job shown cancelled", reactRow(id)+`.dataset.status === 'cancelled' && `+
		reactRow(id)+`.querySelector('.reportd-monitor__status').textContent === 'Cancelled' && `+
		reactRow(id)+`.querySelector('button.reportd-monitor__cancel') === null`, 10*time.Second)
	r := call(t, "GET", svc.URL+"/v1/jobs/"+id, token, nil)
	if r.status != 200 || r.body["status"] != "cancelled" || r.body["percent"].(float64) >= 100 {
		t.Fatalf("the job in reportd after Cancel: %d %s", r.status, r.raw)
	}
	b.waitFor("the cancelled count", reactStat("cancelled")+` === '1'`, 10*time.Second)
}

// reactOneJob: useReportJob follows one job, percent rising, to its result.
func reactOneJob(t *testing.T, b *browser, svc *proc, token string) {
	id := createV1(t, svc.URL, token, "Maize harvest outlook")
	b.waitFor("the test page's hooks", `typeof window.reportdTest?.watch === 'function'`, 5*time.Second)
	b.exec(fmt.Sprintf(`window.__watched = []; window.reportdTest.watch(%q); true`, id))
	b.waitFor("the watched job", `document.getElementById('watched') !== null`, 5*time.Second)
	b.exec(`new MutationObserver(() => window.__watched.push(Number(document.getElementById('watched').dataset.percent)))
		.observe(document.getElementById('watched'), {attributes: true, attributeFilter: ['data-percent']}); true`)
	b.waitFor("the watched job's result", `document.getElementById('watched').dataset.status === 'succeeded' &&
		document.querySelector('#watched pre').textContent.startsWith('# Demo report: Maize harvest outlook')`, 30*time.Second)
	if rising := distinctRising(evalAs[[]int](b, `window.__watched`)); len(rising) < 3 || rising[len(rising)-1] != 100 {
		t.Errorf("useReportJob's percent rose through %v; want at least 3 increasing values ending at 100", rising)
	}
}

// reactIsolation: Bob's job, created before Ada's page opened, is neither
// listed nor counted, and useReportJob cannot find it.
func reactIsolation(t *testing.T, b *browser, bobsJob string) {
	if evalAs[bool](b, reactRow(bobsJob)+` !== null`) {
		t.Errorf("Ada's monitor lists Bob's job %s", bobsJob)
	}
	if total := evalAs[string](b, reactStat("total")); total != "3" {
		t.Errorf("Ada's statistics count %s jobs; she has 3", total)
	}
	b.exec(fmt.Sprintf(`window.reportdTest.watch(%q); true`, bobsJob))
	b.waitFor("Bob's job not found", fmt.Sprintf(`document.querySelector('#watched h2')?.textContent.includes(%q) &&
		document.getElementById('watched').dataset.notFound === 'true' && document.getElementById('watched').dataset.status === ''`, bobsJob), 10*time.Second)
}

// reactTokenRenewal: every token lived 4 s and the streams were up for
// longer, so the feed must have reopened its stream with a fresh token and
// resumed from its last event.
func reactTokenRenewal(t *testing.T, api *front, page *reactPage) {
	streams := api.requests(func(r request) bool { return r.path == "/v1/events" && r.status == http.StatusOK })
	resumed := 0
	for _, r := range streams {
		if r.lastEventID != "" {
			resumed++
		}
	}
	page.mu.Lock()
	minted := page.minted
	page.mu.Unlock()
	if len(streams) < 2 || resumed == 0 || minted < len(streams) {
		t.Errorf("%d live streams opened, %d resumed with Last-Event-ID, %d tokens minted; want the stream reopened after its token expired", len(streams), resumed, minted)
	}
}

// reactFallback: with the live stream cut and refused, the monitor polls
// and still shows a new job through to its end; when streams are allowed
// again it goes live, resuming where it was.
func reactFallback(t *testing.T, b *browser, svc *proc, api *front, token string) {
	api.cut()
	b.waitFor("the polling state", `document.querySelector('.reportd-monitor').dataset.mode === 'polling'`, 10*time.Second)
	id := createV1(t, svc.URL, token, "Rice prices, polled")
	b.waitFor("the job to succeed through polling", reactRow(id)+`?.dataset.status === 'succeeded'`, 30*time.Second)
	b.waitFor("the statistics through polling", reactStat("succeeded")+` === '3'`, 10*time.Second)
	api.restore()
	b.waitFor("live again", `document.querySelector('.reportd-monitor').dataset.mode === 'live'`, 15*time.Second)
	streams := api.requests(func(r request) bool { return r.path == "/v1/events" && r.status == http.StatusOK })
	if last := streams[len(streams)-1]; last.lastEventID == "" {
		t.Errorf("the stream came back without Last-Event-ID")
	}
}

// reactShot saves a screenshot (artifacts/screenshots, git-ignored).
func reactShot(b *browser, state string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	if err := os.MkdirAll(screenshotDir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(screenshotDir, b.name+"-"+strings.ReplaceAll(state, " ", "-")+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}
