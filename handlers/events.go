package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	sse "github.com/tmaxmax/go-sse"

	"github.com/polaris/reportd/report"
)

// jobEvents handles GET /v1/jobs/{job_id}/events: the job's state now and
// after every change, until it is final (or deleted). Event ids are the
// job's version; a client reconnecting with Last-Event-ID gets the current
// state if it changed since, and 204 (stop reconnecting) once the final
// state was delivered. Every read goes through the store as the caller.
func (h *handler) jobEvents(c echo.Context) error {
	caller, jobID, err := jobRequest(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	job, err := h.store.Get(ctx, caller, jobID)
	if err != nil {
		return err
	}
	last, resumed := lastVersion(c.Request())
	if resumed && job.Version < last {
		resumed = false // an id this job never had: start over
	}
	if resumed && job.Status.Final() && job.Version == last {
		return c.NoContent(http.StatusNoContent)
	}
	w := h.waiter(ctx, caller, h.feed.Subscribe(report.JobTopic(jobID)))
	defer w.close()
	s, err := h.open(c)
	if err != nil {
		return err
	}
	sent := sentState{version: last, any: resumed}
	for {
		if sent.changed(job) {
			if s.sendJob(strconv.FormatInt(job.Version, 10), job) != nil {
				return nil
			}
			sent = sentState{version: job.Version, at: job.UpdatedAt, any: true}
		}
		if job.Status.Final() {
			return nil
		}
		if job, err = h.nextState(ctx, w, s, caller, job); err != nil {
			return nil // the stream is over: client gone, shutdown, or job deleted
		}
	}
}

// sentState is what a single-job stream last sent.
type sentState struct {
	version int64
	at      time.Time // zero when resumed from a Last-Event-ID
	any     bool
}

// changed: a newer version, or the same version with another updated_at.
func (s sentState) changed(j report.Job) bool {
	if !s.any || j.Version != s.version {
		return !s.any || j.Version > s.version
	}
	return !s.at.IsZero() && !j.UpdatedAt.Equal(s.at)
}

var errStreamOver = errors.New("stream over")

// nextState waits for the next reason to look and re-reads the job. A store
// that cannot be reached now is tried again later; the stream stays open.
func (h *handler) nextState(ctx context.Context, w *waiter, s *stream, caller report.Caller, job report.Job) (report.Job, error) {
	for {
		switch w.next() {
		case streamDone:
			return job, errStreamOver
		case streamBeat:
			if s.heartbeat() != nil {
				return job, errStreamOver
			}
			continue
		}
		j, err := h.store.Get(ctx, caller, job.JobID)
		switch {
		case errors.Is(err, report.ErrNotFound):
			m := &sse.Message{Type: sse.Type("deleted")}
			data, _ := json.Marshal(map[string]string{"job_id": job.JobID})
			m.AppendData(string(data))
			_ = s.send(m)
			return job, errStreamOver
		case errors.Is(err, report.ErrUnauthenticated):
			return job, errStreamOver // the token was refused: the client reconnects with a fresh one
		case err != nil:
			h.log.DebugContext(ctx, "stream: re-reading the job failed; retrying", "job_id", job.JobID, "err", err)
			continue
		}
		return j, nil
	}
}

// lastVersion reads a single-job stream's Last-Event-ID.
func lastVersion(r *http.Request) (int64, bool) {
	v := r.Header.Get("Last-Event-ID")
	if v == "" {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil && n >= 0
}

// events handles GET /v1/events: every change to the caller's jobs. Without
// a cursor it starts with the current state of the active jobs; with one
// (Last-Event-ID, or ?since=<RFC 3339>) it starts with the current state of
// every job changed since, so a reconnecting client misses no final state.
// Event ids are a cursor over updated_at. Deletions are not announced here.
func (h *handler) events(c echo.Context) error {
	caller, err := actor(c, nil)
	if err != nil {
		return err
	}
	since, err := eventsCursor(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	f := &jobFeed{h: h, caller: caller, seen: map[string]seenJob{}}
	var first []report.Job
	var truncated bool
	if since == nil {
		f.cursor = h.now().UTC()
		active := report.Filter{Statuses: []report.Status{report.StatusQueued, report.StatusRunning}}
		first, truncated, err = h.listPages(ctx, caller, active)
	} else {
		f.cursor = *since
		first, truncated, err = f.changes(ctx)
	}
	if err != nil {
		return err
	}
	f.w = h.waiter(ctx, caller, h.feed.Subscribe(report.UserTopic(caller.UserID)))
	defer f.w.close()
	if f.s, err = h.open(c); err != nil {
		return err
	}
	return f.run(ctx, first, truncated)
}

// eventsCursor reads where an all-jobs stream resumes: Last-Event-ID (as
// this API wrote it; anything else starts afresh), else ?since=.
func eventsCursor(c echo.Context) (*time.Time, error) {
	v := &report.ValidationError{}
	for name := range c.QueryParams() {
		if name != "since" {
			v.Add(name, "unknown query parameter %q", name)
		}
	}
	if err := v.OrNil(); err != nil {
		return nil, err
	}
	if id := c.Request().Header.Get("Last-Event-ID"); id != "" {
		if t, err := time.Parse(time.RFC3339Nano, id); err == nil {
			return &t, nil
		}
	}
	if s := c.QueryParam("since"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil, &report.ValidationError{Fields: []report.FieldError{{Field: "since",
				Message: "since must be an RFC 3339 timestamp, e.g. 2026-01-31T12:00:00Z"}}}
		}
		return &t, nil
	}
	return nil, nil
}

// maxCatchUp bounds the jobs one re-read of the all-jobs stream loads.
const maxCatchUp = 1000

// listPages lists every job matching f, newest first, page by page, up to
// maxCatchUp jobs; truncated says some were left out.
func (h *handler) listPages(ctx context.Context, caller report.Caller, f report.Filter) (jobs []report.Job, truncated bool, err error) {
	const page = 100
	f.Limit = page
	for {
		got, err := h.store.List(ctx, caller, f)
		if err != nil {
			return nil, false, err
		}
		jobs = append(jobs, got...)
		if len(got) < page {
			return jobs, false, nil
		}
		if len(jobs) >= maxCatchUp {
			return jobs, true, nil
		}
		last := got[len(got)-1]
		f.After = &report.Cursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
}

// jobFeed is the state of one all-jobs stream.
type jobFeed struct {
	h      *handler
	caller report.Caller
	w      *waiter
	s      *stream
	cursor time.Time          // latest updated_at sent (or the start), the event id
	seen   map[string]seenJob // what was sent, within the lookback, by job id
}

type seenJob struct {
	version int64
	at      time.Time
}

func (f *jobFeed) run(ctx context.Context, first []report.Job, truncated bool) error {
	if f.emit(first, truncated) != nil {
		return nil
	}
	for {
		switch f.w.next() {
		case streamDone:
			return nil
		case streamBeat:
			if f.s.heartbeat() != nil {
				return nil
			}
			continue
		}
		jobs, truncated, err := f.changes(ctx)
		if errors.Is(err, report.ErrUnauthenticated) {
			return nil // the token was refused: the client reconnects with a fresh one
		}
		if err != nil {
			f.h.log.DebugContext(ctx, "stream: re-reading jobs failed; retrying", "err", err)
			continue
		}
		if f.emit(jobs, truncated) != nil {
			return nil
		}
	}
}

// changes lists the caller's jobs changed since the cursor, less the lookback.
func (f *jobFeed) changes(ctx context.Context) ([]report.Job, bool, error) {
	floor := f.cursor.Add(-f.h.streams.Lookback)
	return f.h.listPages(ctx, f.caller, report.Filter{UpdatedAfter: &floor})
}

// emit sends what was not sent yet, oldest change first, so that the cursor
// in each event id only moves forward; then it forgets what fell behind the
// lookback and watches the active jobs for local wake-ups. When more jobs
// changed than one read loads, a "reset" event tells the client to reload
// its list (GET /v1/jobs) rather than trust the stream alone.
func (f *jobFeed) emit(jobs []report.Job, truncated bool) error {
	if truncated {
		m := &sse.Message{Type: sse.Type("reset")}
		m.AppendData(`{"reason":"more jobs changed than one event batch carries; reload the list with GET /v1/jobs"}`)
		if err := f.s.send(m); err != nil {
			return err
		}
	}
	sort.Slice(jobs, func(a, b int) bool {
		if !jobs[a].UpdatedAt.Equal(jobs[b].UpdatedAt) {
			return jobs[a].UpdatedAt.Before(jobs[b].UpdatedAt)
		}
		return jobs[a].JobID < jobs[b].JobID
	})
	for _, j := range jobs {
		if s, ok := f.seen[j.JobID]; ok && s.version == j.Version && s.at.Equal(j.UpdatedAt) {
			continue
		}
		if j.UpdatedAt.After(f.cursor) {
			f.cursor = j.UpdatedAt
		}
		if err := f.s.sendJob(f.cursor.Format(time.RFC3339Nano), j); err != nil {
			return err
		}
		f.seen[j.JobID] = seenJob{version: j.Version, at: j.UpdatedAt}
		if j.Status.Final() {
			f.w.sub.Unwatch(report.JobTopic(j.JobID))
		} else {
			f.w.sub.Watch(report.JobTopic(j.JobID))
		}
	}
	floor := f.cursor.Add(-f.h.streams.Lookback)
	for id, s := range f.seen {
		if s.at.Before(floor) {
			delete(f.seen, id)
			f.w.sub.Unwatch(report.JobTopic(id))
		}
	}
	return nil
}
