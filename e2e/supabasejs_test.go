package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/polaris/reportd/internal/stack"
	"github.com/polaris/reportd/internal/tooling"
)

// The old React app's service layer (tools/node/oldapp.mjs) with the real
// @supabase/supabase-js, signed in with users' access tokens, against the
// stand-in (gateway + PostgreSQL + migrations): on a new project, and on one
// that had the old table and its rows before the migrations. Every call the
// app makes answers as the app expects for the owner; another user sees and
// cancels nothing; nobody forges a result.

// summaryID exists in the legacy fixture's polaris_summaries, so jobs may
// name it on both projects.
const summaryID = "33333333-3333-4333-8333-333333333333"

// step is one call of the old service layer as one user.
type step struct {
	Call  string `json:"call"`
	Token string `json:"token"`
	Args  []any  `json:"args"`
}

// appResult is what supabase-js answered to a step.
type appResult struct {
	Call   string          `json:"call"`
	Data   json.RawMessage `json:"data"`
	Error  *appError       `json:"error"`
	Status int             `json:"status"`
}

type appError struct {
	Code    string  `json:"code"`
	Message string  `json:"message"`
	Details *string `json:"details"`
}

// oldJob is a report_jobs row as supabase-js returns it.
type oldJob struct {
	ID          string  `json:"id"`
	JobID       string  `json:"job_id"`
	UserID      string  `json:"user_id"`
	SummaryID   *string `json:"summary_id"`
	Status      string  `json:"status"`
	Prompt      string  `json:"prompt"`
	Result      *string `json:"result"`
	Percent     int     `json:"percent"`
	CompletedAt *string `json:"completed_at"`
}

// runOldApp runs the steps in one node process, in order, and returns one
// result per step.
func runOldApp(t *testing.T, p *stack.Stack, steps []step) []appResult {
	t.Helper()
	node, dir := tooling.SupabaseJS(t)
	in, err := json.Marshal(steps)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(dir, "oldapp.mjs"))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SUPABASE_URL="+p.URL, "SUPABASE_ANON_KEY="+p.AnonKey)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node oldapp.mjs: %v\n%s", err, stderr.String())
	}
	var results []appResult
	if err := json.Unmarshal(out, &results); err != nil || len(results) != len(steps) {
		t.Fatalf("oldapp.mjs printed %d results for %d steps (%v):\n%s", len(results), len(steps), err, out)
	}
	return results
}

// answers names each result by the label of its step.
func answers(t *testing.T, p *stack.Stack, labelled []labelledStep) map[string]appResult {
	t.Helper()
	steps := make([]step, len(labelled))
	for i, l := range labelled {
		steps[i] = l.step
	}
	out := map[string]appResult{}
	for i, r := range runOldApp(t, p, steps) {
		out[labelled[i].label] = r
	}
	return out
}

type labelledStep struct {
	label string
	step  step
}

func as(label, token, call string, args ...any) labelledStep {
	return labelledStep{label, step{Call: call, Token: token, Args: args}}
}

// succeeded checks that a call answered without error and with the status
// PostgREST gives it.
func succeeded(t *testing.T, label string, r appResult, status int) bool {
	t.Helper()
	if r.Error != nil || r.Status != status {
		t.Errorf("%s: status %d, error %+v; want %d and no error", label, r.Status, r.Error, status)
		return false
	}
	return true
}

// refused checks that a call failed.
func refused(t *testing.T, label string, r appResult) {
	t.Helper()
	if r.Error == nil {
		t.Errorf("%s: accepted (status %d, data %s); want an error", label, r.Status, r.Data)
	}
}

func decodeData[T any](t *testing.T, label string, r appResult) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.Data, &v); err != nil {
		t.Errorf("%s: data %s: %v", label, r.Data, err)
	}
	return v
}

func jobIDs(jobs []oldJob) []string {
	ids := make([]string, len(jobs))
	for i, j := range jobs {
		ids[i] = j.JobID
	}
	return ids
}

// oldAppJobs are the jobs one scenario seeds, by role in it.
type oldAppJobs struct {
	queued, running, toCancel, succeeded, expired, finishedLongAgo, othersJob string
	key                                                                       string            // idempotency key of queued and of othersJob
	rowIDs                                                                    map[string]string // job_id → id
}

// seedOldAppJobs stores jobs as the old route did (directly, as the
// service), with created_at spaced so the newest-first order is known.
func seedOldAppJobs(t *testing.T, p *stack.Stack, owner, other string) oldAppJobs {
	t.Helper()
	n := strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	j := oldAppJobs{
		queued: "job_js_queued_" + n, running: "job_js_running_" + n, toCancel: "job_js_tocancel_" + n,
		succeeded: "job_js_done_" + n, expired: "job_js_expired_" + n, finishedLongAgo: "job_js_old_" + n,
		othersJob: "job_js_others_" + n, key: "greeting:" + n,
	}
	rows, err := p.DB.Query(context.Background(), `
		insert into public.report_jobs (job_id, user_id, summary_id, status, model, prompt, idempotency_key,
		                                created_at, started_at, completed_at, expires_at) values
		  ($1, $8, $10, 'queued',    'sonar', 'queued',    $11,  now() - interval '50 minutes', null, null, now() + interval '7 days'),
		  ($2, $8, $10, 'running',   'sonar', 'running',   null, now() - interval '40 minutes', now() - interval '1 minute', null, now() + interval '7 days'),
		  ($3, $8, null, 'queued',   'sonar', 'to cancel', null, now() - interval '30 minutes', null, null, now() + interval '7 days'),
		  ($4, $8, null, 'succeeded','sonar', 'done',      null, now() - interval '20 minutes',
		       now() - interval '20 minutes', now() - interval '20 minutes' + interval '40 seconds', now() + interval '7 days'),
		  ($5, $8, null, 'failed',   'sonar', 'expired',   null, now() - interval '3 hours',
		       now() - interval '2 hours' - interval '10 seconds', now() - interval '2 hours', now() - interval '1 minute'),
		  ($6, $8, null, 'cancelled','sonar', 'old',       null, now() - interval '2 days', null, now() - interval '2 days', now() + interval '5 days'),
		  ($7, $9, $10, 'queued',    'sonar', 'others',    $11,  now() - interval '10 minutes', null, null, now() + interval '7 days')
		returning job_id, id::text`,
		j.queued, j.running, j.toCancel, j.succeeded, j.expired, j.finishedLongAgo, j.othersJob, owner, other, summaryID, j.key)
	if err != nil {
		t.Fatalf("seed jobs: %v", err)
	}
	j.rowIDs = map[string]string{}
	var jobID, id string
	_, err = pgx.ForEachRow(rows, []any{&jobID, &id}, func() error { j.rowIDs[jobID] = id; return nil })
	if err != nil {
		t.Fatalf("seed jobs: %v", err)
	}
	return j
}

// dbJob reads a job as the database holds it ("" status when it is gone).
func dbJob(t *testing.T, p *stack.Stack, jobID string) (status, result string, percent int) {
	t.Helper()
	err := p.DB.QueryRow(context.Background(), `select status, coalesce(result, ''), coalesce(percent, 0)
		from public.report_jobs where job_id = $1`, jobID).Scan(&status, &result, &percent)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		t.Fatal(err)
	}
	return status, result, percent
}

// checkOldAppCalls runs every call of the old service layer as the owner and
// as another user, and checks each answer and the table afterwards.
func checkOldAppCalls(t *testing.T, p *stack.Stack) {
	t.Helper()
	owner, ownerToken := user(t, p)
	other, otherToken := user(t, p)
	j := seedOldAppJobs(t, p, owner, other)
	newJob := "job_js_new_" + uuid.NewString()[:8]
	forged := "job_js_forged_" + uuid.NewString()[:8]
	planted := "job_js_planted_" + uuid.NewString()[:8]
	progressed := "job_js_progressed_" + uuid.NewString()[:8]
	r := answers(t, p, []labelledStep{
		// Reads, before anything changes.
		as("get", ownerToken, "getReportJob", j.queued),
		as("find", ownerToken, "findJobByIdempotencyKey", j.key),
		as("find unknown", ownerToken, "findJobByIdempotencyKey", "no-such-key"),
		as("list", ownerToken, "getUserReportJobs", owner, 20),
		as("list 2", ownerToken, "getUserReportJobs", owner, 2),
		as("summary", ownerToken, "getSummaryReportJobs", summaryID),
		as("stats", ownerToken, "getJobStatistics"),
		as("other get", otherToken, "getReportJob", j.queued),
		as("other list", otherToken, "getUserReportJobs", owner, 20),
		as("other summary", otherToken, "getSummaryReportJobs", summaryID),
		as("other find", otherToken, "findJobByIdempotencyKey", j.key),
		as("other stats", otherToken, "getJobStatistics"),
		// The other user tries the owner's jobs.
		as("other cancel", otherToken, "cancelReportJob", j.queued),
		as("other update", otherToken, "updateReportJob", j.running, map[string]any{"status": "cancelled"}),
		as("other cleanup", otherToken, "cleanupOldJobs"),
		// Forging: results, progress and final states are the worker's.
		as("forge all", ownerToken, "updateReportJob", j.toCancel, map[string]any{"status": "succeeded", "result": "forged", "percent": 100}),
		as("forge result", ownerToken, "updateReportJob", j.toCancel, map[string]any{"result": "forged"}),
		as("forge percent", ownerToken, "updateReportJob", j.toCancel, map[string]any{"percent": 100}),
		as("forge success", ownerToken, "updateReportJob", j.running, map[string]any{"status": "succeeded"}),
		as("forge completed_at", ownerToken, "updateReportJob", j.toCancel, map[string]any{"completed_at": "2000-01-01T00:00:00Z"}),
		as("forge progress insert", ownerToken, "createReportJob", map[string]any{"job_id": progressed, "status": "queued", "prompt": "x", "percent": 100}),
		as("forge insert", ownerToken, "createReportJob", map[string]any{"job_id": forged, "status": "succeeded", "prompt": "x", "result": "forged", "percent": 100}),
		as("plant insert", ownerToken, "createReportJob", map[string]any{"job_id": planted, "status": "queued", "prompt": "x", "user_id": other}),
		// The owner's writes.
		as("create", ownerToken, "createReportJob", map[string]any{"job_id": newJob, "status": "queued", "model": "sonar",
			"prompt": "a new report", "temperature": 0.2, "max_tokens": 2600, "summary_id": summaryID,
			"idempotency_key": "greeting:new-" + newJob, "metadata": map[string]any{"report_type": "greeting", "report_id": "7"}}),
		as("update cancel", ownerToken, "updateReportJob", j.toCancel, map[string]any{"status": "cancelled"}),
		as("cancel", ownerToken, "cancelReportJob", j.queued),
		as("cancel running", ownerToken, "cancelReportJob", j.running),
		as("cancel finished", ownerToken, "cancelReportJob", j.succeeded),
		as("get cancelled", ownerToken, "getReportJob", j.queued),
		as("cleanup", ownerToken, "cleanupOldJobs"),
	})

	checkOwnerReads(t, r, j)
	checkOtherUser(t, r, j, other)
	checkForgeries(t, p, r, j, forged, planted, progressed)
	checkOwnerWrites(t, p, r, j, owner, newJob)
}

func checkOwnerReads(t *testing.T, r map[string]appResult, j oldAppJobs) {
	t.Helper()
	if succeeded(t, "getReportJob", r["get"], 200) {
		if got := decodeData[oldJob](t, "getReportJob", r["get"]); got.JobID != j.queued || got.Status != "queued" {
			t.Errorf("getReportJob = %s", r["get"].Data)
		}
	}
	if succeeded(t, "findJobByIdempotencyKey", r["find"], 200) {
		if got := decodeData[oldJob](t, "findJobByIdempotencyKey", r["find"]); got.JobID != j.queued {
			t.Errorf("findJobByIdempotencyKey found %s, want the owner's %s (the other user has the same key)", got.JobID, j.queued)
		}
	}
	if succeeded(t, "findJobByIdempotencyKey(unknown)", r["find unknown"], 200) && string(r["find unknown"].Data) != "null" {
		t.Errorf("findJobByIdempotencyKey(unknown) = %s, want null", r["find unknown"].Data)
	}
	want := []string{j.succeeded, j.toCancel, j.running, j.queued, j.expired, j.finishedLongAgo}
	if succeeded(t, "getUserReportJobs", r["list"], 200) {
		if got := jobIDs(decodeData[[]oldJob](t, "getUserReportJobs", r["list"])); !slices.Equal(got, want) {
			t.Errorf("getUserReportJobs = %v, want newest first %v", got, want)
		}
	}
	if succeeded(t, "getUserReportJobs(limit 2)", r["list 2"], 200) {
		if got := jobIDs(decodeData[[]oldJob](t, "getUserReportJobs(limit 2)", r["list 2"])); !slices.Equal(got, want[:2]) {
			t.Errorf("getUserReportJobs(limit 2) = %v, want %v", got, want[:2])
		}
	}
	if succeeded(t, "getSummaryReportJobs", r["summary"], 200) {
		if got := jobIDs(decodeData[[]oldJob](t, "getSummaryReportJobs", r["summary"])); !slices.Equal(got, []string{j.running, j.queued}) {
			t.Errorf("getSummaryReportJobs = %v, want the owner's %v", got, []string{j.running, j.queued})
		}
	}
	wantStats := `{"total":6,"queued":2,"running":1,"succeeded":1,"failed":1,"cancelled":1,"avgDurationMs":25000}`
	if succeeded(t, "getJobStatistics", r["stats"], 200) && string(r["stats"].Data) != wantStats {
		t.Errorf("getJobStatistics = %s, want %s", r["stats"].Data, wantStats)
	}
}

func checkOtherUser(t *testing.T, r map[string]appResult, j oldAppJobs, other string) {
	t.Helper()
	if g := r["other get"]; g.Error == nil || g.Error.Code != "PGRST116" || g.Status != 406 || string(g.Data) != "null" {
		t.Errorf("another user's getReportJob: status %d, error %+v, data %s; want 406 PGRST116", g.Status, g.Error, g.Data)
	}
	if succeeded(t, "another user's getUserReportJobs", r["other list"], 200) && string(r["other list"].Data) != "[]" {
		t.Errorf("another user listed the owner's jobs: %s", r["other list"].Data)
	}
	if succeeded(t, "another user's getSummaryReportJobs", r["other summary"], 200) {
		if got := jobIDs(decodeData[[]oldJob](t, "other summary", r["other summary"])); !slices.Equal(got, []string{j.othersJob}) {
			t.Errorf("another user's getSummaryReportJobs = %v, want only their own %s", got, j.othersJob)
		}
	}
	if succeeded(t, "another user's findJobByIdempotencyKey", r["other find"], 200) {
		if got := decodeData[oldJob](t, "other find", r["other find"]); got.JobID != j.othersJob || got.UserID != other {
			t.Errorf("another user's findJobByIdempotencyKey = %s, want their own %s", r["other find"].Data, j.othersJob)
		}
	}
	if want := `{"total":1,"queued":1,"running":0,"succeeded":0,"failed":0,"cancelled":0,"avgDurationMs":0}`; succeeded(t, "another user's getJobStatistics", r["other stats"], 200) &&
		string(r["other stats"].Data) != want {
		t.Errorf("another user's getJobStatistics = %s, want %s", r["other stats"].Data, want)
	}
	// PostgREST answers an update that matched no row with 204; .single() makes it 406.
	succeeded(t, "another user's cancelReportJob", r["other cancel"], 204)
	if u := r["other update"]; u.Error == nil || u.Error.Code != "PGRST116" {
		t.Errorf("another user's updateReportJob: status %d, error %+v, data %s; want 406 PGRST116 (no row)", u.Status, u.Error, u.Data)
	}
	if succeeded(t, "another user's cleanupOldJobs", r["other cleanup"], 200) && string(r["other cleanup"].Data) != `{"expired":[],"finished":[]}` {
		t.Errorf("another user's cleanupOldJobs deleted %s", r["other cleanup"].Data)
	}
}

func checkForgeries(t *testing.T, p *stack.Stack, r map[string]appResult, j oldAppJobs, forged, planted, progressed string) {
	t.Helper()
	for _, label := range []string{"forge all", "forge result", "forge percent", "forge success", "forge completed_at", "forge insert", "plant insert"} {
		refused(t, label, r[label])
	}
	// A new job's progress is the worker's: refused, or stored as 0.
	if status, _, percent := dbJob(t, p, progressed); (status == "") != (r["forge progress insert"].Error != nil) || percent != 0 {
		t.Errorf("createReportJob with percent 100: error %+v, stored status %q percent %d; want refused, or stored at 0",
			r["forge progress insert"].Error, status, percent)
	}
	// After the forgeries the owner's cancel still found toCancel queued
	// (checked in checkOwnerWrites); nothing forged reached the table.
	if status, result, percent := dbJob(t, p, j.toCancel); result != "" || percent != 0 || status == "succeeded" {
		t.Errorf("forged job %s: status %s, result %q, percent %d", j.toCancel, status, result, percent)
	}
	if status, _, _ := dbJob(t, p, j.running); status == "succeeded" {
		t.Errorf("the running job was marked succeeded by its owner")
	}
	for _, id := range []string{forged, planted} {
		if status, _, _ := dbJob(t, p, id); status != "" {
			t.Errorf("forged insert %s stored with status %s", id, status)
		}
	}
}

func checkOwnerWrites(t *testing.T, p *stack.Stack, r map[string]appResult, j oldAppJobs, owner, newJob string) {
	t.Helper()
	if succeeded(t, "createReportJob", r["create"], 201) {
		got := decodeData[oldJob](t, "createReportJob", r["create"])
		if got.JobID != newJob || got.Status != "queued" || got.UserID != owner || got.Percent != 0 || got.Prompt != "a new report" ||
			got.SummaryID == nil || *got.SummaryID != summaryID || got.ID == "" {
			t.Errorf("createReportJob returned %s", r["create"].Data)
		}
	}
	if succeeded(t, "updateReportJob(cancel)", r["update cancel"], 200) {
		if got := decodeData[oldJob](t, "updateReportJob(cancel)", r["update cancel"]); got.Status != "cancelled" || got.CompletedAt == nil {
			t.Errorf("updateReportJob(cancel) returned %s", r["update cancel"].Data)
		}
	}
	succeeded(t, "cancelReportJob", r["cancel"], 204)
	succeeded(t, "cancelReportJob(running)", r["cancel running"], 204)
	succeeded(t, "cancelReportJob(finished)", r["cancel finished"], 204)
	if succeeded(t, "getReportJob after cancel", r["get cancelled"], 200) {
		if got := decodeData[oldJob](t, "get cancelled", r["get cancelled"]); got.Status != "cancelled" || got.CompletedAt == nil {
			t.Errorf("after cancelReportJob getReportJob = %s", r["get cancelled"].Data)
		}
	}
	for id, want := range map[string]string{j.queued: "cancelled", j.running: "cancelled", j.toCancel: "cancelled",
		j.succeeded: "succeeded", j.othersJob: "queued", j.expired: "", j.finishedLongAgo: ""} {
		if status, _, _ := dbJob(t, p, id); status != want {
			t.Errorf("after the calls %s is %q, want %q", id, status, want)
		}
	}
	if !succeeded(t, "cleanupOldJobs", r["cleanup"], 200) {
		return
	}
	ids := decodeData[struct{ Expired, Finished []string }](t, "cleanupOldJobs", r["cleanup"])
	if !slices.Equal(ids.Expired, []string{j.rowIDs[j.expired]}) || !slices.Equal(ids.Finished, []string{j.rowIDs[j.finishedLongAgo]}) {
		t.Errorf("cleanupOldJobs = %s, want the ids of %s (expired) and %s (finished two days ago)", r["cleanup"].Data, j.expired, j.finishedLongAgo)
	}
}

// legacyProject is a project that had the old report_jobs table and its rows
// (migrations/testdata) before the migrations were applied.
func legacyProject(t *testing.T) *stack.Stack {
	t.Helper()
	return upgraded(t)
}

func TestOldAppSupabaseJSCalls(t *testing.T) {
	t.Parallel()
	tooling.SupabaseJS(t)
	t.Run("new project", func(t *testing.T) {
		t.Parallel()
		checkOldAppCalls(t, fork(t))
	})
	t.Run("upgraded project", func(t *testing.T) {
		t.Parallel()
		p := legacyProject(t)
		checkOldAppCalls(t, p)
		checkLegacyUsers(t, p)
	})
}

// checkLegacyUsers: the old rows' owners reach them with the old calls.
func checkLegacyUsers(t *testing.T, p *stack.Stack) {
	t.Helper()
	const one, two = legacyUserOne, legacyUserTwo
	oneToken, err := p.Token(one)
	if err != nil {
		t.Fatal(err)
	}
	twoToken, err := p.Token(two)
	if err != nil {
		t.Fatal(err)
	}
	r := answers(t, p, []labelledStep{
		as("list", oneToken, "getUserReportJobs", one, 20),
		as("find deduplicated", oneToken, "findJobByIdempotencyKey", "org:5"),
		as("find", oneToken, "findJobByIdempotencyKey", "greeting:1"),
		as("ownerless", oneToken, "getReportJob", "job_1700000000000_anon0001"),
		as("stuck", twoToken, "getReportJob", "job_1700000000000_stuck001"),
		as("cancel live", twoToken, "cancelReportJob", "job_1700000000000_live0001"),
		as("get live", twoToken, "getReportJob", "job_1700000000000_live0001"),
	})
	want := []string{"job_1700000000000_done0001", "job_1700000000000_odd00001", "job_1700000000000_fail0001",
		"job_1700000000000_dupe0002", "job_1700000000000_dupe0001"}
	if succeeded(t, "legacy getUserReportJobs", r["list"], 200) {
		if got := jobIDs(decodeData[[]oldJob](t, "legacy list", r["list"])); !slices.Equal(got, want) {
			t.Errorf("the old owner's jobs = %v, want %v", got, want)
		}
	}
	for label, id := range map[string]string{"find deduplicated": "job_1700000000000_dupe0002", "find": "job_1700000000000_done0001"} {
		if succeeded(t, "legacy "+label, r[label], 200) {
			if got := decodeData[oldJob](t, label, r[label]); got.JobID != id {
				t.Errorf("legacy %s = %s, want %s", label, r[label].Data, id)
			}
		}
	}
	if g := r["ownerless"]; g.Error == nil || g.Status != 406 {
		t.Errorf("an ownerless old row was readable: %d %s", g.Status, g.Data)
	}
	if succeeded(t, "legacy stuck job", r["stuck"], 200) && decodeData[oldJob](t, "stuck", r["stuck"]).Status != "failed" {
		t.Errorf("the job the old route left running = %s, want failed", r["stuck"].Data)
	}
	succeeded(t, "legacy cancelReportJob", r["cancel live"], 204)
	if succeeded(t, "legacy get after cancel", r["get live"], 200) && decodeData[oldJob](t, "get live", r["get live"]).Status != "cancelled" {
		t.Errorf("the old running job after cancelReportJob = %s, want cancelled", r["get live"].Data)
	}
}
