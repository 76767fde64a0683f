package worker

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/polaris/reportd/internal/fakellm"
	"github.com/polaris/reportd/internal/stack"
	"github.com/polaris/reportd/llm"
	"github.com/polaris/reportd/memory"
	"github.com/polaris/reportd/report"
	"github.com/polaris/reportd/supabase"
)

// event is one call the worker made to its queue.
type event struct {
	op     string // heartbeat, complete, fail, release, keep
	jobID  string
	at     time.Time
	status report.Status // fail: the resulting status
	err    error
	prog   report.Progress
}

// spy wraps a queue and reports every write the worker makes.
type spy struct {
	report.Queue
	events chan event

	mu  sync.Mutex
	log []event
}

func newSpy(q report.Queue) *spy { return &spy{Queue: q, events: make(chan event, 10_000)} }

func (s *spy) add(e event) {
	if e.at.IsZero() {
		e.at = time.Now()
	}
	s.mu.Lock()
	s.log = append(s.log, e)
	s.mu.Unlock()
	s.events <- e
}

func (s *spy) Heartbeat(ctx context.Context, l report.Lease, p report.Progress) error {
	started := time.Now() // when the write was made, not when it returned
	err := s.Queue.Heartbeat(ctx, l, p)
	s.add(event{op: "heartbeat", jobID: l.JobID, err: err, prog: p, at: started})
	return err
}

func (s *spy) Complete(ctx context.Context, l report.Lease, c report.Completion) error {
	err := s.Queue.Complete(ctx, l, c)
	s.add(event{op: "complete", jobID: l.JobID, err: err})
	return err
}

func (s *spy) Fail(ctx context.Context, l report.Lease, f report.Failure) (report.Status, error) {
	st, err := s.Queue.Fail(ctx, l, f)
	s.add(event{op: "fail", jobID: l.JobID, status: st, err: err})
	return st, err
}

func (s *spy) Release(ctx context.Context, l report.Lease) error {
	err := s.Queue.Release(ctx, l)
	s.add(event{op: "release", jobID: l.JobID, err: err})
	return err
}

func (s *spy) KeepPartial(ctx context.Context, l report.Lease, text string) error {
	err := s.Queue.KeepPartial(ctx, l, text)
	s.add(event{op: "keep", jobID: l.JobID, err: err})
	return err
}

func (s *spy) heartbeats(jobID string) []event {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []event
	for _, e := range s.log {
		if e.op == "heartbeat" && e.jobID == jobID {
			out = append(out, e)
		}
	}
	return out
}

// waitFor returns the first event of op for the job.
func (s *spy) waitFor(t *testing.T, op, jobID string, timeout time.Duration) event {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case e := <-s.events:
			if e.op == op && e.jobID == jobID {
				return e
			}
		case <-deadline:
			t.Fatalf("no %s for %s within %s", op, jobID, timeout)
		}
	}
}

// backend is a store the engine tests run against.
type backend struct {
	name string
	open func(t *testing.T) (report.Store, report.Queue, report.Caller)
}

// backends: the in-memory store, and the Supabase store through the
// PostgREST-compatible gateway over PostgreSQL.
var backends = []backend{
	{"memory", func(*testing.T) (report.Store, report.Queue, report.Caller) {
		s := memory.New(nil)
		return s, s, report.Caller{UserID: uuid.NewString(), Role: report.RoleUser}
	}},
	{"supabase", func(t *testing.T) (report.Store, report.Queue, report.Caller) {
		// A database of its own: a worker claims any queued job.
		p, err := project.Fork(context.Background(), stack.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Close() })
		s, err := supabase.New(supabase.Config{URL: p.URL, AnonKey: p.AnonKey, ServiceKey: p.ServiceKey})
		if err != nil {
			t.Fatal(err)
		}
		id, token, err := p.NewUser(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return s, s, report.Caller{UserID: id, Role: report.RoleUser, Token: token}
	}},
}

// forEachBackend runs a test on every store, in parallel.
func forEachBackend(t *testing.T, fn func(t *testing.T, b backend)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			fn(t, b)
		})
	}
}

// engine is a worker over a store and a fake Perplexity.
type engine struct {
	store  report.Store
	spy    *spy
	fake   *fakellm.Server
	worker *Worker
	user   report.Caller
	cancel context.CancelFunc
	done   chan struct{}
}

func fastConfig() Config {
	return Config{
		Concurrency: 4, PollInterval: 20 * time.Millisecond, Lease: 2 * time.Second,
		HeartbeatInterval: 500 * time.Millisecond, ProgressInterval: 100 * time.Millisecond,
		PartialInterval: 200 * time.Millisecond, JobTimeout: 10 * time.Second, RetryBase: 10 * time.Millisecond,
		RetryMax: 50 * time.Millisecond,
	}
}

func startEngine(t *testing.T, b backend, cfg Config) *engine {
	t.Helper()
	fake, err := fakellm.New(fakellm.Perplexity)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	store, queue, user := b.open(t)
	sp := newSpy(queue)
	gen := &llm.Router{DefaultModel: "sonar", Demo: llm.Demo{},
		Perplexity: llm.NewPerplexity(llm.PerplexityChat, llm.ProviderConfig{BaseURL: fake.URL, APIKey: fakellm.DefaultAPIKey, StallTimeout: 300 * time.Millisecond})}
	e := &engine{store: store, spy: sp, fake: fake, worker: New(cfg, sp, gen, nil), user: user, done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	go func() { defer close(e.done); _ = e.worker.Run(ctx) }()
	t.Cleanup(e.stop)
	return e
}

func (e *engine) stop() {
	e.cancel()
	<-e.done
}

func (e *engine) submit(t *testing.T, model string, maxTokens int) report.Job {
	t.Helper()
	j, _, err := e.store.Create(context.Background(), e.user, report.NewJob{
		JobID: report.NewJobID(time.Now()), Prompt: "Write about tea.", Model: model,
		Temperature: 0.2, MaxTokens: maxTokens, MaxAttempts: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.worker.OnChange(report.Change{Kind: report.ChangeCreated, JobID: j.JobID})
	return j
}

func (e *engine) job(t *testing.T, jobID string) report.Job {
	t.Helper()
	j, err := e.store.Get(context.Background(), e.user, jobID)
	if err != nil {
		t.Fatal(err)
	}
	return j
}
