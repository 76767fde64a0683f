package bench

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/polaris/reportd/internal/fakellm"
	"github.com/polaris/reportd/report"
)

// countingQueue counts the progress writes (heartbeats) a worker makes.
type countingQueue struct {
	report.Queue
	beats atomic.Int64
}

func (q *countingQueue) Heartbeat(ctx context.Context, l report.Lease, p report.Progress) error {
	q.beats.Add(1)
	return q.Queue.Heartbeat(ctx, l, p)
}

// Progress (P6) streams jobs that emit 40 pieces a second and reports how
// many progress writes each job made per second of streaming, and on
// PostgreSQL the share of updates to report_jobs that were HOT.
func Progress(kind string) Scenario {
	return Scenario{Name: fmt.Sprintf("progress writes under streaming load (%s)", kind),
		Run: func(ctx context.Context, env *Env) ([]Metric, error) {
			b, err := openBackend(ctx, env, kind, 40)
			if err != nil {
				return nil, err
			}
			defer b.close()
			stream := env.size(8, 3)
			f, err := fakellm.New(fakellm.Perplexity)
			if err != nil {
				return nil, err
			}
			defer f.Close()
			f.SetDefault(fakellm.Stream(strings.Repeat("token ", 40*stream), 40*stream, 25*time.Millisecond))
			jobs := env.size(40, 10)
			q := &countingQueue{Queue: b.queues()}
			before, err := updateCounts(ctx, b)
			if err != nil {
				return nil, err
			}
			began := time.Now()
			stop := runCounting(b, q, routerFor(f), jobs)
			defer stop()
			for range jobs {
				if _, _, err := b.store.Create(ctx, b.user, newJob("progress")); err != nil {
					return nil, err
				}
			}
			if err := waitDone(ctx, b, jobs, 2*time.Minute); err != nil {
				return nil, err
			}
			streamed := float64(jobs) * time.Duration(stream*int(time.Second)).Seconds()
			out := []Metric{
				{Name: "progress writes per job per second", Value: float64(q.beats.Load()) / streamed, Unit: "writes/s"},
				{Name: "wall time", Value: time.Since(began).Seconds(), Unit: "s"},
			}
			if b.proj != nil {
				after, err := settledCounts(ctx, b, before)
				if err != nil {
					return nil, err
				}
				upd, hot := after[0]-before[0], after[1]-before[1]
				// Claims and completions change status, which indexes cover, so they
				// can never be HOT; every HOT update is a progress write.
				out = append(out,
					Metric{Name: "HOT share of progress writes", Value: 100 * float64(hot) / float64(max(q.beats.Load(), 1)), Unit: "%"},
					Metric{Name: "HOT share of all updates", Value: 100 * float64(hot) / float64(max(upd, 1)), Unit: "%"})
			}
			return out, nil
		}}
}

func runCounting(b *backend, q report.Queue, gen report.Generator, concurrency int) func() {
	saved := b.queues
	b.queues = func() report.Queue { return q }
	_, stop := runWorkers(b, gen, 1, concurrency, 50*time.Millisecond, nil)
	b.queues = saved
	return stop
}

// updateCounts reads report_jobs' update and HOT-update counters.
func updateCounts(ctx context.Context, b *backend) ([2]int64, error) {
	var c [2]int64
	if b.proj == nil {
		return c, nil
	}
	err := b.proj.DB.QueryRow(ctx, `select n_tup_upd, n_tup_hot_upd from pg_stat_user_tables
		where relid = 'public.report_jobs'::regclass`).Scan(&c[0], &c[1])
	return c, err
}

// settledCounts reads the counters once the gateway's database sessions have
// ended (a session flushes its statistics when it exits; an idle one may
// hold them for ten seconds) and they have stopped moving.
func settledCounts(ctx context.Context, b *backend, before [2]int64) ([2]int64, error) {
	if err := b.proj.Gateway.Reload(ctx); err != nil { // closes the pool's sessions
		return before, err
	}
	last, stable := before, 0
	for i := 0; i < 60 && stable < 3; i++ {
		time.Sleep(500 * time.Millisecond)
		c, err := updateCounts(ctx, b)
		if err != nil {
			return c, err
		}
		if c == last && c != before {
			stable++
		} else {
			stable = 0
		}
		last = c
	}
	return last, nil
}
