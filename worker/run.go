package worker

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/polaris/reportd/report"
)

// writeTimeout bounds each store write a run makes.
const writeTimeout = 10 * time.Second

// run executes one attempt of a claimed job. ctx ends with a cause when the
// job is cancelled, its lease is lost, or the worker shuts down.
func (w *Worker) run(ctx context.Context, job report.Job) {
	lease := report.LeaseOf(job)
	log := w.log.With("job_id", job.JobID, "attempt", job.Attempts, "model", job.Model)
	log.Info("job started", "prompt_chars", len([]rune(job.Prompt)))
	started := w.now()
	timeout := w.timeoutFor(job.Model)
	tr := newTracker(w.now, w.lengths.expected(job.Model, job.MaxTokens))

	beatCtx, stopBeats := context.WithCancel(ctx)
	beatsDone := make(chan struct{})
	go func() {
		defer close(beatsDone)
		w.heartbeats(beatCtx, lease, tr, log)
	}()

	genCtx, cancelGen := context.WithTimeout(ctx, timeout)
	out, err := w.gen.Generate(genCtx, w.prompt(job), tr.add)
	cancelGen()
	stopBeats()
	<-beatsDone

	if err == nil {
		out, err = shapeOutput(job, out) // a JSON job's answer is checked before it is stored
	}
	elapsed := w.now().Sub(started)
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, errCancelled):
		w.keepPartial(lease, tr.text(), log)
	case errors.Is(cause, errLeaseLost):
		log.Warn("job abandoned: its lease was lost")
	case errors.Is(cause, errShutdown):
		w.release(lease, log)
	case err == nil:
		w.complete(job, lease, out, tr, elapsed, log)
	default:
		w.fail(job, lease, err, elapsed, timeout, log)
	}
}

// heartbeats renews the lease and writes progress: at most once per
// ProgressInterval while output arrives, else once per HeartbeatInterval.
// Writes start at least ProgressInterval apart even when one is slow (a
// ticker alone would fire a delayed tick right after it). A refused write
// ends the job, with the reason as its context's cause.
func (w *Worker) heartbeats(ctx context.Context, lease report.Lease, tr *tracker, log *slog.Logger) {
	// Tick faster than the interval and let the spacing check decide, so a
	// tick that comes a hair early does not push the write a whole interval.
	tick := time.NewTicker(max(w.cfg.ProgressInterval/5, 10*time.Millisecond))
	defer tick.Stop()
	lastWrite, lastPartial := w.now(), w.now()
	var lastStart time.Time
	cancel := w.cancelFunc(lease.JobID)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now := w.now()
		if now.Sub(lastStart) < w.cfg.ProgressInterval {
			continue
		}
		withText := w.cfg.PartialInterval > 0 && now.Sub(lastPartial) >= w.cfg.PartialInterval
		snap := tr.snapshot(withText)
		if !snap.Changed && now.Sub(lastWrite) < w.cfg.HeartbeatInterval {
			continue
		}
		p := report.Progress{Lease: w.cfg.Lease, Percent: snap.Percent, ETA: snap.ETA}
		if withText && snap.Text != "" {
			p.Partial = &snap.Text
			lastPartial = now
		}
		lastStart = now
		err := w.write(ctx, lease.JobID, func(ctx context.Context) error { return w.queue.Heartbeat(ctx, lease, p) })
		switch {
		case err == nil:
			lastWrite = now
		case errors.Is(err, report.ErrCancelled):
			cancel(errCancelled)
			return
		case errors.Is(err, report.ErrLeaseLost):
			cancel(errLeaseLost)
			return
		case ctx.Err() != nil:
			return
		default:
			log.Warn("heartbeat failed", "err", err)
			if w.now().Sub(lastWrite) >= w.cfg.Lease {
				cancel(errLeaseLost) // our lease has surely expired: someone else may run the job now
				return
			}
		}
	}
}

// cancelFunc returns the function that ends a running job with a cause.
func (w *Worker) cancelFunc(jobID string) context.CancelCauseFunc {
	w.mu.Lock()
	defer w.mu.Unlock()
	if c := w.running[jobID]; c != nil {
		return c
	}
	return func(error) {}
}

// write runs one store write for a job with its own deadline (the job's
// context may already be over: a finished stream still has to be stored),
// and tells the observer when it changed the job.
func (w *Worker) write(ctx context.Context, jobID string, fn func(context.Context) error) error {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	err := fn(wctx)
	if err == nil {
		w.cfg.Observer.JobChanged(jobID)
	}
	return err
}

// persist is write for an attempt's final outcome: while the store is
// unreachable it keeps trying, for up to two leases. That is safe however
// long it takes, because the write is fenced: it lands only if no other
// attempt took the job meanwhile, and otherwise the other attempt's result
// stands.
func (w *Worker) persist(jobID string, fn func(context.Context) error) error {
	deadline := w.now().Add(2 * w.cfg.Lease)
	delay := 100 * time.Millisecond
	for {
		err := w.write(context.Background(), jobID, fn)
		if err == nil || !errors.Is(err, report.ErrUnavailable) || w.now().Add(delay).After(deadline) {
			return err
		}
		t := time.NewTimer(delay)
		<-t.C
		delay = min(delay*2, 2*time.Second)
	}
}

func (w *Worker) timeoutFor(model string) time.Duration {
	if w.cfg.Timeout != nil {
		if d := w.cfg.Timeout(model); d > 0 {
			return d
		}
	}
	return w.cfg.JobTimeout
}

func (w *Worker) prompt(job report.Job) report.Prompt {
	p := report.Prompt{
		Model: job.Model, System: w.cfg.SystemPrompt, Text: job.Prompt,
		Temperature: job.Temperature, MaxTokens: job.MaxTokens,
	}
	if job.ResponseFormat() == report.FormatJSON {
		p.JSON, p.System = true, w.cfg.JSONSystemPrompt
	}
	return p
}

func (w *Worker) complete(job report.Job, lease report.Lease, out report.Output, tr *tracker, elapsed time.Duration, log *slog.Logger) {
	meta := runMetadata(out, tr, elapsed)
	err := w.persist(lease.JobID, func(ctx context.Context) error {
		return w.queue.Complete(ctx, lease, report.Completion{Result: out.Text, Metadata: meta})
	})
	switch {
	case err == nil:
		w.lengths.record(job.Model, max(out.Usage.OutputTokens, tr.snapshot(false).Tokens))
		log.Info("job succeeded", "duration_ms", elapsed.Milliseconds(), "result_chars", len(out.Text))
	case errors.Is(err, report.ErrCancelled):
		w.keepPartial(lease, out.Text, log)
	case errors.Is(err, report.ErrLeaseLost):
		log.Warn("result dropped: the lease was lost before it could be stored")
	default:
		log.Error("storing the result failed", "err", err)
	}
}

func (w *Worker) fail(job report.Job, lease report.Lease, cause error, elapsed, timeout time.Duration, log *slog.Logger) {
	f := w.failure(job, cause, elapsed, timeout)
	var status report.Status
	err := w.persist(lease.JobID, func(ctx context.Context) error {
		var err error
		status, err = w.queue.Fail(ctx, lease, f)
		return err
	})
	switch {
	case err == nil:
		log.Warn("job attempt failed", "status", status, "retryable", f.Retryable, "retry_in_ms", f.RetryAfter.Milliseconds(), "err", f.Message)
	case errors.Is(err, report.ErrCancelled), errors.Is(err, report.ErrLeaseLost):
		log.Info("failure not recorded: the job was cancelled or taken over", "err", err)
	default:
		log.Error("recording the failure failed", "err", err)
	}
}

func (w *Worker) keepPartial(lease report.Lease, text string, log *slog.Logger) {
	log.Info("job cancelled; stream stopped", "partial_chars", len(text))
	if text == "" {
		return
	}
	err := w.persist(lease.JobID, func(ctx context.Context) error { return w.queue.KeepPartial(ctx, lease, text) })
	if err != nil && !errors.Is(err, report.ErrLeaseLost) {
		log.Warn("keeping the partial text failed", "err", err)
	}
}

func (w *Worker) release(lease report.Lease, log *slog.Logger) {
	err := w.write(context.Background(), lease.JobID, func(ctx context.Context) error { return w.queue.Release(ctx, lease) })
	if err != nil {
		log.Warn("releasing the job failed; it will be claimable when its lease expires", "err", err)
		return
	}
	log.Info("job released for another worker")
}

// runMetadata is what a successful attempt adds to the job's metadata.
func runMetadata(out report.Output, tr *tracker, elapsed time.Duration) json.RawMessage {
	m := map[string]any{
		"provider":    out.Provider,
		"usage":       out.Usage,
		"duration_ms": elapsed.Milliseconds(),
	}
	if out.Model != "" {
		m["resolved_model"] = out.Model
	}
	if len(out.Citations) > 0 {
		m["citations"] = out.Citations
	}
	if out.Reasoning != "" {
		m["reasoning"] = out.Reasoning
	}
	if out.Truncated {
		m["truncated"] = true
	}
	if ttft := tr.timeToFirstToken(); ttft > 0 {
		m["ttft_ms"] = ttft.Milliseconds()
		tokens := max(out.Usage.OutputTokens, tr.snapshot(false).Tokens)
		if gen := elapsed - ttft; gen > 0 && tokens > 0 {
			m["tokens_per_second"] = float64(int(float64(tokens)/gen.Seconds()*10)) / 10
		}
	}
	b, _ := json.Marshal(m)
	return b
}
