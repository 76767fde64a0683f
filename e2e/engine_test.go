package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/polaris/reportd/internal/fakellm"
	"github.com/polaris/reportd/internal/stack"
	"github.com/polaris/reportd/report"
	"github.com/polaris/reportd/supabase"
)

// engineEnv is a worker process's environment for project p and fake f,
// with a short lease so crashes are rescued within seconds.
func engineEnv(p *stack.Stack, f *fakellm.Server, extra map[string]string) map[string]string {
	env := supabaseEnv(p)
	env["PERPLEXITY_API_KEY"] = fakellm.DefaultAPIKey
	env["PERPLEXITY_BASE_URL"] = f.URL
	env["LEASE_DURATION"] = "2s"
	env["HEARTBEAT_INTERVAL"] = "500ms"
	env["WORKER_POLL_INTERVAL"] = "100ms"
	env["RETRY_BASE_DELAY"] = "50ms"
	env["PERPLEXITY_RATE_LIMIT"] = "none"
	env["LOG_LEVEL"] = "debug"
	for k, v := range extra {
		env[k] = v
	}
	return env
}

func newFake(t *testing.T) *fakellm.Server {
	t.Helper()
	f, err := fakellm.New(fakellm.Perplexity)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	return f
}

// storeFor is a store acting for the test: users' reads go through RLS.
func storeFor(t *testing.T, p *stack.Stack) *supabase.Store {
	t.Helper()
	s, err := supabase.New(supabase.Config{URL: p.URL, AnonKey: p.AnonKey, ServiceKey: p.ServiceKey})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func caller(t *testing.T, p *stack.Stack) report.Caller {
	id, token := user(t, p)
	return report.Caller{UserID: id, Role: report.RoleUser, Token: token}
}

func newJob(prompt string) report.NewJob {
	return report.NewJob{JobID: report.NewJobID(time.Now()), Prompt: prompt, Model: "sonar",
		Temperature: 0.2, MaxTokens: 200, MaxAttempts: 3}
}

// waitJob polls the store until cond holds for the job.
func waitJob(t *testing.T, s report.Store, c report.Caller, jobID string, timeout time.Duration, cond func(report.Job) bool) report.Job {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		j, err := s.Get(context.Background(), c, jobID)
		if err == nil && cond(j) {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s: condition not met within %s (last %+v, err %v)", jobID, timeout, j, err)
		}
		time.Sleep(50 * time.Millisecond) // polling the store, as a client would
	}
}

// started returns a channel that receives each request's prompt as the
// fake provider receives it, before it answers.
func started(f *fakellm.Server, script func(prompt string, n int) fakellm.Script) <-chan string {
	ch := make(chan string, 1000)
	var mu sync.Mutex
	n := 0
	f.Handle(func(r *fakellm.Request) *fakellm.Script {
		mu.Lock()
		n++
		sc := script(r.Prompt, n)
		mu.Unlock()
		ch <- r.Prompt
		return &sc
	})
	return ch
}

func receive(t *testing.T, ch <-chan string, timeout time.Duration) string {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(timeout):
		t.Fatalf("nothing within %s", timeout)
		return ""
	}
}

// R1: a worker process killed with SIGKILL mid-stream; another process takes
// the job after the lease expires and completes it, exactly once.
func TestKilledWorkerProcess(t *testing.T) {
	t.Parallel()
	p, f := fork(t), newFake(t)
	calls := started(f, func(_ string, n int) fakellm.Script {
		if n == 1 {
			return fakellm.Stream(strings.Repeat("slow ", 200), 200, 50*time.Millisecond)
		}
		return fakellm.Instant("the second attempt's report")
	})
	first := start(t, engineEnv(p, f, map[string]string{"MODE": "worker"}))
	s, c := storeFor(t, p), caller(t, p)
	j, _, err := s.Create(context.Background(), c, newJob("kill me"))
	if err != nil {
		t.Fatal(err)
	}
	receive(t, calls, 10*time.Second)
	waitJob(t, s, c, j.JobID, 10*time.Second, func(j report.Job) bool { return j.Percent > 0 }) // mid-stream
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	start(t, engineEnv(p, f, map[string]string{"MODE": "worker"}))

	done := waitJob(t, s, c, j.JobID, 20*time.Second, func(j report.Job) bool { return j.Status.Final() })
	t.Logf("rescued and finished %s after the kill (lease 2s, poll 100ms)", time.Since(killed).Round(time.Millisecond))
	if done.Status != report.StatusSucceeded || done.Attempts != 2 || *done.Result != "the second attempt's report" {
		t.Fatalf("after the kill: status %s attempts %d result %q", done.Status, done.Attempts, deref(done.Result))
	}
	reqs := f.Requests()
	if n := len(reqs); n != 2 {
		t.Fatalf("the provider saw %d requests, want 2 (one per attempt)", n)
	}
	t.Logf("R1: the second attempt reached the provider %s after the kill", reqs[1].Start.Sub(killed).Round(time.Millisecond))
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// Race: four worker processes, 200 jobs: each is run and completed exactly
// once, and every result is its own job's.
func TestFourWorkerProcessesTwoHundredJobs(t *testing.T) {
	t.Parallel()
	p, f := fork(t), newFake(t)
	started(f, func(prompt string, _ int) fakellm.Script { return fakellm.Instant("report for " + prompt) })
	for range 4 {
		start(t, engineEnv(p, f, map[string]string{"MODE": "worker", "WORKER_CONCURRENCY": "8", "PER_USER_RUNNING_LIMIT": "0"}))
	}
	s := storeFor(t, p)
	users := make([]report.Caller, 10)
	for i := range users {
		users[i] = caller(t, p)
	}
	type made struct {
		c      report.Caller
		id     string
		prompt string
	}
	var jobs []made
	for i := range 200 {
		c := users[i%len(users)]
		prompt := fmt.Sprintf("job number %d", i)
		j, _, err := s.Create(context.Background(), c, newJob(prompt))
		if err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, made{c, j.JobID, prompt})
	}
	for _, m := range jobs {
		j := waitJob(t, s, m.c, m.id, 60*time.Second, func(j report.Job) bool { return j.Status.Final() })
		if j.Status != report.StatusSucceeded || j.Attempts != 1 || deref(j.Result) != "report for "+m.prompt {
			t.Fatalf("%s: status %s attempts %d result %q", m.id, j.Status, j.Attempts, deref(j.Result))
		}
	}
	seen := map[string]int{}
	for _, r := range f.Requests() {
		seen[r.Prompt]++
	}
	if len(seen) != 200 {
		t.Fatalf("the provider saw %d distinct prompts, want 200", len(seen))
	}
	for prompt, n := range seen {
		if n != 1 {
			t.Fatalf("%q was generated %d times", prompt, n)
		}
	}
}

// R4 across processes: the job runs in a worker process; the cancel is made
// elsewhere (here through the Data API as the old browser code does). The
// worker's next write sees it and closes the provider stream.
func TestCancelSeenByAnotherProcess(t *testing.T) {
	t.Parallel()
	p, f := fork(t), newFake(t)
	calls := started(f, func(string, int) fakellm.Script {
		return fakellm.Stream(strings.Repeat("words ", 400), 400, 50*time.Millisecond)
	})
	start(t, engineEnv(p, f, map[string]string{"MODE": "worker", "HEARTBEAT_INTERVAL": "1s"}))
	s, c := storeFor(t, p), caller(t, p)
	j, _, err := s.Create(context.Background(), c, newJob("cancel me"))
	if err != nil {
		t.Fatal(err)
	}
	receive(t, calls, 10*time.Second)
	waitJob(t, s, c, j.JobID, 10*time.Second, func(j report.Job) bool { return j.Percent > 0 })
	if _, err := s.Cancel(context.Background(), c, j.JobID); err != nil {
		t.Fatal(err)
	}
	cancelled := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := f.WaitFor(ctx, func(r fakellm.Request) bool { return r.ClientClosed })
	if err != nil {
		t.Fatalf("the stream was never closed: %v", err)
	}
	took := req.ClientClosedAt.Sub(cancelled)
	t.Logf("stream closed %s after the cancel (heartbeat 1s, progress writes every 1s)", took.Round(time.Millisecond))
	if took > 1500*time.Millisecond {
		t.Fatalf("the stream closed %s after the cancel; one heartbeat is 1s", took)
	}
	final := waitJob(t, s, c, j.JobID, 5*time.Second, func(j report.Job) bool { return j.Result != nil })
	if final.Status != report.StatusCancelled || !strings.HasPrefix(*final.Result, "words") {
		t.Fatalf("after cancel: status %s result %q", final.Status, deref(final.Result))
	}
}

// SIGTERM with jobs running: the short one finishes within the grace
// period, the long one is handed back, the process exits 0.
func TestSIGTERMFinishesOrReleases(t *testing.T) {
	t.Parallel()
	p, f := fork(t), newFake(t)
	calls := started(f, func(prompt string, _ int) fakellm.Script {
		if prompt == "short" {
			return fakellm.Stream("a b c d e f", 6, 200*time.Millisecond)
		}
		return fakellm.Stream(strings.Repeat("long ", 300), 300, 100*time.Millisecond)
	})
	proc := start(t, engineEnv(p, f, map[string]string{"SHUTDOWN_GRACE": "3s"}))
	s, c := storeFor(t, p), caller(t, p)
	short, _, _ := s.Create(context.Background(), c, newJob("short"))
	long, _, _ := s.Create(context.Background(), c, newJob("long"))
	receive(t, calls, 10*time.Second)
	receive(t, calls, 10*time.Second)
	if err := proc.signal(syscall.SIGTERM, 15*time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v (want status 0)", err)
	}
	if j, _ := s.Get(context.Background(), c, short.JobID); j.Status != report.StatusSucceeded {
		t.Fatalf("the short job is %s, want succeeded within the grace period", j.Status)
	}
	if j, _ := s.Get(context.Background(), c, long.JobID); j.Status != report.StatusQueued || j.Attempts != 0 || j.LeaseExpiresAt != nil {
		t.Fatalf("the long job is %s with %d attempts, want released", j.Status, j.Attempts)
	}
	if !strings.Contains(proc.output(), "job released for another worker") {
		t.Fatal("no release was logged")
	}
}

// R2: PostgreSQL restarts while jobs run. The service answers 503 with a
// clear error meanwhile (it does not crash), and every job finishes.
func TestDatabaseRestart(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, err := stack.Start(ctx, stack.Options{}) // a server of its own: it gets stopped
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	f := newFake(t)
	calls := started(f, func(string, int) fakellm.Script {
		return fakellm.Stream(strings.Repeat("text ", 60), 60, 50*time.Millisecond)
	})
	proc := start(t, engineEnv(p, f, map[string]string{"LEASE_DURATION": "10s", "HEARTBEAT_INTERVAL": "1s"}))
	s, c := storeFor(t, p), caller(t, p)
	var ids []string
	for i := range 5 {
		j, _, err := s.Create(context.Background(), c, newJob(fmt.Sprintf("during the restart %d", i)))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.JobID)
	}
	for range ids {
		receive(t, calls, 10*time.Second)
	}
	if err := p.Cluster.StopServer(ctx); err != nil {
		t.Fatal(err)
	}
	down := time.Now()
	r := call(t, "GET", proc.URL+"/api/reportJobsDb?job_id="+ids[0], c.Token, nil)
	if r.status != 503 || r.body["code"] != "unavailable" || r.header.Get("Retry-After") == "" {
		t.Fatalf("while the database is down: %d %s", r.status, r.raw)
	}
	if r := call(t, "GET", proc.URL+"/readyz", "", nil); r.status != 503 {
		t.Fatalf("readyz while down: %d", r.status)
	}
	if r := call(t, "GET", proc.URL+"/healthz", "", nil); r.status != 200 {
		t.Fatalf("healthz while down: %d", r.status)
	}
	// Keep it away long enough for heartbeats and completions to fail.
	time.Sleep(3*time.Second - time.Since(down))
	if err := p.Cluster.StartServer(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("database was down for %s", time.Since(down).Round(time.Millisecond))
	up := time.Now()
	for _, id := range ids {
		j := waitJob(t, s, c, id, 60*time.Second, func(j report.Job) bool { return j.Status.Final() })
		if j.Status != report.StatusSucceeded {
			t.Fatalf("%s ended %s: %v", id, j.Status, deref(j.Error))
		}
	}
	t.Logf("all jobs finished %s after the database returned", time.Since(up).Round(time.Millisecond))
	select {
	case err := <-proc.done:
		proc.done <- err
		t.Fatalf("the service exited during the outage: %v", err)
	default:
	}
}
