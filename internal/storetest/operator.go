package storetest

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/polaris/reportd/report"
)

// runOperator checks the statistics across users. Other tests' jobs share
// the store, so the checks look at this test's own model and users, and at
// lower bounds for the daily counts. It runs after the queue tests, alone,
// because it claims jobs.
func runOperator(t *testing.T, h Harness) {
	drain(t, h)
	a, b := h.NewUser(t), h.NewUser(t)
	model := "op-" + uuid.NewString()[:8]
	withModel := func(n *report.NewJob) { n.Model = model }
	mine := []report.Job{create(t, h, a, withModel), create(t, h, a, withModel), create(t, h, a, withModel)}
	old := create(t, h, b, withModel)
	settle(t, h, mine[0].JobID, mine[1].JobID)
	h.Shift(t, old.JobID, "created_at", -10*24*time.Hour)
	oldDay := get(t, h, b, old.JobID).CreatedAt.UTC().Format(time.DateOnly)
	today := get(t, h, a, mine[2].JobID).CreatedAt.UTC().Format(time.DateOnly)

	_, err := h.Store.OperatorStats(ctx(t), a, report.DefaultStatsWindow)
	wantErr(t, err, report.ErrForbidden)
	_, err = h.Store.OperatorStats(ctx(t), h.Service(a), report.StatsWindow{Days: 0, TopDays: 7, TopUsers: 10})
	wantErr(t, err, report.ErrInvalid)

	window := report.StatsWindow{Days: 30, TopDays: 7, TopUsers: report.MaxStatsTopUsers}
	st, err := h.Store.OperatorStats(ctx(t), h.Service(a), window)
	if err != nil {
		t.Fatal(err)
	}
	checkDaily(t, st.Daily, map[string]int{today: 3, oldDay: 1})
	var m *report.ModelStats
	for i := range st.Models {
		if st.Models[i].Model == model {
			m = &st.Models[i]
		}
	}
	if m == nil || m.Jobs != 4 || m.Succeeded != 1 || m.Failed != 1 || m.SuccessRate != 0.5 || m.AvgDuration < 0 {
		t.Fatalf("model statistics: %+v", m)
	}
	var users = map[string]report.UserStats{}
	for _, u := range st.TopUsers {
		users[u.UserID] = u
	}
	if u := users[a.UserID]; u.Jobs != 3 || u.Succeeded != 1 || u.Failed != 1 {
		t.Fatalf("top users: user A is %+v", u)
	}
	if _, ok := users[b.UserID]; ok {
		t.Fatal("top users of the last 7 days include a user whose only job is 10 days old")
	}
	one, err := h.Store.OperatorStats(ctx(t), h.Service(a), report.StatsWindow{Days: 1, TopDays: 1, TopUsers: 1})
	if err != nil || len(one.Daily) != 1 || len(one.TopUsers) != 1 {
		t.Fatalf("a one-day window: %+v (err %v)", one, err)
	}
}

// settle claims the queued jobs (only this test's, after drain) and makes
// the first succeed and the second fail for good; the others go back.
func settle(t *testing.T, h Harness, succeed, fail string) {
	t.Helper()
	for _, j := range claim(t, h, 10, 0) {
		l := report.LeaseOf(j)
		var err error
		switch j.JobID {
		case succeed:
			err = h.Queue.Complete(ctx(t), l, report.Completion{Result: "done"})
		case fail:
			_, err = h.Queue.Fail(ctx(t), l, report.Failure{Message: "broken", ChargeAttempt: true})
		default:
			err = h.Queue.Release(ctx(t), l)
		}
		if err != nil {
			t.Fatalf("settle %s: %v", j.JobID, err)
		}
	}
}

// checkDaily: one entry per day of the window, oldest first, ending today,
// each at least the jobs this test made on that day.
func checkDaily(t *testing.T, days []report.DailyStats, atLeast map[string]int) {
	t.Helper()
	if len(days) != 30 {
		t.Fatalf("daily statistics have %d days, want 30", len(days))
	}
	seen := map[string]report.DailyStats{}
	for i, d := range days {
		if i > 0 && d.Day <= days[i-1].Day {
			t.Fatalf("days out of order: %s after %s", d.Day, days[i-1].Day)
		}
		if d.UniqueUsers > d.Jobs {
			t.Fatalf("%s: %d unique users for %d jobs", d.Day, d.UniqueUsers, d.Jobs)
		}
		seen[d.Day] = d
	}
	for day, n := range atLeast {
		if d, ok := seen[day]; !ok || d.Jobs < n || d.UniqueUsers < 1 {
			t.Fatalf("day %s: %+v, want at least %d jobs", day, d, n)
		}
	}
}
