package memory

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/polaris/reportd/report"
)

// Claim implements report.Queue, mirroring claim_report_jobs() and
// report_job_claim_candidates(): running jobs whose lease expired first,
// then queued jobs in rounds across users (every user's oldest claimable
// job, oldest first, then every user's second...), at most PerUserLimit
// running per user. Memory holds no row the claim could fail on, so
// nothing is ever refused.
func (s *Store) Claim(_ context.Context, r report.ClaimRequest) (report.Claimed, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	s.failExhausted(now)
	s.failOverBudget(now)

	// Running jobs whose worker stopped renewing the lease come first, then
	// waiting jobs in rounds across users: every user's oldest claimable
	// job, then every user's second... Each user's waiting jobs are kept
	// oldest first (est.waiting), so a claim reads at most as many of them
	// as it may take, however many wait.
	var rescue []*report.Job
	busy := map[string]int{}
	for user, jobs := range s.running {
		for _, j := range jobs {
			switch {
			case j.LeaseExpiresAt != nil && !j.LeaseExpiresAt.Before(now):
				busy[user]++
			case j.ExpiresAt == nil || j.ExpiresAt.After(now):
				rescue = append(rescue, j)
			}
		}
	}
	type round struct {
		j *report.Job
		n int
	}
	var rounds []round
	for user, queued := range s.est.waiting {
		take := r.Limit
		if r.PerUserLimit > 0 {
			take = min(take, max(r.PerUserLimit-busy[user], 0))
		}
		n := 0
		for _, j := range queued {
			if n == take {
				break
			}
			if !j.RunAfter.After(now) && (j.ExpiresAt == nil || j.ExpiresAt.After(now)) {
				n++
				rounds = append(rounds, round{j, n})
			}
		}
	}
	sort.Slice(rescue, func(a, b int) bool { return older(rescue[a], rescue[b]) })
	sort.Slice(rounds, func(a, b int) bool {
		if rounds[a].n != rounds[b].n {
			return rounds[a].n < rounds[b].n
		}
		return older(rounds[a].j, rounds[b].j)
	})
	var out report.Claimed
	for _, j := range rescue {
		if len(out.Jobs) < r.Limit {
			out.Jobs = append(out.Jobs, s.claim(j, r, now))
		}
	}
	for _, c := range rounds {
		if len(out.Jobs) < r.Limit {
			out.Jobs = append(out.Jobs, s.claim(c.j, r, now))
		}
	}
	return out, nil
}

func older(a, b *report.Job) bool {
	if !a.CreatedAt.Equal(b.CreatedAt) {
		return a.CreatedAt.Before(b.CreatedAt)
	}
	return a.ID < b.ID
}

// failExhausted fails running jobs whose lease expired with no attempts left.
func (s *Store) failExhausted(now time.Time) {
	var exhausted []*report.Job
	for _, jobs := range s.running {
		for _, j := range jobs {
			exhausted = append(exhausted, j) // filtered below; s.update changes s.running
		}
	}
	for _, j := range exhausted {
		if (j.LeaseExpiresAt != nil && !j.LeaseExpiresAt.Before(now)) ||
			j.Attempts < j.MaxAttempts {
			continue
		}
		msg := fmt.Sprintf("The job was interrupted %d times (its worker stopped responding)", j.Attempts)
		s.endAttempt(j, j.LeaseEpoch, now, func(a *attempt) {
			a.Outcome, a.Error = report.HistoryLeaseExpired, report.HistoryLeaseExpired
		})
		s.update(j, func(n *report.Job) {
			n.Status = report.StatusFailed
			n.Error = &msg
			n.ETASeconds = nil
			n.LeaseExpiresAt = nil
		})
	}
}

// claim leases j (mirroring report_job_lease()) and returns it as Claim
// reports it.
func (s *Store) claim(j *report.Job, r report.ClaimRequest, now time.Time) report.Job {
	rescued := j.Status == report.StatusRunning
	if rescued {
		s.endAttempt(j, j.LeaseEpoch, now, func(a *attempt) {
			a.Outcome, a.Error = report.HistoryLeaseExpired, report.HistoryLeaseExpired
		})
	}
	s.update(j, func(n *report.Job) {
		expires := now.Add(r.Lease)
		n.Status = report.StatusRunning
		n.Attempts++
		n.LeaseEpoch++
		n.LeaseExpiresAt = &expires
		n.Result = nil
		n.Percent = 0
		n.ETASeconds = nil
	})
	s.attempts[j.ID] = append(s.attempts[j.ID], &attempt{
		AttemptRecord: report.AttemptRecord{Number: j.Attempts, StartedAt: now},
		epoch:         j.LeaseEpoch, worker: r.Worker, charged: true,
	})
	out := *j
	out.Rescued = rescued
	for _, a := range s.attempts[j.ID] {
		if !a.charged {
			out.FreeRetries++
		}
	}
	return out
}

// attempt is one row of report_job_attempts.
type attempt struct {
	report.AttemptRecord
	epoch   int64
	worker  string // never shown to the job's owner
	charged bool
}

// endAttempt closes the attempt of the given epoch, if it is still open,
// after end fills in how it ended.
func (s *Store) endAttempt(j *report.Job, epoch int64, now time.Time, end func(*attempt)) {
	for _, a := range s.attempts[j.ID] {
		if a.epoch == epoch && a.EndedAt == nil {
			ended := now
			a.EndedAt = &ended
			end(a)
		}
	}
}

// history is the job's attempts as its owner sees them (callers hold s.mu).
func (s *Store) history(j *report.Job) []report.AttemptRecord {
	out := make([]report.AttemptRecord, 0, len(s.attempts[j.ID]))
	for _, a := range s.attempts[j.ID] {
		out = append(out, a.AttemptRecord)
	}
	return out
}

// fenced returns the job when lease still holds it, else why not: a
// cancelled job's attempt is closed then, as report_job_fence_miss() does.
func (s *Store) fenced(l report.Lease) (*report.Job, error) {
	j, ok := s.jobs[l.ID]
	switch {
	case ok && j.LeaseEpoch == l.Epoch && j.Status == report.StatusRunning:
		return j, nil
	case ok && j.LeaseEpoch == l.Epoch && j.Status == report.StatusCancelled:
		s.endAttempt(j, l.Epoch, s.clock(), func(a *attempt) { a.Outcome = report.AttemptCancelled })
		return nil, report.ErrCancelled
	}
	return nil, report.ErrLeaseLost
}

// Heartbeat implements report.Queue, mirroring report_job_heartbeat().
func (s *Store) Heartbeat(_ context.Context, l report.Lease, p report.Progress) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, err := s.fenced(l)
	if err != nil {
		return err
	}
	now := s.clock()
	s.update(j, func(n *report.Job) {
		expires := now.Add(p.Lease)
		n.LeaseExpiresAt = &expires
		n.Percent = max(n.Percent, min(p.Percent, 99))
		if p.ETA != nil {
			eta := int(p.ETA.Round(time.Second) / time.Second)
			n.ETASeconds = &eta
		}
		if p.Partial != nil {
			text := *p.Partial
			n.Result = &text
		}
	})
	return nil
}

// Complete implements report.Queue, mirroring complete_report_job().
func (s *Store) Complete(_ context.Context, l report.Lease, c report.Completion) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, err := s.fenced(l)
	if err != nil {
		return err
	}
	now := s.clock()
	s.endAttempt(j, l.Epoch, now, func(a *attempt) { a.Outcome, a.Details = report.AttemptSucceeded, object(c.Attempt) })
	s.recordUsage(j.UserID, c.Spent, now)
	s.update(j, func(n *report.Job) {
		text, zero := c.Result, 0
		n.Status = report.StatusSucceeded
		n.Result = &text
		n.Error = nil
		n.Percent = 100
		n.ETASeconds = &zero
		n.LeaseExpiresAt = nil
		n.Metadata = merge(n.Metadata, c.Metadata)
	})
	return nil
}

// Fail implements report.Queue, mirroring fail_report_job().
func (s *Store) Fail(_ context.Context, l report.Lease, f report.Failure) (report.Status, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, err := s.fenced(l)
	if err != nil {
		return "", err
	}
	now := s.clock()
	s.update(j, func(n *report.Job) {
		requeue := f.Retryable && (n.Attempts < n.MaxAttempts || !f.ChargeAttempt)
		n.Status, n.Percent = report.StatusFailed, 100
		if requeue {
			n.Status, n.Percent = report.StatusQueued, 0
		}
		if !f.ChargeAttempt {
			n.Attempts = max(n.Attempts-1, 0)
		}
		n.RunAfter = now.Add(max(f.RetryAfter, 0).Truncate(time.Millisecond))
		msg := f.Message
		n.Error = &msg
		n.ETASeconds = nil
		n.Result = nil
		n.LeaseExpiresAt = nil
	})
	s.recordUsage(j.UserID, f.Spent, now)
	s.endAttempt(j, l.Epoch, now, func(a *attempt) {
		a.Outcome = report.AttemptFailed
		if j.Status == report.StatusQueued {
			a.Outcome = report.AttemptRetried
		}
		a.Error, a.charged, a.Details = f.Message, f.ChargeAttempt, object(f.Attempt)
	})
	return j.Status, nil
}

// Release implements report.Queue, mirroring release_report_job().
func (s *Store) Release(_ context.Context, l report.Lease) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, err := s.fenced(l)
	if err != nil {
		return err
	}
	now := s.clock()
	s.update(j, func(n *report.Job) {
		n.Status = report.StatusQueued
		n.Attempts = max(n.Attempts-1, 0)
		n.RunAfter = now
		n.LeaseExpiresAt = nil
		n.Percent, n.ETASeconds, n.Result = 0, nil, nil
	})
	s.endAttempt(j, l.Epoch, now, func(a *attempt) { a.Outcome, a.charged = report.AttemptReleased, false })
	return nil
}

// KeepPartial implements report.Queue, mirroring keep_partial_report_result().
func (s *Store) KeepPartial(_ context.Context, l report.Lease, text string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[l.ID]
	if !ok || j.LeaseEpoch != l.Epoch || j.Status != report.StatusCancelled ||
		(j.Result != nil && len(*j.Result) > len(text)) {
		return report.ErrLeaseLost
	}
	s.update(j, func(n *report.Job) { n.Result = &text })
	return nil
}

// Cleanup implements report.Queue, mirroring cleanup_expired_report_jobs().
func (s *Store) Cleanup(context.Context) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	n := 0
	for _, j := range s.jobs {
		expired := j.ExpiresAt != nil && j.ExpiresAt.Before(now)
		old := j.Status.Final() && j.CompletedAt != nil && j.CompletedAt.Before(now.Add(-24*time.Hour))
		if expired || old {
			s.remove(j)
			n++
		}
	}
	// Only today's usage counts against a budget; the memory store keeps
	// no history of it.
	today := now.Format(time.DateOnly)
	for k := range s.usage {
		if k.day < today {
			delete(s.usage, k)
		}
	}
	return n, nil
}

// merge mirrors jsonb's || on objects: keys of extra replace those of base.
func merge(base, extra json.RawMessage) json.RawMessage {
	if len(extra) == 0 {
		return base
	}
	m := map[string]json.RawMessage{}
	_ = json.Unmarshal(base, &m)
	add := map[string]json.RawMessage{}
	if err := json.Unmarshal(extra, &add); err != nil {
		return base
	}
	for k, v := range add {
		m[k] = v
	}
	out, _ := json.Marshal(m)
	return out
}

// object is a JSON object to record, '{}' when raw holds none.
func object(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || raw[0] != '{' {
		return json.RawMessage(`{}`)
	}
	return raw
}
