package bench

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/polaris/reportd/auth"
	"github.com/polaris/reportd/internal/stack"
)

// StatusReadSizes are the store sizes the status-read scenario measures:
// the full run's and the quick run's.
func StatusReadSizes(kind string, quick bool) []int {
	switch {
	case quick:
		return []int{1_000, 10_000}
	case kind == "memory":
		return []int{1_000, 100_000, 1_000_000}
	}
	return []int{1_000, 100_000}
}

// readUsers is how many users the stored jobs belong to; the reader is one
// of them and owns a tenth of them, so its queued job waits deep in its own
// queue and behind everyone else's.
const readUsers = 100

// StatusReads measures GET /v1/jobs/{id} of a queued and of a finished job
// as the store grows, through the real service with the worker off
// (MODE=api: every stored job stays queued, the worst case for a queued
// job's estimate): first with only the two jobs read stored, then at each
// size. Each figure is also given as the ratio to the empty store's. The
// memory store is filled through the API; PostgreSQL with one insert.
func StatusReads(kind string) Scenario {
	return Scenario{Name: fmt.Sprintf("status read vs store size (%s)", kind),
		Run: func(ctx context.Context, env *Env) ([]Metric, error) {
			r, err := env.startReads(ctx, kind)
			if err != nil {
				return nil, err
			}
			defer r.close()
			d := time.Duration(env.size(8, 2)) * time.Second
			baseQueued, baseFinished, err := r.measure(d)
			if err != nil {
				return nil, err
			}
			env.logf("  %s, empty: queued %.0f req/s, finished %.0f req/s", kind, baseQueued.rate, baseFinished.rate)
			ms := []Metric{
				{Name: "queued job, empty store", Value: baseQueued.rate, Unit: "req/s"},
				{Name: "finished job, empty store", Value: baseFinished.rate, Unit: "req/s"},
			}
			for _, n := range StatusReadSizes(kind, env.Quick) {
				if err := r.fill(ctx, n); err != nil {
					return nil, err
				}
				q, f, err := r.measure(d)
				if err != nil {
					return nil, err
				}
				env.logf("  %s, %d jobs: queued %.0f req/s (p50 %.2f ms), finished %.0f req/s", kind, n, q.rate,
					Percentile(q.latencies, 50), f.rate)
				ms = append(ms,
					Metric{Name: fmt.Sprintf("queued job, %s jobs", count(n)), Value: q.rate, Unit: "req/s"},
					Metric{Name: fmt.Sprintf("queued job p50, %s jobs", count(n)), Value: Percentile(q.latencies, 50), Unit: "ms"},
					Metric{Name: fmt.Sprintf("finished job, %s jobs", count(n)), Value: f.rate, Unit: "req/s"},
					Metric{Name: fmt.Sprintf("queued job ratio to empty, %s jobs", count(n)), Value: q.rate / baseQueued.rate, Unit: "x"},
					Metric{Name: fmt.Sprintf("finished job ratio to empty, %s jobs", count(n)), Value: f.rate / baseFinished.rate, Unit: "x"},
					Metric{Name: fmt.Sprintf("errors, %s jobs", count(n)), Value: float64(q.errors + f.errors), Unit: "requests"})
			}
			return ms, nil
		}}
}

func count(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1_000 && n%1_000 == 0:
		return fmt.Sprintf("%dk", n/1_000)
	}
	return fmt.Sprint(n)
}

// reads is a running API with the two jobs read, and a way to add jobs.
type reads struct {
	proc             *proc
	proj             *stack.Stack // nil on the memory store
	tokens           []string     // of readUsers users; tokens[0] is the reader
	ids              []string
	queued, finished string
	stored           int
	close            func()
}

func (e *Env) startReads(ctx context.Context, kind string) (*reads, error) {
	r := &reads{close: func() {}}
	if kind != "memory" {
		p, err := e.Project.Fork(ctx, stack.Options{MaxConns: 40})
		if err != nil {
			return nil, err
		}
		r.proj, r.close = p, func() { p.Close() }
	}
	env := apiEnv(kind, r.proj)
	for range readUsers {
		id := uuid.NewString()
		token, err := r.token(ctx, id)
		if err != nil {
			r.close()
			return nil, err
		}
		r.tokens, r.ids = append(r.tokens, token), append(r.ids, id)
	}
	proc, err := e.startProc(ctx, env)
	if err != nil {
		r.close()
		return nil, err
	}
	closeStore := r.close
	r.proc, r.close = proc, func() { proc.stop(); closeStore() }
	if r.finished, err = r.create(r.tokens[0]); err == nil {
		err = r.cancel(r.tokens[0], r.finished)
	}
	if err == nil {
		r.queued, err = r.create(r.tokens[0])
	}
	if err != nil {
		r.close()
		return nil, err
	}
	r.stored = 2
	return r, nil
}

// token is a user's access token, the user known to the project when
// there is one.
func (r *reads) token(ctx context.Context, id string) (string, error) {
	if r.proj == nil {
		return auth.MintUserToken([]byte(benchSecret), id, "reader@example.com", 24*time.Hour, time.Now())
	}
	if _, err := r.proj.DB.Exec(ctx, `insert into auth.users (id, email) values ($1::uuid, $2)`, id, id+"@example.com"); err != nil {
		return "", err
	}
	return r.proj.Token(id)
}

func (r *reads) create(token string) (string, error) {
	t := &apiTarget{proc: r.proc, token: token}
	return t.create()
}

func (r *reads) cancel(token, id string) error {
	req, _ := http.NewRequest("POST", r.proc.URL+"/v1/jobs/"+id+"/cancel", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("cancel: %d", resp.StatusCode)
	}
	return nil
}

// fill stores jobs until the store holds n, a tenth of them the reader's,
// and then queues a new job for the reader to read: the newest of its
// jobs, behind all the others.
func (r *reads) fill(ctx context.Context, n int) error {
	add := n - r.stored
	if add <= 0 {
		return nil
	}
	var err error
	if r.proj != nil {
		err = bulkInsert(ctx, r.proj, `insert into public.report_jobs (job_id, user_id, status, model, prompt, temperature, max_tokens)
			select 'job_1_read_' || $3::bigint + g, ($1::uuid[])[1 + (g % 10 != 0)::int * (1 + g % ($2 - 1))], 'queued', 'sonar',
			       'a stored job', 0.2, 100
			  from generate_series(1, $4) g`, r.ids, len(r.ids), r.stored, add)
		if err == nil {
			// The steady state of a table that grew over time: vacuumed and
			// analysed (autovacuum would otherwise run during the reads), and
			// the insert's pages written out (not by a checkpoint during them).
			_, err = r.proj.DB.Exec(ctx, `vacuum analyze public.report_jobs`)
		}
		if err == nil {
			_, err = r.proj.DB.Exec(ctx, `checkpoint`)
		}
	} else {
		err = r.fillThroughAPI(ctx, add)
	}
	if err != nil {
		return err
	}
	r.stored = n
	r.queued, err = r.create(r.tokens[0])
	return err
}

// fillThroughAPI creates jobs through POST /v1/jobs from 32 connections.
func (r *reads) fillThroughAPI(ctx context.Context, add int) error {
	var next atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := next.Add(1)
				if i > int64(add) {
					return
				}
				token := r.tokens[0]
				if i%10 != 0 {
					token = r.tokens[1+int(i)%(len(r.tokens)-1)]
				}
				req, _ := http.NewRequest("POST", r.proc.URL+"/v1/jobs", bytes.NewReader([]byte(createBody)))
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode != http.StatusCreated {
						err = fmt.Errorf("fill: %d", resp.StatusCode)
					}
				}
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return err
	}
	return ctx.Err()
}

// measure reads the queued job and the finished one, as fast as 50
// connections can, for d each: in two halves, queued, finished, queued,
// finished, so that neither gains from going second (after a fill, the
// database checkpoints and autovacuum runs; the Go heap is collected).
func (r *reads) measure(d time.Duration) (queued, finished load, err error) {
	get := func(id string) vegeta.Target {
		return vegeta.Target{Method: "GET", URL: r.proc.URL + "/v1/jobs/" + id,
			Header: http.Header{"Authorization": {"Bearer " + r.tokens[0]}}}
	}
	// Warm up both reads (connections, the server's pools, the CPU's
	// frequency), so that the first size is not measured against a cold
	// empty store.
	attack(get(r.queued), 0, 50, 2*time.Second)
	attack(get(r.finished), 0, 50, 2*time.Second)
	for range 2 {
		queued = queued.add(attack(get(r.queued), 0, 50, d/2))
		finished = finished.add(attack(get(r.finished), 0, 50, d/2))
	}
	if queued.ok == 0 || finished.ok == 0 {
		return queued, finished, fmt.Errorf("no successful read (%s)", strings.TrimSpace(r.proc.tail(5)))
	}
	return queued, finished, nil
}
