package llm

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"
	"golang.org/x/time/rate"

	"github.com/polaris/reportd/report"
)

// Rate is a request budget: at most Requests requests in any Window. The
// zero Rate is no limit.
type Rate struct {
	Requests int
	Window   time.Duration
}

func (r Rate) String() string { return fmt.Sprintf("%d per %s", r.Requests, r.Window) }

// Limits bound what one process sends to one provider. They are per
// process: N instances send up to N times as much unless each is configured
// with its share.
type Limits struct {
	Concurrency int  // streams open at once (0: no limit)
	Rate        Rate // requests per window (zero: no limit)
	// SlotWait bounds how long a job waits for a free stream before it is
	// handed back to the queue (0: DefaultSlotWait).
	SlotWait time.Duration
	// Env names the variables in messages, e.g. PERPLEXITY.
	Env string
}

// DefaultSlotWait is how long a job may wait for one of its provider's
// streams to free up before it goes back to the queue.
const DefaultSlotWait = 30 * time.Second

// busyRetry is when a job that found every stream busy is tried again.
const busyRetry = 5 * time.Second

// Each window is widened by a margin, so that the provider, which counts by
// its own clock and sees our requests after a delay that varies (a new
// connection, a busy machine), never counts one request too many: 2% of the
// window, and at least minMargin, since those delays do not shrink with it.
const (
	windowMargin = 50 // the margin is window/50
	minMargin    = 500 * time.Millisecond
)

// gate admits calls to one provider within its Limits.
//
// Concurrency: a call waits for a free stream with the job's context (the
// worker keeps renewing the lease meanwhile), for at most SlotWait; streams
// last tens of seconds, so a job handed back at once would come back again
// and again, each time spending one of its few uncharged retries.
//
// Rate: a call that would exceed the budget is not made and not waited
// for; it fails at once with a rate-limit ProviderError (which the worker
// re-queues without charging an attempt) saying when its turn comes, so the
// job stays queued rather than holding a worker slot for up to a window.
type gate struct {
	provider string
	limits   Limits
	streams  *semaphore.Weighted // nil: no concurrency limit
	window   *window             // nil: no rate limit
}

func newGate(provider string, l Limits) *gate {
	g := &gate{provider: provider, limits: l}
	if l.SlotWait <= 0 {
		g.limits.SlotWait = DefaultSlotWait
	}
	if l.Concurrency > 0 {
		g.streams = semaphore.NewWeighted(int64(l.Concurrency))
	}
	if l.Rate.Requests > 0 && l.Rate.Window > 0 {
		g.window = newWindow(l.Rate)
	}
	return g
}

// enter admits one call and returns the function that ends it. The stream
// slot is taken first, so a call that got its rate slot is sent at once:
// a slot used later than it was granted could put one request too many in
// some window.
func (g *gate) enter(ctx context.Context) (func(), error) {
	leave := func() {}
	if g.streams != nil {
		wctx, cancel := context.WithTimeout(ctx, g.limits.SlotWait)
		err := g.streams.Acquire(wctx, 1)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, &report.ProviderError{Provider: g.provider, Retryable: true, RateLimit: true, RetryAfter: busyRetry,
				Message: fmt.Sprintf("waiting for one of the %d %s streams this instance allows (%s_CONCURRENCY)",
					g.limits.Concurrency, g.provider, g.limits.Env)}
		}
		leave = func() { g.streams.Release(1) }
	}
	if g.window != nil {
		if wait, ok := g.window.take(time.Now()); !ok {
			leave()
			return nil, &report.ProviderError{Provider: g.provider, Retryable: true, RateLimit: true, RetryAfter: wait,
				Message: fmt.Sprintf("waiting for the %s rate limit of %s per instance (%s_RATE_LIMIT)",
					g.provider, g.limits.Rate, g.limits.Env)}
		}
	}
	return leave, nil
}

// window admits at most Requests requests in any span of Window.
//
// A single token bucket cannot promise that: with a burst of N and a refill
// of N per window it lets 2N through in the first window. So each of the N
// requests a window holds gets its own x/time/rate limiter of one token that
// refills once per window: a slot admits one request per window, and any
// window sees at most one request per slot. The first N requests go at once,
// and request N+1 goes one window after the first, as "50 per minute" means.
type window struct {
	every time.Duration // a window plus its margin

	mu    sync.Mutex
	slots []*rate.Limiter
	// promised are the times told to requests that were turned away, so that
	// the next one is told a later time instead of the same one: a queue of
	// jobs comes back spread out, one per slot, rather than all at once.
	promised []time.Time
}

func newWindow(r Rate) *window {
	w := &window{every: r.Window + max(r.Window/windowMargin, minMargin), slots: make([]*rate.Limiter, r.Requests)}
	for i := range w.slots {
		w.slots[i] = rate.NewLimiter(rate.Every(w.every), 1)
	}
	return w
}

// take admits one request at now, or says how long until its turn.
func (w *window) take(now time.Time) (time.Duration, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range w.slots {
		if s.AllowN(now, 1) {
			return 0, true
		}
	}
	w.promised = slices.DeleteFunc(w.promised, func(t time.Time) bool { return !t.After(now) })
	frees := make([]time.Time, len(w.slots))
	for i, s := range w.slots {
		frees[i] = now.Add(w.untilToken(s, now))
	}
	slices.SortFunc(frees, func(a, b time.Time) int { return a.Compare(b) })
	// The k-th request waiting gets the k-th slot to free up; past the
	// last slot, the next round of the same slots.
	k := len(w.promised)
	at := frees[k%len(frees)].Add(time.Duration(k/len(frees)) * w.every)
	w.promised = append(w.promised, at)
	return at.Sub(now), false
}

// untilToken is how long slot s needs to hold a whole token again, rounded
// up to the millisecond so the caller is never told to come back too early.
func (w *window) untilToken(s *rate.Limiter, now time.Time) time.Duration {
	missing := 1 - s.TokensAt(now)
	if missing <= 0 {
		return 0
	}
	return (time.Duration(missing*float64(w.every)) + time.Millisecond).Truncate(time.Millisecond)
}
