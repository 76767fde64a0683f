package live

import (
	"context"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/polaris/reportd/report"
)

// follow is one open view: of one job (jobID set) or of all of a caller's
// jobs. The reader hands it what it read (deliver); the view's own
// goroutine takes the updates one at a time (Next).
type follow struct {
	h      *Hub
	r      *reader // set by join
	caller report.Caller
	jobID  string // "" for all of the caller's jobs
	wake   chan struct{}

	mu    sync.Mutex
	queue []report.Update
	ended error // set once the view is over
	// a single job's view: what it last queued, and whether that was the
	// job's final state or its deletion
	sent sentState
	over bool
	// all jobs: the cursor (latest updated_at queued) and what was queued
	// within the lookback
	cursor time.Time
	seen   map[string]sentState
}

// sentState is what a view last queued of a job.
type sentState struct {
	version int64
	at      time.Time // zero when resumed from a version alone
	any     bool
}

// newer reports whether j differs from what was queued: a newer version,
// or the same version stamped at another time.
func (s sentState) newer(j report.Job) bool {
	if !s.any {
		return true
	}
	if j.Version != s.version {
		return j.Version > s.version
	}
	return !s.at.IsZero() && !j.UpdatedAt.Equal(s.at)
}

// FollowJob implements report.Live.
func (h *Hub) FollowJob(ctx context.Context, c report.Caller, jobID string, after *int64) (report.Follow, error) {
	if err := h.open(c); err != nil {
		return nil, err
	}
	f := &follow{h: h, caller: c, jobID: jobID, wake: make(chan struct{}, 1)}
	if err := h.join(f); err != nil {
		return nil, err
	}
	job, err := h.cfg.Store.Get(ctx, c, jobID)
	if err != nil {
		f.Close()
		return nil, err
	}
	if after != nil && *after <= job.Version {
		if job.Status.Final() && job.Version == *after {
			f.Close()
			return nil, report.ErrFollowEnded // the final state was delivered already
		}
		f.sent = sentState{version: *after, any: true}
	}
	f.deliver([]report.Job{job}, false, nil)
	return f, nil
}

// FollowJobs implements report.Live.
func (h *Hub) FollowJobs(ctx context.Context, c report.Caller, since *time.Time) (report.Follow, error) {
	if err := h.open(c); err != nil {
		return nil, err
	}
	f := &follow{h: h, caller: c, wake: make(chan struct{}, 1), seen: map[string]sentState{}}
	filter := report.Filter{Statuses: []report.Status{report.StatusQueued, report.StatusRunning}}
	f.cursor = h.cfg.Now().UTC()
	if since != nil {
		f.cursor = since.UTC()
		floor := f.cursor.Add(-h.cfg.Lookback)
		filter = report.Filter{UpdatedAfter: &floor}
	}
	if err := h.join(f); err != nil {
		return nil, err
	}
	jobs, truncated, err := listPages(ctx, h.cfg.Store, c, filter)
	if err != nil {
		f.Close()
		return nil, err
	}
	f.deliver(jobs, truncated, nil)
	return f, nil
}

// open refuses views once the hub is stopping.
func (h *Hub) open(c report.Caller) error {
	select {
	case <-h.cfg.Stop:
		return report.Errorf(report.ErrUnavailable, "The service is shutting down")
	default:
	}
	if c.UserID == "" {
		return report.Errorf(report.ErrInvalid, "a live view needs the user whose jobs it shows")
	}
	return nil
}

// watching is the job a single job's view still waits on ("" otherwise).
func (f *follow) watching() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.jobID == "" || f.ended != nil {
		return ""
	}
	return f.jobID
}

func (f *follow) dead() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ended != nil
}

// deliver queues what changed for this view: jobs read as the caller's
// user (newest first or in any order), whether more changed than were read,
// and single jobs found deleted.
func (f *follow) deliver(jobs []report.Job, truncated bool, gone []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ended != nil {
		return
	}
	before := len(f.queue)
	if f.jobID != "" {
		f.deliverOne(jobs, gone)
	} else {
		f.deliverAll(jobs, truncated)
	}
	if len(f.queue) > before {
		f.signal()
	}
}

func (f *follow) deliverOne(jobs []report.Job, gone []string) {
	if f.over {
		return
	}
	for _, j := range jobs {
		if j.JobID != f.jobID || !f.sent.newer(j) {
			continue
		}
		f.queue = append(f.queue, report.Update{Kind: report.UpdateJob, Job: j, Cursor: strconv.FormatInt(j.Version, 10)})
		f.sent = sentState{version: j.Version, at: j.UpdatedAt, any: true}
		if j.Status.Final() {
			f.over = true
			return
		}
	}
	if slices.Contains(gone, f.jobID) {
		f.queue = append(f.queue, report.Update{Kind: report.UpdateDeleted, JobID: f.jobID})
		f.over = true
	}
}

// deliverAll queues, oldest change first, the jobs not queued yet, so the
// cursor in each update only moves forward; then it forgets what fell
// behind the lookback.
func (f *follow) deliverAll(jobs []report.Job, truncated bool) {
	if truncated {
		f.queue = append(f.queue, report.Update{Kind: report.UpdateReset, Cursor: f.cursor.Format(time.RFC3339Nano)})
	}
	sorted := append([]report.Job(nil), jobs...)
	sort.Slice(sorted, func(a, b int) bool {
		if !sorted[a].UpdatedAt.Equal(sorted[b].UpdatedAt) {
			return sorted[a].UpdatedAt.Before(sorted[b].UpdatedAt)
		}
		return sorted[a].JobID < sorted[b].JobID
	})
	for _, j := range sorted {
		if s, ok := f.seen[j.JobID]; ok && !s.newer(j) {
			continue
		}
		if j.UpdatedAt.After(f.cursor) {
			f.cursor = j.UpdatedAt
		}
		f.queue = append(f.queue, report.Update{Kind: report.UpdateJob, Job: j, Cursor: f.cursor.Format(time.RFC3339Nano)})
		f.seen[j.JobID] = sentState{version: j.Version, at: j.UpdatedAt, any: true}
	}
	floor := f.cursor.Add(-f.h.cfg.Lookback)
	for id, s := range f.seen {
		if s.at.Before(floor) {
			delete(f.seen, id)
		}
	}
}

// end finishes the view with err once what was queued has been taken.
func (f *follow) end(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ended == nil {
		f.ended = err
		f.signal()
	}
}

func (f *follow) signal() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// Next implements report.Follow.
func (f *follow) Next(ctx context.Context) (report.Update, error) {
	var expired <-chan time.Time
	if exp := f.caller.Expires; !exp.IsZero() {
		t := time.NewTimer(time.Until(exp))
		defer t.Stop()
		expired = t.C
	}
	for {
		if u, err, ok := f.take(); ok {
			return u, err
		}
		select {
		case <-ctx.Done():
			return report.Update{}, ctx.Err()
		case <-f.h.cfg.Stop:
			return report.Update{}, report.ErrFollowEnded
		case <-expired:
			// The credentials that opened the view expired: it lives no
			// longer than they do; the client reconnects with fresh ones.
			f.end(report.ErrFollowEnded)
		case <-f.wake:
		}
	}
}

// take returns the next queued update, or how the view ended, or ok false
// when there is nothing yet.
func (f *follow) take() (report.Update, error, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.queue) > 0 {
		u := f.queue[0]
		f.queue = f.queue[1:]
		if len(f.queue) == 0 {
			f.queue = nil // let the backing array go
		}
		return u, nil, true
	}
	if f.over && f.ended == nil {
		f.ended = report.ErrFollowEnded
	}
	if f.ended != nil {
		return report.Update{}, f.ended, true
	}
	return report.Update{}, nil, false
}

// Close implements report.Follow.
func (f *follow) Close() {
	f.end(report.ErrFollowEnded)
	f.h.leave(f)
}
