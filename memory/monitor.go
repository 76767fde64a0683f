package memory

import (
	"context"
	"time"

	"github.com/polaris/reportd/report"
)

var _ report.Monitor = (*Store)(nil)

// QueueDepth implements report.Monitor, mirroring report_job_queue_depth().
func (s *Store) QueueDepth(context.Context) (report.QueueDepth, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now().UTC()
	var d report.QueueDepth
	var oldest *time.Time
	for _, j := range s.jobs {
		live := j.ExpiresAt == nil || j.ExpiresAt.After(now)
		lapsed := j.LeaseExpiresAt == nil || j.LeaseExpiresAt.Before(now)
		switch j.Status {
		case report.StatusQueued:
			d.Queued++
			if !j.RunAfter.After(now) && live {
				d.Ready++
				if oldest == nil || j.RunAfter.Before(*oldest) {
					oldest = &j.RunAfter
				}
			}
		case report.StatusRunning:
			switch {
			case !lapsed:
				d.Running++
			case live:
				d.Expired++
			}
		}
	}
	if oldest != nil {
		d.OldestReady = now.Sub(*oldest)
	}
	return d, nil
}
