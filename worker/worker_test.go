package worker

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/polaris/reportd/internal/fakellm"
	"github.com/polaris/reportd/report"
)

func TestJobSucceedsWithRealProgress(t *testing.T) {
	forEachBackend(t, testJobSucceedsWithRealProgress)
}

func testJobSucceedsWithRealProgress(t *testing.T, b backend) {
	e := startEngine(t, b, fastConfig())
	words := strings.Repeat("word ", 40)
	e.fake.Push(fakellm.Stream(words, 40, 25*time.Millisecond))
	j := e.submit(t, "sonar", 60)
	e.spy.waitFor(t, "complete", j.JobID, 10*time.Second)

	got := e.job(t, j.JobID)
	if got.Status != report.StatusSucceeded || got.Percent != 100 || got.Result == nil || *got.Result != strings.TrimSpace(words) {
		t.Fatalf("job %+v", got)
	}
	meta := got.MetadataMap()
	for _, k := range []string{"provider", "usage", "citations", "ttft_ms", "tokens_per_second", "duration_ms", "resolved_model"} {
		if _, ok := meta[k]; !ok {
			t.Fatalf("metadata lacks %s: %s", k, got.Metadata)
		}
	}
	beats := e.spy.heartbeats(j.JobID)
	if len(beats) < 3 {
		t.Fatalf("only %d progress writes for a 1 s stream", len(beats))
	}
	var etas []time.Duration
	for i, b := range beats {
		if i > 0 {
			if b.prog.Percent < beats[i-1].prog.Percent {
				t.Fatalf("percent fell from %d to %d", beats[i-1].prog.Percent, b.prog.Percent)
			}
			// Writes start at least one interval apart (the worker enforces it);
			// the spy stamps each write when it is made.
			if gap := b.at.Sub(beats[i-1].at); gap < 95*time.Millisecond {
				t.Fatalf("two progress writes %s apart; the interval is 100ms", gap)
			}
		}
		if b.prog.ETA != nil {
			etas = append(etas, *b.prog.ETA)
		}
	}
	if beats[len(beats)-1].prog.Percent <= beats[0].prog.Percent {
		t.Fatalf("percent did not rise: %d .. %d", beats[0].prog.Percent, beats[len(beats)-1].prog.Percent)
	}
	if len(etas) < 2 || etas[len(etas)-1] >= etas[0] {
		t.Fatalf("ETA should be present and shrink: %v", etas)
	}
}

func TestCancelStopsTheStreamAtOnce(t *testing.T) { forEachBackend(t, testCancelStopsTheStreamAtOnce) }

func testCancelStopsTheStreamAtOnce(t *testing.T, b backend) {
	e := startEngine(t, b, fastConfig())
	e.fake.Push(fakellm.Stream(strings.Repeat("slow ", 100), 100, 100*time.Millisecond))
	j := e.submit(t, "sonar", 200)
	e.spy.waitFor(t, "heartbeat", j.JobID, 5*time.Second) // streaming has begun
	if _, err := e.store.Cancel(context.Background(), e.user, j.JobID); err != nil {
		t.Fatal(err)
	}
	cancelledAt := time.Now()
	e.worker.OnChange(report.Change{Kind: report.ChangeStopped, JobID: j.JobID})

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := e.fake.WaitFor(ctx, func(r fakellm.Request) bool { return r.ClientClosed })
	if err != nil {
		t.Fatal(err)
	}
	d := req.ClientClosedAt.Sub(cancelledAt)
	t.Logf("R4: the provider saw the stream closed %s after the cancel (in process)", d)
	if d > time.Second {
		t.Fatalf("the provider saw the stream closed %s after the cancel", d)
	}
	e.spy.waitFor(t, "keep", j.JobID, 5*time.Second)
	got := e.job(t, j.JobID)
	if got.Status != report.StatusCancelled || got.Result == nil || !strings.HasPrefix(*got.Result, "slow") {
		t.Fatalf("cancelled job: status %s result %v", got.Status, got.Result)
	}
}

func TestCancelFromAnotherProcessIsSeenAtTheNextWrite(t *testing.T) {
	forEachBackend(t, testCancelFromAnotherProcessIsSeenAtTheNextWrite)
}

func testCancelFromAnotherProcessIsSeenAtTheNextWrite(t *testing.T, b backend) {
	e := startEngine(t, b, fastConfig())
	e.fake.Push(fakellm.Stream(strings.Repeat("slow ", 100), 100, 100*time.Millisecond))
	j := e.submit(t, "sonar", 200)
	e.spy.waitFor(t, "heartbeat", j.JobID, 5*time.Second)
	// Cancelled in the store only, as another instance's API would.
	if _, err := e.store.Cancel(context.Background(), e.user, j.JobID); err != nil {
		t.Fatal(err)
	}
	hb := e.spy.waitFor(t, "heartbeat", j.JobID, 5*time.Second)
	if hb.err == nil {
		hb = e.spy.waitFor(t, "heartbeat", j.JobID, 5*time.Second)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := e.fake.WaitFor(ctx, func(r fakellm.Request) bool { return r.ClientClosed }); err != nil {
		t.Fatalf("the stream was not closed after the cancelled heartbeat: %v", err)
	}
	if got := e.job(t, j.JobID); got.Status != report.StatusCancelled {
		t.Fatalf("status %s, want cancelled", got.Status)
	}
}

// retryCase is a scripted provider behaviour and how the job must end.
type retryCase struct {
	name     string
	scripts  []fakellm.Script
	status   report.Status
	attempts int
	errText  string
}

func TestRetries(t *testing.T) {
	t.Parallel()
	cases := []retryCase{
		{"503 then success", []fakellm.Script{fakellm.ServerError(503), fakellm.Instant("ok")}, report.StatusSucceeded, 2, ""},
		{"429 with Retry-After does not spend an attempt", []fakellm.Script{fakellm.RateLimited(50 * time.Millisecond), fakellm.Instant("ok")}, report.StatusSucceeded, 1, ""},
		{"stall mid-stream then success", []fakellm.Script{fakellm.StallMidStream(1), fakellm.Instant("ok")}, report.StatusSucceeded, 2, ""},
		{"quota exhausted fails at once", []fakellm.Script{fakellm.QuotaExhausted()}, report.StatusFailed, 1, "quota"},
		{"400 fails at once with the provider's message", []fakellm.Script{fakellm.BadRequest("max_tokens must be at most 128000")}, report.StatusFailed, 1, "max_tokens must be at most 128000"},
		{"503 three times fails after the last attempt", []fakellm.Script{fakellm.ServerError(503), fakellm.ServerError(503), fakellm.ServerError(503)}, report.StatusFailed, 3, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			forEachBackend(t, func(t *testing.T, b backend) { testRetry(t, b, c) })
		})
	}
}

func testRetry(t *testing.T, b backend, c retryCase) {
	e := startEngine(t, b, fastConfig())
	e.fake.Push(c.scripts...)
	j := e.submit(t, "sonar", 50)
	deadline := time.After(15 * time.Second)
	for {
		got := e.job(t, j.JobID)
		if got.Status.Final() {
			if got.Status != c.status || got.Attempts != c.attempts {
				t.Fatalf("status %s attempts %d, want %s %d (error %v)", got.Status, got.Attempts, c.status, c.attempts, got.Error)
			}
			if c.errText != "" && (got.Error == nil || !strings.Contains(strings.ToLower(*got.Error), strings.ToLower(c.errText))) {
				t.Fatalf("error %v, want it to mention %q", got.Error, c.errText)
			}
			if c.status == report.StatusFailed && len(history(got)) != c.attempts {
				t.Fatalf("attempt history has %d entries, want %d: %s", len(history(got)), c.attempts, got.Metadata)
			}
			return
		}
		select {
		case <-e.spy.events:
		case <-deadline:
			t.Fatalf("job still %s", got.Status)
		}
	}
}

func history(j report.Job) []report.AttemptRecord { return j.History }

func TestShutdownReleasesRunningJobs(t *testing.T) {
	forEachBackend(t, testShutdownReleasesRunningJobs)
}

func testShutdownReleasesRunningJobs(t *testing.T, b backend) {
	cfg := fastConfig()
	cfg.ShutdownGrace = 100 * time.Millisecond
	e := startEngine(t, b, cfg)
	e.fake.SetDefault(fakellm.Stream(strings.Repeat("slow ", 100), 100, 100*time.Millisecond))
	first, second := e.submit(t, "sonar", 200), e.submit(t, "sonar", 200)
	e.spy.waitFor(t, "heartbeat", first.JobID, 5*time.Second)
	e.stop()
	for _, j := range []report.Job{first, second} {
		got := e.job(t, j.JobID)
		if got.Status != report.StatusQueued || got.Attempts != 0 || got.LeaseExpiresAt != nil {
			t.Fatalf("after shutdown %s is %s with %d attempts", j.JobID, got.Status, got.Attempts)
		}
	}
}

func TestShutdownLetsShortJobsFinish(t *testing.T) {
	forEachBackend(t, testShutdownLetsShortJobsFinish)
}

func testShutdownLetsShortJobsFinish(t *testing.T, b backend) {
	cfg := fastConfig()
	cfg.ShutdownGrace = 5 * time.Second
	e := startEngine(t, b, cfg)
	e.fake.Push(fakellm.Stream("a b c d e", 5, 100*time.Millisecond))
	j := e.submit(t, "sonar", 20)
	e.spy.waitFor(t, "heartbeat", j.JobID, 5*time.Second)
	e.stop()
	if got := e.job(t, j.JobID); got.Status != report.StatusSucceeded {
		t.Fatalf("a job that could finish within the grace period is %s", got.Status)
	}
}

func TestTimeoutIsRetryable(t *testing.T) { forEachBackend(t, testTimeoutIsRetryable) }

func testTimeoutIsRetryable(t *testing.T, b backend) {
	cfg := fastConfig()
	cfg.JobTimeout = 200 * time.Millisecond
	e := startEngine(t, b, cfg)
	e.fake.Push(fakellm.Stream(strings.Repeat("slow ", 50), 50, 50*time.Millisecond), fakellm.Instant("ok"))
	j := e.submit(t, "sonar", 50)
	f := e.spy.waitFor(t, "fail", j.JobID, 5*time.Second)
	if f.status != report.StatusQueued {
		t.Fatalf("a timed-out attempt left the job %s", f.status)
	}
	e.spy.waitFor(t, "complete", j.JobID, 5*time.Second)
	got := e.job(t, j.JobID)
	if got.Status != report.StatusSucceeded || got.Attempts != 2 {
		t.Fatalf("after timeout: %s attempts %d", got.Status, got.Attempts)
	}
	if h := history(got); len(h) != 2 || !strings.Contains(h[0].Error, "did not finish within") || h[1].Outcome != report.AttemptSucceeded {
		t.Fatalf("history %v", h)
	}
}
