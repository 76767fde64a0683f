package storetest

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/polaris/reportd/report"
)

// The queue tests share the claimable jobs of the whole store, so they run
// one at a time, each starting from an empty queue.
func runQueue(t *testing.T, h Harness) {
	cases := []struct {
		name string
		fn   func(*testing.T, Harness)
	}{
		{"claim takes the oldest queued jobs under a lease", testClaim},
		{"per-user limit keeps one user from taking every slot", testPerUserLimit},
		{"heartbeat renews the lease and raises percent", testHeartbeat},
		{"complete stores the result once", testComplete},
		{"writes of a cancelled job are refused", testCancelledFence},
		{"retryable failures queue the job again", testRetry},
		{"final failures fail the job", testFinalFailure},
		{"rate limits give the attempt back", testUncharged},
		{"release gives the job back without charging", testRelease},
		{"an expired lease makes the job claimable again", testRescue},
		{"a job out of attempts fails when its lease expires", testExhausted},
		{"expired jobs are not claimed", testExpiredNotClaimed},
		{"cleanup deletes expired and old finished jobs", testCleanup},
		{"a queued job's ETA counts the queue and recent durations", testQueueEstimate},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			drain(t, h)
			c.fn(t, h)
		})
	}
}

const lease = 30 * time.Second

func claim(t *testing.T, h Harness, limit, perUser int) []report.Job {
	t.Helper()
	c, err := h.Queue.Claim(ctx(t), report.ClaimRequest{Worker: "test-worker", Limit: limit, Lease: lease, PerUserLimit: perUser})
	if err != nil {
		t.Fatalf("claim: %v", err)
	}
	if len(c.Refused) > 0 {
		t.Fatalf("claim refused rows of valid jobs: %+v", c.Refused)
	}
	return c.Jobs
}

// drain finishes every claimable job left by earlier tests.
func drain(t *testing.T, h Harness) {
	t.Helper()
	for {
		jobs := claim(t, h, 100, 0)
		if len(jobs) == 0 {
			return
		}
		for _, j := range jobs {
			if err := h.Queue.Complete(ctx(t), report.LeaseOf(j), report.Completion{Result: "drained"}); err != nil {
				t.Fatalf("drain: %v", err)
			}
		}
	}
}

func ids(jobs []report.Job) []string {
	out := make([]string, len(jobs))
	for i, j := range jobs {
		out[i] = j.JobID
	}
	return out
}

func testClaim(t *testing.T, h Harness) {
	a := h.NewUser(t)
	first, second, third := create(t, h, a), create(t, h, a), create(t, h, a)
	got := claim(t, h, 2, 0)
	if len(got) != 2 || !sameSet(ids(got), []string{first.JobID, second.JobID}) {
		t.Fatalf("claimed %v, want the two oldest %s %s", ids(got), first.JobID, second.JobID)
	}
	for _, j := range got {
		if j.Status != report.StatusRunning || j.Attempts != 1 || j.LeaseEpoch != 1 || j.LeaseExpiresAt == nil ||
			j.StartedAt == nil || j.Rescued || j.FreeRetries != 0 {
			t.Fatalf("claimed job lacks its lease: %+v", j)
		}
		if d := j.LeaseExpiresAt.Sub(j.UpdatedAt); d < lease-2*time.Second || d > lease+2*time.Second {
			t.Fatalf("lease length %s, want about %s", d, lease)
		}
	}
	if rest := claim(t, h, 5, 0); len(rest) != 1 || rest[0].JobID != third.JobID {
		t.Fatalf("second claim got %v, want only %s", ids(rest), third.JobID)
	}
	if none := claim(t, h, 5, 0); len(none) != 0 {
		t.Fatalf("running jobs with live leases were claimed again: %v", ids(none))
	}
	got0 := get(t, h, a, first.JobID)
	if got0.Status != report.StatusRunning {
		t.Fatalf("the owner should see the job running, got %s", got0.Status)
	}
	// The owner sees the attempt in progress, never the worker running it.
	if len(got0.History) != 1 || got0.History[0].Number != 1 || got0.History[0].EndedAt != nil || got0.History[0].Outcome != "" {
		t.Fatalf("attempts of a running job: %+v", got0.History)
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]int{}
	for _, x := range a {
		m[x]++
	}
	for _, x := range b {
		m[x]--
	}
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return true
}

func testPerUserLimit(t *testing.T, h Harness) {
	heavy, light := h.NewUser(t), h.NewUser(t)
	for range 4 {
		create(t, h, heavy)
	}
	lightJob := create(t, h, light)
	got := claim(t, h, 10, 2)
	byUser := map[string]int{}
	for _, j := range got {
		byUser[j.UserID]++
	}
	if byUser[heavy.UserID] != 2 || byUser[light.UserID] != 1 {
		t.Fatalf("per-user limit 2: claimed %v", byUser)
	}
	if more := claim(t, h, 10, 2); len(more) != 0 {
		t.Fatalf("the heavy user got more than 2 running jobs: %v", ids(more))
	}
	_ = lightJob
}

func running(t *testing.T, h Harness) (report.Caller, report.Job) {
	t.Helper()
	a := h.NewUser(t)
	create(t, h, a)
	got := claim(t, h, 1, 0)
	if len(got) != 1 {
		t.Fatalf("claimed %d jobs, want 1", len(got))
	}
	return a, got[0]
}

func testHeartbeat(t *testing.T, h Harness) {
	a, j := running(t, h)
	l := report.LeaseOf(j)
	eta := 42 * time.Second
	partial := "# Partial"
	if err := h.Queue.Heartbeat(ctx(t), l, report.Progress{Lease: time.Minute, Percent: 40, ETA: &eta, Partial: &partial}); err != nil {
		t.Fatal(err)
	}
	got := get(t, h, a, j.JobID)
	if got.Percent != 40 || got.ETASeconds == nil || *got.ETASeconds != 42 || got.Result == nil || *got.Result != partial {
		t.Fatalf("progress not stored: percent %d eta %v result %v", got.Percent, got.ETASeconds, got.Result)
	}
	if got.LeaseExpiresAt == nil || got.LeaseExpiresAt.Sub(*j.LeaseExpiresAt) < 20*time.Second {
		t.Fatalf("lease not renewed: %v -> %v", j.LeaseExpiresAt, got.LeaseExpiresAt)
	}
	// Percent never goes down and stays below 100 until completion.
	_ = h.Queue.Heartbeat(ctx(t), l, report.Progress{Lease: time.Minute, Percent: 10})
	if p := get(t, h, a, j.JobID).Percent; p != 40 {
		t.Fatalf("percent went from 40 to %d", p)
	}
	_ = h.Queue.Heartbeat(ctx(t), l, report.Progress{Lease: time.Minute, Percent: 100})
	if p := get(t, h, a, j.JobID).Percent; p != 99 {
		t.Fatalf("percent %d before completion, want 99", p)
	}
	stale := l
	stale.Epoch--
	wantErr(t, h.Queue.Heartbeat(ctx(t), stale, report.Progress{Lease: time.Minute, Percent: 50}), report.ErrLeaseLost)
}

func testComplete(t *testing.T, h Harness) {
	a, j := running(t, h)
	meta := json.RawMessage(`{"provider":"demo","usage":{"output_tokens":12}}`)
	if err := h.Queue.Complete(ctx(t), report.LeaseOf(j), report.Completion{Result: "# Report", Metadata: meta}); err != nil {
		t.Fatal(err)
	}
	got := get(t, h, a, j.JobID)
	if got.Status != report.StatusSucceeded || got.Percent != 100 || got.Result == nil || *got.Result != "# Report" ||
		got.CompletedAt == nil || got.ETASeconds == nil || *got.ETASeconds != 0 {
		t.Fatalf("completion not stored: %+v", got)
	}
	m := metaOf(t, got)
	if m["provider"] != "demo" || m["report_type"] != "greeting" {
		t.Fatalf("metadata not merged: %s", got.Metadata)
	}
	if len(got.History) != 1 || got.History[0].Outcome != report.AttemptSucceeded || got.History[0].EndedAt == nil {
		t.Fatalf("the successful attempt: %+v", got.History)
	}
	err := h.Queue.Complete(ctx(t), report.LeaseOf(j), report.Completion{Result: "second"})
	wantErr(t, err, report.ErrLeaseLost)
	if r := get(t, h, a, j.JobID).Result; *r != "# Report" {
		t.Fatalf("a second completion overwrote the result: %q", *r)
	}
}

func testCancelledFence(t *testing.T, h Harness) {
	a, j := running(t, h)
	if _, err := h.Store.Cancel(ctx(t), a, j.JobID); err != nil {
		t.Fatal(err)
	}
	l := report.LeaseOf(j)
	wantErr(t, h.Queue.Heartbeat(ctx(t), l, report.Progress{Lease: lease, Percent: 50}), report.ErrCancelled)
	wantErr(t, h.Queue.Complete(ctx(t), l, report.Completion{Result: "late"}), report.ErrCancelled)
	_, err := h.Queue.Fail(ctx(t), l, report.Failure{Message: "late", ChargeAttempt: true})
	wantErr(t, err, report.ErrCancelled)
	if err := h.Queue.KeepPartial(ctx(t), l, "streamed so far"); err != nil {
		t.Fatalf("keep partial: %v", err)
	}
	got := get(t, h, a, j.JobID)
	if got.Status != report.StatusCancelled || got.Result == nil || *got.Result != "streamed so far" {
		t.Fatalf("cancelled job: status %s result %v", got.Status, got.Result)
	}
	if len(got.History) != 1 || got.History[0].Outcome != report.AttemptCancelled || got.History[0].EndedAt == nil {
		t.Fatalf("the cancelled attempt: %+v", got.History)
	}
	if _, err := h.Store.Cancel(ctx(t), a, j.JobID); err != nil {
		t.Fatalf("cancelling again: %v", err)
	}
}

func testRetry(t *testing.T, h Harness) {
	a, j := running(t, h)
	st, err := h.Queue.Fail(ctx(t), report.LeaseOf(j), report.Failure{
		Message: "provider returned 503", Retryable: true, RetryAfter: time.Hour, ChargeAttempt: true,
		Attempt: json.RawMessage(`{"status":503}`),
	})
	if err != nil || st != report.StatusQueued {
		t.Fatalf("fail: status %s err %v, want queued", st, err)
	}
	got := get(t, h, a, j.JobID)
	if got.Status != report.StatusQueued || got.Error == nil || *got.Error != "provider returned 503" ||
		got.Attempts != 1 || got.RunAfter.Before(time.Now().Add(50*time.Minute)) {
		t.Fatalf("retry not scheduled: %+v", got)
	}
	hist := got.History
	var details struct {
		Status int `json:"status"`
	}
	if len(hist) != 1 || hist[0].Error != "provider returned 503" || hist[0].Number != 1 || hist[0].Outcome != report.AttemptRetried ||
		hist[0].EndedAt == nil || json.Unmarshal(hist[0].Details, &details) != nil || details.Status != 503 {
		t.Fatalf("attempt history: %+v", hist)
	}
	if _, ok := metaOf(t, got)["attempt_history"]; ok {
		t.Fatalf("the engine's history landed in the caller's metadata: %s", got.Metadata)
	}
	if again := claim(t, h, 5, 0); len(again) != 0 {
		t.Fatalf("claimed before its backoff ended: %v", ids(again))
	}
	h.Shift(t, j.JobID, "run_after", -2*time.Hour)
	again := claim(t, h, 5, 0)
	if len(again) != 1 || again[0].Attempts != 2 || again[0].LeaseEpoch != j.LeaseEpoch+1 || again[0].Rescued {
		t.Fatalf("retry claim: %+v", again)
	}
	wantErr(t, h.Queue.Heartbeat(ctx(t), report.LeaseOf(j), report.Progress{Lease: lease}), report.ErrLeaseLost)
}

func testFinalFailure(t *testing.T, h Harness) {
	a, j := running(t, h)
	st, err := h.Queue.Fail(ctx(t), report.LeaseOf(j), report.Failure{Message: "invalid model", ChargeAttempt: true})
	if err != nil || st != report.StatusFailed {
		t.Fatalf("fail: %s %v", st, err)
	}
	got := get(t, h, a, j.JobID)
	if got.Status != report.StatusFailed || got.Percent != 100 || got.CompletedAt == nil || *got.Error != "invalid model" {
		t.Fatalf("final failure: %+v", got)
	}
	// Out of attempts: a retryable failure is final too.
	b := h.NewUser(t)
	create(t, h, b, func(n *report.NewJob) { n.MaxAttempts = 1 })
	last := claim(t, h, 1, 0)[0]
	st, err = h.Queue.Fail(ctx(t), report.LeaseOf(last), report.Failure{Message: "timeout", Retryable: true, ChargeAttempt: true})
	if err != nil || st != report.StatusFailed {
		t.Fatalf("retryable failure on the last attempt: %s %v, want failed", st, err)
	}
}

func testUncharged(t *testing.T, h Harness) {
	a, j := running(t, h)
	st, err := h.Queue.Fail(ctx(t), report.LeaseOf(j), report.Failure{Message: "rate limited", Retryable: true, ChargeAttempt: false})
	if err != nil || st != report.StatusQueued {
		t.Fatalf("fail: %s %v", st, err)
	}
	if got := get(t, h, a, j.JobID); got.Attempts != 0 || len(got.History) != 1 || got.History[0].Outcome != report.AttemptRetried {
		t.Fatalf("a rate-limited attempt was charged: attempts %d, history %+v", got.Attempts, got.History)
	}
	// The next claim says how many attempts the job got back.
	h.Shift(t, j.JobID, "run_after", -time.Hour)
	again := claim(t, h, 1, 0)
	if len(again) != 1 || again[0].JobID != j.JobID || again[0].FreeRetries != 1 || again[0].Attempts != 1 {
		t.Fatalf("claim after an uncharged attempt: %+v", again)
	}
	if err := h.Queue.Complete(ctx(t), report.LeaseOf(again[0]), report.Completion{Result: "done"}); err != nil {
		t.Fatal(err)
	}
}

func testRelease(t *testing.T, h Harness) {
	a, j := running(t, h)
	if err := h.Queue.Release(ctx(t), report.LeaseOf(j)); err != nil {
		t.Fatal(err)
	}
	got := get(t, h, a, j.JobID)
	if got.Status != report.StatusQueued || got.Attempts != 0 || got.LeaseExpiresAt != nil ||
		len(got.History) != 1 || got.History[0].Outcome != report.AttemptReleased {
		t.Fatalf("released job: %+v", got)
	}
	again := claim(t, h, 1, 0)
	if len(again) != 1 || again[0].JobID != j.JobID || again[0].Attempts != 1 {
		t.Fatalf("released job not claimable at once: %v", ids(again))
	}
}

func testRescue(t *testing.T, h Harness) {
	a, j := running(t, h)
	h.Shift(t, j.JobID, "lease_expires_at", -lease-time.Second)
	again := claim(t, h, 1, 0)
	if len(again) != 1 || again[0].JobID != j.JobID || again[0].Attempts != 2 || again[0].LeaseEpoch != j.LeaseEpoch+1 ||
		!again[0].Rescued {
		t.Fatalf("expired lease not rescued: %+v", again)
	}
	hist := get(t, h, a, j.JobID).History
	if len(hist) != 2 || hist[0].Outcome != report.HistoryLeaseExpired || hist[0].Error != "lease expired" ||
		hist[1].Number != 2 || hist[1].EndedAt != nil {
		t.Fatalf("history of the lost attempt: %+v", hist)
	}
	// The first attempt, back from a pause, can no longer write.
	err := h.Queue.Complete(ctx(t), report.LeaseOf(j), report.Completion{Result: "stale"})
	wantErr(t, err, report.ErrLeaseLost)
	if err := h.Queue.Complete(ctx(t), report.LeaseOf(again[0]), report.Completion{Result: "fresh"}); err != nil {
		t.Fatal(err)
	}
	if r := get(t, h, a, j.JobID).Result; r == nil || *r != "fresh" {
		t.Fatalf("result %v, want the second attempt's", r)
	}
}

func testExhausted(t *testing.T, h Harness) {
	a := h.NewUser(t)
	create(t, h, a, func(n *report.NewJob) { n.MaxAttempts = 1 })
	j := claim(t, h, 1, 0)[0]
	h.Shift(t, j.JobID, "lease_expires_at", -lease-time.Second)
	if got := claim(t, h, 1, 0); len(got) != 0 {
		t.Fatalf("a job out of attempts was claimed: %v", ids(got))
	}
	got := get(t, h, a, j.JobID)
	if got.Status != report.StatusFailed || got.Error == nil || got.CompletedAt == nil {
		t.Fatalf("exhausted job: %+v", got)
	}
}

func testExpiredNotClaimed(t *testing.T, h Harness) {
	a := h.NewUser(t)
	j := create(t, h, a)
	h.Shift(t, j.JobID, "expires_at", -8*24*time.Hour)
	if got := claim(t, h, 5, 0); len(got) != 0 {
		t.Fatalf("an expired job was claimed: %v", ids(got))
	}
}

func testCleanup(t *testing.T, h Harness) {
	if _, err := h.Queue.Cleanup(ctx(t)); err != nil { // rows earlier tests left behind
		t.Fatal(err)
	}
	a := h.NewUser(t)
	fresh := create(t, h, a)
	expired := create(t, h, a)
	h.Shift(t, expired.JobID, "expires_at", -8*24*time.Hour)
	oldDone := create(t, h, a)
	recentDone := create(t, h, a)
	for _, j := range []report.Job{oldDone, recentDone} {
		if _, err := h.Store.Cancel(ctx(t), a, j.JobID); err != nil {
			t.Fatal(err)
		}
	}
	h.Shift(t, oldDone.JobID, "completed_at", -25*time.Hour)
	n, err := h.Queue.Cleanup(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("cleanup deleted %d rows, want 2", n)
	}
	for _, gone := range []report.Job{expired, oldDone} {
		if _, err := h.Store.Get(ctx(t), a, gone.JobID); !errors.Is(err, report.ErrNotFound) {
			t.Fatalf("%s should be deleted, got %v", gone.JobID, err)
		}
	}
	for _, kept := range []report.Job{fresh, recentDone} {
		get(t, h, a, kept.JobID)
	}
}

func testQueueEstimate(t *testing.T, h Harness) {
	a := h.NewUser(t)
	model := func(n *report.NewJob) { n.Model = "estimate-model" }
	// History: one job of the model that took 100 s.
	create(t, h, a, model)
	done := claim(t, h, 1, 0)[0]
	if err := h.Queue.Complete(ctx(t), report.LeaseOf(done), report.Completion{Result: "r"}); err != nil {
		t.Fatal(err)
	}
	h.Shift(t, done.JobID, "started_at", -100*time.Second)

	first := create(t, h, a, model)
	second := create(t, h, a, model)
	eta := func(jobID string) int {
		j := get(t, h, a, jobID)
		if j.ETASeconds == nil {
			t.Fatalf("queued job %s has no ETA", jobID)
		}
		return *j.ETASeconds
	}
	// first waits for nothing and takes ~100 s. second waits for first's
	// share of the running slots (jobs other tests left running count as
	// slots), so it is later than first, by at most one duration.
	firstETA, secondETA := eta(first.JobID), eta(second.JobID)
	if firstETA < 99 || firstETA > 102 {
		t.Fatalf("first in the queue: ETA %d s, want about 100", firstETA)
	}
	if secondETA <= firstETA || secondETA > 202 {
		t.Fatalf("second in the queue: ETA %d s, want between %d and 200", secondETA, firstETA)
	}
	running := claim(t, h, 1, 0)[0] // first starts running: second is next
	if running.JobID != first.JobID {
		t.Fatalf("claimed %s, want %s", running.JobID, first.JobID)
	}
	if e := eta(second.JobID); e < 99 || e > 102 {
		t.Fatalf("next in the queue: ETA %d s, want about 100", e)
	}
}
