package report

import (
	"bytes"
	"encoding/json"
	"time"
)

// Status is the lifecycle state of a job. The values are the ones stored in
// the report_jobs.status column and shown by the old API.
type Status string

// The states a job moves through. Queued and Running are active; the other
// three are final.
const (
	StatusQueued    Status = "queued"
	StatusRunning   Status = "running"
	StatusSucceeded Status = "succeeded"
	StatusFailed    Status = "failed"
	StatusCancelled Status = "cancelled"
)

// Statuses lists every status in lifecycle order.
var Statuses = []Status{StatusQueued, StatusRunning, StatusSucceeded, StatusFailed, StatusCancelled}

// Valid reports whether s is one of the known statuses.
func (s Status) Valid() bool {
	switch s {
	case StatusQueued, StatusRunning, StatusSucceeded, StatusFailed, StatusCancelled:
		return true
	}
	return false
}

// Final reports whether no further transition can happen from s.
func (s Status) Final() bool {
	return s == StatusSucceeded || s == StatusFailed || s == StatusCancelled
}

// Job is one report-generation request and everything known about its run.
// Field meanings follow the report_jobs columns of the system this service
// replaces; the lease and attempt fields are this service's additions.
type Job struct {
	ID             string          // row uuid
	JobID          string          // public id, "job_<epoch ms>_<8 base-36>"
	UserID         string          // owner; empty only for rows stored by the old route without one
	SummaryID      string          // optional uuid of a polaris summary
	Status         Status          //
	Model          string          // model as requested (normalised)
	Prompt         string          //
	Temperature    float64         //
	MaxTokens      int             //
	Result         *string         // final text; partial text while running or after cancel
	Error          *string         // why the last attempt failed
	Percent        int             // 0..100
	ETASeconds     *int            // estimated seconds until done
	IdempotencyKey string          //
	RequestHash    string          // fingerprint of the creating request (empty for old rows)
	Metadata       json.RawMessage // JSON object
	CreatedAt      time.Time       //
	UpdatedAt      time.Time       //
	StartedAt      *time.Time      // start of the current or last attempt
	CompletedAt    *time.Time      // when it reached a final state
	ExpiresAt      *time.Time      // deleted by cleanup after this
	Attempts       int             // attempts started so far
	MaxAttempts    int             // attempt budget
	RunAfter       time.Time       // not claimable before this (retry backoff)
	LeaseEpoch     int64           // raised by every claim; the fencing token of the attempt holding the job
	LeaseExpiresAt *time.Time      // the holder must renew before this
	Version        int64           // bumped on every change

	// Set by Claim on the jobs it returns.
	Rescued     bool // taken over from an attempt whose lease expired (its worker died or stalled)
	FreeRetries int  // attempts given back so far (rate limits of ours), which did not spend the budget

	// History is the job's attempts, oldest first; set by Get.
	History []AttemptRecord
}

// AttemptRecord is one attempt at a job as its owner may see it: never the
// worker that ran it.
type AttemptRecord struct {
	Number    int
	StartedAt time.Time
	EndedAt   *time.Time // nil while it runs
	Outcome   string     // one of the Attempt... outcomes, or HistoryLeaseExpired; "" while it runs
	Error     string
	Details   json.RawMessage // what the worker measured (JSON object)
}

// Lease identifies one attempt's hold on a job. Every worker write carries
// it; a write whose lease no longer matches is refused (fencing).
type Lease struct {
	ID      string // row uuid
	JobID   string // public id, for logs
	UserID  string // the job's owner, for announcing changes
	Epoch   int64  // the job's lease epoch when Claim handed it out
	Attempt int    // attempt number
}

// LeaseOf returns the lease a claimed job carries.
func LeaseOf(j Job) Lease {
	return Lease{ID: j.ID, JobID: j.JobID, UserID: j.UserID, Epoch: j.LeaseEpoch, Attempt: j.Attempts}
}

// MetadataMap decodes the job's metadata into a map; an absent or invalid
// value yields an empty map.
func (j Job) MetadataMap() map[string]any {
	m := map[string]any{}
	if len(j.Metadata) > 0 {
		_ = json.Unmarshal(j.Metadata, &m)
	}
	return m
}

// MetadataString is the top-level metadata field key when it is a string,
// else "". Every status read asks for report_type, and most metadata has
// none: when the key's text is nowhere in the metadata and nothing in it is
// escaped (an escaped key could spell it), the field cannot be there and
// nothing is decoded.
func (j Job) MetadataString(key string) string {
	if !bytes.Contains(j.Metadata, []byte(key)) && bytes.IndexByte(j.Metadata, '\\') < 0 {
		return ""
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(j.Metadata, &m) != nil {
		return ""
	}
	var s string
	if json.Unmarshal(m[key], &s) != nil {
		return ""
	}
	return s
}
