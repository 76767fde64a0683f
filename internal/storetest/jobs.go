package storetest

import (
	"testing"
	"time"

	"github.com/polaris/reportd/report"
)

func runJobs(t *testing.T, h Harness) {
	cases := map[string]func(*testing.T, Harness){
		"create stores a queued job":            testCreate,
		"idempotency keys are per user":         testIdempotency,
		"users see only their own jobs":         testIsolation,
		"list filters and pages newest first":   testList,
		"cancel moves active jobs to cancelled": testCancel,
		"delete removes only own jobs":          testDelete,
		"stats count the caller's jobs":         testStats,
		"service callers act for a named user":  testService,
		"a caller without identity is refused":  testAnonymous,
		"changes bump version and updated_at":   testChanges,
	}
	for name, fn := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, h)
		})
	}
}

func testCreate(t *testing.T, h Harness) {
	a := h.NewUser(t)
	in := newJob(func(n *report.NewJob) {
		n.SummaryID = "5f0c6a52-3c1e-4c7a-9d5e-2f4b8a1c0d9e"
		n.IdempotencyKey = "greeting:42"
		n.Temperature = 0.7
		n.MaxTokens = 1234
	})
	j, created, err := h.Store.Create(ctx(t), a, in)
	if err != nil || !created {
		t.Fatalf("create: created=%v err=%v", created, err)
	}
	switch {
	case j.JobID != in.JobID, j.UserID != a.UserID, j.Status != report.StatusQueued,
		j.Prompt != in.Prompt, j.Model != "demo", j.Temperature != 0.7, j.MaxTokens != 1234,
		j.SummaryID != in.SummaryID, j.IdempotencyKey != "greeting:42", j.Percent != 0,
		j.Attempts != 0, j.MaxAttempts != 3, j.Result != nil, j.Error != nil, j.ID == "":
		t.Fatalf("created job does not match the request: %+v", j)
	}
	if j.ExpiresAt == nil || j.ExpiresAt.Sub(j.CreatedAt) < 6*24*time.Hour {
		t.Fatalf("expires_at should default to a week after creation: %v", j.ExpiresAt)
	}
	if m := metaOf(t, j); m["report_type"] != "greeting" || m["n"] != float64(1) {
		t.Fatalf("metadata not kept: %s", j.Metadata)
	}
	got := get(t, h, a, j.JobID)
	if got.JobID != j.JobID || got.Prompt != j.Prompt || !got.CreatedAt.Equal(j.CreatedAt) {
		t.Fatalf("get returned %+v, want %+v", got, j)
	}
}

func testIdempotency(t *testing.T, h Harness) {
	a, b := h.NewUser(t), h.NewUser(t)
	key := func(n *report.NewJob) { n.IdempotencyKey = "org:7" }
	first := create(t, h, a, key)
	again, created, err := h.Store.Create(ctx(t), a, newJob(key))
	if err != nil || created || again.JobID != first.JobID {
		t.Fatalf("same user and key: got %s created=%v err=%v, want %s", again.JobID, created, err, first.JobID)
	}
	other, created, err := h.Store.Create(ctx(t), b, newJob(key))
	if err != nil || !created || other.JobID == first.JobID || other.UserID != b.UserID {
		t.Fatalf("another user with the same key must get their own job: %+v created=%v err=%v", other, created, err)
	}
	list, err := h.Store.List(ctx(t), a, report.Filter{})
	if err != nil || len(list) != 1 {
		t.Fatalf("user A should have exactly one job, got %d (err %v)", len(list), err)
	}
}

func testIsolation(t *testing.T, h Harness) {
	a, b := h.NewUser(t), h.NewUser(t)
	j := create(t, h, a)
	if _, err := h.Store.Get(ctx(t), b, j.JobID); err == nil {
		t.Fatal("user B read user A's job")
	} else {
		wantErr(t, err, report.ErrNotFound)
	}
	_, err := h.Store.Cancel(ctx(t), b, j.JobID)
	wantErr(t, err, report.ErrNotFound)
	wantErr(t, h.Store.Delete(ctx(t), b, j.JobID), report.ErrNotFound)
	list, err := h.Store.List(ctx(t), b, report.Filter{})
	if err != nil || len(list) != 0 {
		t.Fatalf("user B listed %d jobs (err %v)", len(list), err)
	}
	st, err := h.Store.Stats(ctx(t), b)
	if err != nil || st.Total != 0 {
		t.Fatalf("user B's stats count A's job: %+v (err %v)", st, err)
	}
	if got := get(t, h, a, j.JobID); got.Status != report.StatusQueued {
		t.Fatalf("A's job changed: %+v", got)
	}
	_, err = h.Store.Get(ctx(t), a, "job_0_doesnotexist")
	wantErr(t, err, report.ErrNotFound)
}

func testList(t *testing.T, h Harness) {
	a := h.NewUser(t)
	summary := "0b7e9d2c-1a4f-4e3b-8c6d-5a9f2e1b7c3d"
	var made []report.Job
	for i := range 5 {
		made = append(made, create(t, h, a, func(n *report.NewJob) {
			if i%2 == 0 {
				n.SummaryID = summary
			}
		}))
	}
	if _, err := h.Store.Cancel(ctx(t), a, made[1].JobID); err != nil {
		t.Fatal(err)
	}
	all, err := h.Store.List(ctx(t), a, report.Filter{})
	if err != nil || len(all) != 5 {
		t.Fatalf("list: %d jobs, err %v", len(all), err)
	}
	for i := 1; i < len(all); i++ {
		if all[i].CreatedAt.After(all[i-1].CreatedAt) {
			t.Fatalf("list is not newest first at %d", i)
		}
	}
	bySummary, _ := h.Store.List(ctx(t), a, report.Filter{SummaryID: summary})
	cancelled, _ := h.Store.List(ctx(t), a, report.Filter{Statuses: []report.Status{report.StatusCancelled}})
	byModel, _ := h.Store.List(ctx(t), a, report.Filter{Model: "sonar"})
	if len(bySummary) != 3 || len(cancelled) != 1 || cancelled[0].JobID != made[1].JobID || len(byModel) != 0 {
		t.Fatalf("filters: summary %d (want 3), cancelled %d (want 1), model %d (want 0)", len(bySummary), len(cancelled), len(byModel))
	}
	// Keyset pagination visits every job once.
	seen := map[string]bool{}
	f := report.Filter{Limit: 2}
	for page := 0; page < 5; page++ {
		jobs, err := h.Store.List(ctx(t), a, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range jobs {
			if seen[j.JobID] {
				t.Fatalf("job %s listed twice", j.JobID)
			}
			seen[j.JobID] = true
		}
		if len(jobs) < 2 {
			break
		}
		last := jobs[len(jobs)-1]
		f.After = &report.Cursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
	if len(seen) != 5 {
		t.Fatalf("pagination saw %d of 5 jobs", len(seen))
	}
	after := all[2].CreatedAt
	newer, _ := h.Store.List(ctx(t), a, report.Filter{CreatedAfter: &after})
	older, _ := h.Store.List(ctx(t), a, report.Filter{CreatedBefore: &after})
	if len(newer)+len(older) != 4 {
		t.Fatalf("created after/before split %d+%d jobs around one, want 4", len(newer), len(older))
	}
}

func testCancel(t *testing.T, h Harness) {
	a := h.NewUser(t)
	j := create(t, h, a)
	got, err := h.Store.Cancel(ctx(t), a, j.JobID)
	if err != nil || got.Status != report.StatusCancelled || got.CompletedAt == nil {
		t.Fatalf("cancel: %+v err %v", got, err)
	}
	again, err := h.Store.Cancel(ctx(t), a, j.JobID)
	if err != nil || again.Status != report.StatusCancelled {
		t.Fatalf("cancelling a cancelled job should return it: %+v err %v", again, err)
	}
	_, err = h.Store.Cancel(ctx(t), a, "job_0_missing")
	wantErr(t, err, report.ErrNotFound)
}

func testDelete(t *testing.T, h Harness) {
	a := h.NewUser(t)
	j := create(t, h, a)
	if err := h.Store.Delete(ctx(t), a, j.JobID); err != nil {
		t.Fatal(err)
	}
	_, err := h.Store.Get(ctx(t), a, j.JobID)
	wantErr(t, err, report.ErrNotFound)
	wantErr(t, h.Store.Delete(ctx(t), a, j.JobID), report.ErrNotFound)
}

func testStats(t *testing.T, h Harness) {
	a := h.NewUser(t)
	for range 3 {
		create(t, h, a)
	}
	c := create(t, h, a)
	if _, err := h.Store.Cancel(ctx(t), a, c.JobID); err != nil {
		t.Fatal(err)
	}
	st, err := h.Store.Stats(ctx(t), a)
	if err != nil {
		t.Fatal(err)
	}
	tomorrow := time.Now().UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
	want := report.Stats{Total: 4, Queued: 3, Cancelled: 1,
		Budget: report.Budget{MaxQueued: report.DefaultLimits.MaxQueuedPerUser, ResetsAt: tomorrow}}
	if !st.Budget.ResetsAt.Equal(tomorrow) {
		t.Fatalf("the budget resets at %s, want the next UTC midnight %s", st.Budget.ResetsAt, tomorrow)
	}
	st.Budget.ResetsAt = tomorrow
	if st != want {
		t.Fatalf("stats %+v, want %+v", st, want)
	}
}

func testService(t *testing.T, h Harness) {
	if h.Service == nil {
		t.Skip("store has no service callers")
	}
	a, b := h.NewUser(t), h.NewUser(t)
	svc := h.Service(a)
	j, created, err := h.Store.Create(ctx(t), svc, newJob())
	if err != nil || !created || j.UserID != a.UserID {
		t.Fatalf("service create for A: %+v created=%v err=%v", j, created, err)
	}
	if got := get(t, h, a, j.JobID); got.UserID != a.UserID {
		t.Fatalf("A cannot see the job made for them")
	}
	_, err = h.Store.Get(ctx(t), h.Service(b), j.JobID)
	wantErr(t, err, report.ErrNotFound)
	list, err := h.Store.List(ctx(t), svc, report.Filter{})
	if err != nil || len(list) != 1 {
		t.Fatalf("service list for A: %d jobs, err %v", len(list), err)
	}
}

func testAnonymous(t *testing.T, h Harness) {
	_, _, err := h.Store.Create(ctx(t), report.Caller{Role: report.RoleUser}, newJob())
	wantErr(t, err, report.ErrUnauthenticated)
	_, err = h.Store.List(ctx(t), report.Caller{Role: report.RoleUser}, report.Filter{})
	wantErr(t, err, report.ErrUnauthenticated)
}
