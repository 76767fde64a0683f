// Package e2e runs the reportd binary as a separate process, the way it is
// deployed, against a local Supabase stand-in (PostgreSQL behind the
// PostgREST-compatible gateway) or its in-memory store, with fake LLM
// providers. Nothing here calls a real provider.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/polaris/reportd/internal/fakellm"
	"github.com/polaris/reportd/internal/stack"
)

var project *stack.Stack

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	bin, cleanup, err := build()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer cleanup()
	binary = bin
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	project, err = stack.Start(ctx, stack.Options{})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer project.Close()
	return m.Run()
}

// backend says which store a reportd process uses.
type backend struct {
	name string
	env  func(t *testing.T) (map[string]string, *stack.Stack)
}

var backends = []backend{
	{"memory", func(*testing.T) (map[string]string, *stack.Stack) {
		return map[string]string{"SUPABASE_JWT_SECRET": string(project.JWTSecret)}, project
	}},
	{"supabase", func(t *testing.T) (map[string]string, *stack.Stack) {
		p := fork(t)
		return supabaseEnv(p), p
	}},
}

// fork gives a test a project of its own (a database on the shared server):
// workers claim any queued job, so parallel tests must not share one.
func fork(t *testing.T) *stack.Stack {
	t.Helper()
	p, err := project.Fork(context.Background(), stack.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func supabaseEnv(p *stack.Stack) map[string]string {
	return map[string]string{
		"SUPABASE_URL": p.URL, "SUPABASE_ANON_KEY": p.AnonKey,
		"SUPABASE_SERVICE_ROLE_KEY": p.ServiceKey, "SUPABASE_JWT_SECRET": string(p.JWTSecret),
		"SUPABASE_JWKS_URL": "none", // the stand-in has no Auth server; its tokens are HS256
	}
}

// withLLM adds a fake Perplexity to env.
func withLLM(t *testing.T, env map[string]string) (*fakellm.Server, map[string]string) {
	t.Helper()
	fake, err := fakellm.New(fakellm.Perplexity)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	env["PERPLEXITY_API_KEY"] = fakellm.DefaultAPIKey
	env["PERPLEXITY_BASE_URL"] = fake.URL
	env["LOG_LEVEL"] = "debug"
	return fake, env
}

// user is a signed-up user of project p.
func user(t *testing.T, p *stack.Stack) (id, token string) {
	t.Helper()
	id, token, err := p.NewUser(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return id, token
}

type reply struct {
	status int
	body   map[string]any
	raw    string
	header http.Header
}

func call(t *testing.T, method, url, token string, body any, headers ...string) reply {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
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
	r := reply{status: resp.StatusCode, raw: string(data), header: resp.Header}
	_ = json.Unmarshal(data, &r.body)
	return r
}

// create posts a job to the drop-in route and returns its id.
func create(t *testing.T, base, token string, body map[string]any) string {
	t.Helper()
	r := call(t, "POST", base+"/api/reportJobsDb", token, body)
	if r.status != http.StatusAccepted {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	return r.body["job_id"].(string)
}

// await polls the drop-in GET, as the app does, until the job is final.
func await(t *testing.T, base, token, jobID string, timeout time.Duration) reply {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		r := call(t, "GET", base+"/api/reportJobsDb?job_id="+jobID, token, nil)
		if r.status != 200 {
			t.Fatalf("poll %s: %d %s", jobID, r.status, r.raw)
		}
		switch r.body["status"] {
		case "succeeded", "failed", "cancelled":
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still %v after %s", jobID, r.body["status"], timeout)
		}
		time.Sleep(50 * time.Millisecond) // the app polls; so do we
	}
}
