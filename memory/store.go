// Package memory is the embedded job store used when no Supabase project is
// configured. It keeps jobs in process memory and mirrors, rule for rule, the
// SQL functions and row-level security in migrations/: the same conformance
// suite runs against it and against the Supabase store.
package memory

import (
	"context"
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unique"

	"github.com/google/uuid"

	"github.com/polaris/reportd/report"
)

// Store holds jobs in memory. The zero value is not usable; call New.
type Store struct {
	now func() time.Time

	// mu guards everything below. Reads (Get, List, Stats) share it, so
	// status reads never wait behind each other, only behind writes.
	mu    sync.RWMutex
	last  time.Time              // latest instant handed out by clock
	jobs  map[string]*report.Job // by row id
	byJob map[string]*report.Job // by public job id
	idem  map[idemKey]string     // (user, idempotency key) -> row id

	attempts map[string][]*attempt // by row id, oldest first (report_job_attempts)
	// running holds each user's running jobs, by row id (their waiting
	// jobs are est.waiting): what claims and the lease checks look at.
	running map[string]map[string]*report.Job
	// owned holds each user's jobs: what List and Stats read, so their
	// cost follows the user's jobs, not the store's.
	owned map[string]map[*report.Job]struct{}
	est   estimator

	limits  report.Limits
	budgets map[string]report.Budget // per-user overrides (report_job_budgets)
	usage   map[usageKey]usage       // report_job_usage

	deliveries map[string]*report.Delivery // webhook outbox, by delivery id
}

type idemKey struct{ user, key string }

// New returns an empty store reading time from now (time.Now when nil).
func New(now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{
		now:   now,
		jobs:  map[string]*report.Job{},
		byJob: map[string]*report.Job{},
		idem:  map[idemKey]string{},

		attempts: map[string][]*attempt{},
		running:  map[string]map[string]*report.Job{},
		owned:    map[string]map[*report.Job]struct{}{},
		est:      newEstimator(),
		limits:   report.DefaultLimits,
		budgets:  map[string]report.Budget{},
		usage:    map[usageKey]usage{},

		deliveries: map[string]*report.Delivery{},
	}
}

var (
	_ report.Store  = (*Store)(nil)
	_ report.Queue  = (*Store)(nil)
	_ report.Outbox = (*Store)(nil)
)

// clock returns the current time at PostgreSQL's precision, strictly
// increasing so that "oldest first" is never a tie (callers hold s.mu).
func (s *Store) clock() time.Time {
	t := s.now().UTC().Truncate(time.Microsecond)
	if !t.After(s.last) {
		t = s.last.Add(time.Microsecond)
	}
	s.last = t
	return t
}

// actor mirrors report_job_actor(): a user acts for themselves, a service
// caller for the user it names.
func actor(c report.Caller) (string, error) {
	if c.UserID == "" {
		if c.IsService() {
			return "", report.Errorf(report.ErrInvalid, "a service caller must name the user it acts for")
		}
		return "", report.Errorf(report.ErrUnauthenticated, "a signed-in user is required")
	}
	return c.UserID, nil
}

// Ping always succeeds: memory is always reachable.
func (s *Store) Ping(context.Context) error { return nil }

// Create implements report.Store.
func (s *Store) Create(_ context.Context, c report.Caller, in report.NewJob) (report.Job, bool, error) {
	user, err := actor(c)
	if err != nil {
		return report.Job{}, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if in.IdempotencyKey != "" {
		if id, ok := s.idem[idemKey{user, in.IdempotencyKey}]; ok {
			return *s.jobs[id], false, nil
		}
	}
	if _, dup := s.byJob[in.JobID]; dup {
		return report.Job{}, false, report.Errorf(report.ErrConflict, "job_id %s already exists", in.JobID)
	}
	now := s.clock()
	if err := s.enforce(user, in, now); err != nil {
		return report.Job{}, false, err
	}
	meta := in.Metadata
	if len(meta) == 0 || string(meta) == "{}" {
		meta = emptyMetadata
	}
	// The job and its expiry in one allocation (see compact).
	st := &struct {
		report.Job
		expires time.Time
	}{expires: now.Add(7 * 24 * time.Hour)}
	j := &st.Job
	*j = report.Job{
		ID: uuid.NewString(), JobID: in.JobID, UserID: user, SummaryID: in.SummaryID,
		Status: report.StatusQueued, Model: in.Model, Prompt: in.Prompt,
		Temperature: in.Temperature, MaxTokens: in.MaxTokens, IdempotencyKey: in.IdempotencyKey,
		RequestHash: in.RequestHash, Metadata: meta, CreatedAt: now, UpdatedAt: now, ExpiresAt: &st.expires,
		MaxAttempts: in.MaxAttempts, RunAfter: now,
	}
	if j.MaxAttempts == 0 {
		j.MaxAttempts = report.DefaultMaxAttempts
	}
	compact(j)
	s.jobs[j.ID] = j
	s.byJob[j.JobID] = j
	if s.owned[user] == nil {
		s.owned[user] = map[*report.Job]struct{}{}
	}
	s.owned[user][j] = struct{}{}
	s.track(j)
	s.est.enqueue(j)
	if in.IdempotencyKey != "" {
		s.idem[idemKey{user, in.IdempotencyKey}] = j.ID
	}
	return *j, true, nil
}

// own returns the caller's job by public id (locked by the caller).
func (s *Store) own(c report.Caller, jobID string) (*report.Job, error) {
	user, err := actor(c)
	if err != nil {
		return nil, err
	}
	if j, ok := s.byJob[jobID]; ok && j.UserID == user {
		return j, nil
	}
	return nil, report.Errorf(report.ErrNotFound, "Job not found")
}

// emptyMetadata is every job's metadata that has none (nothing writes into
// a job's metadata in place; a completion merges into a new value).
var emptyMetadata = json.RawMessage(`{}`)[:2:2]

// compact stores a new job's own strings in one allocation, and shares its
// owner's and its model's with the user's and the model's other jobs. The
// garbage collector's marking costs by the object, and a stored job was a
// dozen of them: with a million jobs stored a third of a status read's CPU
// went to marking them; now a job is about four.
func compact(j *report.Job) {
	fields := []*string{&j.ID, &j.JobID, &j.Prompt, &j.SummaryID, &j.IdempotencyKey, &j.RequestHash}
	n := 0
	for _, f := range fields {
		n += len(*f)
	}
	var b strings.Builder
	b.Grow(n)
	for _, f := range fields {
		b.WriteString(*f)
	}
	all := b.String()
	for _, f := range fields {
		if l := len(*f); l > 0 { // an empty string keeps no pointer for the collector to follow
			*f, all = all[:l], all[l:]
		}
	}
	j.UserID = unique.Make(j.UserID).Value()
	j.Model = unique.Make(j.Model).Value()
}

// Get implements report.Store.
func (s *Store) Get(_ context.Context, c report.Caller, jobID string) (report.Job, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	j, err := s.own(c, jobID)
	if err != nil {
		return report.Job{}, err
	}
	out := *j
	out.History = s.history(j)
	if out.Status == report.StatusQueued && out.ETASeconds == nil {
		eta := s.queueEstimate(j)
		out.ETASeconds = &eta
	}
	return out, nil
}

// List implements report.Store.
func (s *Store) List(_ context.Context, c report.Caller, f report.Filter) ([]report.Job, error) {
	user, err := actor(c)
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	var out []report.Job
	for j := range s.owned[user] {
		if matches(j, f) {
			out = append(out, *j)
		}
	}
	s.mu.RUnlock()
	sort.Slice(out, func(a, b int) bool { return newer(out[a], out[b]) })
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out, nil
}

// newer orders jobs newest first (created_at desc, id desc).
func newer(a, b report.Job) bool {
	if !a.CreatedAt.Equal(b.CreatedAt) {
		return a.CreatedAt.After(b.CreatedAt)
	}
	return a.ID > b.ID
}

func matches(j *report.Job, f report.Filter) bool {
	if len(f.Statuses) > 0 && !containsStatus(f.Statuses, j.Status) {
		return false
	}
	if len(f.JobIDs) > 0 && !slices.Contains(f.JobIDs, j.JobID) {
		return false
	}
	switch {
	case f.SummaryID != "" && j.SummaryID != f.SummaryID,
		f.Model != "" && j.Model != f.Model,
		f.CreatedBefore != nil && !j.CreatedAt.Before(*f.CreatedBefore),
		f.CreatedAfter != nil && !j.CreatedAt.After(*f.CreatedAfter),
		f.UpdatedAfter != nil && !j.UpdatedAt.After(*f.UpdatedAfter):
		return false
	}
	if f.After != nil {
		return newer(report.Job{CreatedAt: f.After.CreatedAt, ID: f.After.ID}, *j)
	}
	return true
}

func containsStatus(list []report.Status, s report.Status) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Cancel implements report.Store.
func (s *Store) Cancel(_ context.Context, c report.Caller, jobID string) (report.Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, err := s.own(c, jobID)
	if err != nil {
		return report.Job{}, err
	}
	switch j.Status {
	case report.StatusQueued, report.StatusRunning:
		s.update(j, func(n *report.Job) {
			n.Status = report.StatusCancelled
			n.ETASeconds = nil
			n.LeaseExpiresAt = nil
		})
	case report.StatusCancelled:
	default:
		return report.Job{}, report.Errorf(report.ErrConflict, "Job already %s", j.Status)
	}
	return *j, nil
}

// Delete implements report.Store.
func (s *Store) Delete(_ context.Context, c report.Caller, jobID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, err := s.own(c, jobID)
	if err != nil {
		return err
	}
	s.remove(j)
	return nil
}

func (s *Store) remove(j *report.Job) {
	delete(s.jobs, j.ID)
	delete(s.byJob, j.JobID)
	if j.IdempotencyKey != "" {
		delete(s.idem, idemKey{j.UserID, j.IdempotencyKey})
	}
	delete(s.attempts, j.ID)
	s.est.gone(j)
	if o := s.owned[j.UserID]; o != nil {
		delete(o, j)
		if len(o) == 0 {
			delete(s.owned, j.UserID)
		}
	}
	if a := s.running[j.UserID]; a != nil {
		delete(a, j.ID)
		if len(a) == 0 {
			delete(s.running, j.UserID)
		}
	}
	s.removeDeliveries(j.ID)
}

// track keeps s.running in step with j's status (callers hold s.mu).
func (s *Store) track(j *report.Job) {
	a := s.running[j.UserID]
	if j.Status == report.StatusRunning {
		if a == nil {
			a = map[string]*report.Job{}
			s.running[j.UserID] = a
		}
		a[j.ID] = j
		return
	}
	if a != nil {
		delete(a, j.ID)
		if len(a) == 0 {
			delete(s.running, j.UserID)
		}
	}
}

// Stats implements report.Store.
func (s *Store) Stats(_ context.Context, c report.Caller) (report.Stats, error) {
	user, err := actor(c)
	if err != nil {
		return report.Stats{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var st report.Stats
	var sum time.Duration
	var n int64
	for j := range s.owned[user] {
		st.Total++
		switch j.Status {
		case report.StatusQueued:
			st.Queued++
		case report.StatusRunning:
			st.Running++
		case report.StatusSucceeded:
			st.Succeeded++
		case report.StatusFailed:
			st.Failed++
		case report.StatusCancelled:
			st.Cancelled++
		}
		if j.StartedAt != nil && j.CompletedAt != nil {
			sum += j.CompletedAt.Sub(*j.StartedAt)
			n++
		}
	}
	if n > 0 {
		st.AvgDuration = (sum / time.Duration(n)).Round(time.Millisecond)
	}
	st.Budget = s.budget(user, s.now())
	return st, nil
}

// update applies change to j and then what the report_jobs_touch trigger does.
func (s *Store) update(j *report.Job, change func(*report.Job)) {
	old := *j
	change(j)
	now := s.clock()
	j.UpdatedAt = now
	j.Version = old.Version + 1
	if j.Status == report.StatusRunning && (old.Status != report.StatusRunning || j.Attempts != old.Attempts) {
		j.StartedAt = &now
	}
	if j.Status.Final() && !old.Status.Final() {
		j.CompletedAt = &now
		s.enqueueDelivery(j, now) // the report_jobs_enqueue_delivery trigger
	}
	if !j.Status.Final() {
		j.CompletedAt = nil
	}
	s.track(j)
	s.est.moved(j, old.Status)
}
