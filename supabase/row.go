package supabase

import (
	"encoding/json"
	"time"

	"github.com/polaris/reportd/report"
)

// columns is the select list for job rows.
const columns = "id,job_id,user_id,summary_id,status,model,prompt,temperature,max_tokens,result,error," +
	"percent,eta_seconds,idempotency_key,request_hash,metadata,created_at,updated_at,started_at,completed_at,expires_at," +
	"attempts,max_attempts,run_after,lease_epoch,lease_expires_at,version"

// row is a report_jobs row as PostgREST encodes it. Columns the old system
// left nullable are pointers.
type row struct {
	ID             string          `json:"id"`
	JobID          string          `json:"job_id"`
	UserID         *string         `json:"user_id"`
	SummaryID      *string         `json:"summary_id"`
	Status         report.Status   `json:"status"`
	Model          *string         `json:"model"`
	Prompt         *string         `json:"prompt"`
	Temperature    *float64        `json:"temperature"`
	MaxTokens      *int            `json:"max_tokens"`
	Result         *string         `json:"result"`
	Error          *string         `json:"error"`
	Percent        *int            `json:"percent"`
	ETASeconds     *int            `json:"eta_seconds"`
	IdempotencyKey *string         `json:"idempotency_key"`
	RequestHash    *string         `json:"request_hash"`
	Metadata       json.RawMessage `json:"metadata"`
	CreatedAt      time.Time       `json:"created_at"`
	UpdatedAt      time.Time       `json:"updated_at"`
	StartedAt      *time.Time      `json:"started_at"`
	CompletedAt    *time.Time      `json:"completed_at"`
	ExpiresAt      *time.Time      `json:"expires_at"`
	Attempts       int             `json:"attempts"`
	MaxAttempts    int             `json:"max_attempts"`
	RunAfter       time.Time       `json:"run_after"`
	LeaseEpoch     int64           `json:"lease_epoch"`
	LeaseExpiresAt *time.Time      `json:"lease_expires_at"`
	Version        int64           `json:"version"`
}

func (r row) job() report.Job {
	j := report.Job{
		ID: r.ID, JobID: r.JobID, UserID: deref(r.UserID), SummaryID: deref(r.SummaryID),
		Status: r.Status, Model: deref(r.Model), Prompt: deref(r.Prompt),
		Result: r.Result, Error: r.Error, ETASeconds: r.ETASeconds,
		IdempotencyKey: deref(r.IdempotencyKey), RequestHash: deref(r.RequestHash), Metadata: r.Metadata,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
		StartedAt: utc(r.StartedAt), CompletedAt: utc(r.CompletedAt), ExpiresAt: utc(r.ExpiresAt),
		Attempts: r.Attempts, MaxAttempts: r.MaxAttempts, RunAfter: r.RunAfter.UTC(),
		LeaseEpoch: r.LeaseEpoch, LeaseExpiresAt: utc(r.LeaseExpiresAt),
		Version: r.Version,
	}
	if r.Temperature != nil {
		j.Temperature = *r.Temperature
	}
	if r.MaxTokens != nil {
		j.MaxTokens = *r.MaxTokens
	}
	if r.Percent != nil {
		j.Percent = *r.Percent
	}
	if len(j.Metadata) == 0 || string(j.Metadata) == "null" {
		j.Metadata = json.RawMessage(`{}`)
	}
	return j
}

func jobs(rows []row) []report.Job {
	out := make([]report.Job, len(rows))
	for i, r := range rows {
		out[i] = r.job()
	}
	return out
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// nullable encodes an empty string as JSON null.
func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func deref64(n *int64) int64 {
	if n == nil {
		return 0
	}
	return *n
}

func derefFloat(f *float64) float64 {
	if f == nil {
		return 0
	}
	return *f
}
