package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/polaris/reportd/internal/fakellm"
)

// The later steps of TestMonitorPage: hostile reports, layout and
// accessibility, isolation between users, the operator view, deletion,
// the client module and pagination.

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
	b.waitFor("grace's empty list and statistics", `document.getElementById('list-state').textContent.includes('No jobs yet') &&
		document.querySelector('[data-stat=total]').textContent !== '–'`, 15*time.Second)
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

// statsAfterDelete: the statistics tiles follow a deletion. The job is
// final and the page freshly loaded before the delete, so no status change
// is left to refresh them: only the deletion can.
func statsAfterDelete(t *testing.T, s *site, b *browser) {
	token := evalAs[string](b, `JSON.parse(localStorage.getItem('reportd.session')).access_token`)
	r := call(t, "POST", s.front.URL+"/v1/jobs", token, map[string]any{"prompt": "A report to delete", "model": "demo", "max_tokens": 50})
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	id := r.body["job_id"].(string)
	b.run(chromedp.Navigate(s.front.URL + "/?before-delete"))
	b.waitFor("the job to finish", rowJS(id)+`?.dataset.status === 'succeeded'`, 30*time.Second)
	b.run(chromedp.Navigate(s.front.URL + "/?delete"))
	tiles := func(total, succeeded string) string {
		return fmt.Sprintf(`document.querySelector('[data-stat=total]').textContent === %q &&
			document.querySelector('[data-stat=succeeded]').textContent === %q`, total, succeeded)
	}
	b.waitFor("the list and statistics with the job", rowJS(id)+` !== null && `+tiles("1", "1"), 15*time.Second)
	b.click(`li[data-job-id="` + id + `"] button.delete`)
	b.waitFor("the confirmation", `document.getElementById('confirm').open`, 5*time.Second)
	b.click("#confirm-yes")
	b.waitFor("the row gone", rowJS(id)+` === null`, 10*time.Second)
	b.waitFor("the statistics without the job", tiles("0", "0"), 10*time.Second)
	// The day's usage is shown with the statistics: the demo job's tokens
	// stay counted after the job is gone.
	b.waitFor("the budget line", `/^[1-9][0-9,.]* tokens used today \(no daily budget\)\. Up to 100 jobs may wait at once\.$/.test(document.getElementById('budget').textContent)`, 10*time.Second)
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
