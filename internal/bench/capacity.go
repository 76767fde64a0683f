package bench

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/polaris/reportd/internal/fakellm"
	"github.com/polaris/reportd/internal/stack"
)

// capacityRun is one process running many streaming jobs, watched from
// outside: its RSS from /proc, its goroutines and job counters from
// /metrics.
type capacityRun struct {
	proc     *proc
	target   *apiTarget
	jobs     int
	name     string // for profile files
	profiled bool
	// peak figures while every job was in flight
	inFlight   float64
	rss        int64
	goroutines float64
	heap       float64
	stacks     float64
	rssStart   int64 // RSS when every job was first in flight
}

// capacityEnv runs the API and a worker that takes every job at once, with
// no provider limits, so that nothing but the process itself bounds them.
func capacityEnv(kind string, p *stack.Stack, fake *fakellm.Server, jobs int, gogc string) map[string]string {
	env := apiEnv(kind, p)
	env["MODE"] = "all"
	env["WORKER_CONCURRENCY"] = fmt.Sprint(jobs)
	env["PER_USER_RUNNING_LIMIT"] = "0"
	env["PERPLEXITY_API_KEY"], env["PERPLEXITY_BASE_URL"] = fakellm.DefaultAPIKey, fake.URL
	env["PERPLEXITY_CONCURRENCY"], env["PERPLEXITY_RATE_LIMIT"] = "0", "none"
	env["WORKER_POLL_INTERVAL"] = "200ms"
	env["METRICS_QUEUE_INTERVAL"] = "1s"
	if gogc != "" {
		env["GOGC"] = gogc
	}
	return env
}

// Capacity (P7, P8) runs n jobs at once in one reportd process, each
// streaming a 2 KB answer from a fake provider one piece a second, and
// reports the process's RSS and goroutines while all of them are in flight,
// and the errors. gogc, when set, is the process's GOGC (the Go default is
// 100: the heap may grow to twice what is live before a collection).
func Capacity(kind string, n int, gogc string) Scenario {
	name := fmt.Sprintf("%d concurrent streaming jobs in one process (%s)", n, kind)
	if gogc != "" {
		name = fmt.Sprintf("%d concurrent streaming jobs in one process (%s, GOGC=%s)", n, kind, gogc)
	}
	return Scenario{Name: name, Run: func(ctx context.Context, env *Env) ([]Metric, error) {
		jobs := env.size(n, n/5)
		chunks := env.size(45, 15)
		fake, err := fakellm.New(fakellm.Perplexity, fakellm.WithRecordLimit(100), fakellm.WithFinishedBuffer(1))
		if err != nil {
			return nil, err
		}
		defer fake.Close()
		text := strings.Repeat("token ", 340) // 2040 bytes
		fake.SetDefault(fakellm.Stream(text, chunks, time.Second))
		var p *stack.Stack
		if kind != "memory" {
			if p, err = env.Project.Fork(ctx, stack.Options{MaxConns: 40}); err != nil {
				return nil, err
			}
			defer p.Close()
		}
		proc, err := env.startProc(ctx, capacityEnv(kind, p, fake, jobs, gogc))
		if err != nil {
			return nil, err
		}
		defer proc.stop()
		r := &capacityRun{proc: proc, jobs: jobs, name: fmt.Sprintf("capacity-%s-%d-gogc%s", kind, jobs, gogc)}
		return r.measure(ctx, env, kind, p, len(strings.TrimSpace(text)))
	}}
}

func (r *capacityRun) measure(ctx context.Context, env *Env, kind string, p *stack.Stack, textBytes int) ([]Metric, error) {
	t, err := newTarget(ctx, kind, p, r.proc)
	if err != nil {
		return nil, err
	}
	r.target = t
	idleRSS, idleGoroutines, err := r.idle()
	if err != nil {
		return nil, err
	}
	began := time.Now()
	createErrors := r.createAll()
	done, err := r.watch(ctx, env)
	if err != nil {
		return nil, err
	}
	levels, warnings := r.proc.logLevels()
	env.logf("  %d jobs: %.0f in flight at once, RSS %d MiB -> %d MiB, %.0f goroutines, %v log lines by level; %s",
		r.jobs, r.inFlight, idleRSS>>20, r.rss>>20, r.goroutines, levels, strings.Join(warnings, " | "))
	perJob := float64(r.rss-idleRSS) / float64(r.jobs)
	return []Metric{
		{Name: "jobs in flight at once", Value: r.inFlight, Unit: "jobs"},
		{Name: "RSS idle", Value: float64(idleRSS) / (1 << 20), Unit: "MiB"},
		{Name: "RSS with every job in flight (P8)", Value: float64(r.rss) / (1 << 20), Unit: "MiB"},
		{Name: "RSS per in-flight job as the streams begin (P7)", Value: float64(r.rssStart-idleRSS) / float64(r.jobs) / 1024, Unit: "KiB"},
		{Name: "RSS per in-flight job at the peak, every answer streamed (P7)", Value: perJob / 1024, Unit: "KiB"},
		{Name: "Go heap in use per in-flight job", Value: (r.heap) / float64(r.jobs) / 1024, Unit: "KiB"},
		{Name: "Go stacks per in-flight job", Value: r.stacks / float64(r.jobs) / 1024, Unit: "KiB"},
		{Name: "result text per job", Value: float64(textBytes) / 1024, Unit: "KiB"},
		{Name: "goroutines with every job in flight", Value: r.goroutines, Unit: "goroutines"},
		{Name: "goroutines per in-flight job", Value: (r.goroutines - idleGoroutines) / float64(r.jobs), Unit: "goroutines"},
		{Name: "jobs succeeded", Value: done, Unit: "jobs"},
		{Name: "errors (failed create, failed or retried job, error log line)", Value: float64(createErrors) +
			float64(r.jobs) - done + float64(levels["ERROR"]), Unit: "errors"},
		{Name: "warnings logged", Value: float64(levels["WARN"]), Unit: "lines"},
		{Name: "wall time", Value: time.Since(began).Seconds(), Unit: "s"},
	}, nil
}

// newTarget is a user of the process's store.
func newTarget(ctx context.Context, kind string, p *stack.Stack, pr *proc) (*apiTarget, error) {
	t := &apiTarget{proc: pr, close: func() {}}
	var err error
	if kind == "memory" {
		t.token, err = memoryToken()
	} else {
		_, t.token, err = p.NewUser(ctx)
	}
	return t, err
}

// idle is the settled process before any job: RSS and goroutines.
func (r *capacityRun) idle() (int64, float64, error) {
	time.Sleep(2 * time.Second) // let start-up garbage be collected
	m, err := r.proc.scrape()
	if err != nil {
		return 0, 0, err
	}
	rss, err := r.proc.rssBytes()
	return rss, gauge(m, "go_goroutines"), err
}

// createAll creates the jobs through the API, 20 at a time, and returns how
// many creates failed.
func (r *capacityRun) createAll() int {
	var failed atomic.Int64
	var wg sync.WaitGroup
	next := make(chan struct{})
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				if _, err := r.target.create(); err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	for range r.jobs {
		next <- struct{}{}
	}
	close(next)
	wg.Wait()
	return int(failed.Load())
}

// watch samples the process until every job has finished, keeping the peak
// RSS, goroutines and heap while the most jobs were in flight. It returns
// how many jobs succeeded.
func (r *capacityRun) watch(ctx context.Context, env *Env) (float64, error) {
	deadline := time.Now().Add(10 * time.Minute)
	for time.Now().Before(deadline) {
		m, err := r.proc.scrape()
		if err != nil {
			return 0, err
		}
		running := gauge(m, "reportd_worker_jobs_running")
		if running >= r.inFlight && running > 0 {
			rss, err := r.proc.rssBytes()
			if err != nil {
				return 0, err
			}
			if running == float64(r.jobs) && r.rssStart == 0 {
				r.rssStart = rss // every stream has just begun: little text is held yet
			}
			if running > r.inFlight || rss > r.rss {
				r.inFlight, r.rss = running, rss
				r.goroutines, r.heap = gauge(m, "go_goroutines"), gauge(m, "go_memstats_heap_inuse_bytes")
				r.stacks = gauge(m, "go_memstats_stack_inuse_bytes")
			}
			if running == float64(r.jobs) && !r.profiled && env.ProfileDir != "" {
				r.profiled = true
				if err := r.proc.saveProfiles(env.ProfileDir, r.name); err != nil {
					return 0, err
				}
			}
		}
		done := gauge(m, "reportd_jobs_total", "event", "succeeded")
		failed := gauge(m, "reportd_jobs_total", "event", "failed") + gauge(m, "reportd_jobs_total", "event", "retried")
		if done+failed >= float64(r.jobs) && running == 0 {
			return done, nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	return 0, fmt.Errorf("the jobs did not finish within 10 minutes\n%s", r.proc.tail(20))
}
