package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/polaris/reportd/internal/fakellm"
	"github.com/polaris/reportd/internal/stack"
)

// The tenant-attack suite: what hostile users did to the service and to
// its database (the issue "Hostile tenants"), each replayed against the
// built binary and the Supabase stand-in, with the defence asserted.

// counted is a proxy in front of a project's Data API that counts the
// requests reportd makes, by path.
type counted struct {
	URL  string
	mu   sync.Mutex
	hits map[string]int
}

func countRequests(t *testing.T, p *stack.Stack) *counted {
	t.Helper()
	target, _ := url.Parse(p.URL)
	c := &counted{hits: map[string]int{}}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.hits[r.URL.Path]++
		c.mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c.URL = srv.URL
	return c
}

// reads counts the requests made to the jobs table and the job reads.
func (c *counted) reads() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits["/rest/v1/report_jobs"] + c.hits["/rest/v1/rpc/get_report_job"]
}

func (c *counted) get(path string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits[path]
}

// dataAPI sends one request to the project's Data API as a signed-in user,
// the way a hostile user would, without the service in the path.
func dataAPI(t *testing.T, p *stack.Stack, token, method, path, body string, headers ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, p.URL+"/rest/v1/"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("apikey", p.AnonKey)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// 2. Limits bypassed: whatever path a job comes by (the Data API's insert,
// RPC create_report_job), the database refuses what the API refuses, with
// a clear error; a made-up model is failed before any provider call.
func TestTenantDatabaseEnforcesLimits(t *testing.T) {
	t.Parallel()
	p := fork(t)
	fake := newFake(t)
	env := engineEnv(p, fake, map[string]string{"WORKER_POLL_INTERVAL": "50ms"})
	svc := start(t, env)
	_, token := user(t, p)
	deep := strings.Repeat(`{"a":`, 5000) + "1" + strings.Repeat("}", 5000)
	forty := strings.Repeat(`{"a":`, 40) + "1" + strings.Repeat("}", 40)
	huge := `{"blob":"` + strings.Repeat("x", 3<<20) + `"}`
	cases := []struct {
		name, row, want string
		status          int
	}{
		{"a 2,000,000-character prompt", `{"prompt":"` + strings.Repeat("p", 2_000_000) + `"}`, "prompt is 2000000 characters long", 413},
		{"max_tokens 2147483647", `{"prompt":"p","max_tokens":2147483647,"model":"sonar-deep-research"}`, "max_tokens must be between 1 and 32000", 400},
		{"3 MB of metadata", `{"prompt":"p","metadata":` + huge + `}`, "metadata is", 413},
		{"metadata nested 5,000 deep", `{"prompt":"p","metadata":` + deep + `}`, "metadata is 35001 bytes", 413},
		{"metadata nested 40 deep", `{"prompt":"p","metadata":` + forty + `}`, "nested more than 32 levels", 400},
		{"a 100,000-character job_id", `{"prompt":"p","job_id":"` + strings.Repeat("j", 100_000) + `"}`, "job_id must be 1 to 128", 400},
	}
	for _, c := range cases {
		t.Run("insert/"+c.name, func(t *testing.T) {
			row := c.row
			if !strings.Contains(row, `"job_id"`) {
				row = `{"job_id":"job_1_` + fmt.Sprint(time.Now().UnixNano()) + `",` + row[1:]
			}
			code, body := dataAPI(t, p, token, "POST", "report_jobs", row)
			if code != c.status || !strings.Contains(body, c.want) {
				t.Fatalf("Data API insert: %d %.300s, want %d mentioning %q", code, body, c.status, c.want)
			}
		})
	}
	// RPC: max_attempts 20 and a huge prompt through create_report_job.
	for name, args := range map[string]string{
		"max_attempts 20": `{"p_job_id":"job_1_rpc_attempts","p_prompt":"p","p_model":"sonar","p_max_attempts":20}`,
		"a huge prompt":   `{"p_job_id":"job_1_rpc_prompt","p_prompt":"` + strings.Repeat("p", 2_000_000) + `","p_model":"sonar"}`,
	} {
		code, body := dataAPI(t, p, token, "POST", "rpc/create_report_job", args)
		if code < 400 || code >= 500 || (!strings.Contains(body, "max_attempts must be between 1 and") && !strings.Contains(body, "prompt is")) {
			t.Errorf("RPC %s: %d %.300s", name, code, body)
		}
	}
	// A model nobody serves is accepted into the table (the database does not
	// know the service's providers) but fails before any provider call.
	code, body := dataAPI(t, p, token, "POST", "report_jobs", `{"job_id":"job_1_madeup","prompt":"p","model":"gpt-made-up-9"}`)
	if code != http.StatusCreated {
		t.Fatalf("insert with a made-up model: %d %s", code, body)
	}
	r := await(t, svc.URL, token, "job_1_madeup", 20*time.Second)
	if r.body["status"] != "failed" || !strings.Contains(fmt.Sprint(r.body["error"]), "gpt-made-up-9") {
		t.Fatalf("the made-up model's job: %s", r.raw)
	}
	if n := len(fake.Requests()); n != 0 {
		t.Fatalf("the provider got %d requests for jobs that should never reach it", n)
	}
	var rows int
	if err := p.DB.QueryRow(context.Background(), `select count(*) from public.report_jobs`).Scan(&rows); err != nil || rows != 1 {
		t.Fatalf("%d rows stored (%v), want only the made-up model's", rows, err)
	}
}

// 1. Starvation: a user's flood of waiting jobs does not keep anyone
// else's job waiting, and slots do not sit idle while others' jobs wait.
func TestTenantFloodDoesNotStarveOthers(t *testing.T) {
	t.Parallel()
	p := fork(t)
	fake := newFake(t)
	fake.SetDefault(fakellm.Stream(strings.Repeat("word ", 20), 20, 25*time.Millisecond)) // ~0.5 s a job
	env := engineEnv(p, fake, map[string]string{"WORKER_POLL_INTERVAL": "200ms", "WORKER_CONCURRENCY": "16",
		"PER_USER_RUNNING_LIMIT": "4", "MAX_QUEUED_PER_USER": "20000"})
	flooder, _ := user(t, p)
	// 10,000 waiting jobs of one user, loaded as an operator script would.
	tx, err := p.DB.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(context.Background(), `set local reportd.bypass_limits = on`); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(context.Background(), `insert into public.report_jobs
		(job_id, user_id, status, model, prompt, temperature, max_tokens, created_at)
		select 'job_1_flood_' || g, $1, 'queued', 'sonar', 'flood', 0.2, 50, now() - interval '1 hour' + g * interval '1 ms'
		  from generate_series(1, 10000) g`, flooder); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	svc := start(t, env)
	var victims []string
	for range 3 {
		_, token := user(t, p)
		for range 4 {
			victims = append(victims, create(t, svc.URL, token, map[string]any{"prompt": "victim", "model": "sonar"}))
		}
	}
	// Every victim's job starts within one poll interval plus one job's
	// duration of being created (claims take the oldest job of every user
	// before anyone's second), and 16 slots run at once: 4 of the flooder's
	// and all 12 of the others'.
	deadline := time.Now().Add(30 * time.Second)
	var maxRunning, startedLate int
	var worst time.Duration
	for time.Now().Before(deadline) {
		var running, waiting int
		var late time.Duration
		if err := p.DB.QueryRow(context.Background(), `select count(*) filter (where status = 'running'),
			count(*) filter (where job_id = any($1) and started_at is null),
			coalesce(max(started_at - created_at) filter (where job_id = any($1)), '0')
			from public.report_jobs`, victims).Scan(&running, &waiting, &late); err != nil {
			t.Fatal(err)
		}
		maxRunning = max(maxRunning, running)
		worst = late
		if waiting == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond) // sampling the table: nothing announces a claim to this test
	}
	t.Logf("victims' jobs started at most %s after creation; at most %d jobs ran at once", worst, maxRunning)
	if worst > 200*time.Millisecond+2*time.Second {
		startedLate++
	}
	if startedLate > 0 {
		t.Fatalf("a victim's job started %s after it was created, want within a poll interval plus one job's duration", worst)
	}
	if maxRunning < 16 {
		t.Fatalf("at most %d jobs ran at once with 16 slots and 16 claimable jobs (4 of the flooder's under its limit)", maxRunning)
	}
}

// 1b. The queue cap: one Data API request inserting 600 jobs is refused as a
// whole, with a clear error, and the API says 429.
func TestTenantQueueCap(t *testing.T) {
	t.Parallel()
	p := fork(t)
	env := supabaseEnv(p)
	env["MODE"], env["MAX_QUEUED_PER_USER"], env["RATE_LIMIT_PER_SECOND"] = "api", "50", "0"
	svc := start(t, env)
	_, token := user(t, p)
	var rows []string
	for i := range 600 {
		rows = append(rows, fmt.Sprintf(`{"job_id":"job_1_bulk_%d","prompt":"p"}`, i))
	}
	code, body := dataAPI(t, p, token, "POST", "report_jobs", "["+strings.Join(rows, ",")+"]")
	if code != http.StatusTooManyRequests || !strings.Contains(body, "the limit is 50") {
		t.Fatalf("600 jobs in one insert: %d %.300s", code, body)
	}
	for range 50 {
		create(t, svc.URL, token, map[string]any{"prompt": "p", "model": "demo"})
	}
	r := call(t, "POST", svc.URL+"/v1/jobs", token, map[string]any{"prompt": "one more", "model": "demo"})
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" || !strings.Contains(r.raw, "the limit is 50") {
		t.Fatalf("the 51st waiting job through the API: %d %s", r.status, r.raw)
	}
}

// 4. Real tokens from the dev route: with SUPABASE_JWT_SECRET set the dev
// sign-in does not exist; memory mode listens on loopback only.
func TestTenantDevSignIn(t *testing.T) {
	t.Parallel()
	withSecret := start(t, map[string]string{"SUPABASE_JWT_SECRET": string(project.JWTSecret)})
	if r := call(t, "POST", withSecret.URL+"/v1/dev/token", "", map[string]any{"name": "victim"}); r.status != http.StatusNotFound {
		t.Fatalf("dev sign-in with the project's secret configured: %d %s", r.status, r.raw)
	}
	if r := call(t, "GET", withSecret.URL+"/v1/config", "", nil); r.body["auth"] == "dev" {
		t.Fatalf("/v1/config offers a dev sign-in: %s", r.raw)
	}
	throwaway := start(t, map[string]string{})
	if r := call(t, "POST", throwaway.URL+"/v1/dev/token", "", map[string]any{"name": "ada"}); r.status != http.StatusOK {
		t.Fatalf("dev sign-in with a throwaway key: %d %s", r.status, r.raw)
	}
	if !strings.Contains(throwaway.output(), `"addr":"127.0.0.1:`) || !strings.Contains(throwaway.output(), "dev sign-in") {
		t.Fatalf("the start-up log does not say it listens on loopback only:\n%s", throwaway.output())
	}
	// Reached from another address of this machine, it is not there.
	port := strings.TrimPrefix(throwaway.URL, "http://127.0.0.1:")
	if ip := externalIP(); ip != "" {
		conn, err := net.DialTimeout("tcp", net.JoinHostPort(ip, port), time.Second)
		if err == nil {
			conn.Close()
			t.Fatalf("memory mode answers on %s", ip)
		}
	} else {
		t.Log("no non-loopback address on this machine: only the log line was checked")
	}
}

func externalIP() string {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP.String()
		}
	}
	return ""
}

// 5. Streams cost per user, not per stream: a user's streams are capped,
// and a thousand open streams read the store about as often as one.
func TestTenantStreams(t *testing.T) {
	t.Parallel()
	p := fork(t)
	gw := countRequests(t, p)
	env := supabaseEnv(p)
	env["SUPABASE_URL"], env["MODE"] = gw.URL, "api"
	env["STREAM_MAX_PER_USER"], env["RATE_LIMIT_PER_SECOND"], env["STREAM_POLL_INTERVAL"] = "1000", "0", "200ms"
	svc := start(t, env)
	_, token := user(t, p)
	create(t, svc.URL, token, map[string]any{"prompt": "p", "model": "demo"})

	open := func(n int) func() {
		var closers []func()
		for range n {
			req, _ := http.NewRequest("GET", svc.URL+"/v1/events", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			ctx, cancel := context.WithCancel(context.Background())
			resp, err := http.DefaultClient.Do(req.WithContext(ctx))
			if err != nil || resp.StatusCode != http.StatusOK {
				cancel()
				t.Fatalf("opening a stream: %v %v", err, resp)
			}
			go func() { _, _ = io.Copy(io.Discard, bufio.NewReader(resp.Body)) }()
			closers = append(closers, func() { cancel(); resp.Body.Close() })
		}
		return func() {
			for _, c := range closers {
				c()
			}
		}
	}
	measure := func() float64 {
		before := gw.reads()
		time.Sleep(3 * time.Second) // a window to count the reads in; there is nothing to wait for
		return float64(gw.reads()-before) / 3
	}
	closeOne := open(1)
	one := measure()
	closeOne()
	closeMany := open(1000)
	many := measure()
	t.Logf("store reads per second: 1 stream %.1f, 1,000 streams %.1f", one, many)
	if many > 2*one+2 {
		t.Fatalf("1,000 streams cost %.1f store reads per second where one cost %.1f", many, one)
	}
	closeMany()

	capped := map[string]string{}
	for k, v := range env {
		capped[k] = v
	}
	capped["STREAM_MAX_PER_USER"] = "3"
	svc2 := start(t, capped)
	closeThree := func() func() {
		var cs []func()
		for range 3 {
			req, _ := http.NewRequest("GET", svc2.URL+"/v1/events", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			ctx, cancel := context.WithCancel(context.Background())
			resp, err := http.DefaultClient.Do(req.WithContext(ctx))
			if err != nil || resp.StatusCode != http.StatusOK {
				cancel()
				t.Fatalf("stream under the cap: %v %v", err, resp)
			}
			go func() { _, _ = io.Copy(io.Discard, resp.Body) }()
			cs = append(cs, func() { cancel(); resp.Body.Close() })
		}
		return func() {
			for _, c := range cs {
				c()
			}
		}
	}()
	defer closeThree()
	if r := call(t, "GET", svc2.URL+"/v1/events", token, nil); r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Fatalf("a fourth stream: %d %s", r.status, r.raw)
	}
}

// 6. /readyz is public: however often it is asked, it reads the store about
// once a second.
func TestTenantReadinessIsCached(t *testing.T) {
	t.Parallel()
	p := fork(t)
	gw := countRequests(t, p)
	env := supabaseEnv(p)
	env["SUPABASE_URL"], env["MODE"] = gw.URL, "api"
	svc := start(t, env)
	before := gw.get("/rest/v1/report_jobs")
	var wg sync.WaitGroup
	var ok atomic.Int64
	started := time.Now()
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if r := call(t, "GET", svc.URL+"/readyz", "", nil); r.status == http.StatusOK {
					ok.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	secs := time.Since(started).Seconds()
	pings := gw.get("/rest/v1/report_jobs") - before
	t.Logf("400 readiness requests in %.1f s made %d store pings", secs, pings)
	if ok.Load() != 400 || float64(pings) > secs+2 {
		t.Fatalf("%d of 400 readiness answers were 200; %d store pings in %.1f s", ok.Load(), pings, secs)
	}
}
