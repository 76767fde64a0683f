package supabase

import (
	"context"
	"fmt"
	"time"

	"github.com/polaris/reportd/report"
)

// OperatorStats implements report.Store through report_job_operator_stats(),
// which only service_role may execute.
func (s *Store) OperatorStats(ctx context.Context, c report.Caller, w report.StatsWindow) (report.OperatorStats, error) {
	if !c.IsService() {
		return report.OperatorStats{}, report.Errorf(report.ErrForbidden, "operator statistics are for service callers only")
	}
	who, err := s.who(c)
	if err != nil {
		return report.OperatorStats{}, err
	}
	args := map[string]any{"p_days": w.Days, "p_top_days": w.TopDays, "p_top_users": w.TopUsers}
	var out struct {
		Daily []struct {
			Day         string `json:"day"`
			Jobs        int    `json:"jobs"`
			UniqueUsers int    `json:"unique_users"`
		} `json:"daily"`
		Models []struct {
			Model         string  `json:"model"`
			Jobs          int     `json:"jobs"`
			Succeeded     int     `json:"succeeded"`
			Failed        int     `json:"failed"`
			SuccessRate   float64 `json:"success_rate"`
			AvgDurationMs int64   `json:"avg_duration_ms"`
		} `json:"models"`
		TopUsers []struct {
			UserID    string `json:"user_id"`
			Jobs      int    `json:"jobs"`
			Succeeded int    `json:"succeeded"`
			Failed    int    `json:"failed"`
		} `json:"top_users"`
	}
	if err := s.rpc(ctx, who, "report_job_operator_stats", args, &out); err != nil {
		return report.OperatorStats{}, fmt.Errorf("operator stats: %w", err)
	}
	st := report.OperatorStats{Daily: []report.DailyStats{}, Models: []report.ModelStats{}, TopUsers: []report.UserStats{}}
	for _, d := range out.Daily {
		st.Daily = append(st.Daily, report.DailyStats{Day: d.Day, Jobs: d.Jobs, UniqueUsers: d.UniqueUsers})
	}
	for _, m := range out.Models {
		st.Models = append(st.Models, report.ModelStats{Model: m.Model, Jobs: m.Jobs, Succeeded: m.Succeeded, Failed: m.Failed,
			SuccessRate: m.SuccessRate, AvgDuration: time.Duration(m.AvgDurationMs) * time.Millisecond})
	}
	for _, u := range out.TopUsers {
		st.TopUsers = append(st.TopUsers, report.UserStats{UserID: u.UserID, Jobs: u.Jobs, Succeeded: u.Succeeded, Failed: u.Failed})
	}
	return st, nil
}
