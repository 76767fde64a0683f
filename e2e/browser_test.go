package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/polaris/reportd/report"
)

// The old browser code inserts rows into report_jobs itself (supabase-js
// table calls with the user's session). The worker runs those too.
func TestJobsQueuedByTheOldBrowserCodeRun(t *testing.T) {
	t.Parallel()
	proj := fork(t)
	env := supabaseEnv(proj)
	env["WORKER_POLL_INTERVAL"] = "50ms"
	env["DEMO_CHUNK_DELAY"] = "1ms"
	p := start(t, env)
	_, token := user(t, proj)
	jobID := report.NewJobID(time.Now())
	body, _ := json.Marshal(map[string]any{"job_id": jobID, "status": "queued", "model": "demo", "prompt": "from the browser"})
	req, _ := http.NewRequest("POST", proj.URL+"/rest/v1/report_jobs", bytes.NewReader(body))
	req.Header.Set("apikey", proj.AnonKey)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("direct insert: %d", resp.StatusCode)
	}
	r := await(t, p.URL, token, jobID, 20*time.Second)
	if r.body["status"] != "succeeded" || r.body["result"] == nil {
		t.Fatalf("browser-queued job: %s", r.raw)
	}
}
