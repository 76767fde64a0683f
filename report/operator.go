package report

import "time"

// StatsWindow says which jobs the operator statistics cover. The zero value
// means the old dashboard's windows (see DefaultStatsWindow).
type StatsWindow struct {
	Days     int // jobs per day, and per model: the last Days calendar days (UTC), today included
	TopDays  int // top users: jobs created in the last TopDays days
	TopUsers int // how many top users
}

// DefaultStatsWindow is the old dashboard's: 30 days of daily counts and
// per-model figures, and the 10 busiest users of the last 7 days.
var DefaultStatsWindow = StatsWindow{Days: 30, TopDays: 7, TopUsers: 10}

// Limits of a StatsWindow, so one request cannot scan years of jobs.
const (
	MaxStatsDays     = 366
	MaxStatsTopUsers = 1000
)

// Check reports what is out of range, field by field.
func (w StatsWindow) Check() error {
	v := &ValidationError{}
	if w.Days < 1 || w.Days > MaxStatsDays {
		v.Add("days", "days must be between 1 and %d", MaxStatsDays)
	}
	if w.TopDays < 1 || w.TopDays > MaxStatsDays {
		v.Add("top_days", "top_days must be between 1 and %d", MaxStatsDays)
	}
	if w.TopUsers < 1 || w.TopUsers > MaxStatsTopUsers {
		v.Add("top_users", "top_users must be between 1 and %d", MaxStatsTopUsers)
	}
	return v.OrNil()
}

// OperatorStats are the statistics across users that the old operator
// dashboard showed, computed by the store (in SQL for Supabase).
type OperatorStats struct {
	Daily    []DailyStats // one entry per day of the window, oldest first
	Models   []ModelStats // by model, most jobs first
	TopUsers []UserStats  // by jobs, most first
}

// DailyStats counts the jobs created on one UTC day.
type DailyStats struct {
	Day         string // YYYY-MM-DD
	Jobs        int
	UniqueUsers int
}

// ModelStats describes the jobs of one model. SuccessRate is succeeded over
// finished (succeeded + failed) jobs, 0 when none finished, rounded to four
// decimals; AvgDuration averages completed_at - started_at where both are set.
type ModelStats struct {
	Model       string
	Jobs        int
	Succeeded   int
	Failed      int
	SuccessRate float64
	AvgDuration time.Duration
}

// UserStats counts one user's jobs.
type UserStats struct {
	UserID    string
	Jobs      int
	Succeeded int
	Failed    int
}
