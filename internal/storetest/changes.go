package storetest

import (
	"testing"

	"github.com/polaris/reportd/report"
)

// testChanges: live streams find changes by version and updated_at, and
// idempotent creation compares request hashes; both must behave alike in
// every store.
func testChanges(t *testing.T, h Harness) {
	a := h.NewUser(t)
	j := create(t, h, a, func(n *report.NewJob) { n.RequestHash = "hash-of-the-request" })
	if j.RequestHash != "hash-of-the-request" || get(t, h, a, j.JobID).RequestHash != "hash-of-the-request" {
		t.Fatalf("request hash not kept: %q", j.RequestHash)
	}
	created := j.UpdatedAt
	cancelled, err := h.Store.Cancel(ctx(t), a, j.JobID)
	if err != nil {
		t.Fatal(err)
	}
	if cancelled.Version <= j.Version || !cancelled.UpdatedAt.After(created) {
		t.Fatalf("cancel kept version %d -> %d, updated_at %v -> %v", j.Version, cancelled.Version, created, cancelled.UpdatedAt)
	}
	other := create(t, h, a)
	since, err := h.Store.List(ctx(t), a, report.Filter{UpdatedAfter: &created})
	if err != nil {
		t.Fatal(err)
	}
	if !hasJob(since, j.JobID) || !hasJob(since, other.JobID) {
		t.Fatalf("jobs changed after %v: %v", created, ids(since))
	}
	last := cancelled.UpdatedAt
	if other.UpdatedAt.After(last) {
		last = other.UpdatedAt
	}
	none, err := h.Store.List(ctx(t), a, report.Filter{UpdatedAfter: &last})
	if err != nil || len(none) != 0 {
		t.Fatalf("jobs changed after the latest change: %v (err %v)", ids(none), err)
	}
}

func hasJob(jobs []report.Job, jobID string) bool {
	for _, j := range jobs {
		if j.JobID == jobID {
			return true
		}
	}
	return false
}
