package supabase_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/polaris/reportd/internal/stack"
	"github.com/polaris/reportd/internal/storetest"
	"github.com/polaris/reportd/report"
	"github.com/polaris/reportd/supabase"
)

// project is the local Supabase stand-in shared by this package's tests.
var project *stack.Stack

func TestMain(m *testing.M) { os.Exit(stack.Main(m, &project)) }

func newStore(t *testing.T) *supabase.Store {
	t.Helper()
	// Estimates read the queue's snapshot every time: the tests change the
	// queue between reads.
	s, err := supabase.New(supabase.Config{URL: project.URL, AnonKey: project.AnonKey, ServiceKey: project.ServiceKey,
		SnapshotMaxAge: -1})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newUser(t *testing.T) report.Caller {
	t.Helper()
	id, token, err := project.NewUser(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return report.Caller{UserID: id, Role: report.RoleUser, Token: token}
}

var shiftable = []string{"created_at", "started_at", "completed_at", "expires_at", "run_after", "lease_expires_at", "next_attempt_at"}

func shift(t *testing.T, jobID, column string, d time.Duration) {
	t.Helper()
	shiftRow(t, "report_jobs", "job_id", jobID, column, d)
}

// shiftRow moves a timestamp column of one row by d, as if time had passed.
func shiftRow(t *testing.T, table, key, value, column string, d time.Duration) {
	t.Helper()
	if !slices.Contains(shiftable, column) {
		t.Fatalf("shift: unknown column %s", column)
	}
	tag, err := project.DB.Exec(context.Background(),
		fmt.Sprintf("update public.%s set %s = %s + $1::interval where %s = $2", table, column, column, key),
		fmt.Sprintf("%d microseconds", d.Microseconds()), value)
	if err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("shift %s of %s: %v (%d rows)", column, value, err, tag.RowsAffected())
	}
}

func TestConformance(t *testing.T) {
	s := newStore(t)
	storetest.Run(t, storetest.Harness{
		Store:   s,
		Queue:   s,
		NewUser: newUser,
		Service: func(u report.Caller) report.Caller { return report.Caller{UserID: u.UserID, Role: report.RoleService} },
		Shift:   shift,
		Outbox:  s,
		ShiftDelivery: func(t *testing.T, id, column string, d time.Duration) {
			shiftRow(t, "report_job_deliveries", "id", id, column, d)
		},
		Monitor: s,
		SetBudget: func(t *testing.T, u report.Caller, tokens int64, cost float64, queued int) {
			_, err := project.DB.Exec(context.Background(), `insert into public.report_job_budgets
				(user_id, daily_token_budget, daily_cost_budget, max_queued) values ($1, nullif($2, 0), nullif($3, 0), nullif($4, 0))
				on conflict (user_id) do update set daily_token_budget = excluded.daily_token_budget,
				daily_cost_budget = excluded.daily_cost_budget, max_queued = excluded.max_queued`, u.UserID, tokens, cost, queued)
			if err != nil {
				t.Fatal(err)
			}
		},
	})
}

func nowish() time.Time { return time.Now() }

func stackOptions() stack.Options { return stack.Options{} }

func storeOf(t *testing.T, p *stack.Stack) *supabase.Store {
	t.Helper()
	s, err := supabase.New(supabase.Config{URL: p.URL, AnonKey: p.AnonKey, ServiceKey: p.ServiceKey})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// countingTransport counts requests by path.
type countingTransport struct {
	mu   sync.Mutex
	hits map[string]int
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.hits[r.URL.Path]++
	c.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

// TestStatusReadIsOneRoundTrip: reading a queued job, estimate included,
// is one request to the Data API as the user; the queue's snapshot is read
// once for the instance, not once per read.
func TestStatusReadIsOneRoundTrip(t *testing.T) {
	ctx := context.Background()
	counter := &countingTransport{hits: map[string]int{}}
	s, err := supabase.New(supabase.Config{URL: project.URL, AnonKey: project.AnonKey, ServiceKey: project.ServiceKey,
		Transport: counter, SnapshotMaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	u := newUser(t)
	var jobs []report.Job
	for i := range 3 {
		j, _, err := s.Create(ctx, u, report.NewJob{JobID: fmt.Sprintf("job_1_roundtrip_%d_%s", i, u.UserID[:8]),
			Prompt: "p", Model: "sonar", Temperature: 0.2, MaxTokens: 100, MaxAttempts: 3})
		if err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, j)
	}
	counter.mu.Lock()
	clear(counter.hits)
	counter.mu.Unlock()
	const reads = 10
	for range reads {
		got, err := s.Get(ctx, u, jobs[2].JobID)
		if err != nil {
			t.Fatal(err)
		}
		if got.ETASeconds == nil {
			t.Fatal("a queued job was read without an estimate")
		}
	}
	counter.mu.Lock()
	defer counter.mu.Unlock()
	want := map[string]int{"/rest/v1/rpc/get_report_job": reads, "/rest/v1/rpc/report_job_queue_snapshot": 1}
	if fmt.Sprint(counter.hits) != fmt.Sprint(want) {
		t.Fatalf("%d status reads made these requests: %v, want %v", reads, counter.hits, want)
	}
}
