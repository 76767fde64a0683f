package report

import (
	"context"
	"errors"
	"time"
)

// ChangeKind says what happened to a job.
type ChangeKind int

// Kinds of change.
const (
	// ChangeCreated: a job was queued (a worker here may claim it now).
	ChangeCreated ChangeKind = iota + 1
	// ChangeUpdated: a job's state changed (a worker write, a retry).
	ChangeUpdated
	// ChangeStopped: a job was cancelled or deleted (a worker running it
	// here stops its stream).
	ChangeStopped
)

// Change is one thing that happened to a job in this process. It names the
// job and its owner only, never its data: whoever cares re-reads the job
// through the store as its own caller, so row-level security decides what
// it may see.
type Change struct {
	Kind   ChangeKind
	JobID  string
	UserID string
}

// Changes hears of every change made in this process: the API after each
// write it makes, the worker after each of its writes. Changes made by
// other processes reach the live view through the store.
type Changes interface {
	// Announce never blocks.
	Announce(Change)
}

// UpdateKind says what a live follower shows next.
type UpdateKind int

// Kinds of update.
const (
	// UpdateJob: the job's state now (Job is set).
	UpdateJob UpdateKind = iota + 1
	// UpdateDeleted: the job is gone (JobID is set).
	UpdateDeleted
	// UpdateReset: more jobs changed at once than one batch carries; the
	// follower should reload its list rather than trust the stream alone.
	UpdateReset
)

// Update is one event of a live view of jobs. Cursor is where a follower
// reconnecting after it resumes: the job's version for a single job, an
// instant (RFC 3339) for all of a caller's jobs.
type Update struct {
	Kind   UpdateKind
	Job    Job
	JobID  string
	Cursor string
}

// ErrFollowEnded ends a live view: it delivered a job's final state or its
// deletion, the credentials that opened it expired or were refused, or the
// service is shutting down. The follower may reconnect with its cursor.
var ErrFollowEnded = errors.New("live view ended")

// Follow is one open live view. Next blocks until the next update, the end
// of the view (ErrFollowEnded), or the end of ctx (ctx's error: a follower
// uses a deadline to send its keep-alives, then calls Next again).
type Follow interface {
	Next(ctx context.Context) (Update, error)
	Close()
}

// Live opens live views of jobs, as the caller sees them.
type Live interface {
	// FollowJob shows one job now (unless after is its current version)
	// and after every change, until it is final or deleted. ErrNotFound
	// when the caller has no such job.
	FollowJob(ctx context.Context, c Caller, jobID string, after *int64) (Follow, error)
	// FollowJobs shows every change to the caller's jobs: first the active
	// jobs, or, with since, every job changed after it.
	FollowJobs(ctx context.Context, c Caller, since *time.Time) (Follow, error)
}
