package e2e

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	sse "github.com/tmaxmax/go-sse"

	"github.com/polaris/reportd/internal/fakellm"
	"github.com/polaris/reportd/internal/jwttest"
	"github.com/polaris/reportd/internal/stack"
)

// jobEvent is one event of a live stream, as a client reads it.
type jobEvent struct {
	id, typ string
	job     struct {
		JobID   string `json:"job_id"`
		Status  string `json:"status"`
		Percent int    `json:"percent"`
		Version int64  `json:"version"`
		Result  string `json:"result"`
	}
}

// listen opens an event stream and delivers its events until it ends.
func listen(t *testing.T, url, token string, headers ...string) (<-chan jobEvent, *http.Response) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return readEvents(t, resp), resp
}

// readEvents delivers the events of a stream's body until it ends.
func readEvents(t *testing.T, resp *http.Response) <-chan jobEvent {
	t.Cleanup(func() { resp.Body.Close() })
	out := make(chan jobEvent, 1000)
	go func() {
		defer close(out)
		for e, err := range sse.Read(resp.Body, &sse.ReadConfig{MaxEventSize: 1 << 20}) {
			if err != nil {
				return
			}
			ev := jobEvent{id: e.LastEventID, typ: e.Type}
			_ = json.Unmarshal([]byte(e.Data), &ev.job)
			out <- ev
		}
	}()
	return out
}

func nextEvent(t *testing.T, c <-chan jobEvent, within time.Duration) (jobEvent, bool) {
	t.Helper()
	select {
	case e, ok := <-c:
		return e, ok
	case <-time.After(within):
		t.Fatalf("no event within %s", within)
		return jobEvent{}, false
	}
}

// The job runs in a worker process; the client streams it from a separate
// API process (both on the local Supabase stand-in), and sees every stage
// in order. A client that went away and comes back with Last-Event-ID gets
// the final state.
func TestLiveEventsAcrossProcesses(t *testing.T) {
	t.Parallel()
	// A project of its own: on the shared one, other tests' workers could
	// take this job.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	own, err := stack.Start(ctx, stack.Options{})
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = own.Close() })
	fake, env := withLLM(t, map[string]string{
		"SUPABASE_URL": own.URL, "SUPABASE_ANON_KEY": own.AnonKey,
		"SUPABASE_SERVICE_ROLE_KEY": own.ServiceKey, "SUPABASE_JWT_SECRET": string(own.JWTSecret),
		"SUPABASE_JWKS_URL": "none",
	})
	fake.SetDefault(fakellm.Stream(strings.Repeat("Kenyan tea grows in the highlands. ", 12), 20, 100*time.Millisecond))
	env["STREAM_POLL_INTERVAL"] = "50ms"
	apiEnv, workerEnv := maps.Clone(env), maps.Clone(env)
	apiEnv["MODE"], workerEnv["MODE"] = "api", "worker"
	workerEnv["WORKER_POLL_INTERVAL"], workerEnv["PROGRESS_INTERVAL"] = "50ms", "100ms"
	api := start(t, apiEnv)
	_, token, err := own.NewUser(context.Background())
	if err != nil {
		t.Fatal(err)
	}

	r := call(t, "POST", api.URL+"/v1/jobs", token, map[string]any{"prompt": "Tea", "model": "sonar", "max_tokens": 300})
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	jobID := r.body["job_id"].(string)
	one, _ := listen(t, api.URL+"/v1/jobs/"+jobID+"/events", token)
	all, _ := listen(t, api.URL+"/v1/events", token)
	first, _ := nextEvent(t, one, 10*time.Second)
	firstAll, _ := nextEvent(t, all, 10*time.Second)
	if first.job.Status != "queued" || firstAll.job.JobID != jobID {
		t.Fatalf("streams start with %+v and %+v", first.job, firstAll.job)
	}

	start(t, workerEnv)
	var seen []jobEvent
	for {
		e, ok := nextEvent(t, one, 30*time.Second)
		if !ok {
			break
		}
		seen = append(seen, e)
	}
	checkOrder(t, append([]jobEvent{first}, seen...))

	// The all-jobs stream, resumed from its first event, ends with the final state.
	resumed, _ := listen(t, api.URL+"/v1/events", token, "Last-Event-ID", firstAll.id)
	for {
		e, _ := nextEvent(t, resumed, 10*time.Second)
		if e.job.JobID == jobID && e.job.Status == "succeeded" {
			break
		}
	}
	// The single-job stream, resumed from its first event, sends the final state and ends.
	again, _ := listen(t, api.URL+"/v1/jobs/"+jobID+"/events", token, "Last-Event-ID", first.id)
	if e, _ := nextEvent(t, again, 10*time.Second); e.job.Status != "succeeded" || !strings.HasPrefix(e.job.Result, "Kenyan tea") {
		t.Fatalf("resumed stream: %+v", e.job)
	}
}

// checkOrder: statuses in lifecycle order, running with progress in between,
// percent never falling, versions rising (they are the event ids).
func checkOrder(t *testing.T, events []jobEvent) {
	t.Helper()
	rank := map[string]int{"queued": 0, "running": 1, "succeeded": 2}
	var progress []int
	for i, e := range events {
		if i > 0 {
			prev := events[i-1]
			if rank[e.job.Status] < rank[prev.job.Status] || e.job.Version <= prev.job.Version ||
				(e.job.Status == prev.job.Status && e.job.Percent < prev.job.Percent) {
				t.Fatalf("event %d goes backwards: %+v after %+v", i, e.job, prev.job)
			}
		}
		if e.job.Status == "running" && e.job.Percent > 0 && e.job.Percent < 100 {
			progress = append(progress, e.job.Percent)
		}
	}
	last := events[len(events)-1].job
	if last.Status != "succeeded" || last.Percent != 100 || len(progress) < 2 {
		t.Fatalf("stages seen: %+v (progress %v)", events, progress)
	}
}

// The binary verifies ES256 tokens from the configured JWKS, reports the
// JWKS in its readiness, and answers 401 to a token from a key not in it.
func TestJWKSTokens(t *testing.T) {
	t.Parallel()
	keys := jwttest.NewKeySet(t)
	keys.AddES256(t, "es-1")
	p := start(t, map[string]string{"SUPABASE_JWKS_URL": keys.URL(), "SUPABASE_JWT_SECRET": string(project.JWTSecret)})
	id := "2a6f4c1e-8b3d-4e5f-9a7b-1c2d3e4f5a6b"
	if r := call(t, "GET", p.URL+"/v1/stats", keys.UserToken(t, "es-1", id), nil); r.status != 200 {
		t.Fatalf("ES256 token: %d %s", r.status, r.raw)
	}
	if r := call(t, "GET", p.URL+"/readyz", "", nil); r.status != 200 || !strings.Contains(r.raw, `"jwks":"ok"`) {
		t.Fatalf("readyz: %d %s", r.status, r.raw)
	}
	keys.AddES256(t, "es-2")
	if r := call(t, "GET", p.URL+"/v1/stats", keys.UserToken(t, "es-2", id), nil); r.status != 200 {
		t.Fatalf("a key rotated in: %d %s", r.status, r.raw)
	}
	forged := keys.UserToken(t, "es-1", id, jwttest.WithKID("es-unknown"))
	if r := call(t, "GET", p.URL+"/v1/stats", forged, nil); r.status != 401 || r.header.Get("WWW-Authenticate") == "" {
		t.Fatalf("unknown kid: %d %s", r.status, r.raw)
	}
	keys.SetDown(true)
	if r := call(t, "GET", p.URL+"/v1/stats", keys.UserToken(t, "es-2", id), nil); r.status != 200 {
		t.Fatalf("JWKS down, cached key: %d %s", r.status, r.raw)
	}
}
