package memory

import (
	"math"
	"sort"
	"time"

	"github.com/polaris/reportd/report"
)

// queueEstimate mirrors report_job_queue_estimate(): the backoff still to
// wait, plus the jobs ahead divided among the jobs running now, times the
// recent duration of the model, plus one more duration for the job itself.
// Callers hold s.mu.
func (s *Store) queueEstimate(j *report.Job) int {
	now := s.now().UTC()
	avg, ok := s.recentDuration(now, j.Model)
	if !ok {
		avg, ok = s.recentDuration(now, "")
	}
	if !ok {
		avg = 60
	}
	ahead, running := 0, 0
	for _, o := range s.jobs {
		if o.Status == report.StatusQueued && older(o, j) {
			ahead++
		}
		if o.Status == report.StatusRunning && o.LeaseExpiresAt != nil && !o.LeaseExpiresAt.Before(now) {
			running++
		}
	}
	wait := math.Max(j.RunAfter.Sub(now).Seconds(), 0)
	return int(math.Ceil(wait + float64(ahead)/float64(max(running, 1))*avg + avg))
}

// recentDuration averages, in seconds, the 50 most recent successes of the
// past week (of model, or of any model when model is empty).
func (s *Store) recentDuration(now time.Time, model string) (float64, bool) {
	var done []*report.Job
	for _, o := range s.jobs {
		if o.Status == report.StatusSucceeded && o.StartedAt != nil && o.CompletedAt != nil &&
			o.CompletedAt.After(now.Add(-7*24*time.Hour)) && (model == "" || o.Model == model) {
			done = append(done, o)
		}
	}
	if len(done) == 0 {
		return 0, false
	}
	sort.Slice(done, func(a, b int) bool { return done[a].CompletedAt.After(*done[b].CompletedAt) })
	done = done[:min(len(done), 50)]
	var sum float64
	for _, o := range done {
		sum += o.CompletedAt.Sub(*o.StartedAt).Seconds()
	}
	return sum / float64(len(done)), true
}
