package supabase

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/polaris/reportd/report"
)

var _ report.Outbox = (*Store)(nil)

// deliveryColumns are the columns a job's owner may read (the lease is the
// service's own and not granted to users).
const deliveryColumns = "id,job_row_id,user_id,job_id,report_type,report_id,endpoint,job_status,status,attempts," +
	"next_attempt_at,last_status_code,last_error,delivered_at,created_at,updated_at"

// deliveryRow is a report_job_deliveries row as PostgREST (or to_jsonb)
// encodes it.
type deliveryRow struct {
	ID             string                `json:"id"`
	JobRowID       string                `json:"job_row_id"`
	UserID         *string               `json:"user_id"`
	JobID          string                `json:"job_id"`
	ReportType     string                `json:"report_type"`
	ReportID       string                `json:"report_id"`
	Endpoint       string                `json:"endpoint"`
	JobStatus      report.Status         `json:"job_status"`
	Status         report.DeliveryStatus `json:"status"`
	Attempts       int                   `json:"attempts"`
	NextAttemptAt  time.Time             `json:"next_attempt_at"`
	LeaseToken     *string               `json:"lease_token"`
	LeaseExpiresAt *time.Time            `json:"lease_expires_at"`
	LastAttemptAt  *time.Time            `json:"last_attempt_at"`
	LastStatusCode *int                  `json:"last_status_code"`
	LastError      *string               `json:"last_error"`
	DeliveredAt    *time.Time            `json:"delivered_at"`
	CreatedAt      time.Time             `json:"created_at"`
	UpdatedAt      time.Time             `json:"updated_at"`
}

func (r deliveryRow) delivery() report.Delivery {
	d := report.Delivery{
		ID: r.ID, JobRowID: r.JobRowID, UserID: deref(r.UserID), JobID: r.JobID,
		ReportType: r.ReportType, ReportID: r.ReportID, Endpoint: r.Endpoint, JobStatus: r.JobStatus,
		Status: r.Status, Attempts: r.Attempts, NextAttemptAt: r.NextAttemptAt.UTC(),
		LeaseToken: deref(r.LeaseToken), LeaseExpiresAt: utc(r.LeaseExpiresAt), LastAttemptAt: utc(r.LastAttemptAt),
		LastError:   deref(r.LastError),
		DeliveredAt: utc(r.DeliveredAt), CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
	if r.LastStatusCode != nil {
		d.LastStatusCode = *r.LastStatusCode
	}
	return d
}

// ClaimDeliveries implements report.Outbox through claim_report_job_deliveries().
func (s *Store) ClaimDeliveries(ctx context.Context, r report.DeliveryClaim) ([]report.Delivery, error) {
	who, err := s.worker()
	if err != nil {
		return nil, err
	}
	args := map[string]any{
		"p_worker": r.Worker, "p_limit": r.Limit,
		"p_lease_seconds": int(r.Lease.Seconds() + 0.5), "p_max_attempts": r.MaxAttempts,
		"p_per_user_per_minute": r.PerUserPerMinute,
	}
	var claimed []struct {
		Delivery deliveryRow `json:"delivery"`
		Job      row         `json:"job"`
	}
	if err := s.rpc(ctx, who, "claim_report_job_deliveries", args, &claimed); err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	out := make([]report.Delivery, len(claimed))
	for i, c := range claimed {
		out[i] = c.Delivery.delivery()
		job := c.Job.job()
		out[i].Job = &job
	}
	return out, nil
}

// RecordDelivery implements report.Outbox through record_report_job_delivery().
func (s *Store) RecordDelivery(ctx context.Context, l report.DeliveryLease, o report.DeliveryOutcome) error {
	who, err := s.worker()
	if err != nil {
		return err
	}
	args := map[string]any{
		"p_id": l.ID, "p_lease": l.Token, "p_status": o.Status,
		"p_status_code": nil, "p_error": nullable(o.Error), "p_retry_after_ms": o.RetryAfter.Milliseconds(),
	}
	if o.StatusCode != 0 {
		args["p_status_code"] = o.StatusCode
	}
	var status string
	if err := s.rpc(ctx, who, "record_report_job_delivery", args, &status); err != nil {
		return fmt.Errorf("record delivery %s: %w", l.ID, err)
	}
	if status == "lost" {
		return fmt.Errorf("record delivery %s: %w", l.ID, report.ErrLeaseLost)
	}
	return nil
}

// JobDeliveries implements report.Outbox with table reads under row-level
// security: the job first (so another user's job is not found rather than
// merely without deliveries), then its deliveries.
func (s *Store) JobDeliveries(ctx context.Context, c report.Caller, jobID string) ([]report.Delivery, error) {
	job, err := s.Get(ctx, c, jobID)
	if err != nil {
		return nil, err
	}
	who, q, err := s.scoped(c)
	if err != nil {
		return nil, err
	}
	q.Set("select", deliveryColumns)
	q.Set("job_row_id", "eq."+job.ID)
	q.Set("order", "created_at.asc,id.asc")
	var rows []deliveryRow
	if err := s.do(ctx, who, request{method: http.MethodGet, path: "report_job_deliveries", query: q}, &rows); err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	out := make([]report.Delivery, len(rows))
	for i, r := range rows {
		out[i] = r.delivery()
	}
	return out, nil
}
