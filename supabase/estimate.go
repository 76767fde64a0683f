package supabase

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/polaris/reportd/report"
)

// snapshots keeps the instance's latest snapshot of the queue
// (report_job_queue_snapshot()) for SnapshotMaxAge, so that status reads,
// however many, cost it at most once a second. A stale snapshot is renewed
// in the background while reads go on with it; only the first read waits
// for one. Without the service key (an API instance that has only users'
// tokens) there is no snapshot, and an estimate counts only the owner's own
// waiting jobs.
type snapshots struct {
	maxAge time.Duration
	cur    atomic.Pointer[snapshot]

	mu         sync.Mutex
	refreshing bool
}

type snapshot struct {
	at   time.Time
	snap report.QueueSnapshot
}

func (c *snapshots) get(ctx context.Context, s *Store) report.QueueSnapshot {
	cur := c.cur.Load()
	switch {
	case cur != nil && c.maxAge >= 0 && time.Since(cur.at) < c.maxAge:
		return cur.snap
	case cur == nil || c.maxAge < 0:
		return c.refresh(ctx, s, cur)
	}
	c.mu.Lock()
	start := !c.refreshing
	c.refreshing = true
	c.mu.Unlock()
	if start {
		go func() {
			rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c.refresh(rctx, s, cur)
			c.mu.Lock()
			c.refreshing = false
			c.mu.Unlock()
		}()
	}
	return cur.snap
}

// refresh reads a new snapshot; on failure it keeps old (a stale snapshot
// is a better estimate than none).
func (c *snapshots) refresh(ctx context.Context, s *Store, old *snapshot) report.QueueSnapshot {
	snap, err := s.queueSnapshot(ctx)
	if err != nil {
		if old != nil {
			return old.snap
		}
		return report.QueueSnapshot{}
	}
	c.cur.Store(&snapshot{at: time.Now(), snap: snap})
	return snap
}

// queueSnapshot reads report_job_queue_snapshot() with service authority.
func (s *Store) queueSnapshot(ctx context.Context) (report.QueueSnapshot, error) {
	who, err := s.worker()
	if err != nil {
		return report.QueueSnapshot{}, err
	}
	var out struct {
		Running   int                 `json:"running"`
		Lengths   map[string]int      `json:"lengths"`
		Durations map[string]*float64 `json:"durations"`
		Overall   *float64            `json:"overall"`
	}
	if err := s.rpc(ctx, who, "report_job_queue_snapshot", map[string]any{}, &out); err != nil {
		return report.QueueSnapshot{}, err
	}
	q := report.QueueSnapshot{Running: out.Running, Lengths: map[int]int{}, Durations: map[string]time.Duration{}}
	for k, users := range out.Lengths {
		if n, err := strconv.Atoi(k); err == nil {
			q.Lengths[n] = users
		}
	}
	seconds := func(f *float64) time.Duration { return time.Duration(*f * float64(time.Second)) }
	for model, d := range out.Durations {
		if d != nil {
			q.Durations[model] = seconds(d)
		}
	}
	if out.Overall != nil {
		q.Durations[""] = seconds(out.Overall)
	}
	return q, nil
}
