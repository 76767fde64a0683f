package llm_test

import (
	"encoding/json"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/polaris/reportd/internal/fakellm"
	"github.com/polaris/reportd/llm"
	"github.com/polaris/reportd/report"
)

// 120 Perplexity jobs under a limit of 50 requests per window: the provider
// never sees more than 50 requests in any window, every job succeeds, and
// the jobs the limiter turned away (re-queued until their turn) spent no
// attempt. The default suite compresses the window to 2 s (50/2s) so that
// it runs in seconds; LONG_TESTS=1 runs Perplexity's real 50/1m, which takes
// about three minutes.
func TestRateLimitHoldsOverManyJobs(t *testing.T) {
	t.Parallel()
	const jobs, budget = 120, 50
	window := 2 * time.Second
	if os.Getenv("LONG_TESTS") == "1" {
		window = time.Minute
	}
	s := fakeServer(t, fakellm.Perplexity)
	s.SetDefault(fakellm.Instant("Tea grows in Kenya."))
	cfg := config(s.URL)
	cfg.Limits = llm.Limits{Rate: llm.Rate{Requests: budget, Window: window}}
	b := startBench(t, &llm.Router{Perplexity: llm.NewPerplexity(llm.PerplexityAgent, cfg)}, 32)

	ids := make([]string, jobs)
	for i := range ids {
		ids[i] = b.submit(t, "sonar", 100)
	}
	deadline := time.Now().Add(jobs/budget*window + window + 30*time.Second)
	turnedAway := 0
	for _, id := range ids {
		j := b.await(t, id, time.Until(deadline))
		if j.Status != report.StatusSucceeded || j.Attempts != 1 {
			t.Fatalf("job %s: %s after %d charged attempts (error %v): %s", id, j.Status, j.Attempts, j.Error, j.Metadata)
		}
		turnedAway += rateLimited(j)
	}
	if n := s.MaxInWindow(window); n > budget {
		t.Fatalf("the provider saw %d requests within %s; the limit is %d", n, window, budget)
	}
	if n := len(s.Requests()); n != jobs {
		t.Fatalf("the provider got %d requests for %d jobs", n, jobs)
	}
	if turnedAway == 0 {
		t.Fatal("no job was ever turned away: the limit was not exercised")
	}
	t.Logf("%d turns away for %d jobs; at most %d requests per %s; the closest %d requests spanned %s",
		turnedAway, jobs, s.MaxInWindow(window), window, budget+1, minSpan(s, budget+1))
}

// rateLimited counts the attempts the job got back for a rate limit.
func rateLimited(j report.Job) int {
	n := 0
	for _, a := range j.History {
		var d struct {
			RateLimited bool `json:"rate_limited"`
		}
		if json.Unmarshal(a.Details, &d) == nil && d.RateLimited {
			n++
		}
	}
	return n
}

// minSpan is the shortest time in which the provider got n requests: how
// much room the limiter's margin left.
func minSpan(s *fakellm.Server, n int) time.Duration {
	var starts []time.Time
	for _, r := range s.Requests() {
		starts = append(starts, r.Start)
	}
	slices.SortFunc(starts, func(a, b time.Time) int { return a.Compare(b) })
	best := time.Duration(1<<63 - 1)
	for i := 0; i+n-1 < len(starts); i++ {
		best = min(best, starts[i+n-1].Sub(starts[i]))
	}
	return best
}
