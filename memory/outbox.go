package memory

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/google/uuid"

	"github.com/polaris/reportd/report"
)

// enqueueDelivery mirrors the report_jobs_enqueue_delivery trigger: a job
// that reached a final state and names a delivered report type and a report
// id gets one delivery (callers hold s.mu).
func (s *Store) enqueueDelivery(j *report.Job, now time.Time) {
	endpoint, ok := j.Deliverable()
	if !ok {
		return
	}
	for _, d := range s.deliveries {
		if d.JobRowID == j.ID {
			return // one per job (the unique constraint's "on conflict do nothing")
		}
	}
	d := &report.Delivery{
		ID: uuid.NewString(), JobRowID: j.ID, JobID: j.JobID, UserID: j.UserID,
		ReportType: j.ReportType(), ReportID: j.ReportID(), Endpoint: endpoint, JobStatus: j.Status,
		Status: report.DeliveryPending, NextAttemptAt: now, CreatedAt: now, UpdatedAt: now,
	}
	s.deliveries[d.ID] = d
}

// removeDeliveries mirrors the foreign key's on delete cascade.
func (s *Store) removeDeliveries(jobRowID string) {
	for id, d := range s.deliveries {
		if d.JobRowID == jobRowID {
			delete(s.deliveries, id)
		}
	}
}

// ClaimDeliveries implements report.Outbox, mirroring claim_report_job_deliveries().
func (s *Store) ClaimDeliveries(_ context.Context, r report.DeliveryClaim) ([]report.Delivery, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	var due []*report.Delivery
	for _, d := range s.deliveries {
		expired := d.Status == report.DeliveryDelivering && d.LeaseExpiresAt != nil && d.LeaseExpiresAt.Before(now)
		switch {
		case expired && d.Attempts >= r.MaxAttempts:
			d.Status, d.LeaseExpiresAt, d.UpdatedAt = report.DeliveryFailed, nil, now
			d.LastError = interruptedMessage(d.Attempts)
		case expired, d.Status == report.DeliveryPending && !d.NextAttemptAt.After(now):
			due = append(due, d)
		}
	}
	sort.Slice(due, func(a, b int) bool {
		if !due[a].NextAttemptAt.Equal(due[b].NextAttemptAt) {
			return due[a].NextAttemptAt.Before(due[b].NextAttemptAt)
		}
		return due[a].ID < due[b].ID
	})
	started := s.recentAttempts(now, r.PerUserPerMinute)
	out := []report.Delivery{}
	for _, d := range due {
		if len(out) >= r.Limit {
			break
		}
		if r.PerUserPerMinute > 0 && d.UserID != "" {
			if started[d.UserID] >= r.PerUserPerMinute {
				continue // this owner's turn comes when the minute has passed
			}
			started[d.UserID]++
		}
		expires := now.Add(r.Lease)
		attemptAt := now
		d.LastAttemptAt = &attemptAt
		d.Status, d.Attempts, d.LeaseToken, d.LeaseExpiresAt, d.UpdatedAt =
			report.DeliveryDelivering, d.Attempts+1, uuid.NewString(), &expires, now
		c := *d
		job := *s.jobs[d.JobRowID] // deliveries go with their job (cascade)
		c.Job = &job
		out = append(out, c)
	}
	return out, nil
}

// recentAttempts counts, per job owner, the delivery attempts started in the
// last minute (none when there is no per-user bound).
func (s *Store) recentAttempts(now time.Time, bound int) map[string]int {
	out := map[string]int{}
	if bound <= 0 {
		return out
	}
	for _, d := range s.deliveries {
		if d.LastAttemptAt != nil && d.LastAttemptAt.After(now.Add(-time.Minute)) {
			out[d.UserID]++
		}
	}
	return out
}

func interruptedMessage(attempts int) string {
	return fmt.Sprintf("Gave up after %d attempts; the last one was interrupted (its dispatcher stopped responding)", attempts)
}

// RecordDelivery implements report.Outbox, mirroring record_report_job_delivery().
func (s *Store) RecordDelivery(_ context.Context, l report.DeliveryLease, o report.DeliveryOutcome) error {
	switch o.Status {
	case report.DeliveryDelivered, report.DeliveryPending, report.DeliveryFailed, report.DeliverySkipped:
	default:
		return report.Errorf(report.ErrInvalid, "unknown delivery outcome %s", o.Status)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.deliveries[l.ID]
	if !ok || d.LeaseToken != l.Token || d.Status != report.DeliveryDelivering {
		return report.ErrLeaseLost
	}
	now := s.clock()
	d.Status, d.LastStatusCode, d.LastError = o.Status, o.StatusCode, o.Error
	d.LeaseExpiresAt, d.UpdatedAt, d.DeliveredAt = nil, now, nil
	switch o.Status {
	case report.DeliverySkipped:
		d.Attempts = max(d.Attempts-1, 0)
	case report.DeliveryDelivered:
		d.LastError, d.DeliveredAt = "", &now
	case report.DeliveryPending:
		d.NextAttemptAt = now.Add(max(o.RetryAfter, 0).Truncate(time.Millisecond))
	}
	return nil
}

// JobDeliveries implements report.Outbox: the owner's view of a job's
// deliveries, without the dispatcher's lease (users may not read it).
func (s *Store) JobDeliveries(_ context.Context, c report.Caller, jobID string) ([]report.Delivery, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, err := s.own(c, jobID)
	if err != nil {
		return nil, err
	}
	out := []report.Delivery{}
	for _, d := range s.deliveries {
		if d.JobRowID == j.ID {
			v := *d
			v.LeaseToken, v.LeaseExpiresAt = "", nil
			out = append(out, v)
		}
	}
	sort.Slice(out, func(a, b int) bool {
		if !out[a].CreatedAt.Equal(out[b].CreatedAt) {
			return out[a].CreatedAt.Before(out[b].CreatedAt)
		}
		return out[a].ID < out[b].ID
	})
	return out, nil
}
