package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/polaris/reportd/internal/legacy"
	"github.com/polaris/reportd/internal/pgtest"
	"github.com/polaris/reportd/internal/stack"
)

// Projects upgraded from the replaced system: its table and rows are in
// place before the migrations run.

// The two users of migrations/testdata/legacy_rows.sql.
const (
	legacyUserOne = "11111111-1111-4111-8111-111111111111"
	legacyUserTwo = "22222222-2222-4222-8222-222222222222"
)

// upgraded is a project of its own holding the old system's table and rows
// (every kind migrations/testdata/legacy_rows.sql has: jobs without an
// owner caught mid-run a minute ago, values out of range) before migrating.
func upgraded(t *testing.T) *stack.Stack {
	t.Helper()
	p, err := project.Fork(context.Background(), stack.Options{
		BeforeMigrations: func(ctx context.Context, super string) error {
			if err := legacy.InstallSchema(ctx, super); err != nil {
				return err
			}
			return pgtest.ApplyFiles(ctx, super, os.DirFS("../migrations/testdata"), []string{"legacy_rows.sql"})
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// After the upgrade a new job runs within seconds, although jobs without an
// owner that were queued and running a minute ago are in the table, and the
// upgrade lost no row.
func TestUpgradedProjectRunsNewJobs(t *testing.T) {
	t.Parallel()
	p := upgraded(t)
	var before int
	if err := p.DB.QueryRow(context.Background(), `select count(*) from public.report_jobs`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	env := supabaseEnv(p)
	env["DEMO_CHUNK_DELAY"], env["WORKER_POLL_INTERVAL"] = "20ms", "100ms"
	svc := start(t, env)
	_, token := user(t, p)
	id := create(t, svc.URL, token, map[string]any{"prompt": "after the upgrade", "model": "demo"})
	if r := await(t, svc.URL, token, id, 20*time.Second); r.body["status"] != "succeeded" {
		t.Fatalf("the new job: %s", r.raw)
	}
	var rows, activeOrphans int
	if err := p.DB.QueryRow(context.Background(), `select count(*), count(*) filter (where user_id is null and status in ('queued', 'running'))
		from public.report_jobs`).Scan(&rows, &activeOrphans); err != nil {
		t.Fatal(err)
	}
	if rows != before+1 || activeOrphans != 0 {
		t.Fatalf("%d rows (had %d, created 1), %d ownerless jobs still active", rows, before, activeOrphans)
	}
	if strings.Contains(svc.output(), "claiming jobs failed") {
		t.Fatalf("a claim failed on the upgraded project:\n%s", svc.output())
	}
}

// The old app's browser service layer, call for call as supabase-js sends
// them (replaced-system.md, "the old browser calls, exactly"), as the
// signed-in owner, on a fresh and on an upgraded project.
func TestOldBrowserServiceLayer(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		p    func(t *testing.T) *stack.Stack
	}{{"fresh", fork}, {"upgraded", upgraded}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p := c.p(t)
			if _, err := p.DB.Exec(context.Background(), `insert into auth.users (id, email) values ($1, 'one@example.com'), ($2, 'two@example.com')
				on conflict do nothing`, legacyUserOne, legacyUserTwo); err != nil {
				t.Fatal(err)
			}
			owner, _ := p.Token(legacyUserOne)
			other, _ := p.Token(legacyUserTwo)
			oldBrowserCalls(t, p, legacyUserOne, owner, other)
		})
	}
}

func oldBrowserCalls(t *testing.T, p *stack.Stack, uid, token, otherToken string) {
	// createReportJob: insert({...job, user_id, percent: job.percent || 0,
	// eta_seconds: job.eta_seconds || 90, metadata}).select().single()
	jobID := "job_" + strings.ReplaceAll(time.Now().Format("20060102150405.000000"), ".", "") + "_oldcall1"
	job := map[string]any{"job_id": jobID, "user_id": uid, "status": "queued", "model": "sonar",
		"prompt": "An old browser call", "temperature": 0.2, "max_tokens": 2600, "idempotency_key": "greeting:old-" + jobID,
		"percent": 0, "eta_seconds": 90, "metadata": map[string]any{"report_type": "greeting", "report_id": "old-1"}}
	code, body := single(t, p, token, "POST", "report_jobs?select=*", job, "return=representation")
	var created map[string]any
	if code != http.StatusCreated || json.Unmarshal(body, &created) != nil {
		t.Fatalf("createReportJob: %d %s", code, body)
	}
	if created["status"] != "queued" || created["percent"] != float64(0) || created["eta_seconds"] != nil ||
		created["user_id"] != uid || created["job_id"] != jobID {
		t.Fatalf("createReportJob answered %s", body)
	}

	// getReportJob: select('*').eq('job_id', id).single()
	byJob := "report_jobs?select=*&job_id=eq." + url.QueryEscape(jobID)
	if code, body := single(t, p, token, "GET", byJob, nil, ""); code != http.StatusOK || !strings.Contains(string(body), `"prompt":"An old browser call"`) {
		t.Fatalf("getReportJob: %d %s", code, body)
	}
	if code, body := single(t, p, otherToken, "GET", byJob, nil, ""); code != http.StatusNotAcceptable {
		t.Fatalf("another user's getReportJob: %d %s, want 406 (no row)", code, body)
	}

	// findJobByIdempotencyKey: select('*').eq('idempotency_key', key)
	// .order('created_at', {ascending: false}).limit(1).maybeSingle()
	code, body = supabaseJS(t, p, token, "GET", "report_jobs?select=*&idempotency_key=eq."+url.QueryEscape("greeting:old-"+jobID)+
		"&order=created_at.desc&limit=1", nil, "")
	if found := rows(t, code, body); len(found) != 1 || found[0].JobID != jobID {
		t.Fatalf("findJobByIdempotencyKey: %s", body)
	}

	// getUserReportJobs and getSummaryReportJobs.
	code, body = supabaseJS(t, p, token, "GET", "report_jobs?select=*&user_id=eq."+uid+"&order=created_at.desc&limit=50", nil, "")
	if list := rows(t, code, body); len(list) == 0 || list[0].JobID != jobID {
		t.Fatalf("getUserReportJobs: %s", body)
	}
	code, body = supabaseJS(t, p, otherToken, "GET", "report_jobs?select=*&user_id=eq."+uid+"&order=created_at.desc&limit=50", nil, "")
	if list := rows(t, code, body); len(list) != 0 {
		t.Fatalf("another user listed %d of the owner's jobs", len(list))
	}

	// Forging stays impossible: no finished status, no result, no percent.
	for _, forged := range []map[string]any{
		{"status": "succeeded", "result": "forged"}, {"status": "succeeded"}, {"percent": 100},
		{"status": "cancelled", "result": "forged"}, {"status": "cancelled", "percent": 100},
	} {
		if code, body := supabaseJS(t, p, token, "PATCH", "report_jobs?job_id=eq."+url.QueryEscape(jobID), forged, ""); code != http.StatusForbidden {
			t.Fatalf("update %v: %d %s, want 403", forged, code, body)
		}
	}

	// cancelReportJob, as another user first (nothing happens), then as the
	// owner: update({status: 'cancelled', completed_at: <the browser's clock>})
	// .eq('job_id', id).in('status', ['queued', 'running'])
	cancel := "report_jobs?job_id=eq." + url.QueryEscape(jobID) + "&status=in.%28queued%2Crunning%29"
	browserClock := "2001-02-03T04:05:06.000Z"
	fields := map[string]any{"status": "cancelled", "completed_at": browserClock}
	if code, body := supabaseJS(t, p, otherToken, "PATCH", cancel, fields, ""); code != http.StatusNoContent {
		t.Fatalf("another user's cancel: %d %s", code, body)
	}
	if code, body := single(t, p, token, "GET", byJob, nil, ""); code != http.StatusOK || !strings.Contains(string(body), `"status":"queued"`) {
		t.Fatalf("after another user's cancel: %d %s", code, body)
	}
	if code, body := supabaseJS(t, p, token, "PATCH", cancel, fields, ""); code != http.StatusNoContent {
		t.Fatalf("cancelReportJob: %d %s", code, body)
	}
	code, body = single(t, p, token, "GET", byJob, nil, "")
	var after struct {
		Status      string     `json:"status"`
		Percent     int        `json:"percent"`
		CompletedAt *time.Time `json:"completed_at"`
		Result      *string    `json:"result"`
	}
	if code != http.StatusOK || json.Unmarshal(body, &after) != nil || after.Status != "cancelled" || after.CompletedAt == nil ||
		time.Since(*after.CompletedAt) > time.Minute || after.Result != nil {
		t.Fatalf("after the cancel: %d %s (completed_at must be the server's time, not %s)", code, body, browserClock)
	}

	// updateReportJob used for a cancel: update(updates).eq('job_id', id).select().single();
	// the job is already cancelled, so no row is active and none comes back.
	if code, body := single(t, p, token, "PATCH", "report_jobs?job_id=eq."+url.QueryEscape(jobID)+"&select=*",
		map[string]any{"status": "cancelled"}, "return=representation"); code != http.StatusNotAcceptable {
		t.Fatalf("updateReportJob on a cancelled job: %d %s, want 406", code, body)
	}

	// getJobStatistics: select('status, started_at, completed_at').
	code, body = supabaseJS(t, p, token, "GET", "report_jobs?select=status%2Cstarted_at%2Ccompleted_at", nil, "")
	if stats := rows(t, code, body); len(stats) == 0 {
		t.Fatalf("getJobStatistics: %s", body)
	}

	// cleanupOldJobs: delete().lt('expires_at', now).select('id'), then the
	// finished jobs older than a day. Only the caller's rows can go.
	now := url.QueryEscape(time.Now().UTC().Format(time.RFC3339))
	if code, body := supabaseJS(t, p, token, "DELETE", "report_jobs?expires_at=lt."+now+"&select=id", nil, "return=representation"); code != http.StatusOK {
		t.Fatalf("cleanupOldJobs (expired): %d %s", code, body)
	}
	dayAgo := url.QueryEscape(time.Now().Add(-24 * time.Hour).UTC().Format(time.RFC3339))
	if code, body := supabaseJS(t, p, otherToken, "DELETE", "report_jobs?status=in.%28succeeded%2Cfailed%2Ccancelled%29&completed_at=lt."+dayAgo+"&select=id",
		nil, "return=representation"); code != http.StatusOK {
		t.Fatalf("cleanupOldJobs (finished): %d %s", code, body)
	}
	if code, body := single(t, p, token, "GET", byJob, nil, ""); code != http.StatusOK {
		t.Fatalf("another user's cleanup deleted the owner's job: %d %s", code, body)
	}
}

// single sends a supabase-js request that ends in .single(): it asks for
// exactly one row as an object.
func single(t *testing.T, p *stack.Stack, token, method, pathAndQuery string, body any, prefer string) (int, []byte) {
	t.Helper()
	return supabaseJS(t, p, token, method, pathAndQuery, body, prefer, "application/vnd.pgrst.object+json")
}

// A claim that keeps failing (here: the worker's function refused to it)
// makes /readyz report the worker unhealthy, and it recovers on its own.
func TestReadinessReportsAFailingWorker(t *testing.T) {
	t.Parallel()
	p := fork(t)
	env := supabaseEnv(p)
	env["WORKER_POLL_INTERVAL"] = "50ms"
	svc := start(t, env)
	ready := func() reply { return call(t, "GET", svc.URL+"/readyz", "", nil) }
	if r := ready(); r.status != http.StatusOK {
		t.Fatalf("readyz before: %d %s", r.status, r.raw)
	}
	exec := func(sql string) {
		if _, err := p.DB.Exec(context.Background(), sql); err != nil {
			t.Fatal(err)
		}
	}
	exec(`revoke execute on function public.claim_report_jobs(text, integer, integer, integer) from service_role`)
	waitReady := func(want int, contains string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			r := ready()
			if r.status == want && strings.Contains(r.raw, contains) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("readyz: %d %s, want %d with %s", r.status, r.raw, want, contains)
			}
			time.Sleep(50 * time.Millisecond) // polling an HTTP endpoint: there is nothing to wait on
		}
	}
	waitReady(http.StatusServiceUnavailable, `"worker":"failing"`)
	exec(`grant execute on function public.claim_report_jobs(text, integer, integer, integer) to service_role`)
	waitReady(http.StatusOK, `"worker":"ok"`)
}
