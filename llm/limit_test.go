package llm

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/polaris/reportd/report"
)

// maxIn is the largest number of times within any span shorter than window.
func maxIn(times []time.Time, window time.Duration) int {
	best, lo := 0, 0
	for hi := range times {
		for times[hi].Sub(times[lo]) >= window {
			lo++
		}
		best = max(best, hi-lo+1)
	}
	return best
}

// Requests arriving at random never exceed the budget in any window, and
// the budget is used: a burst gets all N at once.
func TestWindowNeverExceedsItsBudget(t *testing.T) {
	t.Parallel()
	const n, window = 5, time.Minute
	w := newWindow(Rate{Requests: n, Window: window})
	rng := rand.New(rand.NewPCG(1, 2))
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	var admitted []time.Time
	for range 5000 {
		now = now.Add(time.Duration(rng.IntN(4800)) * time.Millisecond)
		if _, ok := w.take(now); ok {
			admitted = append(admitted, now)
		}
	}
	if got := maxIn(admitted, window); got != n {
		t.Fatalf("at most %d requests in a window, want exactly %d (the budget, used)", got, n)
	}
	// Sustained, the budget is nearly all used: a window holds n requests.
	span := admitted[len(admitted)-1].Sub(admitted[0])
	if perWindow := float64(len(admitted)) / (float64(span) / float64(window)); perWindow < n*0.9 {
		t.Fatalf("only %.1f requests per window of %d allowed", perWindow, n)
	}
}

// A queue of turned-away requests is told successive turns, not all the
// same one, so it comes back spread over the slots as they free up.
func TestWindowSpreadsTheQueue(t *testing.T) {
	t.Parallel()
	w := newWindow(Rate{Requests: 2, Window: time.Second})
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	for range 2 {
		if _, ok := w.take(now); !ok {
			t.Fatal("a fresh window refused a request")
		}
	}
	later := now.Add(300 * time.Millisecond)
	if _, ok := w.take(later); ok {
		t.Fatal("a third request within the window was admitted")
	}
	var waits []time.Duration
	for range 4 {
		d, ok := w.take(later)
		if ok {
			t.Fatal("admitted while full")
		}
		waits = append(waits, d)
	}
	every := time.Second + minMargin
	// The first request turned away (above) was told slot 1's turn; these
	// get slot 2's (as soon, both freed together), then the next round.
	want := []time.Duration{every - 300*time.Millisecond, every + every - 300*time.Millisecond, every + every - 300*time.Millisecond}
	for i, wt := range want {
		if d := waits[i]; d < wt-2*time.Millisecond || d > wt+2*time.Millisecond {
			t.Fatalf("queued request %d told %s, want about %s (all: %v)", i+2, d, wt, waits)
		}
	}
	// Coming back when told, the first queued request gets in.
	if _, ok := w.take(now.Add(every + time.Millisecond)); !ok {
		t.Fatal("a request that came back at its turn was refused")
	}
}

func TestGateWaitsForAStreamThenHandsTheJobBack(t *testing.T) {
	t.Parallel()
	g := newGate("perplexity", Limits{Concurrency: 1, SlotWait: 200 * time.Millisecond, Env: "PERPLEXITY"})
	leave, err := g.enter(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// A second call waits; when the first ends, it goes on.
	got := make(chan error, 1)
	go func() {
		l, err := g.enter(t.Context())
		if err == nil {
			l()
		}
		got <- err
	}()
	leave()
	if err := <-got; err != nil {
		t.Fatalf("the waiting call did not get the freed stream: %v", err)
	}
	// While the stream stays busy past SlotWait, the call is handed back
	// as a rate limit, which costs the job no attempt.
	leave, _ = g.enter(t.Context())
	defer leave()
	_, err = g.enter(t.Context())
	var pe *report.ProviderError
	if !errors.As(err, &pe) || !pe.RateLimit || !pe.Retryable || pe.RetryAfter <= 0 || !strings.Contains(pe.Message, "PERPLEXITY_CONCURRENCY") {
		t.Fatalf("busy: %v", err)
	}
	// A cancelled job stops waiting at once with its own error.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := g.enter(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v", err)
	}
}

func TestGateTurnsAwayOverTheRateLimit(t *testing.T) {
	t.Parallel()
	g := newGate("anthropic", Limits{Rate: Rate{Requests: 1, Window: time.Hour}, Env: "ANTHROPIC"})
	leave, err := g.enter(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	leave()
	_, err = g.enter(t.Context())
	var pe *report.ProviderError
	if !errors.As(err, &pe) || !pe.RateLimit || !pe.Retryable || pe.RetryAfter < 59*time.Minute ||
		!strings.Contains(pe.Message, "ANTHROPIC_RATE_LIMIT") || !strings.Contains(pe.Message, "1 per 1h0m0s") {
		t.Fatalf("over the limit: %v", err)
	}
}
