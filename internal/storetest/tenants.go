package storetest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/polaris/reportd/report"
)

// The rules that keep one user from harming the others: claims are fair
// whatever one user's backlog, a user's waiting jobs are capped, a user's
// daily budget holds at creation and at claim, and webhook deliveries are
// started at a bounded rate per owner. Like the queue tests, they share the
// store's claimable jobs, so they run one at a time.
func runTenants(t *testing.T, h Harness) {
	cases := []struct {
		name string
		fn   func(*testing.T, Harness)
	}{
		{"claims take every user's oldest job before anyone's second", testFairClaims},
		{"the per-user running limit leaves slots to other users", testFairWithLimit},
		{"a user's waiting jobs are capped", testQueuedCap},
		{"a user's daily budget holds at creation and at claim", testBudget},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			drain(t, h)
			c.fn(t, h)
		})
	}
	if h.Outbox != nil {
		t.Run("deliveries start at a bounded rate per owner", func(t *testing.T) {
			drain(t, h)
			drainDeliveries(t, h)
			testDeliveryRate(t, h)
		})
	}
}

func testFairClaims(t *testing.T, h Harness) {
	flooder, victim, third := h.NewUser(t), h.NewUser(t), h.NewUser(t)
	for range 30 {
		create(t, h, flooder)
	}
	v := create(t, h, victim)
	w := create(t, h, third)
	got := claim(t, h, 3, 0)
	users := map[string]int{}
	for _, j := range got {
		users[j.UserID]++
	}
	if len(got) != 3 || users[flooder.UserID] != 1 || users[victim.UserID] != 1 || users[third.UserID] != 1 {
		t.Fatalf("claim of 3 took %v jobs by user; want one each (the victim's %s and %s queued after 30 of the flooder's)",
			users, v.JobID, w.JobID)
	}
	// Then rounds: every remaining claim slot goes to the flooder, oldest first.
	more := claim(t, h, 2, 0)
	if len(more) != 2 || more[0].UserID != flooder.UserID || more[1].UserID != flooder.UserID {
		t.Fatalf("the next claim: %v", ids(more))
	}
}

func testFairWithLimit(t *testing.T, h Harness) {
	flooder := h.NewUser(t)
	for range 20 {
		create(t, h, flooder)
	}
	others := []report.Caller{h.NewUser(t), h.NewUser(t), h.NewUser(t)}
	for _, o := range others {
		create(t, h, o)
		create(t, h, o)
	}
	// 16 slots, at most 4 running per user: the flooder gets 4, every other
	// user both jobs, and no slot a claimable job could use stays empty.
	got := claim(t, h, 16, 4)
	users := map[string]int{}
	for _, j := range got {
		users[j.UserID]++
	}
	if len(got) != 10 || users[flooder.UserID] != 4 {
		t.Fatalf("claimed %d jobs (%v by user), want 10: 4 of the flooder's and 2 of each other user's", len(got), users)
	}
	for _, o := range others {
		if users[o.UserID] != 2 {
			t.Fatalf("user %s got %d of their 2 jobs", o.UserID, users[o.UserID])
		}
	}
	if again := claim(t, h, 16, 4); len(again) != 0 {
		t.Fatalf("the flooder ran more than 4 at once: %v", ids(again))
	}
}

func testQueuedCap(t *testing.T, h Harness) {
	if h.SetBudget == nil {
		t.Skip("the store under test has no per-user limits")
	}
	a := h.NewUser(t)
	h.SetBudget(t, a, 0, 0, 3)
	for range 3 {
		create(t, h, a)
	}
	_, _, err := h.Store.Create(ctx(t), a, newJob())
	var lim *report.LimitError
	if !errors.As(err, &lim) || lim.RetryAfter <= 0 || !strings.Contains(lim.Message, "the limit is 3") {
		t.Fatalf("a fourth waiting job: %v, want a LimitError naming the limit of 3", err)
	}
	// A finished job no longer counts.
	running := claim(t, h, 1, 0)[0]
	if err := h.Queue.Complete(ctx(t), report.LeaseOf(running), report.Completion{Result: "r"}); err != nil {
		t.Fatal(err)
	}
	create(t, h, a)
	// Someone else is not held back by the first user's cap.
	create(t, h, h.NewUser(t))
}

func testBudget(t *testing.T, h Harness) {
	if h.SetBudget == nil {
		t.Skip("the store under test has no per-user limits")
	}
	a := h.NewUser(t)
	h.SetBudget(t, a, 100, 0, 0)
	first := create(t, h, a)
	waiting := create(t, h, a)
	j := claim(t, h, 1, 0)[0]
	if j.JobID != first.JobID {
		t.Fatalf("claimed %s, want %s", j.JobID, first.JobID)
	}
	if err := h.Queue.Complete(ctx(t), report.LeaseOf(j), report.Completion{Result: "r", Spent: report.Spent{Tokens: 150, Cost: 0.02}}); err != nil {
		t.Fatal(err)
	}
	st, err := h.Store.Stats(ctx(t), a)
	if err != nil || st.Budget.DailyTokens != 100 || st.Budget.UsedTokens != 150 || st.Budget.ResetsAt.Before(time.Now()) {
		t.Fatalf("budget in the statistics: %+v %v", st.Budget, err)
	}
	_, _, err = h.Store.Create(ctx(t), a, newJob())
	var lim *report.LimitError
	if !errors.As(err, &lim) || lim.RetryAfter <= 0 || lim.RetryAfter > 24*time.Hour || !strings.Contains(lim.Message, "budget") {
		t.Fatalf("creating past the budget: %v, want a LimitError with when it resets", err)
	}
	// The job queued before the budget ran out fails at claim time, saying
	// why, instead of reaching the provider.
	if got := claim(t, h, 5, 0); len(got) != 0 {
		t.Fatalf("claimed %v for a user over budget", ids(got))
	}
	w := get(t, h, a, waiting.JobID)
	if w.Status != report.StatusFailed || w.Error == nil || !strings.Contains(*w.Error, "budget") {
		t.Fatalf("the waiting job: %s %v", w.Status, w.Error)
	}
	// Another user is not affected.
	create(t, h, h.NewUser(t))
}

func testDeliveryRate(t *testing.T, h Harness) {
	a, b := h.NewUser(t), h.NewUser(t)
	for range 3 {
		finished(t, h, a, `{"report_type":"greeting","report_id":"7"}`, succeed(t, h, "r"))
	}
	finished(t, h, b, `{"report_type":"greeting","report_id":"8"}`, succeed(t, h, "r"))
	ds, err := h.Outbox.ClaimDeliveries(ctx(t), report.DeliveryClaim{Worker: "w", Limit: 10, Lease: deliveryLease,
		MaxAttempts: 4, PerUserPerMinute: 2})
	if err != nil {
		t.Fatal(err)
	}
	owners := map[string]int{}
	for _, d := range ds {
		owners[d.UserID]++
	}
	if owners[a.UserID] != 2 || owners[b.UserID] != 1 {
		t.Fatalf("claimed %v deliveries by owner, want 2 of A's 3 (the rate) and B's 1", owners)
	}
	for _, d := range ds {
		if err := h.Outbox.RecordDelivery(ctx(t), d.Lease(), report.DeliveryOutcome{Status: report.DeliveryDelivered, StatusCode: 200}); err != nil {
			t.Fatal(err)
		}
	}
	again, err := h.Outbox.ClaimDeliveries(ctx(t), report.DeliveryClaim{Worker: "w", Limit: 10, Lease: deliveryLease,
		MaxAttempts: 4, PerUserPerMinute: 2})
	if err != nil || len(again) != 0 {
		t.Fatalf("within the same minute: %d more deliveries (%v), want A's third to wait", len(again), err)
	}
}
