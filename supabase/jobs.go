package supabase

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/polaris/reportd/report"
)

// actingFor adds p_user_id for service callers; users are identified by
// their token alone (the SQL ignores a user's p_user_id anyway).
func actingFor(c report.Caller, args map[string]any) map[string]any {
	if c.IsService() {
		args["p_user_id"] = c.UserID
	}
	return args
}

// Create implements report.Store through create_report_job().
func (s *Store) Create(ctx context.Context, c report.Caller, in report.NewJob) (report.Job, bool, error) {
	who, err := s.who(c)
	if err != nil {
		return report.Job{}, false, err
	}
	args := actingFor(c, map[string]any{
		"p_job_id": in.JobID, "p_prompt": in.Prompt, "p_model": in.Model,
		"p_temperature": in.Temperature, "p_max_tokens": in.MaxTokens,
		"p_summary_id": nullable(in.SummaryID), "p_metadata": rawOrEmpty(in.Metadata),
		"p_idempotency_key": nullable(in.IdempotencyKey), "p_request_hash": nullable(in.RequestHash),
		"p_max_attempts": in.MaxAttempts,
	})
	var out struct {
		Created bool `json:"created"`
		Job     row  `json:"job"`
	}
	if err := s.rpc(ctx, who, "create_report_job", args, &out); err != nil {
		return report.Job{}, false, fmt.Errorf("create job: %w", err)
	}
	return out.Job.job(), out.Created, nil
}

func rawOrEmpty(m json.RawMessage) json.RawMessage {
	if len(m) == 0 {
		return json.RawMessage(`{}`)
	}
	return m
}

// scoped returns the credentials and the first filter of a query on a
// caller's rows. Row-level security scopes a user's queries; a service
// caller bypasses it, so its queries are scoped to the named user explicitly.
func (s *Store) scoped(c report.Caller) (credentials, url.Values, error) {
	who, err := s.who(c)
	if err != nil {
		return credentials{}, nil, err
	}
	q := url.Values{}
	if c.IsService() {
		if c.UserID == "" {
			return credentials{}, nil, report.Errorf(report.ErrInvalid, "a service caller must name the user it acts for")
		}
		q.Set("user_id", "eq."+c.UserID)
	}
	return who, q, nil
}

// Get implements report.Store through get_report_job(), which runs as the
// caller (row-level security applies) and answers in one round trip with
// the row, the attempts and a queued job's place in its owner's queue; the
// estimate combines that place with the instance's snapshot of the queue.
func (s *Store) Get(ctx context.Context, c report.Caller, jobID string) (report.Job, error) {
	who, err := s.who(c)
	if err != nil {
		return report.Job{}, err
	}
	var out *struct {
		Job      row  `json:"job"`
		Rank     *int `json:"rank"`
		Attempts []struct {
			Attempt   int             `json:"attempt"`
			StartedAt time.Time       `json:"started_at"`
			EndedAt   *time.Time      `json:"ended_at"`
			Outcome   *string         `json:"outcome"`
			Error     *string         `json:"error"`
			Details   json.RawMessage `json:"details"`
		} `json:"attempts"`
	}
	if err := s.rpc(ctx, who, "get_report_job", actingFor(c, map[string]any{"p_job_id": jobID}), &out); err != nil {
		return report.Job{}, fmt.Errorf("get job: %w", err)
	}
	if out == nil {
		return report.Job{}, report.Errorf(report.ErrNotFound, "Job not found")
	}
	j := out.Job.job()
	if j.Status == report.StatusQueued && j.ETASeconds == nil && out.Rank != nil {
		snap := s.snapshots.get(ctx, s)
		if snap.Lengths == nil { // no snapshot: only the owner's own jobs are known to be ahead
			snap.Lengths = map[int]int{*out.Rank: 1}
		}
		eta := snap.Estimate(j, report.Place{Rank: *out.Rank}, time.Now())
		j.ETASeconds = &eta
	}
	j.History = make([]report.AttemptRecord, len(out.Attempts))
	for i, a := range out.Attempts {
		j.History[i] = report.AttemptRecord{Number: a.Attempt, StartedAt: a.StartedAt.UTC(), EndedAt: utc(a.EndedAt),
			Outcome: deref(a.Outcome), Error: deref(a.Error), Details: a.Details}
	}
	return j, nil
}

// List implements report.Store with a table read under row-level security.
func (s *Store) List(ctx context.Context, c report.Caller, flt report.Filter) ([]report.Job, error) {
	who, q, err := s.scoped(c)
	if err != nil {
		return nil, err
	}
	q.Set("select", columns)
	applyFilter(q, flt)
	var rows []row
	if err := s.do(ctx, who, request{method: http.MethodGet, path: "report_jobs", query: q}, &rows); err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	return jobs(rows), nil
}

// applyFilter adds flt to q in PostgREST's syntax. Repeated keys are ANDed.
func applyFilter(q url.Values, flt report.Filter) {
	if len(flt.Statuses) > 0 {
		statuses := make([]string, len(flt.Statuses))
		for i, st := range flt.Statuses {
			statuses[i] = string(st)
		}
		q.Add("status", "in.("+strings.Join(statuses, ",")+")")
	}
	if flt.SummaryID != "" {
		q.Add("summary_id", "eq."+flt.SummaryID)
	}
	if len(flt.JobIDs) > 0 {
		q.Add("job_id", "in.("+quotedList(flt.JobIDs)+")")
	}
	if flt.Model != "" {
		q.Add("model", "eq."+flt.Model)
	}
	if flt.CreatedBefore != nil {
		q.Add("created_at", "lt."+stamp(*flt.CreatedBefore))
	}
	if flt.CreatedAfter != nil {
		q.Add("created_at", "gt."+stamp(*flt.CreatedAfter))
	}
	if flt.UpdatedAfter != nil {
		q.Add("updated_at", "gt."+stamp(*flt.UpdatedAfter))
	}
	if a := flt.After; a != nil {
		ts := strconv.Quote(stamp(a.CreatedAt))
		q.Add("or", fmt.Sprintf("(created_at.lt.%s,and(created_at.eq.%s,id.lt.%s))", ts, ts, a.ID))
	}
	q.Set("order", "created_at.desc,id.desc")
	if flt.Limit > 0 {
		q.Set("limit", strconv.Itoa(flt.Limit))
	}
}

// quotedList writes values as the items of a PostgREST in.(...) filter,
// each double-quoted (with " and \ escaped) so that a comma or a
// parenthesis in a value cannot change the filter.
func quotedList(values []string) string {
	quoted := make([]string, len(values))
	for i, v := range values {
		quoted[i] = `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`
	}
	return strings.Join(quoted, ",")
}

// stamp formats an instant as PostgREST filters expect it, at PostgreSQL's
// microsecond precision.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.999999Z07:00") }

// Cancel implements report.Store through cancel_report_job().
func (s *Store) Cancel(ctx context.Context, c report.Caller, jobID string) (report.Job, error) {
	who, err := s.who(c)
	if err != nil {
		return report.Job{}, err
	}
	var r row
	if err := s.rpc(ctx, who, "cancel_report_job", actingFor(c, map[string]any{"p_job_id": jobID}), &r); err != nil {
		return report.Job{}, fmt.Errorf("cancel job: %w", err)
	}
	return r.job(), nil
}

// Delete implements report.Store with a table delete under row-level
// security; the deleted rows come back to tell a delete from a miss.
func (s *Store) Delete(ctx context.Context, c report.Caller, jobID string) error {
	who, q, err := s.scoped(c)
	if err != nil {
		return err
	}
	q.Set("job_id", "eq."+jobID)
	q.Set("select", "id")
	var rows []struct {
		ID string `json:"id"`
	}
	r := request{method: http.MethodDelete, path: "report_jobs", query: q, prefer: "return=representation"}
	if err := s.do(ctx, who, r, &rows); err != nil {
		return fmt.Errorf("delete job: %w", err)
	}
	if len(rows) == 0 {
		return report.Errorf(report.ErrNotFound, "Job not found")
	}
	return nil
}

// Stats implements report.Store through report_job_stats(), computed in SQL.
func (s *Store) Stats(ctx context.Context, c report.Caller) (report.Stats, error) {
	who, err := s.who(c)
	if err != nil {
		return report.Stats{}, err
	}
	var st struct {
		Total, Queued, Running, Succeeded, Failed, Cancelled int
		AvgDurationMs                                        int64 `json:"avgDurationMs"`
		Budget                                               struct {
			DailyTokens *int64    `json:"daily_tokens"`
			UsedTokens  int64     `json:"used_tokens"`
			DailyCost   *float64  `json:"daily_cost"`
			UsedCost    float64   `json:"used_cost"`
			MaxQueued   int       `json:"max_queued"`
			ResetsAt    time.Time `json:"resets_at"`
		} `json:"budget"`
	}
	if err := s.rpc(ctx, who, "report_job_stats", actingFor(c, map[string]any{}), &st); err != nil {
		return report.Stats{}, fmt.Errorf("job stats: %w", err)
	}
	b := st.Budget
	return report.Stats{Total: st.Total, Queued: st.Queued, Running: st.Running, Succeeded: st.Succeeded,
		Failed: st.Failed, Cancelled: st.Cancelled, AvgDuration: time.Duration(st.AvgDurationMs) * time.Millisecond,
		Budget: report.Budget{DailyTokens: deref64(b.DailyTokens), UsedTokens: b.UsedTokens, DailyCost: derefFloat(b.DailyCost),
			UsedCost: b.UsedCost, MaxQueued: b.MaxQueued, ResetsAt: b.ResetsAt.UTC()}}, nil
}
