package memory

import (
	"context"
	"time"

	"github.com/polaris/reportd/report"
)

var _ report.Monitor = (*Store)(nil)

// QueueDepth implements report.Monitor, mirroring report_job_queue_depth().
func (s *Store) QueueDepth(context.Context) (report.QueueDepth, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	now := s.now().UTC()
	var d report.QueueDepth
	var oldest *time.Time
	// Only waiting and running jobs are read, not every stored one.
	for _, queued := range s.est.waiting {
		for _, j := range queued {
			d.Queued++
			if !j.RunAfter.After(now) && (j.ExpiresAt == nil || j.ExpiresAt.After(now)) {
				d.Ready++
				if oldest == nil || j.RunAfter.Before(*oldest) {
					oldest = &j.RunAfter
				}
			}
		}
	}
	for _, running := range s.running {
		for _, j := range running {
			switch {
			case j.LeaseExpiresAt != nil && !j.LeaseExpiresAt.Before(now):
				d.Running++
			case j.ExpiresAt == nil || j.ExpiresAt.After(now):
				d.Expired++
			}
		}
	}
	if oldest != nil {
		d.OldestReady = now.Sub(*oldest)
	}
	return d, nil
}
