package bench

import (
	"context"
	"strings"
	"time"

	"github.com/polaris/reportd/internal/fakellm"
	"github.com/polaris/reportd/internal/stack"
)

// tableStats is report_jobs' row in pg_stat_user_tables.
type tableStats struct {
	live, dead, updates, hot, autovacuums, autoanalyzes int64
}

func readTableStats(ctx context.Context, p *stack.Stack) (tableStats, error) {
	var s tableStats
	err := p.DB.QueryRow(ctx, `select n_live_tup, n_dead_tup, n_tup_upd, n_tup_hot_upd, autovacuum_count, autoanalyze_count
		from pg_stat_user_tables where relid = 'public.report_jobs'::regclass`).
		Scan(&s.live, &s.dead, &s.updates, &s.hot, &s.autovacuums, &s.autoanalyzes)
	return s, err
}

// soakEnv runs the API and a worker on Supabase with the default intervals
// (progress at most once a second, lease 30 s, heartbeat 10 s).
func soakEnv(p *stack.Stack, fake *fakellm.Server) map[string]string {
	env := apiEnv("supabase", p)
	env["MODE"] = "all"
	env["WORKER_CONCURRENCY"], env["PER_USER_RUNNING_LIMIT"] = "64", "0"
	env["PERPLEXITY_API_KEY"], env["PERPLEXITY_BASE_URL"] = fakellm.DefaultAPIKey, fake.URL
	env["PERPLEXITY_CONCURRENCY"], env["PERPLEXITY_RATE_LIMIT"] = "0", "none"
	return env
}

// Soak runs steady load on the PostgreSQL path for env.Soak: 20 jobs a
// second created through the API, each streaming for about 3 s (so progress
// is written), and 50 status reads a second, with autovacuum running as
// configured by the migrations. It reports what autovacuum kept the jobs
// table to: its dead tuples at the end and at worst, its live rows, and how
// many times autovacuum ran.
func Soak() Scenario {
	return Scenario{Name: "soak: dead tuples on report_jobs under steady load (supabase)", Runs: 1,
		Run: func(ctx context.Context, env *Env) ([]Metric, error) {
			p, err := env.Project.Fork(ctx, stack.Options{MaxConns: 40})
			if err != nil {
				return nil, err
			}
			defer p.Close()
			fake, err := fakellm.New(fakellm.Perplexity, fakellm.WithRecordLimit(100), fakellm.WithFinishedBuffer(1))
			if err != nil {
				return nil, err
			}
			defer fake.Close()
			fake.SetDefault(fakellm.Stream(strings.Repeat("steady ", 60), 10, 300*time.Millisecond))
			proc, err := env.startProc(ctx, soakEnv(p, fake))
			if err != nil {
				return nil, err
			}
			defer proc.stop()
			t, err := newTarget(ctx, "supabase", p, proc)
			if err != nil {
				return nil, err
			}
			if t.jobID, err = t.create(); err != nil {
				return nil, err
			}
			return runSoak(ctx, env, p, t)
		}}
}

func runSoak(ctx context.Context, env *Env, p *stack.Stack, t *apiTarget) ([]Metric, error) {
	before, err := readTableStats(ctx, p)
	if err != nil {
		return nil, err
	}
	creates, reads := make(chan load, 1), make(chan load, 1)
	go func() { creates <- attack(t.createTarget(), 20, 20, env.Soak) }()
	go func() { reads <- attack(t.statusTarget(), 50, 10, env.Soak) }()
	var worst tableStats
	samples := 0
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	end := time.Now().Add(env.Soak)
	for time.Now().Before(end) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
		s, err := readTableStats(ctx, p)
		if err != nil {
			return nil, err
		}
		samples++
		if s.dead > worst.dead {
			worst = s
		}
		env.logf("  soak %s: live %d, dead %d, autovacuum runs %d", time.Until(end).Round(time.Second), s.live, s.dead, s.autovacuums-before.autovacuums)
	}
	c, r := <-creates, <-reads
	final, err := readTableStats(ctx, p)
	if err != nil {
		return nil, err
	}
	m, err := t.proc.scrape()
	if err != nil {
		return nil, err
	}
	succeeded := gauge(m, "reportd_jobs_total", "event", "succeeded")
	failed := gauge(m, "reportd_jobs_total", "event", "failed") + gauge(m, "reportd_jobs_total", "event", "retried")
	upd, hot := final.updates-before.updates, final.hot-before.hot
	return []Metric{
		{Name: "soak duration", Value: env.Soak.Minutes(), Unit: "min"},
		{Name: "jobs created", Value: float64(c.ok), Unit: "jobs"},
		{Name: "jobs succeeded", Value: succeeded, Unit: "jobs"},
		{Name: "dead tuples at the end (n_dead_tup)", Value: float64(final.dead), Unit: "rows"},
		{Name: "live rows at the end (n_live_tup)", Value: float64(final.live), Unit: "rows"},
		{Name: "dead share at the end", Value: 100 * float64(final.dead) / float64(max(final.live+final.dead, 1)), Unit: "%"},
		{Name: "dead tuples, worst sample (every 10 s)", Value: float64(worst.dead), Unit: "rows"},
		{Name: "autovacuum runs", Value: float64(final.autovacuums - before.autovacuums), Unit: "runs"},
		{Name: "HOT share of updates", Value: 100 * float64(hot) / float64(max(upd, 1)), Unit: "%"},
		{Name: "errors (failed requests, failed or retried jobs)", Value: float64(c.errors+r.errors) + failed, Unit: "errors"},
		{Name: "status read p99 during the soak", Value: Percentile(r.latencies, 99), Unit: "ms"},
		{Name: "create p99 during the soak", Value: Percentile(c.latencies, 99), Unit: "ms"},
		{Name: "samples", Value: float64(samples), Unit: "samples"},
	}, nil
}
