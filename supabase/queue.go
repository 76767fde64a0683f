package supabase

import (
	"context"
	"fmt"

	"github.com/polaris/reportd/report"
)

// worker returns the service credentials the queue needs.
func (s *Store) worker() (credentials, error) {
	if s.service.apikey == "" {
		return credentials{}, report.Errorf(report.ErrForbidden, "the worker needs SUPABASE_SERVICE_ROLE_KEY")
	}
	return s.service, nil
}

// fenced calls a worker function that answers with the job's status, and
// turns the fencing answers into ErrCancelled and ErrLeaseLost.
func (s *Store) fenced(ctx context.Context, fn string, args map[string]any) (report.Status, error) {
	who, err := s.worker()
	if err != nil {
		return "", err
	}
	var status string
	if err := s.rpc(ctx, who, fn, args, &status); err != nil {
		return "", err
	}
	switch status {
	case "cancelled":
		return "", report.ErrCancelled
	case "lost":
		return "", report.ErrLeaseLost
	}
	return report.Status(status), nil
}

func leaseArgs(l report.Lease) map[string]any {
	return map[string]any{"p_id": l.ID, "p_epoch": l.Epoch}
}

// claimed is one value claim_report_jobs() returns: a leased job, or a row
// it refused.
type claimed struct {
	Job         *row `json:"job"`
	Rescued     bool `json:"rescued"`
	FreeRetries int  `json:"free_retries"`
	Refused     *struct {
		ID      string  `json:"id"`
		JobID   string  `json:"job_id"`
		UserID  *string `json:"user_id"`
		Reason  string  `json:"reason"`
		Settled bool    `json:"settled"`
	} `json:"refused"`
}

// Claim implements report.Queue through claim_report_jobs().
func (s *Store) Claim(ctx context.Context, r report.ClaimRequest) (report.Claimed, error) {
	who, err := s.worker()
	if err != nil {
		return report.Claimed{}, err
	}
	args := map[string]any{
		"p_worker": r.Worker, "p_limit": r.Limit,
		"p_lease_seconds": int(r.Lease.Seconds()), "p_per_user_limit": r.PerUserLimit,
	}
	var values []claimed
	if err := s.rpc(ctx, who, "claim_report_jobs", args, &values); err != nil {
		return report.Claimed{}, fmt.Errorf("claim jobs: %w", err)
	}
	var out report.Claimed
	for _, v := range values {
		switch {
		case v.Job != nil:
			j := v.Job.job()
			j.Rescued, j.FreeRetries = v.Rescued, v.FreeRetries
			out.Jobs = append(out.Jobs, j)
		case v.Refused != nil:
			out.Refused = append(out.Refused, report.Refusal{
				ID: v.Refused.ID, JobID: v.Refused.JobID, UserID: deref(v.Refused.UserID), Reason: v.Refused.Reason,
				Settled: v.Refused.Settled})
		}
	}
	return out, nil
}

// Heartbeat implements report.Queue through report_job_heartbeat().
func (s *Store) Heartbeat(ctx context.Context, l report.Lease, p report.Progress) error {
	args := leaseArgs(l)
	args["p_lease_seconds"] = int(p.Lease.Seconds())
	args["p_percent"] = p.Percent
	if p.ETA != nil {
		args["p_eta_seconds"] = int(p.ETA.Seconds() + 0.5)
	}
	if p.Partial != nil {
		args["p_partial"] = *p.Partial
	}
	if _, err := s.fenced(ctx, "report_job_heartbeat", args); err != nil {
		return fmt.Errorf("heartbeat %s: %w", l.JobID, err)
	}
	return nil
}

// Complete implements report.Queue through complete_report_job().
func (s *Store) Complete(ctx context.Context, l report.Lease, c report.Completion) error {
	args := leaseArgs(l)
	args["p_result"] = c.Result
	args["p_metadata"] = rawOrEmpty(c.Metadata)
	args["p_attempt"] = rawOrEmpty(c.Attempt)
	args["p_tokens"], args["p_cost"] = c.Spent.Tokens, c.Spent.Cost
	if _, err := s.fenced(ctx, "complete_report_job", args); err != nil {
		return fmt.Errorf("complete %s: %w", l.JobID, err)
	}
	return nil
}

// Fail implements report.Queue through fail_report_job().
func (s *Store) Fail(ctx context.Context, l report.Lease, f report.Failure) (report.Status, error) {
	args := leaseArgs(l)
	args["p_error"] = f.Message
	args["p_retryable"] = f.Retryable
	args["p_retry_after_ms"] = f.RetryAfter.Milliseconds()
	args["p_charge_attempt"] = f.ChargeAttempt
	args["p_attempt"] = rawOrEmpty(f.Attempt)
	args["p_tokens"], args["p_cost"] = f.Spent.Tokens, f.Spent.Cost
	st, err := s.fenced(ctx, "fail_report_job", args)
	if err != nil {
		return "", fmt.Errorf("fail %s: %w", l.JobID, err)
	}
	return st, nil
}

// Release implements report.Queue through release_report_job().
func (s *Store) Release(ctx context.Context, l report.Lease) error {
	if _, err := s.fenced(ctx, "release_report_job", leaseArgs(l)); err != nil {
		return fmt.Errorf("release %s: %w", l.JobID, err)
	}
	return nil
}

// KeepPartial implements report.Queue through keep_partial_report_result(),
// which answers 'cancelled' when it stored the text.
func (s *Store) KeepPartial(ctx context.Context, l report.Lease, text string) error {
	who, err := s.worker()
	if err != nil {
		return err
	}
	args := leaseArgs(l)
	args["p_partial"] = text
	var status string
	if err := s.rpc(ctx, who, "keep_partial_report_result", args, &status); err != nil {
		return fmt.Errorf("keep partial %s: %w", l.JobID, err)
	}
	if status != string(report.StatusCancelled) {
		return fmt.Errorf("keep partial %s: %w", l.JobID, report.ErrLeaseLost)
	}
	return nil
}

// Cleanup implements report.Queue through cleanup_expired_report_jobs().
func (s *Store) Cleanup(ctx context.Context) (int, error) {
	who, err := s.worker()
	if err != nil {
		return 0, err
	}
	var n int
	if err := s.rpc(ctx, who, "cleanup_expired_report_jobs", map[string]any{}, &n); err != nil {
		return 0, fmt.Errorf("cleanup: %w", err)
	}
	return n, nil
}
