package storetest

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/polaris/reportd/report"
)

// The outbox tests share the due deliveries of the whole store, so they run
// one at a time, each starting with no claimable job or delivery.
func runOutbox(t *testing.T, h Harness) {
	cases := []struct {
		name string
		fn   func(*testing.T, Harness)
	}{
		{"a deliverable job gets one delivery when it finishes", testEnqueue},
		{"claim leases due deliveries with their job", testClaimDeliveries},
		{"a failed attempt is retried when due", testDeliveryRetry},
		{"an expired delivery lease is taken over, then given up", testDeliveryLease},
		{"skipped deliveries say why and spend no attempt", testDeliverySkipped},
		{"deleting a job deletes its deliveries", testDeliveryCascade},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			drain(t, h)
			drainDeliveries(t, h)
			c.fn(t, h)
		})
	}
}

const deliveryLease = 30 * time.Second

func claimDeliveries(t *testing.T, h Harness, limit, maxAttempts int) []report.Delivery {
	t.Helper()
	ds, err := h.Outbox.ClaimDeliveries(ctx(t), report.DeliveryClaim{
		Worker: "test-dispatcher", Limit: limit, Lease: deliveryLease, MaxAttempts: maxAttempts})
	if err != nil {
		t.Fatalf("claim deliveries: %v", err)
	}
	return ds
}

// drainDeliveries skips every due delivery left by earlier tests.
func drainDeliveries(t *testing.T, h Harness) {
	t.Helper()
	for {
		ds := claimDeliveries(t, h, 100, 100)
		if len(ds) == 0 {
			return
		}
		for _, d := range ds {
			if err := h.Outbox.RecordDelivery(ctx(t), d.Lease(), report.DeliveryOutcome{Status: report.DeliverySkipped, Error: "drained"}); err != nil {
				t.Fatalf("drain deliveries: %v", err)
			}
		}
	}
}

func withMeta(meta string) func(*report.NewJob) {
	return func(n *report.NewJob) { n.Metadata = json.RawMessage(meta) }
}

// finished creates a job with meta, runs it and ends it with end (the queue
// holds no other claimable job).
func finished(t *testing.T, h Harness, c report.Caller, meta string, end func(report.Lease) error) report.Job {
	t.Helper()
	j := create(t, h, c, withMeta(meta))
	got := claim(t, h, 1, 0)
	if len(got) != 1 || got[0].JobID != j.JobID {
		t.Fatalf("claimed %v, want %s", ids(got), j.JobID)
	}
	if err := end(report.LeaseOf(got[0])); err != nil {
		t.Fatalf("finish %s: %v", j.JobID, err)
	}
	return get(t, h, c, j.JobID)
}

func succeed(t *testing.T, h Harness, result string) func(report.Lease) error {
	return func(l report.Lease) error {
		return h.Queue.Complete(ctx(t), l, report.Completion{Result: result, Metadata: json.RawMessage(`{"provider":"demo"}`)})
	}
}

func deliveriesOf(t *testing.T, h Harness, c report.Caller, jobID string) []report.Delivery {
	t.Helper()
	ds, err := h.Outbox.JobDeliveries(ctx(t), c, jobID)
	if err != nil {
		t.Fatalf("deliveries of %s: %v", jobID, err)
	}
	return ds
}

func only(t *testing.T, h Harness, c report.Caller, jobID string) report.Delivery {
	t.Helper()
	ds := deliveriesOf(t, h, c, jobID)
	if len(ds) != 1 {
		t.Fatalf("%s has %d deliveries, want 1: %+v", jobID, len(ds), ds)
	}
	return ds[0]
}

func testEnqueue(t *testing.T, h Harness) {
	a, b := h.NewUser(t), h.NewUser(t)
	fail := func(retryable bool) func(report.Lease) error {
		return func(l report.Lease) error {
			_, err := h.Queue.Fail(ctx(t), l, report.Failure{Message: "provider down", Retryable: retryable, ChargeAttempt: true})
			return err
		}
	}
	cases := []struct {
		meta      string
		end       func(report.Lease) error
		endpoint  string // "" when nothing is delivered
		jobStatus report.Status
		reportID  string
	}{
		{`{"report_type":"greeting","report_id":"r-1"}`, succeed(t, h, "# Hi"), report.EndpointPrelimReport, report.StatusSucceeded, "r-1"},
		{`{"report_type":"dynamic_questionnaire","report_id":"s-1"}`, succeed(t, h, `{"stages":[]}`), report.EndpointQuestionnaire, report.StatusSucceeded, "s-1"},
		{`{"report_type":"Organization","report_id":42}`, fail(false), report.EndpointPrelimReport, report.StatusFailed, "42"},
		{`{"report_type":"greeting"}`, succeed(t, h, "x"), "", "", ""},
		{`{"report_type":"summary","report_id":"r-2"}`, succeed(t, h, "x"), "", "", ""},
		{`{"report_type":"greeting","report_id":"r-3"}`, fail(true), "", "", ""}, // queued again: not final
	}
	for _, c := range cases {
		j := finished(t, h, a, c.meta, c.end)
		ds := deliveriesOf(t, h, a, j.JobID)
		if c.endpoint == "" {
			if len(ds) != 0 {
				t.Fatalf("%s (%s): deliveries %+v, want none", c.meta, j.Status, ds)
			}
			continue
		}
		d := only(t, h, a, j.JobID)
		if d.Endpoint != c.endpoint || d.JobStatus != c.jobStatus || d.ReportID != c.reportID || d.Status != report.DeliveryPending ||
			d.Attempts != 0 || d.UserID != a.UserID || d.JobRowID != j.ID || d.LeaseToken != "" {
			t.Fatalf("%s: delivery %+v", c.meta, d)
		}
	}
	// A cancel enqueues too (the old browser code cancels through the table).
	queued := create(t, h, a, withMeta(`{"report_type":"requirements","report_id":"r-4"}`))
	if _, err := h.Store.Cancel(ctx(t), a, queued.JobID); err != nil {
		t.Fatal(err)
	}
	if d := only(t, h, a, queued.JobID); d.JobStatus != report.StatusCancelled || d.ReportType != "requirements" {
		t.Fatalf("cancelled job's delivery %+v", d)
	}
	if _, err := h.Outbox.JobDeliveries(ctx(t), b, queued.JobID); !errors.Is(err, report.ErrNotFound) {
		t.Fatalf("another user listed the deliveries: %v", err)
	}
	if ds, err := h.Outbox.JobDeliveries(ctx(t), h.Service(a), queued.JobID); err != nil || len(ds) != 1 {
		t.Fatalf("a service caller acting for the owner: %v %v", ds, err)
	}
}

func testClaimDeliveries(t *testing.T, h Harness) {
	a := h.NewUser(t)
	var jobs []report.Job
	for _, id := range []string{"c-1", "c-2", "c-3"} {
		jobs = append(jobs, finished(t, h, a, `{"report_type":"greeting","report_id":"`+id+`"}`, succeed(t, h, "# Report "+id)))
	}
	got := claimDeliveries(t, h, 2, 4)
	if len(got) != 2 || got[0].JobID != jobs[0].JobID || got[1].JobID != jobs[1].JobID {
		t.Fatalf("claimed %+v, want the two oldest", got)
	}
	d := got[0]
	if d.Status != report.DeliveryDelivering || d.Attempts != 1 || d.LeaseToken == "" || d.LeaseExpiresAt == nil ||
		d.Job == nil || d.Job.Result == nil || *d.Job.Result != "# Report c-1" || d.Job.Status != report.StatusSucceeded {
		t.Fatalf("claimed delivery %+v (job %+v)", d, d.Job)
	}
	if lease := d.LeaseExpiresAt.Sub(d.UpdatedAt); lease < deliveryLease-2*time.Second || lease > deliveryLease+2*time.Second {
		t.Fatalf("lease of %s, want about %s", lease, deliveryLease)
	}
	if rest := claimDeliveries(t, h, 10, 4); len(rest) != 1 || rest[0].JobID != jobs[2].JobID {
		t.Fatalf("second claim %+v, want only the third", rest)
	}
	if err := h.Outbox.RecordDelivery(ctx(t), d.Lease(), report.DeliveryOutcome{Status: report.DeliveryDelivered, StatusCode: 204}); err != nil {
		t.Fatal(err)
	}
	v := only(t, h, a, jobs[0].JobID)
	if v.Status != report.DeliveryDelivered || v.DeliveredAt == nil || v.LastStatusCode != 204 || v.Attempts != 1 || v.LastError != "" {
		t.Fatalf("delivered: %+v", v)
	}
	err := h.Outbox.RecordDelivery(ctx(t), d.Lease(), report.DeliveryOutcome{Status: report.DeliveryFailed})
	wantErr(t, err, report.ErrLeaseLost)
	err = h.Outbox.RecordDelivery(ctx(t), got[1].Lease(), report.DeliveryOutcome{Status: "lost-in-the-post"})
	wantErr(t, err, report.ErrInvalid)
}

func testDeliveryRetry(t *testing.T, h Harness) {
	a := h.NewUser(t)
	j := finished(t, h, a, `{"report_type":"org","report_id":"o-1"}`, succeed(t, h, "# Org"))
	first := claimDeliveries(t, h, 10, 4)[0]
	err := h.Outbox.RecordDelivery(ctx(t), first.Lease(), report.DeliveryOutcome{
		Status: report.DeliveryPending, StatusCode: 503, Error: "HTTP 503", RetryAfter: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	v := only(t, h, a, j.JobID)
	if v.Status != report.DeliveryPending || v.LastStatusCode != 503 || v.LastError != "HTTP 503" || v.Attempts != 1 ||
		v.NextAttemptAt.Before(time.Now().Add(50*time.Minute)) {
		t.Fatalf("retry not scheduled: %+v", v)
	}
	if early := claimDeliveries(t, h, 10, 4); len(early) != 0 {
		t.Fatalf("claimed before its backoff ended: %+v", early)
	}
	h.ShiftDelivery(t, first.ID, "next_attempt_at", -2*time.Hour)
	again := claimDeliveries(t, h, 10, 4)
	if len(again) != 1 || again[0].ID != first.ID || again[0].Attempts != 2 || again[0].LeaseToken == first.LeaseToken {
		t.Fatalf("retry claim %+v", again)
	}
	wantErr(t, h.Outbox.RecordDelivery(ctx(t), first.Lease(), report.DeliveryOutcome{Status: report.DeliveryDelivered}), report.ErrLeaseLost)
	if err := h.Outbox.RecordDelivery(ctx(t), again[0].Lease(), report.DeliveryOutcome{
		Status: report.DeliveryFailed, StatusCode: 500, Error: "gave up"}); err != nil {
		t.Fatal(err)
	}
	if v := only(t, h, a, j.JobID); v.Status != report.DeliveryFailed || v.Attempts != 2 || v.LastError != "gave up" || v.DeliveredAt != nil {
		t.Fatalf("failed delivery %+v", v)
	}
}

func testDeliveryLease(t *testing.T, h Harness) {
	a := h.NewUser(t)
	j := finished(t, h, a, `{"report_type":"greeting","report_id":"l-1"}`, succeed(t, h, "# L"))
	first := claimDeliveries(t, h, 10, 2)[0]
	h.ShiftDelivery(t, first.ID, "lease_expires_at", -deliveryLease-time.Second)
	second := claimDeliveries(t, h, 10, 2)
	if len(second) != 1 || second[0].ID != first.ID || second[0].Attempts != 2 || second[0].LeaseToken == first.LeaseToken {
		t.Fatalf("an expired lease was not taken over: %+v", second)
	}
	wantErr(t, h.Outbox.RecordDelivery(ctx(t), first.Lease(), report.DeliveryOutcome{Status: report.DeliveryDelivered}), report.ErrLeaseLost)
	// The second attempt dies too, and it was the last one allowed.
	h.ShiftDelivery(t, first.ID, "lease_expires_at", -deliveryLease-time.Second)
	if more := claimDeliveries(t, h, 10, 2); len(more) != 0 {
		t.Fatalf("a delivery out of attempts was claimed: %+v", more)
	}
	if v := only(t, h, a, j.JobID); v.Status != report.DeliveryFailed || !strings.Contains(v.LastError, "interrupted") {
		t.Fatalf("exhausted delivery %+v", v)
	}
}

func testDeliverySkipped(t *testing.T, h Harness) {
	a := h.NewUser(t)
	j := finished(t, h, a, `{"report_type":"dynamic_questionnaire","report_id":"q-1"}`, succeed(t, h, `{"stages":[]}`))
	d := claimDeliveries(t, h, 10, 4)[0]
	const why = "webhooks are not configured (WEBHOOK_BASE_URL is unset)"
	if err := h.Outbox.RecordDelivery(ctx(t), d.Lease(), report.DeliveryOutcome{Status: report.DeliverySkipped, Error: why}); err != nil {
		t.Fatal(err)
	}
	if v := only(t, h, a, j.JobID); v.Status != report.DeliverySkipped || v.LastError != why || v.Attempts != 0 {
		t.Fatalf("skipped delivery %+v", v)
	}
	if again := claimDeliveries(t, h, 10, 4); len(again) != 0 {
		t.Fatalf("a skipped delivery was claimed again: %+v", again)
	}
}

func testDeliveryCascade(t *testing.T, h Harness) {
	a := h.NewUser(t)
	j := finished(t, h, a, `{"report_type":"greeting","report_id":"d-1"}`, succeed(t, h, "# D"))
	only(t, h, a, j.JobID)
	if err := h.Store.Delete(ctx(t), a, j.JobID); err != nil {
		t.Fatal(err)
	}
	if ds := claimDeliveries(t, h, 10, 4); len(ds) != 0 {
		t.Fatalf("a deleted job's delivery was claimed: %+v", ds)
	}
	if _, err := h.Outbox.JobDeliveries(ctx(t), a, j.JobID); !errors.Is(err, report.ErrNotFound) {
		t.Fatalf("deliveries of a deleted job: %v", err)
	}
}
