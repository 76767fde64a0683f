package worker

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/polaris/reportd/report"
)

// Janitor runs cleanup_expired_report_jobs() on a schedule. Every instance
// may run one: the SQL lets one caller at a time do the work and the others
// return at once, so nothing needs to elect a leader.
type Janitor struct {
	Queue    report.Queue
	Interval time.Duration
	Log      *slog.Logger
}

// Run cleans up every Interval (with jitter, so instances spread out) until
// ctx ends. A zero Interval disables it.
func (j Janitor) Run(ctx context.Context) {
	if j.Interval <= 0 {
		return
	}
	for {
		wait := j.Interval/2 + time.Duration(rand.Int64N(int64(j.Interval)))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		n, err := j.Queue.Cleanup(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			j.Log.Warn("cleanup failed", "err", err)
		case err == nil && n > 0:
			j.Log.Info("cleanup deleted expired jobs", "deleted", n)
		}
	}
}
