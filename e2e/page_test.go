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
	"github.com/chromedp/chromedp/kb"

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

func hostileReport(t *testing.T, s *site, b *browser) {
	canary := s.front.URL + "/canary/"
	payload := "# Hostile report\n\n" +
		"<script>window.__pwned = 'script'; fetch('" + canary + "script')</script>\n\n" +
		"Inline: <img src=\"" + canary + "img\" onerror=\"window.__pwned = 'img'\" onload=\"window.__pwned = 'img'\"> end.\n\n" +
		"![pixel](" + canary + "markdown-image)\n\n" +
		"[click me](javascript:window.__pwned='link')\n\n" +
		"<iframe src=\"" + canary + "iframe\"></iframe>\n"
	s.llm.SetDefault(fakellm.Script{Text: payload})
	id := createJob(b, "Write something nasty", "sonar", "300")
	b.waitFor("the hostile job to finish", rowJS(id)+`?.dataset.status === 'succeeded'`, 30*time.Second)
	b.click(`li[data-job-id="` + id + `"] a.open`)
	b.waitFor("the hostile report", `document.querySelector('#report h1')?.textContent === 'Hostile report'`, 10*time.Second)
	b.shot("hostile")
	report := b.text("#report")
	for _, want := range []string{"<script>window.__pwned = 'script'", `<img src="` + canary + `img" onerror=`, "click me", "<iframe src="} {
		if !strings.Contains(report, want) {
			t.Errorf("the report does not show %q as text:\n%s", want, report)
		}
	}
	elements := evalAs[int](b, `document.querySelectorAll('#report script, #report img, #report iframe, #report [onerror], #report [onload], #report a[href^="javascript"]').length`)
	// The control request goes out after the report rendered: anything the
	// report had made the browser fetch would have gone out before it.
	b.exec(`fetch('/canary/control').then(() => true)`)
	pwned := evalAs[string](b, `String(window.__pwned)`)
	hits := s.front.canaryHits()
	if elements != 0 || pwned != "undefined" || len(hits) != 1 || hits[0] != "/canary/control" {
		t.Errorf("the hostile report did something: %d active elements, window.__pwned = %s, canary hits %v", elements, pwned, hits)
	}
	b.run(chromedp.Navigate(s.front.URL + "/#/"))
	b.waitFor("the list again", `!document.getElementById('jobs-view').hidden`, 5*time.Second)
}

func phone(t *testing.T, b *browser) {
	b.run(chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)))
	b.waitFor("the phone layout", `window.innerWidth === 390`, 5*time.Second)
	if overflow := evalAs[int](b, `document.documentElement.scrollWidth - window.innerWidth`); overflow > 0 {
		t.Errorf("at phone width the page is %dpx wider than the screen", overflow)
	}
	b.shot("phone-full")
	b.click("#create > summary") // fold the form, as a phone user would, to see the list
	b.exec(`window.scrollTo(0, 0)`)
	b.shotViewport("phone")
	b.click("#create > summary")
	b.run(chromedp.EmulateViewport(1280, 900))
}

// accessibleNames: every control has a name a screen reader can say, and
// nothing clickable is a div.
func accessibleNames(t *testing.T, b *browser) {
	unnamed := evalAs[[]string](b, `[...document.querySelectorAll('button, input, select, textarea, a[href]')].filter((el) => {
		if (el.closest('[hidden]') || el.type === 'hidden') return false
		const name = el.getAttribute('aria-label') || (el.labels && [...el.labels].map((l) => l.textContent).join(' ')) ||
			el.textContent || (el.getAttribute('aria-labelledby') && document.getElementById(el.getAttribute('aria-labelledby'))?.textContent)
		return !name || !name.trim()
	}).map((el) => el.outerHTML.slice(0, 120))`)
	if len(unnamed) > 0 {
		t.Errorf("controls without an accessible name: %v", unnamed)
	}
}

func secondUser(t *testing.T, s *site, b *browser) {
	firstJob := evalAs[string](b, `document.querySelector('#job-list li').dataset.jobId`)
	b.click("#sign-out")
	s.signInAs(b, "grace")
	b.waitFor("grace's empty list", `document.getElementById('list-state').textContent.includes('No jobs yet')`, 15*time.Second)
	rows := evalAs[int](b, `document.querySelectorAll('#job-list li').length`)
	if rows != 0 || b.text("[data-stat=total]") != "0" {
		t.Errorf("grace sees %d jobs, total %s", rows, b.text("[data-stat=total]"))
	}
	b.run(chromedp.Navigate(s.front.URL + "/#/jobs/" + firstJob))
	b.waitFor("not found", `document.getElementById('result-state').textContent.startsWith('Job not found')`, 10*time.Second)
	if s.auth != nil && s.auth.Logouts() != 1 {
		t.Errorf("signing out revoked %d sessions at Auth, want 1", s.auth.Logouts())
	}
}

func operator(t *testing.T, s *site, b *browser) {
	b.run(chromedp.Navigate(s.front.URL + "/#/operator"))
	b.waitFor("the operator form", `!document.getElementById('operator-view').hidden`, 5*time.Second)
	b.typeInto("#op-key", "not-a-key")
	b.click("#operator-form button[type=submit]")
	b.waitFor("the refusal", `document.getElementById('op-error').textContent.includes('not a service key')`, 10*time.Second)
	b.typeInto("#op-key", s.service)
	b.click("#operator-form button[type=submit]")
	b.waitFor("the charts", `document.querySelectorAll('#chart-daily rect.bar').length > 0 && document.querySelectorAll('#chart-models rect.bar').length > 0`, 10*time.Second)
	stored := evalAs[bool](b, fmt.Sprintf(`JSON.stringify({...localStorage, ...sessionStorage}).includes(%q) || location.href.includes(%q) || document.getElementById('op-key').value !== ''`,
		s.service, s.service))
	if stored {
		t.Errorf("the service key was kept in storage, the URL or the form")
	}
	b.run(chromedp.ScrollIntoView(chromedp.CSS("#operator-title")))
	b.shot("operator")
	b.click("#op-forget")
	b.waitFor("the charts gone", `document.getElementById('op-results').hidden`, 5*time.Second)
}

// checkSessionRefresh: with 8-second access tokens the page refreshed its
// session before each expired, so the service never had to refuse it.
func checkSessionRefresh(t *testing.T, s *site) {
	if n := s.auth.Grants("refresh_token"); n == 0 {
		t.Errorf("the page never refreshed its 8-second session")
	}
	refused := s.front.requests(func(r request) bool { return r.status == http.StatusUnauthorized && r.path != "/v1/admin/stats" })
	if len(refused) > 0 {
		t.Errorf("the service refused the page's token %d times, first %+v: it was not refreshed in time", len(refused), refused[0])
	}
}

// choose picks an option of a select, as the user's choice would.
func choose(b *browser, selector, value string) {
	b.exec(fmt.Sprintf(`(() => { const s = document.querySelector(%q); s.value = %q; s.dispatchEvent(new Event('change')) })()`, selector, value))
}

func filter(t *testing.T, b *browser) {
	choose(b, "#status-filter", "cancelled")
	b.waitFor("only cancelled jobs", `(() => { const rows = [...document.querySelectorAll('#job-list li')];
		return rows.length === 1 && rows[0].dataset.status === 'cancelled' })()`, 10*time.Second)
	choose(b, "#status-filter", "failed")
	b.waitFor("the empty filtered state", `document.getElementById('list-state').textContent === 'No failed jobs.'`, 10*time.Second)
	choose(b, "#status-filter", "")
	b.waitFor("every job again", `document.querySelectorAll('#job-list li').length === 2`, 10*time.Second)
}

// deleteJob: the dialog asks first, and works from the keyboard: focus
// starts on "Keep it", Escape keeps the job, Tab and Enter delete it.
func deleteJob(t *testing.T, b *browser) {
	id := evalAs[string](b, `document.querySelector('#job-list li[data-status=cancelled]').dataset.jobId`)
	del := `li[data-job-id="` + id + `"] button.delete`
	b.click(del)
	b.waitFor("the confirmation", `document.getElementById('confirm').open && document.activeElement.id === 'confirm-no'`, 5*time.Second)
	b.run(chromedp.KeyEvent(kb.Escape))
	b.waitFor("the dialog closed, focus back on Delete", `!document.getElementById('confirm').open && document.activeElement.matches('`+del+`')`, 5*time.Second)
	if evalAs[bool](b, rowJS(id)+` === null`) {
		t.Fatal("keeping the job deleted it")
	}
	b.run(chromedp.KeyEvent(kb.Enter)) // the Delete button has the focus
	b.waitFor("the confirmation", `document.getElementById('confirm').open && document.activeElement.id === 'confirm-no'`, 5*time.Second)
	b.run(chromedp.KeyEvent("\t"), chromedp.KeyEvent(kb.Enter))
	b.waitFor("the row gone", rowJS(id)+` === null`, 10*time.Second)
	b.waitFor("the statistics without it", `document.querySelector('[data-stat=cancelled]').textContent === '0'`, 10*time.Second)
}

// clientModule runs reportd.js itself in the page: watchJob follows one job
// to its end over the stream, then activeJobs, deleteJob and the error of
// getJob for a deleted job.
func clientModule(t *testing.T, b *browser) {
	got := evalAs[struct {
		Percents []int  `json:"percents"`
		Final    string `json:"final"`
		Mode     string `json:"mode"`
		Active   struct {
			HasActiveJobs bool `json:"hasActiveJobs"`
			ActiveCount   int  `json:"activeCount"`
		} `json:"active"`
		Gone string `json:"gone"`
	}](b, `(async () => {
		const { ReportdClient } = await import('/app/reportd.js')
		// The page keeps its session (refreshed) in localStorage; read it each time.
		const client = new ReportdClient({ getToken: () => JSON.parse(localStorage.getItem('reportd.session')).access_token })
		const job = await client.createJob({ prompt: 'From the client module', model: 'demo', max_tokens: 300 })
		const percents = []
		let mode = ''
		const final = await new Promise((resolve, reject) => {
			client.watchJob(job.job_id, {
				onJob: (j) => { percents.push(j.percent); if (['succeeded', 'failed', 'cancelled'].includes(j.status)) resolve(j.status) },
				onMode: (m) => { if (m !== 'closed') mode = m },
				onError: reject,
			})
		})
		const active = await client.activeJobs()
		await client.deleteJob(job.job_id)
		let gone = ''
		try { await client.getJob(job.job_id) } catch (e) { gone = e.name + ' ' + e.status + ' ' + e.code }
		return { percents, final, mode, active, gone }
	})()`)
	if got.Final != "succeeded" || got.Mode != "live" || len(distinctRising(got.Percents)) < 3 || got.Active.HasActiveJobs ||
		got.Gone != "ApiError 404 not_found" {
		t.Errorf("client module: %+v", got)
	}
}

// loadMore: a long list comes a page at a time.
func loadMore(t *testing.T, s *site, b *browser) {
	token := evalAs[string](b, `JSON.parse(localStorage.getItem('reportd.session')).access_token`)
	for i := range 21 {
		r := call(t, "POST", s.front.URL+"/v1/jobs", token, map[string]any{"prompt": fmt.Sprintf("Paged job %d", i), "model": "demo", "max_tokens": 50})
		if r.status != http.StatusCreated {
			t.Fatalf("create: %d %s", r.status, r.raw)
		}
	}
	b.run(chromedp.Navigate(s.front.URL + "/?reloaded"))
	b.waitFor("the first page", `document.querySelectorAll('#job-list li').length === 20 && !document.getElementById('load-more').hidden`, 15*time.Second)
	b.click("#load-more")
	b.waitFor("the second page", `document.querySelectorAll('#job-list li').length === 21 && document.getElementById('load-more').hidden`, 10*time.Second)
	if first := b.text("#job-list li .job-title"); first != "Paged job 20" {
		t.Errorf("newest first: the list starts with %q", first)
	}
}
