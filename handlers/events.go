package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	sse "github.com/tmaxmax/go-sse"

	"github.com/polaris/reportd/report"
)

// The live event streams: Server-Sent Events of the live views the domain
// opens (report.Live; package live keeps them current). This file only
// turns their updates into events.

// jobEvents handles GET /v1/jobs/{job_id}/events: the job's state now and
// after every change, until it is final (or deleted). Event ids are the
// job's version; a client reconnecting with Last-Event-ID gets the current
// state if it changed since, and 204 (stop reconnecting) once the final
// state was delivered.
func (h *handler) jobEvents(c echo.Context) error {
	caller, jobID, err := jobRequest(c)
	if err != nil {
		return err
	}
	f, err := h.Live.FollowJob(c.Request().Context(), caller, jobID, lastVersion(c.Request()))
	if errors.Is(err, report.ErrFollowEnded) {
		return c.NoContent(http.StatusNoContent)
	}
	if err != nil {
		return err
	}
	defer f.Close()
	return h.stream(c, f)
}

// lastVersion reads a single-job stream's Last-Event-ID.
func lastVersion(r *http.Request) *int64 {
	n, err := strconv.ParseInt(r.Header.Get("Last-Event-ID"), 10, 64)
	if err != nil || n < 0 {
		return nil
	}
	return &n
}

// events handles GET /v1/events: every change to the caller's jobs. Without
// a cursor it starts with the current state of the active jobs; with one
// (Last-Event-ID, or ?since=<RFC 3339>) it starts with the current state of
// every job changed since, so a reconnecting client misses no final state.
// Event ids are a cursor over updated_at.
func (h *handler) events(c echo.Context) error {
	caller, err := actor(c, nil)
	if err != nil {
		return err
	}
	since, err := eventsCursor(c)
	if err != nil {
		return err
	}
	f, err := h.Live.FollowJobs(c.Request().Context(), caller, since)
	if err != nil {
		return err
	}
	defer f.Close()
	return h.stream(c, f)
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

// stream sends the view's updates as events, with a keep-alive comment
// whenever none came for a heartbeat interval, until the view ends, the
// client goes away or the server shuts down.
func (h *handler) stream(c echo.Context, f report.Follow) error {
	s, err := h.open(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	for {
		next, cancel := context.WithTimeout(ctx, h.HTTP.Heartbeat)
		u, err := f.Next(next)
		cancel()
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, context.DeadlineExceeded):
			err = s.heartbeat()
		case err != nil:
			return nil // the view ended: final state, expired credentials, shutdown
		default:
			err = s.sendUpdate(u)
		}
		if err != nil {
			return nil // the client stopped reading
		}
	}
}

// sendUpdate writes one update as its event: "job" with the job's state,
// "deleted", or "reset" (reload the list).
func (s *stream) sendUpdate(u report.Update) error {
	m := &sse.Message{ID: sse.ID(u.Cursor)}
	switch u.Kind {
	case report.UpdateJob:
		data, err := json.Marshal(viewOf(u.Job))
		if err != nil {
			return err
		}
		m.Type = sse.Type("job")
		m.AppendData(string(data))
	case report.UpdateDeleted:
		data, _ := json.Marshal(map[string]string{"job_id": u.JobID})
		m.ID = sse.ID("")
		m.Type = sse.Type("deleted")
		m.AppendData(string(data))
	case report.UpdateReset:
		m.ID = sse.ID("")
		m.Type = sse.Type("reset")
		m.AppendData(`{"reason":"more jobs changed than one event batch carries; reload the list with GET /v1/jobs"}`)
	}
	return s.send(m)
}
