package supabase_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/polaris/reportd/report"
)

// rest sends a request to the project's Data API as a browser with the anon
// key would: apikey always, and the user's token when given.
func rest(t *testing.T, method, path, token string, body any, headers ...string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, project.URL+"/rest/v1"+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("apikey", project.AnonKey)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

// RLS through the gateway, as the old browser code and an attacker with the
// anon key would use the Data API directly.
func TestRowLevelSecurity(t *testing.T) {
	store := newStore(t)
	a, b := newUser(t), newUser(t)
	ctx := context.Background()
	mine, _, err := store.Create(ctx, a, report.NewJob{JobID: report.NewJobID(nowish()), Prompt: "A's", Model: "demo", Temperature: 0.2, MaxTokens: 10, MaxAttempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	byID := "/report_jobs?job_id=eq." + mine.JobID
	repr := []string{"Prefer", "return=representation"}

	t.Run("another user cannot read, update or delete", func(t *testing.T) {
		if code, body := rest(t, "GET", byID, b.Token, nil); code != 200 || body != "[]" {
			t.Fatalf("read: %d %s", code, body)
		}
		if code, body := rest(t, "PATCH", byID, b.Token, map[string]any{"status": "cancelled"}, repr...); code != 200 || body != "[]" {
			t.Fatalf("update: %d %s", code, body)
		}
		if code, body := rest(t, "DELETE", byID, b.Token, nil, repr...); code != 200 || body != "[]" {
			t.Fatalf("delete: %d %s", code, body)
		}
		if got, err := store.Get(ctx, a, mine.JobID); err != nil || got.Status != report.StatusQueued {
			t.Fatalf("A's job changed: %+v %v", got, err)
		}
	})
	t.Run("the owner cannot write worker-owned fields", func(t *testing.T) {
		for _, patch := range []map[string]any{
			{"status": "succeeded"}, {"status": "running"}, {"result": "forged"}, {"percent": 100},
			{"error": "x"}, {"attempts": 0}, {"user_id": b.UserID}, {"prompt": "changed"},
		} {
			code, body := rest(t, "PATCH", byID, a.Token, patch)
			if code != 403 {
				t.Fatalf("PATCH %v: %d %s, want 403", patch, code, body)
			}
		}
		for _, row := range []map[string]any{
			{"job_id": "job_1_forged01", "prompt": "p", "status": "succeeded", "result": "forged"},
			{"job_id": "job_1_forged02", "prompt": "p", "status": "succeeded"},
			{"job_id": "job_1_forged04", "prompt": "p", "user_id": b.UserID},
			{"job_id": "job_1_forged05", "prompt": "p", "max_attempts": 20},
			{"job_id": "job_1_forged06", "prompt": "p", "lease_epoch": 7},
			{"job_id": "job_1_forged07", "prompt": "p", "run_after": "2000-01-01T00:00:00Z"},
		} {
			if code, body := rest(t, "POST", "/report_jobs", a.Token, row); code != 403 {
				t.Fatalf("insert %v: %d %s, want 403", row, code, body)
			}
		}
		// The fields the old browser code sends along are accepted, and the
		// server decides their values.
		forged := map[string]any{"job_id": "job_1_forged03", "prompt": "p", "percent": 100, "eta_seconds": 1,
			"started_at": "2000-01-01T00:00:00Z", "completed_at": "2000-01-01T00:00:00Z", "expires_at": "2999-01-01T00:00:00Z",
			"created_at": "2000-01-01T00:00:00Z"}
		code, body := rest(t, "POST", "/report_jobs?select=percent,eta_seconds,started_at,completed_at,expires_at,created_at",
			a.Token, forged, repr...)
		var rows []struct {
			Percent     int        `json:"percent"`
			ETA         *int       `json:"eta_seconds"`
			StartedAt   *time.Time `json:"started_at"`
			CompletedAt *time.Time `json:"completed_at"`
			ExpiresAt   time.Time  `json:"expires_at"`
			CreatedAt   time.Time  `json:"created_at"`
		}
		if code != 201 || json.Unmarshal([]byte(body), &rows) != nil || len(rows) != 1 {
			t.Fatalf("insert with worker-owned fields: %d %s", code, body)
		}
		r := rows[0]
		if r.Percent != 0 || r.ETA != nil || r.StartedAt != nil || r.CompletedAt != nil ||
			time.Since(r.CreatedAt) > time.Minute || r.ExpiresAt.After(time.Now().Add(8*24*time.Hour)) {
			t.Fatalf("the forged values were kept: %s", body)
		}
	})
	t.Run("the owner can queue and cancel their own jobs directly", func(t *testing.T) {
		code, body := rest(t, "POST", "/report_jobs", a.Token, map[string]any{
			"job_id": report.NewJobID(nowish()), "status": "queued", "model": "demo", "prompt": "old browser call"}, repr...)
		if code != 201 || !strings.Contains(body, `"user_id":"`+a.UserID+`"`) || !strings.Contains(body, `"attempts":0`) {
			t.Fatalf("direct insert: %d %s", code, body)
		}
		code, body = rest(t, "PATCH", byID, a.Token, map[string]any{"status": "cancelled"}, repr...)
		if code != 200 || !strings.Contains(body, `"status":"cancelled"`) {
			t.Fatalf("cancel by update: %d %s", code, body)
		}
		if code, body := rest(t, "PATCH", byID, a.Token, map[string]any{"status": "queued"}); code != 204 {
			t.Fatalf("re-queue a cancelled job: %d %s", code, body)
		}
		if got, _ := store.Get(ctx, a, mine.JobID); got.Status != report.StatusCancelled {
			t.Fatalf("a cancelled job went back to %s", got.Status)
		}
	})
	t.Run("users cannot call worker functions", func(t *testing.T) {
		args := map[string]any{"p_worker": "evil", "p_limit": 10, "p_lease_seconds": 30, "p_per_user_limit": 0}
		if code, body := rest(t, "POST", "/rpc/claim_report_jobs", a.Token, args); code != 403 {
			t.Fatalf("authenticated claim: %d %s", code, body)
		}
		if code, body := rest(t, "POST", "/rpc/claim_report_jobs", "", args); code != 401 {
			t.Fatalf("anon claim: %d %s", code, body)
		}
		if code, body := rest(t, "POST", "/rpc/cleanup_expired_report_jobs", a.Token, map[string]any{}); code != 403 {
			t.Fatalf("authenticated cleanup: %d %s", code, body)
		}
		lease := map[string]any{"p_id": mine.ID, "p_epoch": 1, "p_result": "x"}
		if code, body := rest(t, "POST", "/rpc/complete_report_job", a.Token, lease); code != 403 {
			t.Fatalf("authenticated complete: %d %s", code, body)
		}
	})
	t.Run("service_role can", func(t *testing.T) {
		req, _ := http.NewRequest("POST", project.URL+"/rest/v1/rpc/cleanup_expired_report_jobs", strings.NewReader("{}"))
		req.Header.Set("apikey", project.ServiceKey)
		req.Header.Set("Authorization", "Bearer "+project.ServiceKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("service cleanup: %d", resp.StatusCode)
		}
	})
	t.Run("a user's p_user_id is ignored", func(t *testing.T) {
		code, body := rest(t, "POST", "/rpc/create_report_job", a.Token, map[string]any{
			"p_job_id": report.NewJobID(nowish()), "p_prompt": "p", "p_model": "demo", "p_user_id": b.UserID})
		if code != 200 || !strings.Contains(body, `"user_id": "`+a.UserID+`"`) {
			t.Fatalf("create for another user: %d %s", code, body)
		}
	})
	t.Run("anonymous callers get nothing", func(t *testing.T) {
		if code, _ := rest(t, "GET", "/report_jobs?select=id", "", nil); code != 401 {
			t.Fatalf("anon read: %d", code)
		}
		if code, _ := rest(t, "POST", "/rpc/create_report_job", "", map[string]any{"p_job_id": "j", "p_prompt": "p", "p_model": "demo"}); code != 401 {
			t.Fatalf("anon create: %d", code)
		}
	})
}
