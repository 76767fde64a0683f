package memory

import (
	"sort"
	"time"

	"github.com/polaris/reportd/report"
)

// What a queued job's estimate needs, kept up to date as jobs change, so
// that a status read costs the same however many jobs are stored or wait:
// each user's waiting jobs in claim order (the job's rank is a binary
// search), a histogram of how many users have how many jobs waiting, the
// number of running jobs, and the most recent successes of each model.

// recentSuccesses is how many successes of a model the estimate averages.
const recentSuccesses = 50

// estimator is the memory store's incremental view of the queue (guarded
// by Store.mu).
type estimator struct {
	waiting map[string][]*report.Job // by user: queued jobs, oldest first
	lengths map[int]int              // waiting jobs per user -> users with that many
	running int
	recent  map[string][]*report.Job // by model ("" every model): latest successes, newest last
}

func newEstimator() estimator {
	return estimator{waiting: map[string][]*report.Job{}, lengths: map[int]int{}, recent: map[string][]*report.Job{}}
}

// moved records that j went from status from to its current status.
func (e *estimator) moved(j *report.Job, from report.Status) {
	if from == j.Status {
		return
	}
	switch from {
	case report.StatusQueued:
		e.dequeue(j)
	case report.StatusRunning:
		e.running--
	}
	switch j.Status {
	case report.StatusQueued:
		e.enqueue(j)
	case report.StatusRunning:
		e.running++
	case report.StatusSucceeded:
		e.succeeded(j)
	}
}

// gone records that j, in status st, was deleted.
func (e *estimator) gone(j *report.Job) {
	switch j.Status {
	case report.StatusQueued:
		e.dequeue(j)
	case report.StatusRunning:
		e.running--
	}
}

func (e *estimator) enqueue(j *report.Job) {
	q := e.waiting[j.UserID]
	i := sort.Search(len(q), func(i int) bool { return older(j, q[i]) })
	q = append(q, nil)
	copy(q[i+1:], q[i:])
	q[i] = j
	e.resize(j.UserID, len(q)-1, len(q))
	e.waiting[j.UserID] = q
}

func (e *estimator) dequeue(j *report.Job) {
	q := e.waiting[j.UserID]
	i := sort.Search(len(q), func(i int) bool { return !older(q[i], j) })
	if i == len(q) || q[i] != j {
		return
	}
	q = append(q[:i], q[i+1:]...)
	e.resize(j.UserID, len(q)+1, len(q))
	if len(q) == 0 {
		delete(e.waiting, j.UserID)
		return
	}
	e.waiting[j.UserID] = q
}

// resize moves a user from one bucket of the histogram to another.
func (e *estimator) resize(_ string, from, to int) {
	if from > 0 {
		if e.lengths[from]--; e.lengths[from] == 0 {
			delete(e.lengths, from)
		}
	}
	if to > 0 {
		e.lengths[to]++
	}
}

func (e *estimator) succeeded(j *report.Job) {
	for _, model := range []string{j.Model, ""} {
		r := append(e.recent[model], j)
		if len(r) > recentSuccesses {
			r = r[len(r)-recentSuccesses:]
		}
		e.recent[model] = r
	}
}

// snapshot is the queue as report.QueueSnapshot describes it. Successes
// are read from the jobs themselves (those of the past week still
// stored), as report_job_queue_snapshot() reads them.
func (e *estimator) snapshot(model string, now time.Time, stored func(*report.Job) bool) report.QueueSnapshot {
	q := report.QueueSnapshot{Running: e.running, Lengths: e.lengths, Durations: map[string]time.Duration{}}
	for _, m := range []string{model, ""} {
		var sum time.Duration
		n := 0
		for _, j := range e.recent[m] {
			if stored(j) && j.Status == report.StatusSucceeded && j.StartedAt != nil && j.CompletedAt != nil &&
				j.CompletedAt.After(now.Add(-7*24*time.Hour)) {
				sum += j.CompletedAt.Sub(*j.StartedAt)
				n++
			}
		}
		if n > 0 {
			q.Durations[m] = sum / time.Duration(n)
		}
	}
	return q
}

// place is where a queued job stands among its owner's waiting jobs.
func (e *estimator) place(j *report.Job) report.Place {
	q := e.waiting[j.UserID]
	return report.Place{Rank: sort.Search(len(q), func(i int) bool { return !older(q[i], j) }) + 1}
}

// queueEstimate mirrors the Supabase store's estimate: the whole queue's
// snapshot and the job's place in it (callers hold s.mu).
func (s *Store) queueEstimate(j *report.Job) int {
	now := s.now().UTC()
	snap := s.est.snapshot(j.Model, now, func(o *report.Job) bool { return s.jobs[o.ID] == o })
	return snap.Estimate(*j, s.est.place(j), now)
}
