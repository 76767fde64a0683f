// Package worker runs report jobs: it claims them from the store under a
// lease, streams each from its LLM provider, renews the lease and records
// progress while the stream lasts, stores the result or a classified failure
// (retrying what is retryable), stops at once when a job is cancelled, and
// gives its jobs back when the process shuts down.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/polaris/reportd/report"
)

// Config tunes the engine. Zero durations take the defaults in New.
type Config struct {
	ID                string        // worker id stored as locked_by; generated when empty
	Concurrency       int           // jobs run at once by this process
	PollInterval      time.Duration // how often to look for work when not woken
	Lease             time.Duration // lease granted with each claim
	HeartbeatInterval time.Duration // lease renewal when nothing else is written
	ProgressInterval  time.Duration // at most one progress write per job per interval
	// PartialInterval is how often the text streamed so far is stored with
	// the progress; 0 never (the default). Storing it makes the row grow on
	// every write, which ends in-place (HOT) updates once the page is full;
	// the text a cancelled attempt had streamed is kept either way.
	PartialInterval  time.Duration
	PerUserLimit     int           // running jobs per user (0: unlimited)
	JobTimeout       time.Duration // per attempt, unless Timeout gives one
	ShutdownGrace    time.Duration // how long running jobs may finish on shutdown
	RetryBase        time.Duration
	RetryMax         time.Duration
	SystemPrompt     string // precedes every prompt; DefaultSystemPrompt when empty
	JSONSystemPrompt string // for jobs whose answer must be JSON; DefaultJSONSystemPrompt when empty
	// Timeout is the time limit of one attempt of a model's job (the
	// router's, per provider); nil or 0 means JobTimeout.
	Timeout func(model string) time.Duration
	// Changes hears of every change the worker makes to a job (optional).
	Changes report.Changes
	// Recorder hears of every attempt the worker finishes (optional; metrics).
	Recorder report.AttemptRecorder
	// Limits are re-checked on every claimed job before its provider is
	// called; Models, when set, must know the job's model. Both optional.
	Limits report.Limits
	Models report.Models
}

func (c *Config) defaults() {
	if c.ID == "" {
		host, _ := os.Hostname()
		c.ID = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), uuid.NewString()[:8])
	}
	c.Concurrency = max(c.Concurrency, 1)
	setDefault(&c.PollInterval, time.Second)
	setDefault(&c.Lease, 30*time.Second)
	setDefault(&c.HeartbeatInterval, 10*time.Second)
	setDefault(&c.ProgressInterval, time.Second)
	setDefault(&c.JobTimeout, 75*time.Second)
	if c.SystemPrompt == "" {
		c.SystemPrompt = DefaultSystemPrompt
	}
	if c.JSONSystemPrompt == "" {
		c.JSONSystemPrompt = DefaultJSONSystemPrompt
	}
	if c.Changes == nil {
		c.Changes = noObserver{}
	}
	if c.Recorder == nil {
		c.Recorder = noObserver{}
	}
}

type noObserver struct{}

func (noObserver) Announce(report.Change)              {}
func (noObserver) AttemptFinished(report.AttemptStats) {}

func setDefault(d *time.Duration, v time.Duration) {
	if *d <= 0 {
		*d = v
	}
}

// Worker is the job engine of one process.
type Worker struct {
	cfg     Config
	queue   report.Queue
	gen     report.Generator
	log     *slog.Logger
	now     func() time.Time
	lengths *lengths

	wake   chan struct{}
	health claimHealth

	mu      sync.Mutex
	running map[string]context.CancelCauseFunc // by public job id
	wg      sync.WaitGroup
}

// New returns a worker that claims from queue and generates with gen.
func New(cfg Config, queue report.Queue, gen report.Generator, log *slog.Logger) *Worker {
	cfg.defaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Worker{
		cfg: cfg, queue: queue, gen: gen, log: log.With("worker", cfg.ID), now: time.Now,
		lengths: newLengths(), wake: make(chan struct{}, 1), running: map[string]context.CancelCauseFunc{},
	}
}

// Why a job's context ended, when the worker ended it.
var (
	errCancelled = errors.New("job cancelled")
	errLeaseLost = errors.New("lease lost")
	errShutdown  = errors.New("worker shutting down")
)

// OnChange hears of changes made elsewhere in this process (the API): a
// new job is claimed now rather than at the next poll, and a job cancelled
// or deleted while it runs here has its stream stopped at once.
func (w *Worker) OnChange(c report.Change) {
	switch c.Kind {
	case report.ChangeCreated:
		w.poke()
	case report.ChangeStopped:
		w.mu.Lock()
		cancel := w.running[c.JobID]
		w.mu.Unlock()
		if cancel != nil {
			cancel(errCancelled)
		}
	}
}

// Running returns how many attempts the worker runs now.
func (w *Worker) Running() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.running)
}

func (w *Worker) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run claims and runs jobs until ctx ends. Then it stops claiming, lets
// running jobs finish for up to ShutdownGrace, gives the rest back to the
// queue, and returns.
func (w *Worker) Run(ctx context.Context) error {
	jobsCtx, stopJobs := context.WithCancelCause(context.WithoutCancel(ctx))
	defer stopJobs(errShutdown)
	w.log.Info("worker started", "concurrency", w.cfg.Concurrency, "lease", w.cfg.Lease.String(), "poll", w.cfg.PollInterval.String())
	ticker := time.NewTicker(w.cfg.PollInterval)
	defer ticker.Stop()
	for ctx.Err() == nil {
		full := w.claim(ctx, jobsCtx)
		if full {
			continue // a full batch: more may be waiting
		}
		select {
		case <-ctx.Done():
		case <-w.wake:
		case <-ticker.C:
		}
	}
	w.drain(stopJobs)
	return nil
}

// claim fills free slots; it reports whether it got all it asked for.
func (w *Worker) claim(ctx, jobsCtx context.Context) bool {
	w.mu.Lock()
	free := w.cfg.Concurrency - len(w.running)
	w.mu.Unlock()
	if free <= 0 {
		return false
	}
	claimed, err := w.queue.Claim(ctx, report.ClaimRequest{
		Worker: w.cfg.ID, Limit: free, Lease: w.cfg.Lease, PerUserLimit: w.cfg.PerUserLimit,
	})
	w.health.claimed(w.now(), err, ctx.Err() != nil)
	if err != nil {
		if ctx.Err() == nil && w.health.failures() == 1 {
			w.log.Warn("claiming jobs failed; retrying every poll interval", "err", err)
		}
		return false
	}
	if w.health.recovered() {
		w.log.Info("claiming jobs works again")
	}
	for _, r := range claimed.Refused {
		w.log.Warn("claim refused a job whose stored data it could not start",
			"job_id", r.JobID, "row_id", r.ID, "settled", r.Settled, "reason", r.Reason)
		w.cfg.Changes.Announce(report.Change{Kind: report.ChangeUpdated, JobID: r.JobID, UserID: r.UserID})
	}
	for _, job := range claimed.Jobs {
		w.cfg.Changes.Announce(report.Change{Kind: report.ChangeUpdated, JobID: job.JobID, UserID: job.UserID})
		w.start(jobsCtx, job)
	}
	return len(claimed.Jobs) == free
}

func (w *Worker) start(jobsCtx context.Context, job report.Job) {
	ctx, cancel := context.WithCancelCause(jobsCtx)
	w.mu.Lock()
	w.running[job.JobID] = cancel
	w.mu.Unlock()
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		defer func() {
			w.mu.Lock()
			delete(w.running, job.JobID)
			w.mu.Unlock()
			cancel(nil)
			w.poke() // a slot is free
		}()
		w.run(ctx, job)
	}()
}

// drain waits for running jobs up to the grace period, then stops the rest,
// whose runs give their leases back.
func (w *Worker) drain(stopJobs context.CancelCauseFunc) {
	done := make(chan struct{})
	go func() { w.wg.Wait(); close(done) }()
	w.mu.Lock()
	n := len(w.running)
	w.mu.Unlock()
	w.log.Info("worker stopping", "running", n, "grace", w.cfg.ShutdownGrace.String())
	timer := time.NewTimer(w.cfg.ShutdownGrace)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		stopJobs(errShutdown)
		<-done
	}
	w.log.Info("worker stopped")
}

// Healthy reports whether the worker can start jobs: an error once several
// claims in a row have failed (the store refuses or cannot be reached), nil
// again after the next claim that works. Readiness checks call it.
func (w *Worker) Healthy(context.Context) error { return w.health.check() }
