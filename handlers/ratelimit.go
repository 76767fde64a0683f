package handlers

import (
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"

	"github.com/polaris/reportd/report"
)

// RateLimit is a per-caller token bucket: PerSecond requests a second on
// average, bursts of Burst. A zero PerSecond disables it. MaxCallers bounds
// the buckets kept in memory (default 10,000).
type RateLimit struct {
	PerSecond  float64
	Burst      int
	MaxCallers int
}

// rateLimit answers 429 with Retry-After to a caller over its limit; other
// callers are unaffected. Users are keyed by user id, service callers by
// the user they act for (a service naming no user shares one bucket).
func rateLimit(cfg RateLimit, now func() time.Time) echo.MiddlewareFunc {
	if cfg.PerSecond <= 0 {
		return func(next echo.HandlerFunc) echo.HandlerFunc { return next }
	}
	l := newLimiter(cfg, now)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			caller := callerOf(c)
			key := "user:" + caller.UserID
			if caller.IsService() {
				key = "service:" + caller.UserID
			}
			if wait, ok := l.allow(key); !ok {
				return &report.LimitError{RetryAfter: wait,
					Message: fmt.Sprintf("rate limit exceeded, retry after %ds", max(int(math.Ceil(wait.Seconds())), 1))}
			}
			return next(c)
		}
	}
}

// limiter keeps one x/time/rate bucket per caller. Memory stays bounded:
// buckets idle long enough to have refilled are indistinguishable from new
// ones and are dropped first; past MaxCallers the least recently seen go.
type limiter struct {
	cfg    RateLimit
	now    func() time.Time
	refill time.Duration // an idle bucket is full again after this

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newLimiter(cfg RateLimit, now func() time.Time) *limiter {
	cfg.Burst = max(cfg.Burst, 1)
	if cfg.MaxCallers <= 0 {
		cfg.MaxCallers = 10_000
	}
	refill := time.Duration(math.Ceil(float64(cfg.Burst) / cfg.PerSecond * float64(time.Second)))
	return &limiter{cfg: cfg, now: now, refill: refill, buckets: map[string]*bucket{}}
}

// allow takes a token for key, or says how long until one is available.
func (l *limiter) allow(key string) (time.Duration, bool) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= l.cfg.MaxCallers {
			l.evict(now)
		}
		b = &bucket{lim: rate.NewLimiter(rate.Limit(l.cfg.PerSecond), l.cfg.Burst)}
		l.buckets[key] = b
	}
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d, false
	}
	return 0, true
}

// evict makes room for one more bucket (caller holds mu).
func (l *limiter) evict(now time.Time) {
	if now.Sub(l.lastSweep) >= time.Second {
		l.lastSweep = now
		for k, b := range l.buckets {
			if now.Sub(b.seen) >= l.refill {
				delete(l.buckets, k)
			}
		}
	}
	for len(l.buckets) >= l.cfg.MaxCallers {
		oldest, at := "", now
		for k, b := range l.buckets {
			if !b.seen.After(at) {
				oldest, at = k, b.seen
			}
		}
		delete(l.buckets, oldest)
	}
}
