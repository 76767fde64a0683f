package supabase

import (
	"context"
	"fmt"
	"time"

	"github.com/polaris/reportd/report"
)

var _ report.Monitor = (*Store)(nil)

// QueueDepth implements report.Monitor through report_job_queue_depth(),
// which only service_role may execute.
func (s *Store) QueueDepth(ctx context.Context) (report.QueueDepth, error) {
	who, err := s.worker()
	if err != nil {
		return report.QueueDepth{}, err
	}
	var out struct {
		Queued             int     `json:"queued"`
		Ready              int     `json:"ready"`
		Running            int     `json:"running"`
		Expired            int     `json:"expired"`
		OldestReadySeconds float64 `json:"oldest_ready_seconds"`
	}
	if err := s.rpc(ctx, who, "report_job_queue_depth", struct{}{}, &out); err != nil {
		return report.QueueDepth{}, fmt.Errorf("queue depth: %w", err)
	}
	return report.QueueDepth{
		Queued: out.Queued, Ready: out.Ready, Running: out.Running, Expired: out.Expired,
		OldestReady: time.Duration(out.OldestReadySeconds * float64(time.Second)),
	}, nil
}
