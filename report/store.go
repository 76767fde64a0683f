package report

import (
	"context"
	"encoding/json"
	"time"
)

// Role says on whose authority a caller acts.
type Role string

// Caller roles. A user acts for themselves only; a service caller (a
// verified service_role token or the configured secret key) acts for the
// user it names.
const (
	RoleUser    Role = "user"
	RoleService Role = "service"
)

// Caller is the authenticated party behind a request. Token is the bearer
// token the caller presented; adapters that forward it (the Supabase store)
// must never log it. Expires is when the verified token stops being valid
// (zero: credentials that do not expire, such as the secret key): what the
// caller opened, a live view, ends then.
type Caller struct {
	UserID  string
	Role    Role
	Token   string
	Expires time.Time
}

// IsService reports whether the caller has service authority.
func (c Caller) IsService() bool { return c.Role == RoleService }

// NewJob is what a caller asks to run, after defaults and validation.
type NewJob struct {
	JobID          string
	Prompt         string
	Model          string
	Temperature    float64
	MaxTokens      int
	SummaryID      string
	Metadata       json.RawMessage // JSON object
	IdempotencyKey string
	RequestHash    string // fingerprint of the request, to spot key reuse with another body
	MaxAttempts    int
}

// Filter selects a caller's jobs for listing. Zero values mean "any".
type Filter struct {
	Statuses      []Status
	SummaryID     string
	Model         string
	CreatedBefore *time.Time
	CreatedAfter  *time.Time
	UpdatedAfter  *time.Time // jobs changed after this instant (live streams)
	JobIDs        []string   // only these jobs (public ids)
	After         *Cursor    // keyset pagination: jobs strictly older than this
	Limit         int
}

// Cursor is a position in the newest-first job order.
type Cursor struct {
	CreatedAt time.Time
	ID        string
}

// Stats summarises a caller's jobs: counts by status, and the average time
// from start to completion of the jobs that have both.
type Stats struct {
	Total, Queued, Running, Succeeded, Failed, Cancelled int
	AvgDuration                                          time.Duration
	Budget                                               Budget
}

// Budget is what a user may spend in a UTC day, and has spent today.
type Budget struct {
	DailyTokens int64   // 0: no token budget
	UsedTokens  int64   //
	DailyCost   float64 // 0: no cost budget
	UsedCost    float64 //
	MaxQueued   int     // jobs the user may have waiting at once
	ResetsAt    time.Time
}

// Store is the caller-facing side of job storage. Every method acts as the
// given caller: a user sees and changes only their own jobs.
type Store interface {
	// Create stores a queued job, or returns the caller's existing job with
	// the same idempotency key (created is then false). ErrInvalid for a
	// rejected value, ErrUnauthenticated/ErrForbidden for a bad caller.
	Create(ctx context.Context, c Caller, in NewJob) (job Job, created bool, err error)
	// Get returns one job. ErrNotFound when it does not exist or is not the caller's.
	Get(ctx context.Context, c Caller, jobID string) (Job, error)
	// List returns the caller's jobs, newest first.
	List(ctx context.Context, c Caller, f Filter) ([]Job, error)
	// Cancel moves a queued or running job to cancelled and returns it.
	// Cancelling a cancelled job returns it unchanged. ErrNotFound, or
	// ErrConflict when the job already succeeded or failed.
	Cancel(ctx context.Context, c Caller, jobID string) (Job, error)
	// Delete removes a job. ErrNotFound when it is not the caller's.
	Delete(ctx context.Context, c Caller, jobID string) error
	// Stats summarises the caller's jobs.
	Stats(ctx context.Context, c Caller) (Stats, error)
	// OperatorStats summarises every user's jobs, for operators. Only a
	// service caller may ask: ErrForbidden for anyone else.
	OperatorStats(ctx context.Context, c Caller, w StatsWindow) (OperatorStats, error)
	// Ping checks that the store is reachable (ErrUnavailable if not).
	Ping(ctx context.Context) error
}

// ClaimRequest asks for up to Limit claimable jobs.
type ClaimRequest struct {
	Worker       string        // id of the claiming worker, recorded with the attempt
	Limit        int           // at most this many jobs
	Lease        time.Duration // lease length granted with each claim
	PerUserLimit int           // max running jobs per user (0: unlimited)
}

// Progress is a heartbeat from the attempt holding a job.
type Progress struct {
	Lease   time.Duration // renew the lease for this long
	Percent int           // 0..99 while running; never lowers the stored value
	ETA     *time.Duration
	Partial *string // text streamed so far, when it should be stored
}

// Completion is a successful attempt's outcome.
type Completion struct {
	Result   string
	Metadata json.RawMessage // merged into the job's metadata
	Attempt  json.RawMessage // what the worker measured, kept on the attempt's record
	Spent    Spent           // added to the owner's usage of the day
}

// Spent is what an attempt cost: tokens (as the provider reported them, or
// as counted from the stream) and cost (in the provider's currency; 0 when
// it reports none).
type Spent struct {
	Tokens int64
	Cost   float64
}

// Failure is an unsuccessful attempt's outcome.
type Failure struct {
	Message       string          // shown to the user as the job's error
	Retryable     bool            // another attempt may succeed
	RetryAfter    time.Duration   // earliest next attempt
	ChargeAttempt bool            // false: this attempt does not count against the budget
	Attempt       json.RawMessage // what the worker measured, kept on the attempt's record
	Spent         Spent           // added to the owner's usage of the day (a failed stream costs too)
}

// Claimed is what one claim returned.
type Claimed struct {
	Jobs []Job // leased to the claiming worker: its to run
	// Refused are rows the claim could not start because their stored data
	// broke it; they were failed with the reason (or set aside, and skipped
	// by later claims), and the other jobs were claimed all the same.
	Refused []Refusal
}

// Refusal is a row a claim could not start.
type Refusal struct {
	ID      string // row uuid
	JobID   string
	UserID  string
	Reason  string
	Settled bool // failed with the reason; false: set aside
}

// Queue is the worker-facing side of job storage. It runs with service
// authority. Writes are fenced by the lease: they return ErrCancelled when
// the job was cancelled and ErrLeaseLost when the attempt no longer holds it.
type Queue interface {
	// Claim leases up to r.Limit queued jobs (and jobs whose lease expired),
	// oldest first, respecting the per-user limit. One bad row never fails
	// the claim: it is refused and reported.
	Claim(ctx context.Context, r ClaimRequest) (Claimed, error)
	// Heartbeat renews the lease and records progress.
	Heartbeat(ctx context.Context, l Lease, p Progress) error
	// Complete stores the result and marks the job succeeded.
	Complete(ctx context.Context, l Lease, c Completion) error
	// Fail records a failed attempt: the job is queued again (returned
	// status queued) when it is retryable and attempts remain, else failed.
	Fail(ctx context.Context, l Lease, f Failure) (Status, error)
	// Release gives the job back without charging the attempt (shutdown).
	Release(ctx context.Context, l Lease) error
	// KeepPartial stores the text a cancelled attempt had streamed.
	KeepPartial(ctx context.Context, l Lease, text string) error
	// Cleanup deletes expired jobs and finished jobs older than a day and
	// returns how many rows it deleted.
	Cleanup(ctx context.Context) (int, error)
}

// Backend is a job store in every role the service uses: the callers'
// store, the worker's queue, the webhook outbox, the queue monitor, and
// where the limits are kept. Both stores (memory and Supabase) are backends.
type Backend interface {
	Store
	Queue
	Outbox
	Monitor
	Settings
}

// Settings are the limits in force where jobs are stored (in the database
// for Supabase, so that every path into the table meets them).
type Settings interface {
	// Configure puts l in force and returns the limits now in force.
	// ErrForbidden without service authority.
	Configure(ctx context.Context, l Limits) (Limits, error)
}
