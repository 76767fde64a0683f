package supabase

import (
	"context"
	"fmt"

	"github.com/polaris/reportd/report"
)

var _ report.Settings = (*Store)(nil)

// settingsRow is report_job_settings as PostgREST encodes it.
type settingsRow struct {
	MaxPromptChars    int      `json:"max_prompt_chars"`
	MaxTokens         int      `json:"max_tokens"`
	MaxMetadataBytes  int      `json:"max_metadata_bytes"`
	MaxMetadataDepth  int      `json:"max_metadata_depth"`
	MaxAttempts       int      `json:"max_attempts"`
	MaxQueuedPerUser  int      `json:"max_queued_per_user"`
	DailyTokenBudget  *int64   `json:"daily_token_budget"`
	DailyCostBudget   *float64 `json:"daily_cost_budget"`
	DeliveriesPerUser int      `json:"deliveries_per_user_per_minute,omitempty"`
}

// Configure implements report.Settings through report_job_configure(),
// which only service_role may execute: the limits the database applies to
// every insert become the service's.
func (s *Store) Configure(ctx context.Context, l report.Limits) (report.Limits, error) {
	who, err := s.worker()
	if err != nil {
		return report.Limits{}, err
	}
	in := map[string]any{
		"max_prompt_chars": l.MaxPromptChars, "max_tokens": l.MaxTokens, "max_metadata_bytes": l.MaxMetadataBytes,
		"max_metadata_depth": l.MaxMetadataDepth, "max_attempts": l.MaxAttempts, "max_queued_per_user": l.MaxQueuedPerUser,
		"daily_token_budget": nil, "daily_cost_budget": nil,
	}
	if l.DailyTokens > 0 {
		in["daily_token_budget"] = l.DailyTokens
	}
	if l.DailyCost > 0 {
		in["daily_cost_budget"] = l.DailyCost
	}
	var out settingsRow
	if err := s.rpc(ctx, who, "report_job_configure", map[string]any{"p_settings": in}, &out); err != nil {
		return report.Limits{}, fmt.Errorf("configure limits: %w", err)
	}
	got := l
	got.MaxPromptChars, got.MaxTokens, got.MaxMetadataBytes = out.MaxPromptChars, out.MaxTokens, out.MaxMetadataBytes
	got.MaxMetadataDepth, got.MaxAttempts, got.MaxQueuedPerUser = out.MaxMetadataDepth, out.MaxAttempts, out.MaxQueuedPerUser
	got.DailyTokens, got.DailyCost = deref64(out.DailyTokenBudget), derefFloat(out.DailyCostBudget)
	return got, nil
}
