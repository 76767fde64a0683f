package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/polaris/reportd/internal/fakeauth"
	"github.com/polaris/reportd/internal/fakellm"
	"github.com/polaris/reportd/internal/stack"
)

// The monitor page in a real browser, on both stores: sign in, create a job
// and watch it rise live, open its result, cancel a running job, survive a
// dropped stream, render a hostile report inertly, keep users apart, work
// at phone width, and show operators their statistics.

// site is a reportd process with the page in front of it, as one user sees it.
type site struct {
	name     string
	front    *front
	auth     *fakeauth.Server // nil in memory mode (dev sign-in)
	llm      *fakellm.Server
	service  string // the service key, for the operator view
	signInAs func(b *browser, who string)
}

const serviceKeyForMemory = "sb_secret_e2e-memory-operator-key"

func startSite(t *testing.T, backendName string) *site {
	t.Helper()
	env := map[string]string{
		"DEMO_CHUNK_DELAY": "60ms", "PROGRESS_INTERVAL": "100ms", "WORKER_POLL_INTERVAL": "50ms",
		"STREAM_POLL_INTERVAL": "200ms", "RATE_LIMIT_PER_SECOND": "0",
	}
	s := &site{name: backendName}
	if backendName == "memory" {
		env["SUPABASE_SECRET_KEY"] = serviceKeyForMemory
		s.service = serviceKeyForMemory
		s.signInAs = func(b *browser, who string) {
			b.waitFor("the dev sign-in form", `!document.getElementById('dev-form').hidden`, 10*time.Second)
			b.typeInto("#dev-name", who)
			b.click("#dev-form button[type=submit]")
		}
	} else {
		p := fork(t)
		s.auth = fakeauth.New(p)
		t.Cleanup(s.auth.Close)
		s.auth.TTL = 8 * time.Second // short: the page must refresh during the test
		for k, v := range supabaseEnv(p) {
			env[k] = v
		}
		env["SUPABASE_URL"] = s.auth.URL
		s.service = p.ServiceKey
		s.signInAs = func(b *browser, who string) {
			b.waitFor("the sign-in form", `!document.getElementById('password-form').hidden`, 10*time.Second)
			b.typeInto("#email", who+"@example.com")
			b.typeInto("#password", "correct horse "+who)
			b.click("#password-form button[type=submit]")
		}
		for _, who := range []string{"ada", "grace"} {
			if _, err := s.auth.AddUser(context.Background(), who+"@example.com", "correct horse "+who); err != nil {
				t.Fatal(err)
			}
		}
		seedHistory(t, p)
	}
	s.llm, env = withLLM(t, env)
	p := start(t, env)
	s.front = newFront(t, p.URL)
	return s
}

// seedHistory gives a third user three weeks of finished jobs on several
// models, some failed, so the operator view has something to chart.
func seedHistory(t *testing.T, p *stack.Stack) {
	t.Helper()
	ctx := context.Background()
	id, _, err := p.NewUser(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.DB.Exec(ctx, `
		insert into public.report_jobs (job_id, user_id, status, model, prompt, error, created_at, started_at, completed_at)
		select 'job_seed_' || g || '_' || i, $1,
		       case when (g + i) % 6 = 0 or (i = 1 and g % 4 = 0) then 'failed' else 'succeeded' end,
		       (array['sonar', 'sonar-pro', 'claude', 'demo', 'sonar'])[1 + (g * 3 + i) % 5],
		       'seeded history',
		       case when (g + i) % 6 = 0 or (i = 1 and g % 4 = 0) then 'seeded failure' end,
		       at, at + interval '2 seconds', at + make_interval(secs => 20 + (i * 13) % 40)
		  from generate_series(1, 21) g
		 cross join lateral generate_series(1, 2 + (g * 5) % 7) i
		 cross join lateral (select now() - make_interval(days => g, mins => i * 7) as at) t`, id)
	if err != nil {
		t.Fatalf("seed history: %v", err)
	}
}

func TestMonitorPage(t *testing.T) {
	t.Parallel()
	chromiumPath(t)
	for _, name := range []string{"memory", "supabase"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := startSite(t, name)
			b := newBrowser(t, name)
			b.run(chromedp.Navigate(s.front.URL + "/"))
			b.exec(`window.__marker = 'first load'; window.__csp = [];
				document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI)); true`)
			t.Run("keyboard", func(t *testing.T) { keyboardBasics(t, b.on(t)) })
			s.signInAs(b, "ada")
			b.waitFor("the empty list", `document.getElementById('list-state').textContent.includes('No jobs yet')`, 15*time.Second)
			b.waitFor("live updates", `document.getElementById('live').dataset.mode === 'live'`, 10*time.Second)
			b.shot("empty")
			t.Run("live progress and result", func(t *testing.T) { liveProgress(t, s, b.on(t)) })
			t.Run("cancel a running job", func(t *testing.T) { cancelRunning(t, b.on(t)) })
			t.Run("filter by status", func(t *testing.T) { filter(t, b.on(t)) })
			t.Run("polling while the stream is down", func(t *testing.T) { fallback(t, s, b.on(t)) })
			t.Run("delete with confirmation", func(t *testing.T) { deleteJob(t, b.on(t)) })
			t.Run("the client module", func(t *testing.T) { clientModule(t, b.on(t)) })
			t.Run("hostile report renders as text", func(t *testing.T) { hostileReport(t, s, b.on(t)) })
			t.Run("phone width", func(t *testing.T) { phone(t, b.on(t)) })
			t.Run("accessible names", func(t *testing.T) { accessibleNames(t, b.on(t)) })
			t.Run("another user sees none of it", func(t *testing.T) { secondUser(t, s, b.on(t)) })
			t.Run("operator view", func(t *testing.T) { operator(t, s, b.on(t)) })
			if marker := evalAs[string](b, `window.__marker`); marker != "first load" {
				t.Errorf("the page reloaded during the test (marker %q)", marker)
			}
			if violations := evalAs[[]string](b, `window.__csp`); len(violations) > 0 {
				t.Errorf("CSP violations: %v", violations)
			}
			if s.auth != nil {
				checkSessionRefresh(t, s)
			}
			t.Run("statistics follow a deletion", func(t *testing.T) { statsAfterDelete(t, s, b.on(t)) })
			t.Run("load more", func(t *testing.T) { loadMore(t, s, b.on(t)) })
			b.noPageErrors()
		})
	}
}

// keyboardBasics: the first Tab stop is the skip link, and focus is visible.
func keyboardBasics(t *testing.T, b *browser) {
	b.run(chromedp.KeyEvent("\t"))
	got := evalAs[struct {
		Text    string `json:"text"`
		Outline string `json:"outline"`
	}](b, `(() => { const a = document.activeElement; return {text: a.textContent, outline: getComputedStyle(a).outlineStyle} })()`)
	if got.Text != "Skip to content" || got.Outline == "none" {
		t.Errorf("first tab stop %q with outline %q; want the skip link, with a visible focus outline", got.Text, got.Outline)
	}
}

// rowJS is an expression for the list row of a job.
func rowJS(id string) string { return fmt.Sprintf(`document.querySelector('li[data-job-id=%q]')`, id) }

// createJob submits the form and returns the new job's id.
func createJob(b *browser, prompt, model, maxTokens string) string {
	b.t.Helper()
	before := evalAs[int](b, `document.querySelectorAll('#job-list li').length`)
	b.typeInto("#prompt", prompt)
	b.typeInto("#model", model)
	b.typeInto("#max-tokens", maxTokens)
	b.click("#create-form button[type=submit]")
	b.waitFor("the new job in the list", fmt.Sprintf(`document.querySelectorAll('#job-list li').length > %d`, before), 10*time.Second)
	return evalAs[string](b, `document.querySelector('#job-list li').dataset.jobId`)
}

func liveProgress(t *testing.T, s *site, b *browser) {
	listsBefore := len(s.front.requests(func(r request) bool { return r.path == "/v1/jobs" && r.method == "GET" }))
	// Record every percent the row shows, as the DOM changes.
	b.exec(`window.__percents = []; new MutationObserver((ms) => { for (const m of ms) {
		const v = m.target.getAttribute('aria-valuenow'); if (m.target.getAttribute('role') === 'progressbar') window.__percents.push(Number(v)) }
	}).observe(document.getElementById('job-list'), {subtree: true, attributes: true, attributeFilter: ['aria-valuenow']}); true`)
	id := createJob(b, "Tea markets in Kenya", "demo", "300")
	b.waitFor("progress above 10%", rowJS(id)+`?.querySelector('[role=progressbar]').getAttribute('aria-valuenow') > 10`, 20*time.Second)
	b.shot("running")
	b.waitFor("the job to succeed", rowJS(id)+`?.dataset.status === 'succeeded'`, 30*time.Second)
	percents := evalAs[[]int](b, `window.__percents`)
	if rising := distinctRising(percents); len(rising) < 3 {
		t.Errorf("the percent rose through %v (all seen: %v); want at least 3 distinct increasing values", rising, percents)
	}
	if n := len(s.front.requests(func(r request) bool { return r.path == "/v1/jobs" && r.method == "GET" })); n != listsBefore {
		t.Errorf("the page listed jobs %d times while the live stream was up; it should not poll", n-listsBefore)
	}
	b.waitFor("the statistics", `document.querySelector('[data-stat=succeeded]').textContent === '1'`, 10*time.Second)
	if badge := b.text("#active-badge"); badge != "No active jobs" {
		t.Errorf("active badge %q after the job finished", badge)
	}
	b.click(`li[data-job-id="` + id + `"] a.open`)
	b.waitFor("the rendered report", `document.querySelector('#report h1')?.textContent.startsWith('Demo report: Tea markets in Kenya')`, 10*time.Second)
	if n := b.text("#citations li:nth-child(2) a"); n != "Demo source two" {
		t.Errorf("second source %q", n)
	}
	b.shot("result")
	copyAndDownload(t, s, b, id)
	b.run(chromedp.Navigate(s.front.URL + "/#/"))
	b.waitFor("the list again", `!document.getElementById('jobs-view').hidden`, 5*time.Second)
}

// distinctRising keeps the values that are above every value before them.
func distinctRising(vs []int) []int {
	var out []int
	for _, v := range vs {
		if len(out) == 0 || v > out[len(out)-1] {
			out = append(out, v)
		}
	}
	return out
}

func copyAndDownload(t *testing.T, s *site, b *browser, id string) {
	dir := t.TempDir()
	b.run(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		for _, name := range []string{"clipboard-read", "clipboard-write"} {
			if _, err := chromedp.CallBrowser(ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
				Permission: &cdpbrowser.PermissionDescriptor{Name: name}, Setting: cdpbrowser.PermissionSettingGranted, Origin: s.front.URL,
			}); err != nil {
				return err
			}
		}
		_, err := chromedp.CallBrowser(ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
			Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir})
		return err
	}))
	b.click("#copy")
	b.waitFor("the copy confirmation", `document.getElementById('toast').textContent.startsWith('Copied')`, 5*time.Second)
	clip := evalAs[string](b, `navigator.clipboard.readText()`)
	if !strings.HasPrefix(clip, "# Demo report: Tea markets in Kenya") {
		t.Errorf("clipboard holds %.80q", clip)
	}
	b.click("#download")
	file := filepath.Join(dir, id+".md")
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, err := os.ReadFile(file)
		if err == nil && string(data) == clip {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("download %s: %v (%d bytes)", file, err, len(data))
		}
		time.Sleep(50 * time.Millisecond) // a file appearing has no event to wait on
	}
}

func cancelRunning(t *testing.T, b *browser) {
	id := createJob(b, "A long survey to stop halfway", "demo", "2000")
	b.waitFor("the job to run", rowJS(id)+`?.dataset.status === 'running'`, 15*time.Second)
	b.click(`li[data-job-id="` + id + `"] button.cancel`)
	b.waitFor("the job marked cancelled", rowJS(id)+`?.dataset.status === 'cancelled' && `+rowJS(id)+`.querySelector('.status').textContent === 'Cancelled'`, 10*time.Second)
	if hidden := b.text(`li[data-job-id="` + id + `"] .progress[hidden]`); hidden != "" {
		t.Errorf("a cancelled job still shows progress")
	}
	b.waitFor("the cancelled count", `document.querySelector('[data-stat=cancelled]').textContent === '1'`, 10*time.Second)
}

// fallback: the stream drops mid-job; the page polls and keeps showing
// progress, then resumes the stream with Last-Event-ID and stops polling.
func fallback(t *testing.T, s *site, b *browser) {
	id := createJob(b, "Rice prices, polled", "demo", "300")
	b.waitFor("the job to run", rowJS(id)+`?.dataset.status === 'running'`, 15*time.Second)
	s.front.cut()
	b.waitFor("the polling state", `document.getElementById('live').dataset.mode === 'polling'`, 10*time.Second)
	b.waitFor("the job to succeed through polling", rowJS(id)+`?.dataset.status === 'succeeded'`, 30*time.Second)
	if s.front.polls() == 0 {
		t.Fatal("the page never polled while the stream was down")
	}
	s.front.restore()
	b.waitFor("live again", `document.getElementById('live').dataset.mode === 'live'`, 30*time.Second)
	resumed := s.front.requests(func(r request) bool { return r.path == "/v1/events" && r.status == http.StatusOK })
	if last := resumed[len(resumed)-1]; last.lastEventID == "" {
		t.Errorf("the stream resumed without Last-Event-ID")
	}
	polls := s.front.polls()
	next := createJob(b, "Maize harvest outlook for East Africa", "demo", "300")
	b.waitFor("progress above 20%", rowJS(next)+`?.querySelector('[role=progressbar]').getAttribute('aria-valuenow') > 20`, 20*time.Second)
	b.shot("list")
	b.waitFor("the next job to succeed", rowJS(next)+`?.dataset.status === 'succeeded'`, 30*time.Second)
	if n := s.front.polls(); n != polls {
		t.Errorf("the page polled %d more times after the stream came back", n-polls)
	}
}
