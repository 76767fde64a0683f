package handlers

import (
	"strconv"
	"sync"
	"testing"
	"time"
)

// A user over the limit gets 429 with Retry-After; another user, and the
// same user on the drop-in route's shared bucket, are unaffected by others.
func TestRateLimitPerUser(t *testing.T) {
	t.Parallel()
	a := newAPI(t, func(d *Deps) { d.HTTP.RateLimit = RateLimit{PerSecond: 0.01, Burst: 3} })
	_, greedy := a.user()
	_, modest := a.user()
	for i := range 3 {
		if r := a.do("GET", "/v1/jobs", greedy, nil); r.status != 200 {
			t.Fatalf("request %d within the burst: %s", i, r)
		}
	}
	r := a.do("GET", "/v1/stats", greedy, nil)
	secs, err := strconv.Atoi(r.header.Get("Retry-After"))
	if r.status != 429 || r.json(t)["code"] != "rate_limited" || err != nil || secs < 1 || secs > 100 {
		t.Fatalf("over the limit: %s (Retry-After %q)", r, r.header.Get("Retry-After"))
	}
	if r := a.do("POST", "/api/reportJobsDb", greedy, map[string]any{"prompt": "p", "model": "demo"}); r.status != 429 {
		t.Fatalf("the drop-in route shares the user's bucket: %s", r)
	}
	if r := a.do("GET", "/v1/jobs", modest, nil); r.status != 200 {
		t.Fatalf("another user was limited: %s", r)
	}
	if r := a.do("GET", "/healthz", "", nil); r.status != 200 {
		t.Fatalf("health checks are not limited: %s", r)
	}
}

// The limiter's memory stays bounded however many callers appear, and a
// caller it forgot starts again with a full bucket (never worse off).
func TestLimiterMemoryIsBounded(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	l := newLimiter(RateLimit{PerSecond: 1, Burst: 2, MaxCallers: 100}, clock)
	for i := range 10_000 {
		if _, ok := l.allow("user-" + strconv.Itoa(i)); !ok {
			t.Fatalf("a new caller was refused at %d", i)
		}
	}
	if n := len(l.buckets); n > 100 {
		t.Fatalf("%d buckets kept, limit 100", n)
	}
	l.allow("steady")
	if _, ok := l.allow("steady"); !ok {
		t.Fatal("the burst of 2 was not granted")
	}
	if wait, ok := l.allow("steady"); ok || wait <= 0 || wait > time.Second {
		t.Fatalf("third request: ok %v wait %v", ok, wait)
	}
	mu.Lock()
	now = now.Add(time.Second)
	mu.Unlock()
	if _, ok := l.allow("steady"); !ok {
		t.Fatal("a refilled token was not granted")
	}
}
