package supabase

import (
	"context"
	"fmt"

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
	var out report.OperatorStats
	if err := s.rpc(ctx, who, "report_job_operator_stats", args, &out); err != nil {
		return report.OperatorStats{}, fmt.Errorf("operator stats: %w", err)
	}
	return out, nil
}
