package handlers

import (
	"errors"
	"net/http"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/polaris/reportd/report"
)

// The REST API under /v1: jobs as resources, snake_case JSON, 422 for
// validation errors, cursor pagination, live event streams (events.go) and
// operator endpoints (admin.go). openapi.json documents every shape.

// createJob handles POST /v1/jobs: 201 with the job and its Location, or,
// for an Idempotency-Key the caller already used, 200 with that job when the
// body is the same and 422 when it is not.
func (h *handler) createJob(c echo.Context) error {
	req, err := h.createBody(c, parseStrictCreate)
	if err != nil {
		return err
	}
	caller, err := actor(c, req.UserID)
	if err != nil {
		return err
	}
	req.Source = "api/v1"
	out, err := h.creator.Create(c.Request().Context(), caller, req.CreateRequest)
	switch {
	case err != nil:
		return err
	case !out.SameRequest:
		return newAPIError(http.StatusUnprocessableEntity, "idempotency_key_reused",
			"This Idempotency-Key was already used with a different request")
	case !out.New:
		return c.JSON(http.StatusOK, viewOf(out.Job))
	}
	c.Response().Header().Set(echo.HeaderLocation, "/v1/jobs/"+out.Job.JobID)
	return c.JSON(http.StatusCreated, viewOf(out.Job))
}

// createBody reads and parses a create body (parse is the route's parser),
// with the Idempotency-Key header winning over the body's key.
func (h *handler) createBody(c echo.Context, parse func([]byte) (createRequest, error)) (createRequest, error) {
	body, err := readBody(c, h.HTTP.MaxBody)
	if err != nil {
		return createRequest{}, err
	}
	req, err := parse(body)
	if err != nil {
		return req, err
	}
	req.CreateRequest.IdempotencyKey = c.Request().Header.Get("Idempotency-Key")
	if req.CreateRequest.IdempotencyKey == "" && req.IdempotencyKey != nil {
		req.CreateRequest.IdempotencyKey = *req.IdempotencyKey
	}
	return req, nil
}

// parseStrictCreate is parseCreate plus the REST API's rule that a field it
// does not know is an error, not something to ignore.
func parseStrictCreate(body []byte) (createRequest, error) {
	req, err := parseCreate(body)
	v := &report.ValidationError{}
	if err != nil && !errors.As(err, &v) {
		return req, err
	}
	const named = 10 // enough to fix a typo; a flood of names is not worth echoing
	for i, name := range req.Unknown {
		if i == named {
			v.Add("body", "and %d more unknown fields", len(req.Unknown)-named)
			break
		}
		v.Add(name, "unknown field %q", name)
	}
	return req, v.OrNil()
}

// getJob handles GET /v1/jobs/{job_id}.
func (h *handler) getJob(c echo.Context) error {
	caller, jobID, err := jobRequest(c)
	if err != nil {
		return err
	}
	job, err := h.Store.Get(c.Request().Context(), caller, jobID)
	if err != nil {
		return err
	}
	view := viewOf(job)
	if _, ok := job.Deliverable(); ok && job.Status.Final() && h.Deliveries != nil {
		ds, err := h.Deliveries.JobDeliveries(c.Request().Context(), caller, jobID)
		if err != nil {
			return err
		}
		view.Deliveries = deliveryViews(ds)
	}
	return c.JSON(http.StatusOK, view)
}

// listJobs handles GET /v1/jobs: the caller's jobs, newest first, a page at
// a time.
func (h *handler) listJobs(c echo.Context) error {
	caller, err := actor(c, nil)
	if err != nil {
		return err
	}
	f, err := parseListQuery(c.QueryParams())
	if err != nil {
		return err
	}
	limit := f.Limit
	f.Limit++ // one more tells whether another page exists
	jobs, err := h.Store.List(c.Request().Context(), caller, f)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, pageOf(jobs, limit))
}

// cancelJob handles POST /v1/jobs/{job_id}/cancel: the job is cancelled and
// a stream running it in this process stops at once (other processes stop
// at their next fenced write).
func (h *handler) cancelJob(c echo.Context) error {
	caller, jobID, err := jobRequest(c)
	if err != nil {
		return err
	}
	job, err := h.Store.Cancel(c.Request().Context(), caller, jobID)
	if err != nil {
		return err
	}
	h.Changes.Announce(report.Change{Kind: report.ChangeStopped, JobID: job.JobID, UserID: job.UserID})
	return c.JSON(http.StatusOK, viewOf(job))
}

// deleteJob handles DELETE /v1/jobs/{job_id}. A running job stops too.
func (h *handler) deleteJob(c echo.Context) error {
	caller, jobID, err := jobRequest(c)
	if err != nil {
		return err
	}
	if err := h.Store.Delete(c.Request().Context(), caller, jobID); err != nil {
		return err
	}
	h.Changes.Announce(report.Change{Kind: report.ChangeStopped, JobID: jobID, UserID: caller.UserID})
	return c.NoContent(http.StatusNoContent)
}

// stats handles GET /v1/stats: the old monitor's statistics of the caller's
// jobs, computed by the store.
func (h *handler) stats(c echo.Context) error {
	caller, err := actor(c, nil)
	if err != nil {
		return err
	}
	st, err := h.Store.Stats(c.Request().Context(), caller)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, statsViewOf(st))
}

// activeJobs handles GET /v1/stats/active, what the old useActiveJobs hook
// computed.
func (h *handler) activeJobs(c echo.Context) error {
	caller, err := actor(c, nil)
	if err != nil {
		return err
	}
	st, err := h.Store.Stats(c.Request().Context(), caller)
	if err != nil {
		return err
	}
	n := st.Queued + st.Running
	return c.JSON(http.StatusOK, activeView{HasActiveJobs: n > 0, ActiveCount: n})
}

type activeView struct {
	HasActiveJobs bool `json:"hasActiveJobs"`
	ActiveCount   int  `json:"activeCount"`
}

// jobRequest is the caller and the job id of a /v1/jobs/{job_id} request. An
// id no job can have is not found, like any other unknown id.
func jobRequest(c echo.Context) (report.Caller, string, error) {
	caller, err := actor(c, nil)
	if err != nil {
		return caller, "", err
	}
	id := c.Param("job_id")
	if !possibleJobID(id) {
		return caller, "", report.Errorf(report.ErrNotFound, "Job not found")
	}
	return caller, id, nil
}

func possibleJobID(id string) bool {
	if id == "" || len(id) > 255 || !utf8.ValidString(id) {
		return false
	}
	for _, r := range id {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}
