package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/polaris/reportd/report"
)

// The drop-in routes keep the old /api/reportJobsDb contract: same paths,
// fields, defaults, status codes and JSON shapes. What differs is on
// purpose: a Supabase access token is required, a user's user_id field is
// ignored, another user's job is 404, and prompts over the limit are refused
// instead of cut.

// legacyStatus is the old GET answer.
type legacyStatus struct {
	JobID      string        `json:"job_id"`
	Status     report.Status `json:"status"`
	Percent    int           `json:"percent"`
	ETASeconds int           `json:"eta_seconds"`
	Result     *string       `json:"result"`
	Error      *string       `json:"error"`
}

type legacyCreated struct {
	JobID     string `json:"job_id"`
	StatusURL string `json:"status_url"`
}

// legacyCreate handles POST: create a job (or find the caller's job with the
// same idempotency key) and answer 202 with where to poll.
func (h *handler) legacyCreate(c echo.Context) error {
	req, err := h.createBody(c, parseCreate)
	if err != nil {
		return err
	}
	caller, err := actor(c, req.UserID)
	if err != nil {
		return err
	}
	req.Source = "api"
	out, err := h.creator.Create(c.Request().Context(), caller, req.CreateRequest)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, legacyCreated{JobID: out.Job.JobID, StatusURL: c.Path() + "?job_id=" + out.Job.JobID})
}

// legacyGet handles GET ?job_id=: the job's status for polling.
func (h *handler) legacyGet(c echo.Context) error {
	jobID := c.QueryParam("job_id")
	if jobID == "" {
		return newAPIError(http.StatusBadRequest, "invalid_request", "job_id is required")
	}
	caller, err := actor(c, nil)
	if err != nil {
		return err
	}
	job, err := h.Store.Get(c.Request().Context(), caller, jobID)
	if err != nil {
		return err
	}
	out := legacyStatus{JobID: job.JobID, Status: job.Status, Percent: job.Percent, Result: job.Result, Error: job.Error}
	if job.ETASeconds != nil {
		out.ETASeconds = *job.ETASeconds
	}
	return c.JSON(http.StatusOK, out)
}

// legacyCORS writes the old route's CORS headers on every answer and answers
// OPTIONS with 200 and no body, exactly as the old route did (Echo's CORS
// middleware answers preflights with 204 and only when Origin is present).
func legacyCORS(origins []string) echo.MiddlewareFunc {
	allowAll := len(origins) == 0 || (len(origins) == 1 && origins[0] == "*")
	allowed := map[string]bool{}
	for _, o := range origins {
		allowed[o] = true
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			h := c.Response().Header()
			origin := c.Request().Header.Get(echo.HeaderOrigin)
			switch {
			case allowAll:
				h.Set(echo.HeaderAccessControlAllowOrigin, "*")
			case allowed[origin]:
				h.Set(echo.HeaderAccessControlAllowOrigin, origin)
				h.Add(echo.HeaderVary, echo.HeaderOrigin)
			}
			h.Set(echo.HeaderAccessControlAllowMethods, "GET, POST, OPTIONS")
			h.Set(echo.HeaderAccessControlAllowHeaders, "Content-Type, Authorization, Idempotency-Key")
			if c.Request().Method == http.MethodOptions {
				return c.NoContent(http.StatusOK)
			}
			return next(c)
		}
	}
}
