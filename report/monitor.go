package report

import (
	"context"
	"time"
)

// HistoryLeaseExpired is the outcome (and error) recorded for an attempt
// whose worker stopped renewing its lease (the claim that took the job over
// records it).
const HistoryLeaseExpired = "lease expired"

// QueueDepth is the whole queue at one instant, for monitoring.
type QueueDepth struct {
	Queued  int // queued jobs, including those waiting out a retry backoff
	Ready   int // queued jobs claimable now (their backoff, if any, is over)
	Running int // running jobs whose lease is current
	Expired int // running jobs whose lease expired: the next claim rescues them
	// OldestReady is how long the longest-waiting claimable job has been
	// claimable (since it was queued or its backoff ended); 0 when none is.
	OldestReady time.Duration
}

// Monitor reads figures about every user's jobs for the service's metrics.
// It acts with service authority.
type Monitor interface {
	// QueueDepth counts the queue now. ErrForbidden without service
	// credentials, ErrUnavailable when the store cannot be reached.
	QueueDepth(ctx context.Context) (QueueDepth, error)
}

// Attempt outcomes, as the worker saw them.
const (
	AttemptSucceeded = "succeeded" // the result was stored
	AttemptRetried   = "retried"   // it failed and the job was queued again
	AttemptFailed    = "failed"    // it failed and the job failed for good
	AttemptCancelled = "cancelled" // the job was cancelled while it ran
	AttemptLost      = "lost"      // the lease was lost: another attempt owns the job
	AttemptReleased  = "released"  // given back at shutdown
	AttemptUnstored  = "unstored"  // its outcome could not be written to the store
)

// AttemptStats is what a worker measured of one finished attempt. It holds
// no prompt or result text: it feeds metrics.
type AttemptStats struct {
	Model    string        // the job's model
	Provider string        // the provider that served it; "" when unknown
	Outcome  string        // one of the Attempt... outcomes
	Duration time.Duration // from claim to outcome
	// TimeToFirstToken is from the start of the attempt to the first
	// streamed token; 0 when no token arrived.
	TimeToFirstToken time.Duration
	InputTokens      int
	OutputTokens     int
	Cost             *float64 // as the provider reported it, in Currency
	Currency         string
}

// TokensPerSecond is the generation rate after the first token; 0 when it
// cannot be told.
func (a AttemptStats) TokensPerSecond() float64 {
	gen := a.Duration - a.TimeToFirstToken
	if a.TimeToFirstToken <= 0 || gen <= 0 || a.OutputTokens <= 0 {
		return 0
	}
	return float64(a.OutputTokens) / gen.Seconds()
}

// AttemptRecorder hears of every attempt a worker finishes.
type AttemptRecorder interface {
	AttemptFinished(AttemptStats)
}
