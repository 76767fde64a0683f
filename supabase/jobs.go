package supabase

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	postgrest "github.com/supabase-community/postgrest-go"

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

// scoped starts a query on report_jobs as the caller. Row-level security
// scopes a user's queries; a service caller bypasses it, so its queries are
// scoped to the named user explicitly.
func (s *Store) scoped(c report.Caller, build func(*postgrest.QueryBuilder) *postgrest.FilterBuilder) (*postgrest.FilterBuilder, table, error) {
	t, err := s.tableFor(c)
	if err != nil {
		return nil, t, err
	}
	f := build(t.client.From("report_jobs"))
	if c.IsService() {
		if c.UserID == "" {
			return nil, t, report.Errorf(report.ErrInvalid, "a service caller must name the user it acts for")
		}
		f = f.Eq("user_id", c.UserID)
	}
	return f, t, nil
}

func selectAll(q *postgrest.QueryBuilder) *postgrest.FilterBuilder {
	return q.Select(columns, "", false)
}

// Get implements report.Store through get_report_job(), which runs as the
// caller (row-level security applies) and answers in one round trip with
// the row, a queued job's estimate and the attempts.
func (s *Store) Get(ctx context.Context, c report.Caller, jobID string) (report.Job, error) {
	who, err := s.who(c)
	if err != nil {
		return report.Job{}, err
	}
	var out *struct {
		Job             row  `json:"job"`
		QueueETASeconds *int `json:"queue_eta_seconds"`
		Attempts        []struct {
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
	if j.ETASeconds == nil {
		j.ETASeconds = out.QueueETASeconds
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
	f, t, err := s.scoped(c, selectAll)
	if err != nil {
		return nil, err
	}
	f = applyFilter(f, flt)
	var rows []row
	if _, err := f.ExecuteToWithContext(ctx, &rows); err != nil {
		return nil, t.failure(ctx, "list jobs", err)
	}
	return jobs(rows), nil
}

func applyFilter(f *postgrest.FilterBuilder, flt report.Filter) *postgrest.FilterBuilder {
	if len(flt.Statuses) > 0 {
		statuses := make([]string, len(flt.Statuses))
		for i, st := range flt.Statuses {
			statuses[i] = string(st)
		}
		f = f.In("status", statuses)
	}
	if flt.SummaryID != "" {
		f = f.Eq("summary_id", flt.SummaryID)
	}
	if len(flt.JobIDs) > 0 {
		f = f.In("job_id", flt.JobIDs)
	}
	if flt.Model != "" {
		f = f.Eq("model", flt.Model)
	}
	if flt.CreatedBefore != nil {
		f = f.Lt("created_at", stamp(*flt.CreatedBefore))
	}
	if flt.CreatedAfter != nil {
		f = f.Gt("created_at", stamp(*flt.CreatedAfter))
	}
	if flt.UpdatedAfter != nil {
		f = f.Gt("updated_at", stamp(*flt.UpdatedAfter))
	}
	if a := flt.After; a != nil {
		ts := strconv.Quote(stamp(a.CreatedAt))
		f = f.Or(fmt.Sprintf("created_at.lt.%s,and(created_at.eq.%s,id.lt.%s)", ts, ts, a.ID), "")
	}
	f = f.Order("created_at", &postgrest.OrderOpts{Ascending: false}).Order("id", &postgrest.OrderOpts{Ascending: false})
	if flt.Limit > 0 {
		f = f.Limit(flt.Limit, "")
	}
	return f
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

// Delete implements report.Store with a table delete under row-level security.
func (s *Store) Delete(ctx context.Context, c report.Caller, jobID string) error {
	f, t, err := s.scoped(c, func(q *postgrest.QueryBuilder) *postgrest.FilterBuilder { return q.Delete("representation", "") })
	if err != nil {
		return err
	}
	var rows []struct {
		ID string `json:"id"`
	}
	if _, err := f.Eq("job_id", jobID).ExecuteToWithContext(ctx, &rows); err != nil {
		return t.failure(ctx, "delete job", err)
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
