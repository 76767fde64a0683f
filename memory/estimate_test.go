package memory

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/polaris/reportd/report"
)

// TestEstimatorFollowsTheStore drives a store through random creates,
// claims, completions, retries, cancels and deletes, and after every step
// checks what the incremental estimator keeps against the same figures
// counted from scratch over every stored job: the running count, the
// histogram of waiting jobs per user, each waiting job's rank, the recent
// durations, and the ETA a status read returns.
func TestEstimatorFollowsTheStore(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 12))
			now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
			s := New(func() time.Time { return now })
			ctx := context.Background()
			users := make([]report.Caller, 5)
			for i := range users {
				users[i] = report.Caller{UserID: uuid.NewString(), Role: report.RoleUser, Token: "unused"}
			}
			var running []report.Job
			for step := range 400 {
				now = now.Add(time.Duration(rng.IntN(3000)) * time.Millisecond)
				u := users[rng.IntN(len(users))]
				switch op := rng.IntN(10); {
				case op < 4:
					model := []string{"sonar", "sonar-pro"}[rng.IntN(2)]
					if _, _, err := s.Create(ctx, u, report.NewJob{JobID: fmt.Sprintf("job_%d", step), Prompt: "p", Model: model, Temperature: 0.2, MaxTokens: 100}); err != nil {
						t.Fatalf("step %d: create: %v", step, err)
					}
				case op < 6:
					c, err := s.Claim(ctx, report.ClaimRequest{Worker: "w", Limit: 1 + rng.IntN(3), Lease: time.Hour})
					if err != nil {
						t.Fatalf("step %d: claim: %v", step, err)
					}
					running = append(running, c.Jobs...)
				case op < 8 && len(running) > 0:
					i := rng.IntN(len(running))
					j := running[i]
					running = append(running[:i], running[i+1:]...)
					var err error
					if rng.IntN(3) == 0 {
						_, err = s.Fail(ctx, report.LeaseOf(j), report.Failure{Message: "busy", Retryable: true,
							RetryAfter: time.Duration(rng.IntN(5)) * time.Second, ChargeAttempt: true})
					} else {
						err = s.Complete(ctx, report.LeaseOf(j), report.Completion{Result: "done"})
					}
					if err != nil && !errors.Is(err, report.ErrCancelled) && !errors.Is(err, report.ErrLeaseLost) { // cancelled or deleted meanwhile
						t.Fatalf("step %d: end: %v", step, err)
					}
				case op < 9:
					if j, ok := pick(s, u, rng); ok {
						if _, err := s.Cancel(ctx, u, j.JobID); err != nil && !errors.Is(err, report.ErrConflict) {
							t.Fatalf("step %d: cancel: %v", step, err)
						}
					}
				default:
					// Successes stay: the estimator averages the latest ones
					// it saw, and does not look further back when one of
					// them is deleted.
					if j, ok := pick(s, u, rng); ok && j.Status != report.StatusSucceeded {
						if err := s.Delete(ctx, u, j.JobID); err != nil {
							t.Fatalf("step %d: delete: %v", step, err)
						}
					}
				}
				checkEstimator(t, s, users, step)
			}
		})
	}
}

// pick is one of the user's stored jobs, at random.
func pick(s *Store, u report.Caller, rng *rand.Rand) (report.Job, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var o []*report.Job
	for j := range s.owned[u.UserID] {
		o = append(o, j)
	}
	if len(o) == 0 {
		return report.Job{}, false
	}
	sort.Slice(o, func(a, b int) bool { return older(o[a], o[b]) }) // map order is random; the seed decides
	return *o[rng.IntN(len(o))], true
}

func checkEstimator(t *testing.T, s *Store, users []report.Caller, step int) {
	t.Helper()
	s.mu.RLock()
	now := s.now().UTC()
	running, lengths := 0, map[int]int{}
	waiting := map[string][]*report.Job{}
	successes := map[string][]*report.Job{}
	for _, j := range s.jobs {
		switch j.Status {
		case report.StatusRunning:
			running++
		case report.StatusQueued:
			waiting[j.UserID] = append(waiting[j.UserID], j)
		case report.StatusSucceeded:
			successes[j.Model] = append(successes[j.Model], j)
			successes[""] = append(successes[""], j)
		}
	}
	for _, q := range waiting {
		lengths[len(q)]++
		sort.Slice(q, func(a, b int) bool { return older(q[a], q[b]) })
	}
	durations := map[string]time.Duration{}
	for m, js := range successes {
		sort.Slice(js, func(a, b int) bool { return js[a].CompletedAt.After(*js[b].CompletedAt) })
		js = js[:min(len(js), recentSuccesses)]
		var sum time.Duration
		for _, j := range js {
			sum += j.CompletedAt.Sub(*j.StartedAt)
		}
		durations[m] = sum / time.Duration(len(js))
	}
	if s.est.running != running {
		t.Fatalf("step %d: estimator counts %d running, the store holds %d", step, s.est.running, running)
	}
	if fmt.Sprint(s.est.lengths) != fmt.Sprint(lengths) {
		t.Fatalf("step %d: waiting per user: estimator %v, store %v", step, s.est.lengths, lengths)
	}
	type read struct {
		u   report.Caller
		j   *report.Job
		eta int
	}
	var reads []read
	for _, u := range users {
		for i, j := range waiting[u.UserID] {
			if got := s.est.place(j).Rank; got != i+1 {
				t.Fatalf("step %d: job %s is %d in its owner's queue, the estimator says %d", step, j.JobID, i+1, got)
			}
			want := report.QueueSnapshot{Running: running, Lengths: lengths, Durations: map[string]time.Duration{}}
			for _, m := range []string{j.Model, ""} {
				if d, ok := durations[m]; ok {
					want.Durations[m] = d
				}
			}
			reads = append(reads, read{u, j, want.Estimate(*j, report.Place{Rank: i + 1}, now)})
		}
	}
	s.mu.RUnlock()
	for _, r := range reads {
		got, err := s.Get(context.Background(), r.u, r.j.JobID)
		if err != nil {
			t.Fatalf("step %d: get: %v", step, err)
		}
		if got.ETASeconds == nil || *got.ETASeconds != r.eta {
			t.Fatalf("step %d: job %s: status read gives ETA %v, counted from scratch %d", step, r.j.JobID, got.ETASeconds, r.eta)
		}
	}
}

// TestCleanupLeavesNothingBehind: once the cleanup has deleted every job a
// day after it finished, nothing of them stays in any of the store's
// indexes, so a long-running memory store stays as large as its last day.
func TestCleanupLeavesNothingBehind(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	s := New(func() time.Time { return now })
	ctx := context.Background()
	for i := range 300 {
		u := report.Caller{UserID: fmt.Sprintf("00000000-0000-0000-0000-%012d", i%7), Role: report.RoleUser, Token: "unused"}
		j, _, err := s.Create(ctx, u, report.NewJob{JobID: fmt.Sprintf("job_%d", i), Prompt: "p", Model: "sonar",
			Temperature: 0.2, MaxTokens: 100, IdempotencyKey: fmt.Sprint("key-", i)})
		if err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			if _, err := s.Cancel(ctx, u, j.JobID); err != nil {
				t.Fatal(err)
			}
		}
	}
	for {
		c, err := s.Claim(ctx, report.ClaimRequest{Worker: "w", Limit: 16, Lease: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Jobs) == 0 {
			break
		}
		for i, j := range c.Jobs {
			if i%2 == 0 {
				err = s.Complete(ctx, report.LeaseOf(j), report.Completion{Result: "done", Spent: report.Spent{Tokens: 10}})
			} else {
				_, err = s.Fail(ctx, report.LeaseOf(j), report.Failure{Message: "no", Spent: report.Spent{Tokens: 1}})
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	now = now.Add(25 * time.Hour)
	n, err := s.Cleanup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 300 {
		t.Fatalf("cleanup deleted %d jobs, want all 300", n)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	left := map[string]int{"jobs": len(s.jobs), "byJob": len(s.byJob), "idem": len(s.idem), "attempts": len(s.attempts),
		"running": len(s.running), "owned": len(s.owned), "waiting": len(s.est.waiting), "lengths": len(s.est.lengths),
		"usage": len(s.usage), "deliveries": len(s.deliveries)}
	for index, n := range left {
		if n != 0 {
			t.Errorf("%d entries left in %s after the cleanup", n, index)
		}
	}
}
