package memory

import (
	"context"
	"math"
	"sort"
	"time"

	"github.com/polaris/reportd/report"
)

// OperatorStats implements report.Store, mirroring
// report_job_operator_stats() in migrations/.
func (s *Store) OperatorStats(_ context.Context, c report.Caller, w report.StatsWindow) (report.OperatorStats, error) {
	if !c.IsService() {
		return report.OperatorStats{}, report.Errorf(report.ErrForbidden, "operator statistics are for service callers only")
	}
	if err := w.Check(); err != nil {
		return report.OperatorStats{}, report.Errorf(report.ErrInvalid, "the statistics window is out of range")
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	now := s.now().UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	from := today.AddDate(0, 0, -(w.Days - 1))
	topSince := now.AddDate(0, 0, -w.TopDays)
	var window, recent []*report.Job
	for _, j := range s.jobs {
		if !j.CreatedAt.Before(from) {
			window = append(window, j)
		}
		if j.UserID != "" && !j.CreatedAt.Before(topSince) {
			recent = append(recent, j)
		}
	}
	return report.OperatorStats{
		Daily:    daily(window, from, today),
		Models:   byModel(window),
		TopUsers: topUsers(recent, w.TopUsers),
	}, nil
}

func daily(jobs []*report.Job, from, today time.Time) []report.DailyStats {
	type day struct {
		jobs  int
		users map[string]bool
	}
	days := map[string]*day{}
	for _, j := range jobs {
		key := j.CreatedAt.UTC().Format(time.DateOnly)
		d := days[key]
		if d == nil {
			d = &day{users: map[string]bool{}}
			days[key] = d
		}
		d.jobs++
		if j.UserID != "" {
			d.users[j.UserID] = true
		}
	}
	var out []report.DailyStats
	for t := from; !t.After(today); t = t.AddDate(0, 0, 1) {
		e := report.DailyStats{Day: t.Format(time.DateOnly)}
		if d := days[e.Day]; d != nil {
			e.Jobs, e.UniqueUsers = d.jobs, len(d.users)
		}
		out = append(out, e)
	}
	return out
}

func byModel(jobs []*report.Job) []report.ModelStats {
	type acc struct {
		report.ModelStats
		sum time.Duration
		n   int64
	}
	models := map[string]*acc{}
	for _, j := range jobs {
		m := models[j.Model]
		if m == nil {
			m = &acc{ModelStats: report.ModelStats{Model: j.Model}}
			models[j.Model] = m
		}
		m.Jobs++
		switch j.Status {
		case report.StatusSucceeded:
			m.Succeeded++
		case report.StatusFailed:
			m.Failed++
		}
		if j.StartedAt != nil && j.CompletedAt != nil {
			m.sum += j.CompletedAt.Sub(*j.StartedAt)
			m.n++
		}
	}
	out := make([]report.ModelStats, 0, len(models))
	for _, m := range models {
		if finished := m.Succeeded + m.Failed; finished > 0 {
			m.SuccessRate = math.Round(float64(m.Succeeded)/float64(finished)*10_000) / 10_000
		}
		if m.n > 0 {
			m.AvgDuration = (m.sum / time.Duration(m.n)).Round(time.Millisecond)
		}
		out = append(out, m.ModelStats)
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].Jobs != out[b].Jobs {
			return out[a].Jobs > out[b].Jobs
		}
		return out[a].Model < out[b].Model
	})
	return out
}

func topUsers(jobs []*report.Job, limit int) []report.UserStats {
	users := map[string]*report.UserStats{}
	for _, j := range jobs {
		u := users[j.UserID]
		if u == nil {
			u = &report.UserStats{UserID: j.UserID}
			users[j.UserID] = u
		}
		u.Jobs++
		switch j.Status {
		case report.StatusSucceeded:
			u.Succeeded++
		case report.StatusFailed:
			u.Failed++
		}
	}
	out := make([]report.UserStats, 0, len(users))
	for _, u := range users {
		out = append(out, *u)
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].Jobs != out[b].Jobs {
			return out[a].Jobs > out[b].Jobs
		}
		return out[a].UserID < out[b].UserID
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out
}
