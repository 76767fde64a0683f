package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/polaris/reportd/auth"
	"github.com/polaris/reportd/internal/stack"
)

// benchSecret signs the users' tokens of memory-store processes.
const benchSecret = "reportbench-jwt-secret-0123456789abcdef"

// createBody is what every create request sends.
const createBody = `{"prompt":"Write a short report on tea growing in Kenya.","model":"sonar","max_tokens":200}`

// apiEnv is a reportd process's environment for API measurements on a store
// kind: the API alone (no worker claims the jobs), production logging, and
// a caller rate limit high enough not to be what is measured.
func apiEnv(kind string, p *stack.Stack) map[string]string {
	env := map[string]string{
		"MODE": "api", "LOG_LEVEL": "info",
		"RATE_LIMIT_PER_SECOND": "100000", "RATE_LIMIT_BURST": "1000000",
		// One bench user queues every job; the per-user cap is not what is measured.
		"MAX_QUEUED_PER_USER": "1000000",
		// Jobs name a Perplexity model; no provider is called in API mode.
		"PERPLEXITY_API_KEY": "unused", "PERPLEXITY_BASE_URL": "http://127.0.0.1:9",
	}
	if kind == "memory" {
		env["SUPABASE_JWT_SECRET"] = benchSecret
		return env
	}
	for k, v := range supabaseEnv(p) {
		env[k] = v
	}
	return env
}

func supabaseEnv(p *stack.Stack) map[string]string {
	return map[string]string{
		"SUPABASE_URL": p.URL, "SUPABASE_ANON_KEY": p.AnonKey, "SUPABASE_SERVICE_ROLE_KEY": p.ServiceKey,
		"SUPABASE_JWT_SECRET": string(p.JWTSecret), "SUPABASE_JWKS_URL": "none",
	}
}

// apiTarget is a running API with a user and one of their jobs.
type apiTarget struct {
	proc  *proc
	token string
	jobID string
	close func()
}

func (e *Env) startAPI(ctx context.Context, kind, gogc string) (*apiTarget, error) {
	var p *stack.Stack
	var token string
	closeAll := func() {}
	if kind == "memory" {
		var err error
		if token, err = memoryToken(); err != nil {
			return nil, err
		}
	} else {
		var err error
		if p, err = e.Project.Fork(ctx, stack.Options{MaxConns: 40}); err != nil {
			return nil, err
		}
		closeAll = func() { p.Close() }
		if _, token, err = p.NewUser(ctx); err != nil {
			closeAll()
			return nil, err
		}
	}
	env := apiEnv(kind, p)
	if gogc != "" {
		env["GOGC"] = gogc
	}
	proc, err := e.startProc(ctx, env)
	if err != nil {
		closeAll()
		return nil, err
	}
	t := &apiTarget{proc: proc, token: token, close: func() { proc.stop(); closeAll() }}
	if t.jobID, err = t.create(); err != nil {
		t.close()
		return nil, err
	}
	return t, nil
}

// memoryToken is a fresh user's token for a memory-store process.
func memoryToken() (string, error) {
	return auth.MintUserToken([]byte(benchSecret), uuid.NewString(), "bench@example.com", 24*time.Hour, time.Now())
}

func (t *apiTarget) create() (string, error) {
	req, _ := http.NewRequest("POST", t.proc.URL+"/v1/jobs", strings.NewReader(createBody))
	req.Header.Set("Authorization", "Bearer "+t.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		JobID string `json:"job_id"`
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(body, &out) != nil {
		return "", fmt.Errorf("create: %d %s", resp.StatusCode, body)
	}
	return out.JobID, nil
}

func (t *apiTarget) statusTarget() vegeta.Target {
	return vegeta.Target{Method: "GET", URL: t.proc.URL + "/v1/jobs/" + t.jobID,
		Header: http.Header{"Authorization": {"Bearer " + t.token}}}
}

func (t *apiTarget) createTarget() vegeta.Target {
	return vegeta.Target{Method: "POST", URL: t.proc.URL + "/v1/jobs", Body: []byte(createBody),
		Header: http.Header{"Authorization": {"Bearer " + t.token}, "Content-Type": {"application/json"}}}
}

// load is what one attack came to.
type load struct {
	ok, errors int
	rate       float64 // successful requests per second
	latencies  []time.Duration
	took       time.Duration
}

// add is the two loads as one: the rate over both runs' time.
func (l load) add(o load) load {
	l.ok, l.errors, l.took = l.ok+o.ok, l.errors+o.errors, l.took+o.took
	l.latencies = append(l.latencies, o.latencies...)
	l.rate = float64(l.ok) / l.took.Seconds()
	return l
}

// attack sends target at rate per second (0: as fast as the connections
// allow) for d, and collects every result.
func attack(target vegeta.Target, rate, connections int, d time.Duration) load {
	a := vegeta.NewAttacker(vegeta.Workers(uint64(connections)), vegeta.MaxWorkers(uint64(connections)),
		vegeta.Connections(connections), vegeta.KeepAlive(true), vegeta.Timeout(30*time.Second))
	began := time.Now()
	var l load
	for r := range a.Attack(vegeta.NewStaticTargeter(target), vegeta.Rate{Freq: rate, Per: time.Second}, d, "bench") {
		l.latencies = append(l.latencies, r.Latency)
		if r.Code >= 200 && r.Code < 300 && r.Error == "" {
			l.ok++
		} else {
			l.errors++
		}
	}
	l.took = time.Since(began)
	l.rate = float64(l.ok) / l.took.Seconds()
	return l
}

// APIThroughput measures an endpoint through the real service over
// loopback: the throughput when connections send as fast as they can, with
// its latency percentiles and the server's CPU time per request (what the
// load generator, sharing the cores, does not cost the service), then the
// latency at a fixed rate. P4 is the status read on the memory store.
// gogc, when set, is the process's GOGC (to price a smaller GC target).
func APIThroughput(kind, op string, fixedRate int, gogc string) Scenario {
	name := fmt.Sprintf("API %s (%s)", op, kind)
	if gogc != "" {
		name = fmt.Sprintf("API %s (%s, GOGC=%s)", op, kind, gogc)
	}
	return Scenario{Name: name, Run: func(ctx context.Context, env *Env) ([]Metric, error) {
		t, err := env.startAPI(ctx, kind, gogc)
		if err != nil {
			return nil, err
		}
		defer t.close()
		target := t.statusTarget()
		if op == "create" {
			target = t.createTarget()
		}
		d := time.Duration(env.size(10, 3)) * time.Second
		attack(target, 0, 50, time.Second) // warm up connections, caches and the heap
		cpu0, err := t.proc.cpuSeconds()
		if err != nil {
			return nil, err
		}
		profiled := t.proc.cpuProfile(env.ProfileDir, fmt.Sprintf("api-%s-%s", op, kind), d-time.Second)
		peak := attack(target, 0, 50, d)
		if err := <-profiled; err != nil {
			return nil, err
		}
		cpu1, err := t.proc.cpuSeconds()
		if err != nil {
			return nil, err
		}
		fixed := attack(target, fixedRate, 50, d)
		cpuPerReq := (cpu1 - cpu0) / float64(max(peak.ok+peak.errors, 1))
		env.logf("  %s %s: %.0f req/s at saturation, %.0f µs server CPU per request", kind, op, peak.rate, cpuPerReq*1e6)
		return []Metric{
			{Name: "throughput at saturation (50 connections)", Value: peak.rate, Unit: "req/s"},
			{Name: "p50 at saturation", Value: Percentile(peak.latencies, 50), Unit: "ms"},
			{Name: "p99 at saturation", Value: Percentile(peak.latencies, 99), Unit: "ms"},
			{Name: "server CPU per request", Value: cpuPerReq * 1e6, Unit: "µs"},
			{Name: "server capacity on 2 cores (2 s of CPU per s / CPU per request)", Value: 2 / cpuPerReq, Unit: "req/s"},
			{Name: fmt.Sprintf("p50 at %d req/s", fixedRate), Value: Percentile(fixed.latencies, 50), Unit: "ms"},
			{Name: fmt.Sprintf("p99 at %d req/s", fixedRate), Value: Percentile(fixed.latencies, 99), Unit: "ms"},
			{Name: "errors", Value: float64(peak.errors + fixed.errors), Unit: "requests"},
		}, nil
	}}
}
