package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/polaris/reportd/report"
)

// maxFreeRetries bounds how many rate-limited attempts a job gets back
// without spending its budget, so a provider that never lifts its limit
// still ends the job.
const maxFreeRetries = 20

// failure decides what a failed attempt means for the job.
func (w *Worker) failure(job report.Job, err error, elapsed time.Duration, timeout time.Duration) report.Failure {
	f := report.Failure{ChargeAttempt: true}
	rec := map[string]any{"duration_ms": elapsed.Milliseconds()}
	var pe *report.ProviderError
	var invalid *invalidAnswerError
	switch {
	case errors.As(err, &invalid):
		f.Message = invalid.Error()
		f.Retryable = true
		rec["invalid_answer"] = true
	case errors.Is(err, context.DeadlineExceeded):
		f.Message = fmt.Sprintf("The model did not finish within %s", timeout)
		f.Retryable = true
	case errors.As(err, &pe):
		f.Message = pe.Message
		f.Retryable = pe.Retryable
		rec["provider"], rec["status"], rec["code"] = pe.Provider, pe.Status, pe.Code
		if pe.RateLimit && job.FreeRetries < maxFreeRetries {
			f.ChargeAttempt = false
			rec["rate_limited"] = true
		}
		f.RetryAfter = pe.RetryAfter
	default:
		f.Message = "The job failed: " + err.Error()
		f.Retryable = true
	}
	if f.Retryable {
		f.RetryAfter = max(f.RetryAfter, w.backoff(job.Attempts))
	}
	rec["retryable"] = f.Retryable
	f.Attempt, _ = json.Marshal(rec) // kept on the attempt's record
	return f
}

// backoff is exponential with full jitter: a random delay up to
// base * 2^(attempt-1), capped, and never below half the base.
func (w *Worker) backoff(attempt int) time.Duration {
	if w.cfg.RetryBase <= 0 {
		return 0
	}
	ceiling := w.cfg.RetryBase << min(max(attempt-1, 0), 20)
	if w.cfg.RetryMax > 0 {
		ceiling = min(ceiling, w.cfg.RetryMax)
	}
	return max(time.Duration(rand.Int64N(int64(ceiling)+1)), w.cfg.RetryBase/2)
}
