package storetest

import (
	"testing"
	"time"

	"github.com/polaris/reportd/report"
)

// runMonitor checks the queue depth that metrics sample, and that a claim
// tells a rescued job (its previous attempt's lease expired) from a queued
// one. Earlier tests leave jobs behind (some running, some waiting out a
// backoff), so it compares the figures before and after its own changes.
func runMonitor(t *testing.T, h Harness) {
	drain(t, h)
	before := depth(t, h)
	if before.Ready != 0 || before.Expired != 0 || before.OldestReady != 0 {
		t.Fatalf("after draining, nothing should be claimable: %+v", before)
	}
	u := h.NewUser(t)
	create(t, h, u) // stays running
	lapsed := create(t, h, u)
	claimed := claim(t, h, 2, 0)
	if len(claimed) != 2 || claimed[0].Rescued || claimed[1].Rescued {
		t.Fatalf("claimed %v; neither came from an expired lease", ids(claimed))
	}
	h.Shift(t, lapsed.JobID, "lease_expires_at", -time.Hour)
	ready, later := create(t, h, u), create(t, h, u)
	h.Shift(t, ready.JobID, "run_after", -90*time.Second)
	h.Shift(t, later.JobID, "run_after", time.Hour)

	after := depth(t, h)
	want := report.QueueDepth{Queued: before.Queued + 2, Ready: 1, Running: before.Running + 1, Expired: 1}
	if after.Queued != want.Queued || after.Ready != want.Ready || after.Running != want.Running || after.Expired != want.Expired {
		t.Fatalf("queue depth %+v, want %+v (before: %+v)", after, want, before)
	}
	if after.OldestReady < 89*time.Second || after.OldestReady > 5*time.Minute {
		t.Fatalf("the oldest claimable job has waited %s, want about 90s", after.OldestReady)
	}

	again := claim(t, h, 10, 0)
	byID := map[string]report.Job{}
	for _, j := range again {
		byID[j.JobID] = j
	}
	if len(again) != 2 || !byID[lapsed.JobID].Rescued || byID[ready.JobID].Rescued {
		t.Fatalf("second claim %v: want %s rescued and %s not", ids(again), lapsed.JobID, ready.JobID)
	}
	for _, j := range append(again, claimed[0]) {
		if j.JobID == lapsed.JobID && j.Attempts != 2 {
			t.Fatalf("the rescued job is on attempt %d, want 2", j.Attempts)
		}
		if err := h.Queue.Complete(ctx(t), report.LeaseOf(j), report.Completion{Result: "done"}); err != nil {
			t.Fatalf("complete %s: %v", j.JobID, err)
		}
	}
	if _, err := h.Store.Cancel(ctx(t), u, later.JobID); err != nil {
		t.Fatal(err)
	}
	if end := depth(t, h); end != before {
		t.Fatalf("after finishing its jobs the depth is %+v, want it back at %+v", end, before)
	}
}

func depth(t *testing.T, h Harness) report.QueueDepth {
	t.Helper()
	d, err := h.Monitor.QueueDepth(ctx(t))
	if err != nil {
		t.Fatalf("queue depth: %v", err)
	}
	return d
}
