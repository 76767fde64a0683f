package live_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/polaris/reportd/live"
	"github.com/polaris/reportd/memory"
	"github.com/polaris/reportd/report"
)

// counting is a store that counts the reads live views make.
type counting struct {
	report.Backend
	lists, gets atomic.Int64
	refuse      atomic.Value // a token whose reads are refused
}

func (c *counting) List(ctx context.Context, who report.Caller, f report.Filter) ([]report.Job, error) {
	c.lists.Add(1)
	if t, _ := c.refuse.Load().(string); t != "" && who.Token == t {
		return nil, report.Errorf(report.ErrUnauthenticated, "The access token was rejected")
	}
	return c.Backend.List(ctx, who, f)
}

func (c *counting) Get(ctx context.Context, who report.Caller, id string) (report.Job, error) {
	c.gets.Add(1)
	return c.Backend.Get(ctx, who, id)
}

type fixture struct {
	store *counting
	hub   *live.Hub
	stop  chan struct{}
}

func newFixture(t *testing.T, cfg live.Config) *fixture {
	t.Helper()
	f := &fixture{store: &counting{Backend: memory.New(nil)}, stop: make(chan struct{})}
	cfg.Store, cfg.Stop = f.store, f.stop
	f.hub = live.New(cfg)
	t.Cleanup(func() {
		select {
		case <-f.stop:
		default:
			close(f.stop)
		}
	})
	return f
}

func user(id string) report.Caller {
	return report.Caller{UserID: id, Role: report.RoleUser, Token: "token-" + id, Expires: time.Now().Add(time.Hour)}
}

func (f *fixture) create(t *testing.T, c report.Caller) report.Job {
	t.Helper()
	j, _, err := f.store.Create(context.Background(), c, report.NewJob{JobID: report.NewJobID(time.Now()), Prompt: "p",
		Model: "demo", Temperature: 0.2, MaxTokens: 10, MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	f.hub.Announce(report.Change{Kind: report.ChangeCreated, JobID: j.JobID, UserID: j.UserID})
	return j
}

func next(t *testing.T, fl report.Follow) (report.Update, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	u, err := fl.Next(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatal("no update within 5 s")
	}
	return u, err
}

// quiet reports whether nothing arrives within d.
func quiet(fl report.Follow, d time.Duration) bool {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	_, err := fl.Next(ctx)
	return errors.Is(err, context.DeadlineExceeded)
}

// Announcements reach the listeners (the local worker): new and stopped
// jobs, with their owner.
func TestAnnounceReachesListeners(t *testing.T) {
	t.Parallel()
	f := newFixture(t, live.Config{})
	heard := make(chan report.Change, 4)
	f.hub.Listen(func(c report.Change) { heard <- c })
	f.hub.Announce(report.Change{Kind: report.ChangeStopped, JobID: "job_1", UserID: "u"})
	if c := <-heard; c.Kind != report.ChangeStopped || c.JobID != "job_1" || c.UserID != "u" {
		t.Fatalf("heard %+v", c)
	}
}

// One job: its state now, then each change, then the end after the final
// state. A resumed view that already has the current version waits for the
// next change; one that already had the final state is over at once.
func TestFollowJob(t *testing.T) {
	t.Parallel()
	f := newFixture(t, live.Config{Poll: time.Hour})
	u := user("u1")
	j := f.create(t, u)
	fl, err := f.hub.FollowJob(context.Background(), u, j.JobID, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	if up, err := next(t, fl); err != nil || up.Kind != report.UpdateJob || up.Job.Status != report.StatusQueued ||
		up.Cursor != fmt.Sprint(j.Version) {
		t.Fatalf("first update %+v %v", up, err)
	}
	resumed, err := f.hub.FollowJob(context.Background(), u, j.JobID, &j.Version)
	if err != nil {
		t.Fatal(err)
	}
	defer resumed.Close()
	if !quiet(resumed, 200*time.Millisecond) {
		t.Fatal("a view resumed at the current version sent it again")
	}
	cancelled, err := f.store.Cancel(context.Background(), u, j.JobID)
	if err != nil {
		t.Fatal(err)
	}
	f.hub.Announce(report.Change{Kind: report.ChangeStopped, JobID: j.JobID, UserID: u.UserID})
	for _, view := range []report.Follow{fl, resumed} {
		if up, err := next(t, view); err != nil || up.Job.Status != report.StatusCancelled || up.Cursor != fmt.Sprint(cancelled.Version) {
			t.Fatalf("the final state: %+v %v", up, err)
		}
		if _, err := next(t, view); !errors.Is(err, report.ErrFollowEnded) {
			t.Fatalf("after the final state: %v", err)
		}
	}
	if _, err := f.hub.FollowJob(context.Background(), u, j.JobID, &cancelled.Version); !errors.Is(err, report.ErrFollowEnded) {
		t.Fatalf("resuming after the final state: %v, want ErrFollowEnded", err)
	}
	if _, err := f.hub.FollowJob(context.Background(), user("someone-else"), j.JobID, nil); !errors.Is(err, report.ErrNotFound) {
		t.Fatalf("another user's job: %v", err)
	}
}

// A job deleted where this process does not hear of it (another instance)
// ends its view with a deletion, found by the user's next read.
func TestFollowJobSeesDeletionsMadeElsewhere(t *testing.T) {
	t.Parallel()
	f := newFixture(t, live.Config{Poll: 50 * time.Millisecond})
	u := user("u1")
	j := f.create(t, u)
	fl, err := f.hub.FollowJob(context.Background(), u, j.JobID, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	if _, err := next(t, fl); err != nil {
		t.Fatal(err)
	}
	if err := f.store.Delete(context.Background(), u, j.JobID); err != nil { // not announced
		t.Fatal(err)
	}
	if up, err := next(t, fl); err != nil || up.Kind != report.UpdateDeleted || up.JobID != j.JobID {
		t.Fatalf("after the deletion: %+v %v", up, err)
	}
	if _, err := next(t, fl); !errors.Is(err, report.ErrFollowEnded) {
		t.Fatalf("after the deletion event: %v", err)
	}
}

// All of a user's jobs: the active ones first, then every change, each with
// a cursor that never moves back; from a cursor, every job changed since.
func TestFollowJobs(t *testing.T) {
	t.Parallel()
	f := newFixture(t, live.Config{Poll: time.Hour})
	u := user("u1")
	done := f.create(t, u)
	if _, err := f.store.Cancel(context.Background(), u, done.JobID); err != nil {
		t.Fatal(err)
	}
	active := f.create(t, u)
	f.create(t, user("u2")) // someone else's
	fl, err := f.hub.FollowJobs(context.Background(), u, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	first, err := next(t, fl)
	if err != nil || first.Job.JobID != active.JobID {
		t.Fatalf("first update %+v %v, want only the active job", first, err)
	}
	if !quiet(fl, 200*time.Millisecond) {
		t.Fatal("a finished job or another user's job was sent")
	}
	later := f.create(t, u)
	// The first read may also bring jobs that changed shortly before the
	// view opened (within the lookback); never another user's, and the
	// cursor never moves back.
	cursor := first.Cursor
	for {
		up, err := next(t, fl)
		if err != nil || up.Job.UserID != u.UserID || up.Cursor < cursor {
			t.Fatalf("update %+v %v (cursor before %s)", up, err, cursor)
		}
		cursor = up.Cursor
		if up.Job.JobID == later.JobID {
			break
		}
	}
	since := done.CreatedAt.Add(-time.Second)
	replay, err := f.hub.FollowJobs(context.Background(), u, &since)
	if err != nil {
		t.Fatal(err)
	}
	defer replay.Close()
	seen := map[string]bool{}
	for range 3 {
		up, err := next(t, replay)
		if err != nil {
			t.Fatal(err)
		}
		seen[up.Job.JobID] = true
	}
	if !seen[done.JobID] || !seen[active.JobID] || !seen[later.JobID] {
		t.Fatalf("resuming from a cursor sent %v", seen)
	}
}

// Views share their reads: however many a user holds open, the store is
// read about as often as for one.
func TestViewsShareReads(t *testing.T) {
	t.Parallel()
	const poll = 50 * time.Millisecond
	f := newFixture(t, live.Config{Poll: poll})
	u := user("u1")
	j := f.create(t, u)
	open := func(n int) []report.Follow {
		var out []report.Follow
		for i := range n {
			var fl report.Follow
			var err error
			if i%2 == 0 {
				fl, err = f.hub.FollowJob(context.Background(), u, j.JobID, nil)
			} else {
				fl, err = f.hub.FollowJobs(context.Background(), u, nil)
			}
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, fl)
		}
		return out
	}
	reads := func(views []report.Follow) int64 {
		before := f.store.lists.Load() + f.store.gets.Load()
		// Let every view see the change; the reads of the polls between
		// count too.
		if _, err := f.store.Cancel(context.Background(), u, j.JobID); err != nil && !errors.Is(err, report.ErrConflict) {
			t.Fatal(err)
		}
		time.Sleep(10 * poll) // a span of polls to count the reads in: there is no event to wait for
		return f.store.lists.Load() + f.store.gets.Load() - before
	}
	one := open(1)
	oneReads := reads(one)
	for _, v := range one {
		v.Close()
	}
	j = f.create(t, u)
	many := open(1000)
	manyReads := reads(many)
	if f.hub.Open() != 1000 {
		t.Fatalf("%d views open, want 1000", f.hub.Open())
	}
	for _, v := range many {
		v.Close()
	}
	t.Logf("store reads over 10 polls: 1 view %d, 1,000 views %d", oneReads, manyReads)
	if manyReads > 3*oneReads+5 {
		t.Fatalf("1,000 views made %d store reads where one view made %d", manyReads, oneReads)
	}
	if f.hub.Open() != 0 {
		t.Fatalf("%d views still open after closing all", f.hub.Open())
	}
}

// A user may hold only so many views open.
func TestViewsPerUserAreCapped(t *testing.T) {
	t.Parallel()
	f := newFixture(t, live.Config{Poll: time.Hour, MaxPerUser: 2})
	u := user("u1")
	a, err := f.hub.FollowJobs(context.Background(), u, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.hub.FollowJobs(context.Background(), u, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.hub.FollowJobs(context.Background(), u, nil)
	var limit *report.LimitError
	if !errors.As(err, &limit) || limit.RetryAfter <= 0 {
		t.Fatalf("a third view: %v, want a LimitError with a retry time", err)
	}
	if other, err := f.hub.FollowJobs(context.Background(), user("u2"), nil); err != nil {
		t.Fatalf("another user is not limited by the first: %v", err)
	} else {
		other.Close()
	}
	a.Close()
	c, err := f.hub.FollowJobs(context.Background(), u, nil)
	if err != nil {
		t.Fatalf("after closing one: %v", err)
	}
	b.Close()
	c.Close()
}

// A view lives no longer than the credentials that opened it, and ends
// when they are refused; views opened with other credentials go on. The
// service shutting down ends every view.
func TestViewsEndWithTheirCredentials(t *testing.T) {
	t.Parallel()
	f := newFixture(t, live.Config{Poll: 50 * time.Millisecond})
	short := user("u1")
	short.Expires = time.Now().Add(300 * time.Millisecond)
	fl, err := f.hub.FollowJobs(context.Background(), short, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	if _, err := next(t, fl); !errors.Is(err, report.ErrFollowEnded) {
		t.Fatalf("after the token expired: %v", err)
	}

	refused, kept := user("u2"), user("u2")
	refused.Token, kept.Token = "refused-token", "good-token"
	kept.Expires = refused.Expires.Add(-time.Minute) // the refused token is the one the reader picks first
	a, err := f.hub.FollowJobs(context.Background(), refused, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := f.hub.FollowJobs(context.Background(), kept, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	f.store.refuse.Store("refused-token")
	if _, err := next(t, a); !errors.Is(err, report.ErrFollowEnded) {
		t.Fatalf("a view whose token was refused: %v", err)
	}
	j := f.create(t, kept)
	if up, err := next(t, b); err != nil || up.Job.JobID != j.JobID {
		t.Fatalf("the view with good credentials: %+v %v", up, err)
	}
	close(f.stop)
	if _, err := next(t, b); !errors.Is(err, report.ErrFollowEnded) {
		t.Fatalf("after shutdown: %v", err)
	}
	if _, err := f.hub.FollowJobs(context.Background(), kept, nil); !errors.Is(err, report.ErrUnavailable) {
		t.Fatalf("a view opened during shutdown: %v", err)
	}
}
