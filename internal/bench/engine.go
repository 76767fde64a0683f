package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/polaris/reportd/internal/fakellm"
	"github.com/polaris/reportd/internal/stack"
	"github.com/polaris/reportd/llm"
	"github.com/polaris/reportd/memory"
	"github.com/polaris/reportd/report"
	"github.com/polaris/reportd/supabase"
	"github.com/polaris/reportd/worker"
)

// claims hears the worker's changes (report.Changes) and records when each
// job was first changed by the worker, which is the moment its claim returned.
type claims struct {
	mu sync.Mutex
	at map[string]time.Time
	ch chan string
}

func newClaims() *claims { return &claims{at: map[string]time.Time{}, ch: make(chan string, 100_000)} }

func (c *claims) Announce(ch report.Change) {
	jobID := ch.JobID
	c.mu.Lock()
	_, seen := c.at[jobID]
	if !seen {
		c.at[jobID] = time.Now()
	}
	c.mu.Unlock()
	if !seen {
		c.ch <- jobID
	}
}

// backend is a store for the engine scenarios, with its own project when on
// PostgreSQL.
type backend struct {
	store  report.Store
	queues func() report.Queue // one per instance (its own connection pool)
	user   report.Caller
	proj   *stack.Stack
	close  func()
}

func openBackend(ctx context.Context, env *Env, kind string, maxConns int32) (*backend, error) {
	if kind == "memory" {
		m := memory.New(nil)
		if _, err := m.Configure(ctx, benchLimits); err != nil {
			return nil, err
		}
		return &backend{store: m, queues: func() report.Queue { return m },
			user: report.Caller{UserID: uuid.NewString(), Role: report.RoleUser}, close: func() {}}, nil
	}
	p, err := env.Project.Fork(ctx, stack.Options{MaxConns: maxConns})
	if err != nil {
		return nil, err
	}
	if _, err := p.DB.Exec(ctx, `update public.report_job_settings set max_queued_per_user = $1`, benchLimits.MaxQueuedPerUser); err != nil {
		p.Close()
		return nil, err
	}
	open := func() *supabase.Store {
		s, _ := supabase.New(supabase.Config{URL: p.URL, AnonKey: p.AnonKey, ServiceKey: p.ServiceKey})
		return s
	}
	id, token, err := p.NewUser(ctx)
	if err != nil {
		p.Close()
		return nil, err
	}
	return &backend{store: open(), queues: func() report.Queue { return open() }, proj: p,
		user: report.Caller{UserID: id, Role: report.RoleUser, Token: token}, close: func() { p.Close() }}, nil
}

// instantLLM is a fake Perplexity that answers at once.
func instantLLM() (*fakellm.Server, report.Generator, error) {
	f, err := fakellm.New(fakellm.Perplexity, fakellm.WithRecordLimit(1000))
	if err != nil {
		return nil, nil, err
	}
	f.SetDefault(fakellm.Instant("ok"))
	return f, routerFor(f), nil
}

func routerFor(f *fakellm.Server) report.Generator {
	return &llm.Router{DefaultModel: "sonar", Perplexity: llm.NewPerplexity(llm.PerplexityChat, llm.ProviderConfig{
		BaseURL: f.URL, APIKey: fakellm.DefaultAPIKey, StallTimeout: 30 * time.Second})}
}

func engineConfig(id string, concurrency int, poll time.Duration, obs report.Changes) worker.Config {
	return worker.Config{ID: id, Concurrency: concurrency, PollInterval: poll, Lease: 30 * time.Second,
		HeartbeatInterval: 10 * time.Second, ProgressInterval: time.Second, JobTimeout: time.Minute,
		RetryBase: 100 * time.Millisecond, Changes: obs}
}

// runWorkers starts n worker instances and returns a stop function.
func runWorkers(b *backend, gen report.Generator, n, concurrency int, poll time.Duration, obs report.Changes) ([]*worker.Worker, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var ws []*worker.Worker
	for i := range n {
		w := worker.New(engineConfig(fmt.Sprintf("bench-%d", i), concurrency, poll, obs), b.queues(), gen, nil)
		ws = append(ws, w)
		wg.Add(1)
		go func() { defer wg.Done(); _ = w.Run(ctx) }()
	}
	return ws, func() { cancel(); wg.Wait() }
}

func newJob(prompt string) report.NewJob {
	return report.NewJob{JobID: report.NewJobID(time.Now()), Prompt: prompt, Model: "sonar",
		Temperature: 0.2, MaxTokens: 50, MaxAttempts: 3}
}

// Pickup (P1, P2) measures create → claimed with an idle worker: notified
// in process (same instance) or only polling (another instance).
func Pickup(kind string, sameInstance bool, poll time.Duration) Scenario {
	where := "same instance"
	if !sameInstance {
		where = fmt.Sprintf("across instances, poll %s", poll)
	}
	return Scenario{Name: fmt.Sprintf("pickup %s (%s)", where, kind), Run: func(ctx context.Context, env *Env) ([]Metric, error) {
		b, err := openBackend(ctx, env, kind, 20)
		if err != nil {
			return nil, err
		}
		defer b.close()
		f, gen, err := instantLLM()
		if err != nil {
			return nil, err
		}
		defer f.Close()
		obs := newClaims()
		ws, stop := runWorkers(b, gen, 1, 4, poll, obs)
		defer stop()
		n := env.size(200, 30)
		var lat []time.Duration
		for range n {
			j, _, err := b.store.Create(ctx, b.user, newJob("pickup"))
			if err != nil {
				return nil, err
			}
			created := time.Now()
			if sameInstance {
				ws[0].OnChange(report.Change{Kind: report.ChangeCreated, JobID: j.JobID}) // what the API announces
			}
			if err := waitFor(ctx, obs, j.JobID, 10*time.Second); err != nil {
				return nil, err
			}
			obs.mu.Lock()
			lat = append(lat, obs.at[j.JobID].Sub(created))
			obs.mu.Unlock()
			// The worker idles between jobs. Across instances the gap is random, so
			// that arrivals fall anywhere within the poll interval, as they would.
			gap := 10 * time.Millisecond
			if !sameInstance {
				gap += time.Duration(rand.Int64N(int64(poll)))
			}
			time.Sleep(gap)
		}
		return []Metric{
			{Name: "p50", Value: Percentile(lat, 50), Unit: "ms"},
			{Name: "p99", Value: Percentile(lat, 99), Unit: "ms"},
			{Name: "max", Value: Percentile(lat, 100), Unit: "ms"},
		}, nil
	}}
}

func waitFor(ctx context.Context, c *claims, jobID string, timeout time.Duration) error {
	deadline := time.After(timeout)
	for {
		c.mu.Lock()
		_, ok := c.at[jobID]
		c.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-c.ch:
		case <-deadline:
			return fmt.Errorf("job %s not claimed within %s", jobID, timeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Throughput (P3) runs pre-inserted jobs with an instant fake LLM through
// n worker instances and reports jobs per second.
func Throughput(kind string, instances int) Scenario {
	return Scenario{Name: fmt.Sprintf("engine throughput, %d worker instance(s) (%s)", instances, kind),
		Run: func(ctx context.Context, env *Env) ([]Metric, error) {
			b, err := openBackend(ctx, env, kind, 60)
			if err != nil {
				return nil, err
			}
			defer b.close()
			f, gen, err := instantLLM()
			if err != nil {
				return nil, err
			}
			defer f.Close()
			n := env.size(4000, 400)
			if err := insertJobs(ctx, b, n); err != nil {
				return nil, err
			}
			var done atomic.Int64
			obs := &counter{done: &done}
			began := time.Now()
			_, stop := runWorkers(b, gen, instances, 16, 50*time.Millisecond, obs)
			defer stop()
			if err := waitDone(ctx, b, n, 5*time.Minute); err != nil {
				return nil, err
			}
			elapsed := time.Since(began)
			return []Metric{{Name: "jobs/s", Value: float64(n) / elapsed.Seconds(), Unit: "jobs/s"}}, nil
		}}
}

type counter struct{ done *atomic.Int64 }

func (c *counter) Announce(report.Change) { c.done.Add(1) }

// insertJobs queues n jobs at once (through SQL on PostgreSQL, since the
// insert is not what is measured).
func insertJobs(ctx context.Context, b *backend, n int) error {
	if b.proj == nil {
		for range n {
			if _, _, err := b.store.Create(ctx, b.user, newJob("throughput")); err != nil {
				return err
			}
		}
		return nil
	}
	return bulkInsert(ctx, b.proj, `insert into public.report_jobs (job_id, user_id, status, model, prompt, temperature, max_tokens)
		select 'job_bench_' || g, $1, 'queued', 'sonar', 'throughput', 0.2, 50 from generate_series(1, $2) g`, b.user.UserID, n)
}

// benchLimits are the default limits, but one user may keep all of a
// scenario's jobs waiting: the scenarios measure the engine, not the cap.
var benchLimits = func() report.Limits {
	l := report.DefaultLimits
	l.MaxQueuedPerUser = 10_000_000
	return l
}()

// bulkInsert runs an insert of many jobs as an operator's script would:
// in one transaction that skips the per-row limit checks (the migrations'
// reportd.bypass_limits), which are not what a scenario measures.
func bulkInsert(ctx context.Context, p *stack.Stack, sql string, args ...any) error {
	tx, err := p.DB.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, `set local reportd.bypass_limits = on`); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, sql, args...); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// waitDone waits until n jobs succeeded.
func waitDone(ctx context.Context, b *backend, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		st, err := b.store.Stats(ctx, b.user)
		if err == nil && st.Succeeded >= n {
			return nil
		}
		if err == nil && st.Failed > 0 {
			return fmt.Errorf("%d jobs failed", st.Failed)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("jobs not done within %s", timeout)
}
