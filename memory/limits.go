package memory

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/polaris/reportd/report"
)

// The limits, budgets and usage of migrations/..._tenant_limits.sql.

// usageKey is one user's UTC day.
type usageKey struct {
	user string
	day  string // YYYY-MM-DD
}

type usage struct {
	tokens int64
	cost   float64
}

// Configure implements report.Settings, mirroring report_job_configure().
func (s *Store) Configure(_ context.Context, l report.Limits) (report.Limits, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limits = l
	return l, nil
}

// SetBudget gives one user limits of their own (report_job_budgets); zero
// values take the defaults.
func (s *Store) SetBudget(user string, dailyTokens int64, dailyCost float64, maxQueued int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.budgets[user] = report.Budget{DailyTokens: dailyTokens, DailyCost: dailyCost, MaxQueued: maxQueued}
}

// budget mirrors report_job_user_limits() (callers hold s.mu).
func (s *Store) budget(user string, now time.Time) report.Budget {
	b := report.Budget{DailyTokens: s.limits.DailyTokens, DailyCost: s.limits.DailyCost, MaxQueued: s.limits.MaxQueuedPerUser}
	if o, ok := s.budgets[user]; ok {
		if o.DailyTokens > 0 {
			b.DailyTokens = o.DailyTokens
		}
		if o.DailyCost > 0 {
			b.DailyCost = o.DailyCost
		}
		if o.MaxQueued > 0 {
			b.MaxQueued = o.MaxQueued
		}
	}
	day := now.UTC().Truncate(24 * time.Hour)
	u := s.usage[usageKey{user, day.Format(time.DateOnly)}]
	b.UsedTokens, b.UsedCost, b.ResetsAt = u.tokens, u.cost, day.Add(24*time.Hour)
	return b
}

func spentUp(b report.Budget) bool {
	return (b.DailyTokens > 0 && b.UsedTokens >= b.DailyTokens) || (b.DailyCost > 0 && b.UsedCost >= b.DailyCost)
}

// enforce mirrors the report_jobs_enforce trigger (callers hold s.mu).
func (s *Store) enforce(user string, in report.NewJob, now time.Time) error {
	l := s.limits
	field := func(name, format string, args ...any) *report.ValidationError {
		return &report.ValidationError{Fields: []report.FieldError{{Field: name, Message: fmt.Sprintf(format, args...)}}}
	}
	switch n := utf8.RuneCountInString(in.Prompt); {
	case !report.ValidJobID(in.JobID):
		return field("job_id", "job_id must be 1 to 128 letters, digits or _.:- starting with a letter or digit (got %d characters)", len(in.JobID))
	case n == 0:
		return field("prompt", "prompt is required")
	case l.MaxPromptChars > 0 && n > l.MaxPromptChars:
		v := field("prompt", "prompt is %d characters long; the limit is %d", n, l.MaxPromptChars)
		v.TooLarge = true
		return v
	case l.MaxTokens > 0 && in.MaxTokens > l.MaxTokens:
		return field("max_tokens", "max_tokens must be between 1 and %d", l.MaxTokens)
	case l.MaxAttempts > 0 && in.MaxAttempts > l.MaxAttempts:
		return field("max_attempts", "max_attempts must be between 1 and %d", l.MaxAttempts)
	case l.MaxMetadataBytes > 0 && len(in.Metadata) > l.MaxMetadataBytes:
		v := field("metadata", "metadata is %d bytes; the limit is %d", len(in.Metadata), l.MaxMetadataBytes)
		v.TooLarge = true
		return v
	case l.MaxMetadataDepth > 0 && report.JSONDepth(in.Metadata) > l.MaxMetadataDepth:
		return field("metadata", "metadata is nested more than %d levels deep", l.MaxMetadataDepth)
	}
	b := s.budget(user, now)
	if queued := len(s.est.waiting[user]); b.MaxQueued > 0 && queued >= b.MaxQueued {
		return &report.LimitError{RetryAfter: 30 * time.Second,
			Message: fmt.Sprintf("You have %d jobs waiting; the limit is %d. Wait for some to finish, or cancel some.", queued, b.MaxQueued)}
	}
	if spentUp(b) {
		return &report.LimitError{RetryAfter: b.ResetsAt.Sub(now),
			Message: fmt.Sprintf("Your daily budget is used up (%d tokens); it resets at %s", b.UsedTokens, b.ResetsAt.Format(time.RFC3339))}
	}
	return nil
}

// recordUsage mirrors report_job_record_usage() (callers hold s.mu).
func (s *Store) recordUsage(user string, spent report.Spent, now time.Time) {
	if user == "" {
		return
	}
	k := usageKey{user, now.UTC().Format(time.DateOnly)}
	u := s.usage[k]
	u.tokens += max(spent.Tokens, 0)
	u.cost += math.Max(spent.Cost, 0)
	s.usage[k] = u
}

// failOverBudget mirrors report_job_fail_over_budget() (callers hold s.mu).
func (s *Store) failOverBudget(now time.Time) {
	day := now.UTC().Format(time.DateOnly)
	for k := range s.usage {
		if k.day != day {
			continue
		}
		b := s.budget(k.user, now)
		if !spentUp(b) {
			continue
		}
		msg := fmt.Sprintf("Your daily budget is used up (%d of %d tokens); it resets at %s. Create the job again then.",
			b.UsedTokens, b.DailyTokens, b.ResetsAt.Format(time.RFC3339))
		// A copy: failing a job takes it out of est.waiting.
		for _, j := range slices.Clone(s.est.waiting[k.user]) {
			if !j.RunAfter.After(now) {
				s.update(j, func(n *report.Job) {
					n.Status, n.Percent, n.ETASeconds = report.StatusFailed, 100, nil
					n.Error = &msg
				})
			}
		}
	}
}
