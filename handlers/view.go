package handlers

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/polaris/reportd/report"
)

// jobView is a job as the REST API shows it: every field a client can use,
// never the lease token or the worker holding it.
type jobView struct {
	JobID          string          `json:"job_id"`
	UserID         string          `json:"user_id"`
	Status         report.Status   `json:"status"`
	Model          string          `json:"model"`
	Prompt         string          `json:"prompt"`
	Temperature    float64         `json:"temperature"`
	MaxTokens      int             `json:"max_tokens"`
	SummaryID      *string         `json:"summary_id"`
	Result         *string         `json:"result"`
	Error          *string         `json:"error"`
	Percent        int             `json:"percent"`
	ETASeconds     *int            `json:"eta_seconds"`
	Attempts       int             `json:"attempts"`
	MaxAttempts    int             `json:"max_attempts"`
	IdempotencyKey *string         `json:"idempotency_key"`
	Metadata       json.RawMessage `json:"metadata"`
	Version        int64           `json:"version"`
	CreatedAt      time.Time       `json:"created_at"`
	UpdatedAt      time.Time       `json:"updated_at"`
	StartedAt      *time.Time      `json:"started_at"`
	CompletedAt    *time.Time      `json:"completed_at"`
	ExpiresAt      *time.Time      `json:"expires_at"`
	AttemptHistory []attemptView   `json:"attempt_history,omitempty"`
	Deliveries     []deliveryView  `json:"deliveries,omitempty"`
}

// attemptView is one attempt at a job (GET /v1/jobs/{job_id} only).
type attemptView struct {
	Attempt   int             `json:"attempt"`
	StartedAt time.Time       `json:"started_at"`
	EndedAt   *time.Time      `json:"ended_at"`
	Outcome   *string         `json:"outcome"`
	Error     *string         `json:"error"`
	Details   json.RawMessage `json:"details"`
}

func attemptViews(as []report.AttemptRecord) []attemptView {
	out := make([]attemptView, len(as))
	for i, a := range as {
		out[i] = attemptView{Attempt: a.Number, StartedAt: a.StartedAt, EndedAt: a.EndedAt,
			Outcome: optional(a.Outcome), Error: optional(a.Error), Details: a.Details}
		if len(out[i].Details) == 0 {
			out[i].Details = json.RawMessage(`{}`)
		}
	}
	return out
}

// deliveryView is a webhook delivery as the REST API shows it.
type deliveryView struct {
	ID             string     `json:"id"`
	Endpoint       string     `json:"endpoint"`
	Status         string     `json:"status"`
	Attempts       int        `json:"attempts"`
	NextAttemptAt  time.Time  `json:"next_attempt_at"`
	LastStatusCode *int       `json:"last_status_code"`
	LastError      *string    `json:"last_error"`
	DeliveredAt    *time.Time `json:"delivered_at"`
	CreatedAt      time.Time  `json:"created_at"`
}

func deliveryViews(ds []report.Delivery) []deliveryView {
	out := make([]deliveryView, len(ds))
	for i, d := range ds {
		out[i] = deliveryView{ID: d.ID, Endpoint: d.Endpoint, Status: string(d.Status), Attempts: d.Attempts,
			NextAttemptAt: d.NextAttemptAt, LastError: optional(d.LastError), DeliveredAt: d.DeliveredAt, CreatedAt: d.CreatedAt}
		if d.LastStatusCode != 0 {
			code := d.LastStatusCode
			out[i].LastStatusCode = &code
		}
	}
	return out
}

func viewOf(j report.Job) jobView {
	return jobView{
		JobID: j.JobID, UserID: j.UserID, Status: j.Status, Model: j.Model, Prompt: j.Prompt,
		Temperature: j.Temperature, MaxTokens: j.MaxTokens, SummaryID: optional(j.SummaryID),
		Result: j.Result, Error: j.Error, Percent: j.Percent, ETASeconds: j.ETASeconds,
		Attempts: j.Attempts, MaxAttempts: j.MaxAttempts, IdempotencyKey: optional(j.IdempotencyKey),
		Metadata: metadataOrEmpty(j.Metadata), Version: j.Version,
		CreatedAt: j.CreatedAt, UpdatedAt: j.UpdatedAt, StartedAt: j.StartedAt,
		CompletedAt: j.CompletedAt, ExpiresAt: j.ExpiresAt, AttemptHistory: attemptViews(j.History),
	}
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func metadataOrEmpty(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return json.RawMessage(`{}`)
	}
	return raw
}

// jobPage is one page of GET /v1/jobs.
type jobPage struct {
	Jobs       []jobView `json:"jobs"`
	NextCursor *string   `json:"next_cursor"`
}

// pageOf keeps the first limit jobs; a job beyond them means another page,
// which starts after the last job kept.
func pageOf(jobs []report.Job, limit int) jobPage {
	p := jobPage{Jobs: make([]jobView, 0, min(len(jobs), limit))}
	for i, j := range jobs {
		if i == limit {
			last := jobs[i-1]
			c := encodeCursor(report.Cursor{CreatedAt: last.CreatedAt, ID: last.ID})
			p.NextCursor = &c
			break
		}
		p.Jobs = append(p.Jobs, viewOf(j))
	}
	return p
}

// Page sizes of GET /v1/jobs.
const (
	defaultPageSize = 20
	maxPageSize     = 100
)

var listParams = map[string]bool{
	"status": true, "summary_id": true, "model": true, "created_before": true,
	"created_after": true, "cursor": true, "limit": true,
}

// parseListQuery reads the filters of GET /v1/jobs, reporting every problem.
// An unknown parameter is a problem too: a misspelt filter would otherwise
// list every job.
func parseListQuery(q url.Values) (report.Filter, error) {
	v := &report.ValidationError{}
	f := report.Filter{Limit: defaultPageSize}
	var unknown []string
	for name := range q {
		if !listParams[name] {
			unknown = append(unknown, name)
		}
	}
	sort.Strings(unknown)
	for _, name := range unknown {
		v.Add(name, "unknown query parameter %q", name)
	}
	f.Statuses = parseStatuses(v, q["status"])
	if s := q.Get("summary_id"); s != "" {
		if !report.ValidUUID(s) {
			v.Add("summary_id", "summary_id must be a uuid")
		}
		f.SummaryID = strings.ToLower(s)
	}
	f.Model = q.Get("model")
	f.CreatedBefore = parseInstant(v, q, "created_before")
	f.CreatedAfter = parseInstant(v, q, "created_after")
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxPageSize {
			v.Add("limit", "limit must be a whole number between 1 and %d", maxPageSize)
		}
		f.Limit = n
	}
	if s := q.Get("cursor"); s != "" {
		c, ok := decodeCursor(s)
		if !ok {
			v.Add("cursor", "cursor is not one this API returned")
		}
		f.After = &c
	}
	return f, v.OrNil()
}

func parseStatuses(v *report.ValidationError, values []string) []report.Status {
	var out []report.Status
	for _, value := range values {
		for _, s := range strings.Split(value, ",") {
			st := report.Status(strings.TrimSpace(s))
			if !st.Valid() {
				v.Add("status", "status must be one of queued, running, succeeded, failed, cancelled")
				continue
			}
			out = append(out, st)
		}
	}
	return out
}

func parseInstant(v *report.ValidationError, q url.Values, name string) *time.Time {
	s := q.Get(name)
	if s == "" {
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		v.Add(name, "%s must be an RFC 3339 timestamp, e.g. 2026-01-31T12:00:00Z", name)
		return nil
	}
	return &t
}

// A cursor is opaque to clients: base64url of "<created_at micros>.<row id>".
func encodeCursor(c report.Cursor) string {
	raw := strconv.FormatInt(c.CreatedAt.UnixMicro(), 10) + "." + c.ID
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

func decodeCursor(s string) (report.Cursor, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return report.Cursor{}, false
	}
	micros, id, ok := strings.Cut(string(raw), ".")
	n, err := strconv.ParseInt(micros, 10, 64)
	if !ok || err != nil || !report.ValidUUID(id) {
		return report.Cursor{}, false
	}
	return report.Cursor{CreatedAt: time.UnixMicro(n).UTC(), ID: strings.ToLower(id)}, true
}

// statsView is GET /v1/stats: the old monitor's shape, camelCase included.
type statsView struct {
	Total         int        `json:"total"`
	Queued        int        `json:"queued"`
	Running       int        `json:"running"`
	Succeeded     int        `json:"succeeded"`
	Failed        int        `json:"failed"`
	Cancelled     int        `json:"cancelled"`
	AvgDurationMs int64      `json:"avgDurationMs"`
	Budget        budgetView `json:"budget"`
}

// budgetView is what the caller may spend today and has spent; null
// limits mean none.
type budgetView struct {
	DailyTokens *int64    `json:"daily_tokens"`
	UsedTokens  int64     `json:"used_tokens"`
	DailyCost   *float64  `json:"daily_cost"`
	UsedCost    float64   `json:"used_cost"`
	MaxQueued   int       `json:"max_queued"`
	ResetsAt    time.Time `json:"resets_at"`
}

func statsViewOf(s report.Stats) statsView {
	b := s.Budget
	v := statsView{Total: s.Total, Queued: s.Queued, Running: s.Running, Succeeded: s.Succeeded, Failed: s.Failed,
		Cancelled: s.Cancelled, AvgDurationMs: s.AvgDuration.Milliseconds(),
		Budget: budgetView{UsedTokens: b.UsedTokens, UsedCost: b.UsedCost, MaxQueued: b.MaxQueued, ResetsAt: b.ResetsAt}}
	if b.DailyTokens > 0 {
		v.Budget.DailyTokens = &b.DailyTokens
	}
	if b.DailyCost > 0 {
		v.Budget.DailyCost = &b.DailyCost
	}
	return v
}

// operatorStatsView is GET /v1/admin/stats.
type operatorStatsView struct {
	Daily    []dailyStatsView `json:"daily"`
	Models   []modelStatsView `json:"models"`
	TopUsers []userStatsView  `json:"top_users"`
}

type dailyStatsView struct {
	Day         string `json:"day"`
	Jobs        int    `json:"jobs"`
	UniqueUsers int    `json:"unique_users"`
}

type modelStatsView struct {
	Model         string  `json:"model"`
	Jobs          int     `json:"jobs"`
	Succeeded     int     `json:"succeeded"`
	Failed        int     `json:"failed"`
	SuccessRate   float64 `json:"success_rate"`
	AvgDurationMs int64   `json:"avg_duration_ms"`
}

type userStatsView struct {
	UserID    string `json:"user_id"`
	Jobs      int    `json:"jobs"`
	Succeeded int    `json:"succeeded"`
	Failed    int    `json:"failed"`
}

func operatorStatsViewOf(s report.OperatorStats) operatorStatsView {
	v := operatorStatsView{Daily: make([]dailyStatsView, 0, len(s.Daily)), Models: make([]modelStatsView, 0, len(s.Models)),
		TopUsers: make([]userStatsView, 0, len(s.TopUsers))}
	for _, d := range s.Daily {
		v.Daily = append(v.Daily, dailyStatsView{Day: d.Day, Jobs: d.Jobs, UniqueUsers: d.UniqueUsers})
	}
	for _, m := range s.Models {
		v.Models = append(v.Models, modelStatsView{Model: m.Model, Jobs: m.Jobs, Succeeded: m.Succeeded, Failed: m.Failed,
			SuccessRate: m.SuccessRate, AvgDurationMs: m.AvgDuration.Milliseconds()})
	}
	for _, u := range s.TopUsers {
		v.TopUsers = append(v.TopUsers, userStatsView{UserID: u.UserID, Jobs: u.Jobs, Succeeded: u.Succeeded, Failed: u.Failed})
	}
	return v
}
