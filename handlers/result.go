package handlers

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/polaris/reportd/markdown"
	"github.com/polaris/reportd/report"
)

// resultView is GET /v1/jobs/{job_id}/result: the job's result as stored,
// and rendered to HTML that is safe to show (package markdown), with the
// sources it cites.
type resultView struct {
	JobID     string         `json:"job_id"`
	Status    report.Status  `json:"status"`
	Format    string         `json:"format"` // markdown, or json for JSON output jobs
	Markdown  string         `json:"markdown"`
	HTML      string         `json:"html"`
	Citations []citationView `json:"citations"`
}

type citationView struct {
	Index int    `json:"index"` // the [n] the report uses, from 1
	URL   string `json:"url"`
	Title string `json:"title"`
}

// result handles GET /v1/jobs/{job_id}/result. A job without a result yet
// (queued, running, or failed before writing one) is 409 no_result.
func (h *handler) result(c echo.Context) error {
	caller, jobID, err := jobRequest(c)
	if err != nil {
		return err
	}
	job, err := h.Store.Get(c.Request().Context(), caller, jobID)
	if err != nil {
		return err
	}
	if job.Result == nil {
		return newAPIError(http.StatusConflict, "no_result", "This job has no result yet")
	}
	v := resultView{JobID: job.JobID, Status: job.Status, Format: "markdown", Markdown: *job.Result,
		Citations: citationsOf(job.Metadata)}
	src := *job.Result
	if job.ResponseFormat() == report.FormatJSON {
		v.Format = "json"
		src = "```json\n" + indentJSON(src) + "\n```\n"
	}
	if v.HTML, err = markdown.Render(src); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

// indentJSON pretty-prints a JSON document; other text is left as it is.
func indentJSON(s string) string {
	var out bytes.Buffer
	if json.Indent(&out, []byte(s), "", "  ") != nil {
		return s
	}
	return out.String()
}

// citationsOf reads metadata.citations, written by the worker as objects
// ({url, title, date}); older rows may hold plain URL strings. Sources whose
// URL is not http(s) are left out, so the page never links them; the index
// keeps the position the report's [n] markers refer to.
func citationsOf(raw json.RawMessage) []citationView {
	out := []citationView{}
	var meta struct {
		Citations []json.RawMessage `json:"citations"`
	}
	if json.Unmarshal(raw, &meta) != nil {
		return out
	}
	for i, item := range meta.Citations {
		var c citationView
		var s string
		if json.Unmarshal(item, &s) == nil {
			c.URL = s
		} else if json.Unmarshal(item, &c) != nil {
			continue
		}
		u, err := url.Parse(c.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			continue
		}
		if c.Title == "" {
			c.Title = u.Host
		}
		c.Index = i + 1
		out = append(out, c)
	}
	return out
}
