package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/polaris/reportd/logging"
	"github.com/polaris/reportd/report"
)

// writeTimeout bounds each store write a run makes.
const writeTimeout = 10 * time.Second

// run executes one attempt of a claimed job. ctx ends with a cause when the
// job is cancelled, its lease is lost, or the worker shuts down. The job's id
// and attempt go into the context too, so lines logged deeper with it carry
// them.
func (w *Worker) run(ctx context.Context, job report.Job) {
	lease := report.LeaseOf(job)
	ctx = logging.With(ctx, slog.String("job_id", job.JobID), slog.Int("attempt", job.Attempts))
	log := w.log.With("job_id", job.JobID, "attempt", job.Attempts, "model", job.Model)
	log.Info("job started", "prompt_chars", len([]rune(job.Prompt)))
	started := w.now()
	timeout := w.timeoutFor(job.Model)
	tr := newTracker(w.now, w.lengths.expected(job.Model, job.MaxTokens))

	var out report.Output
	err := w.admissible(job)
	if err == nil {
		beats := w.startBeats(ctx, lease, tr, log)
		genCtx, cancelGen := context.WithTimeout(ctx, timeout)
		out, err = w.gen.Generate(genCtx, w.prompt(job), tr.add)
		cancelGen()
		beats.stop() // no progress write is in flight once it returns
	}

	if err == nil {
		out, err = shapeOutput(job, out) // a JSON job's answer is checked before it is stored
	}
	elapsed := w.now().Sub(started)
	var outcome string
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, errCancelled):
		w.keepPartial(ctx, lease, tr.text(), log)
		outcome = report.AttemptCancelled
	case errors.Is(cause, errLeaseLost):
		log.Warn("job abandoned: its lease was lost")
		outcome = report.AttemptLost
	case errors.Is(cause, errShutdown):
		outcome = w.release(ctx, lease, log)
	case err == nil:
		outcome = w.complete(ctx, job, lease, out, tr, elapsed, log)
	default:
		outcome = w.fail(ctx, job, lease, err, failed{elapsed: elapsed, timeout: timeout, spent: spent(out, tr)}, log)
	}
	w.cfg.Recorder.AttemptFinished(attemptStats(job, out, err, tr, elapsed, outcome))
}

// attemptStats is what the metrics hear of a finished attempt.
func attemptStats(job report.Job, out report.Output, err error, tr *tracker, elapsed time.Duration, outcome string) report.AttemptStats {
	a := report.AttemptStats{
		Model: job.Model, Provider: out.Provider, Outcome: outcome, Duration: elapsed,
		TimeToFirstToken: tr.timeToFirstToken(),
		InputTokens:      out.Usage.InputTokens,
		OutputTokens:     max(out.Usage.OutputTokens, tr.snapshot(false).Tokens),
		Cost:             out.Usage.Cost, Currency: out.Usage.Currency,
	}
	var pe *report.ProviderError
	if a.Provider == "" && errors.As(err, &pe) {
		a.Provider = pe.Provider
	}
	return a
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
// and announces the change when it made one.
func (w *Worker) write(ctx context.Context, l report.Lease, fn func(context.Context) error) error {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	err := fn(wctx)
	if err == nil {
		w.cfg.Changes.Announce(report.Change{Kind: report.ChangeUpdated, JobID: l.JobID, UserID: l.UserID})
	}
	return err
}

// persist is write for an attempt's final outcome: while the store is
// unreachable it keeps trying, for up to two leases. That is safe however
// long it takes, because the write is fenced: it lands only if no other
// attempt took the job meanwhile, and otherwise the other attempt's result
// stands. ctx gives the writes its values only: they outlive its end.
func (w *Worker) persist(ctx context.Context, l report.Lease, fn func(context.Context) error) error {
	deadline := w.now().Add(2 * w.cfg.Lease)
	delay := 100 * time.Millisecond
	for {
		err := w.write(ctx, l, fn)
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

func (w *Worker) complete(ctx context.Context, job report.Job, lease report.Lease, out report.Output, tr *tracker, elapsed time.Duration, log *slog.Logger) string {
	meta := runMetadata(out, tr, elapsed)
	err := w.persist(ctx, lease, func(ctx context.Context) error {
		return w.queue.Complete(ctx, lease, report.Completion{Result: out.Text, Metadata: meta, Attempt: attemptDetails(out, elapsed),
			Spent: spent(out, tr)})
	})
	switch {
	case err == nil:
		w.lengths.record(job.Model, max(out.Usage.OutputTokens, tr.snapshot(false).Tokens))
		log.Info("job succeeded", "duration_ms", elapsed.Milliseconds(), "result_chars", len(out.Text))
		return report.AttemptSucceeded
	case errors.Is(err, report.ErrCancelled):
		w.keepPartial(ctx, lease, out.Text, log)
		return report.AttemptCancelled
	case errors.Is(err, report.ErrLeaseLost):
		log.Warn("result dropped: the lease was lost before it could be stored")
		return report.AttemptLost
	default:
		log.Error("storing the result failed", "err", err)
		return report.AttemptUnstored
	}
}

// failed is what a failed attempt measured.
type failed struct {
	elapsed, timeout time.Duration
	spent            report.Spent
}

func (w *Worker) fail(ctx context.Context, job report.Job, lease report.Lease, cause error, m failed, log *slog.Logger) string {
	f := w.failure(job, cause, m.elapsed, m.timeout)
	f.Spent = m.spent
	var status report.Status
	err := w.persist(ctx, lease, func(ctx context.Context) error {
		var err error
		status, err = w.queue.Fail(ctx, lease, f)
		return err
	})
	switch {
	case err == nil:
		log.Warn("job attempt failed", "status", status, "retryable", f.Retryable, "retry_in_ms", f.RetryAfter.Milliseconds(), "err", f.Message)
		if status == report.StatusQueued {
			return report.AttemptRetried
		}
		return report.AttemptFailed
	case errors.Is(err, report.ErrCancelled):
		log.Info("failure not recorded: the job was cancelled", "err", err)
		return report.AttemptCancelled
	case errors.Is(err, report.ErrLeaseLost):
		log.Info("failure not recorded: the job was taken over", "err", err)
		return report.AttemptLost
	default:
		log.Error("recording the failure failed", "err", err)
		return report.AttemptUnstored
	}
}

func (w *Worker) keepPartial(ctx context.Context, lease report.Lease, text string, log *slog.Logger) {
	log.Info("job cancelled; stream stopped", "partial_chars", len(text))
	if text == "" {
		return
	}
	err := w.persist(ctx, lease, func(ctx context.Context) error { return w.queue.KeepPartial(ctx, lease, text) })
	if err != nil && !errors.Is(err, report.ErrLeaseLost) {
		log.Warn("keeping the partial text failed", "err", err)
	}
}

func (w *Worker) release(ctx context.Context, lease report.Lease, log *slog.Logger) string {
	err := w.write(ctx, lease, func(ctx context.Context) error { return w.queue.Release(ctx, lease) })
	if err != nil {
		log.Warn("releasing the job failed; it will be claimable when its lease expires", "err", err)
		return report.AttemptUnstored
	}
	log.Info("job released for another worker")
	return report.AttemptReleased
}

// admissible re-checks a claimed job before any provider call: its row may
// have come by a path that did not apply this service's limits (an older
// row, a database edited by hand). A job that fails the check fails at once,
// with the reason, and costs nothing.
func (w *Worker) admissible(job report.Job) error {
	l := w.cfg.Limits
	n := len([]rune(job.Prompt))
	var msg string
	switch {
	case strings.TrimSpace(job.Prompt) == "":
		msg = "The job has no prompt, so there is nothing to generate"
	case l.MaxPromptChars > 0 && n > l.MaxPromptChars:
		msg = fmt.Sprintf("The prompt is %d characters long; the limit is %d", n, l.MaxPromptChars)
	case job.MaxTokens < 0 || (l.MaxTokens > 0 && job.MaxTokens > l.MaxTokens):
		msg = fmt.Sprintf("max_tokens is %d; it must be between 1 and %d", job.MaxTokens, l.MaxTokens)
	case w.cfg.Models != nil:
		if _, err := w.cfg.Models.Resolve(job.Model, false); err != nil {
			var pub *report.Error
			if errors.As(err, &pub) {
				msg = pub.Message
			} else {
				msg = fmt.Sprintf("The model %q cannot be used: %v", job.Model, err)
			}
		}
	}
	if msg == "" {
		return nil
	}
	return &report.ProviderError{Provider: "reportd", Message: msg}
}

// spent is what an attempt cost: the provider's token count, else the
// tokens counted from the stream; the provider's cost when it gave one.
func spent(out report.Output, tr *tracker) report.Spent {
	s := report.Spent{Tokens: int64(out.Usage.TotalTokens)}
	if s.Tokens == 0 {
		s.Tokens = int64(out.Usage.InputTokens + out.Usage.OutputTokens)
	}
	if s.Tokens == 0 {
		s.Tokens = int64(tr.snapshot(false).Tokens)
	}
	if out.Usage.Cost != nil {
		s.Cost = *out.Usage.Cost
	}
	return s
}

// attemptDetails is what the attempt's record keeps of a successful attempt.
func attemptDetails(out report.Output, elapsed time.Duration) json.RawMessage {
	b, _ := json.Marshal(map[string]any{"provider": out.Provider, "duration_ms": elapsed.Milliseconds()})
	return b
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
