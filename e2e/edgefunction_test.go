package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The Supabase Edge Function of examples/edge-function, run under Deno (from
// npm) as a separate process in front of the built reportd binary, on both
// stores: a user's token creates a job through it and streams or polls the
// job to the end; another user's token sees nothing of it.

const edgeDir = "examples/edge-function"

func TestEdgeFunction(t *testing.T) {
	t.Parallel()
	deno := npmTool(t, edgeDir, "deno", "the Edge Function's tests run it under Deno")
	t.Run("type check", func(t *testing.T) {
		runTool(t, edgeDir, denoEnv(t), deno, "check", "report-job/index.ts")
	})
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			env, p := b.env(t)
			env["DEMO_CHUNK_DELAY"], env["PROGRESS_INTERVAL"] = "20ms", "100ms"
			env["WORKER_POLL_INTERVAL"], env["STREAM_POLL_INTERVAL"] = "50ms", "100ms"
			svc := start(t, env)
			fn := startEdgeFunction(t, deno, svc.URL)
			adaID, ada := user(t, p)
			_, bob := user(t, p)
			var streamed, polled string
			t.Run("create and stream", func(t *testing.T) { streamed = edgeStream(t, svc, fn, adaID, ada) })
			t.Run("create and poll", func(t *testing.T) { polled = edgePoll(t, fn, ada) })
			t.Run("another user sees none of it", func(t *testing.T) { edgeIsolation(t, svc, fn, bob, streamed, polled) })
			t.Run("no token", func(t *testing.T) {
				r := call(t, "POST", fn.URL, "", map[string]any{"prompt": "anonymous", "model": "demo"})
				if r.status != http.StatusUnauthorized || r.body["code"] != "unauthenticated" {
					t.Fatalf("without a token: %d %s", r.status, r.raw)
				}
			})
		})
	}
}

// denoEnv keeps Deno's cache in the test's own folder and Deno offline.
func denoEnv(t *testing.T) []string {
	return []string{"DENO_DIR=" + t.TempDir(), "DENO_NO_UPDATE_CHECK=1", "NO_COLOR=1"}
}

// startEdgeFunction runs report-job/index.ts as `deno run` would on a
// developer's machine, on a free port, and waits until it answers.
func startEdgeFunction(t *testing.T, deno, reportdURL string) *proc {
	t.Helper()
	port := freePort(t)
	p := &proc{t: t, URL: fmt.Sprintf("http://127.0.0.1:%d/report-job", port), done: make(chan error, 1)}
	p.cmd = exec.Command(deno, "run", "--allow-net", "--allow-env", "report-job/index.ts")
	p.cmd.Dir = filepath.Join("..", edgeDir)
	p.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"REPORTD_URL=" + reportdURL, fmt.Sprintf("DENO_SERVE_ADDRESS=tcp:127.0.0.1:%d", port)}, denoEnv(t)...)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done //nolint:errcheck // waiting for the exit; a killed process's status says nothing (staticcheck S1005 refuses `_ =` here)
		if t.Failed() {
			t.Logf("deno output:\n%s", p.output())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodOptions, p.URL, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent {
				return p
			}
		}
		select {
		case err := <-p.done:
			t.Fatalf("deno exited: %v\n%s", err, p.output())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Edge Function did not answer within 30s\n%s", p.output())
		}
	}
}

// edgeStream creates a job through the function, asking for its events, and
// reads them to the end: queued, running with rising progress, succeeded with
// the report. The job belongs to the user whose token was sent.
func edgeStream(t *testing.T, svc, fn *proc, userID, token string) string {
	req, _ := http.NewRequest("POST", fn.URL, strings.NewReader(`{"prompt":"Tea farming in Kenya","model":"demo","max_tokens":300}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		resp.Body.Close()
		t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	stream := readEvents(t, resp)
	var events []jobEvent
	for {
		e, ok := nextEvent(t, stream, 30*time.Second)
		if !ok {
			break
		}
		events = append(events, e)
	}
	if len(events) == 0 {
		t.Fatal("the function's stream ended without an event")
	}
	checkOrder(t, events)
	last := events[len(events)-1].job
	if !strings.HasPrefix(last.Result, "# Demo report: Tea farming in Kenya") {
		t.Fatalf("the streamed result starts %.60q", last.Result)
	}
	r := call(t, "GET", svc.URL+"/v1/jobs/"+last.JobID, token, nil)
	if r.status != 200 || r.body["user_id"] != userID || r.body["status"] != "succeeded" {
		t.Fatalf("the job in reportd: %d %s", r.status, r.raw)
	}
	return last.JobID
}

// edgePoll creates a job through the function and polls it there, as the
// app polls the drop-in route, until it is final.
func edgePoll(t *testing.T, fn *proc, token string) string {
	r := call(t, "POST", fn.URL, token, map[string]any{"prompt": "Rice prices in Asia", "model": "demo", "max_tokens": 300})
	location := r.header.Get("Location")
	if r.status != http.StatusCreated || r.body["status"] != "queued" || !strings.HasPrefix(location, "?job_id=job_") {
		t.Fatalf("create: %d %s (Location %q)", r.status, r.raw, location)
	}
	id := r.body["job_id"].(string)
	poll := resolve(t, fn.URL, location)
	deadline := time.Now().Add(30 * time.Second)
	var seen []any
	for {
		r = call(t, "GET", poll, token, nil)
		if r.status != 200 || r.body["job_id"] != id {
			t.Fatalf("poll: %d %s", r.status, r.raw)
		}
		if r.body["status"] == "succeeded" {
			break
		}
		seen = append(seen, r.body["status"])
		if time.Now().After(deadline) {
			t.Fatalf("the job is still %v after 30s (seen %v)", r.body["status"], seen)
		}
		time.Sleep(50 * time.Millisecond) // polling is what this caller does
	}
	if res, _ := r.body["result"].(string); !strings.HasPrefix(res, "# Demo report: Rice prices in Asia") || r.body["percent"] != 100.0 {
		t.Fatalf("final poll: %s", r.raw)
	}
	return id
}

// resolve is the URL a reference (a Location) names, seen from base.
func resolve(t *testing.T, base, ref string) string {
	t.Helper()
	b, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	r, err := url.Parse(ref)
	if err != nil {
		t.Fatal(err)
	}
	return b.ResolveReference(r).String()
}

// edgeIsolation: with another user's token the function finds neither job,
// by poll or by stream, and reportd lists none.
func edgeIsolation(t *testing.T, svc, fn *proc, token string, ids ...string) {
	for _, id := range ids {
		if id == "" {
			t.Fatal("an earlier step made no job")
		}
		if r := call(t, "GET", fn.URL+"?job_id="+id, token, nil); r.status != http.StatusNotFound {
			t.Errorf("another user polls %s: %d %s", id, r.status, r.raw)
		}
		if r := call(t, "GET", fn.URL+"?job_id="+id, token, nil, "Accept", "text/event-stream"); r.status != http.StatusNotFound {
			t.Errorf("another user streams %s: %d %s", id, r.status, r.raw)
		}
	}
	if r := call(t, "GET", svc.URL+"/v1/jobs", token, nil); r.status != 200 || len(r.body["jobs"].([]any)) != 0 {
		t.Errorf("another user lists: %d %s", r.status, r.raw)
	}
}
