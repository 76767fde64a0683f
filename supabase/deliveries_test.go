package supabase_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/polaris/reportd/report"
)

// Deliveries through the Data API, as the old browser code and an attacker
// with the anon key would reach them.
func TestDeliveriesUnderRowLevelSecurity(t *testing.T) {
	store := newStore(t)
	a, b := newUser(t), newUser(t)
	ctx := context.Background()
	job, _, err := store.Create(ctx, a, report.NewJob{JobID: report.NewJobID(nowish()), Prompt: "A's", Model: "demo",
		Temperature: 0.2, MaxTokens: 10, MaxAttempts: 3, Metadata: json.RawMessage(`{"report_type":"greeting","report_id":"g-7"}`)})
	if err != nil {
		t.Fatal(err)
	}

	// The old browser code cancels by updating the row; the trigger still
	// records the delivery, although the user may not write deliveries.
	if code, body := rest(t, "PATCH", "/report_jobs?job_id=eq."+job.JobID, a.Token, map[string]any{"status": "cancelled"}); code != 204 {
		t.Fatalf("cancel through the table: %d %s", code, body)
	}
	ds, err := store.JobDeliveries(ctx, a, job.JobID)
	if err != nil || len(ds) != 1 || ds[0].JobStatus != report.StatusCancelled || ds[0].Endpoint != report.EndpointPrelimReport {
		t.Fatalf("delivery of a job cancelled through the table: %+v %v", ds, err)
	}
	byJob := "/report_job_deliveries?select=id,status,job_id&job_id=eq." + job.JobID

	if code, body := rest(t, "GET", byJob, a.Token, nil); code != 200 || !strings.Contains(body, `"status":"pending"`) {
		t.Fatalf("the owner reads the delivery: %d %s", code, body)
	}
	if code, body := rest(t, "GET", byJob, b.Token, nil); code != 200 || body != "[]" {
		t.Fatalf("another user reads it: %d %s", code, body)
	}
	if code, body := rest(t, "GET", byJob, "", nil); code != 401 {
		t.Fatalf("anonymous read: %d %s", code, body)
	}
	if code, body := rest(t, "GET", "/report_job_deliveries?select=lease_token", a.Token, nil); code != 403 {
		t.Fatalf("the owner reads the lease token: %d %s", code, body)
	}
	if _, err := store.JobDeliveries(ctx, b, job.JobID); !errors.Is(err, report.ErrNotFound) {
		t.Fatalf("another user listed the deliveries through the store: %v", err)
	}
	for _, w := range []struct{ method, path string }{
		{"PATCH", "/report_job_deliveries?id=eq." + ds[0].ID},
		{"DELETE", "/report_job_deliveries?id=eq." + ds[0].ID},
		{"POST", "/report_job_deliveries"},
	} {
		body := map[string]any{"status": "delivered"}
		if w.method == "POST" {
			body = map[string]any{"job_row_id": job.ID, "job_id": job.JobID, "report_type": "greeting", "report_id": "x",
				"endpoint": "prelim-report", "job_status": "succeeded", "user_id": a.UserID}
		}
		if code, out := rest(t, w.method, w.path, a.Token, body); code != 403 {
			t.Fatalf("%s %s by the owner: %d %s, want 403", w.method, w.path, code, out)
		}
	}
	claim := map[string]any{"p_worker": "evil", "p_limit": 10, "p_lease_seconds": 30, "p_max_attempts": 4}
	if code, out := rest(t, "POST", "/rpc/claim_report_job_deliveries", a.Token, claim); code != 403 {
		t.Fatalf("a user claims deliveries: %d %s", code, out)
	}
	record := map[string]any{"p_id": ds[0].ID, "p_lease": "00000000-0000-4000-8000-000000000000", "p_status": "delivered"}
	if code, out := rest(t, "POST", "/rpc/record_report_job_delivery", a.Token, record); code != 403 {
		t.Fatalf("a user records a delivery: %d %s", code, out)
	}
}
