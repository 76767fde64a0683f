package legacy_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/polaris/reportd/internal/legacy"
	"github.com/polaris/reportd/internal/stack"
	"github.com/polaris/reportd/llm"
	"github.com/polaris/reportd/report"
	"github.com/polaris/reportd/supabase"
	"github.com/polaris/reportd/worker"
)

var base *stack.Stack

func TestMain(m *testing.M) { os.Exit(stack.Main(m, &base)) }

// seeds is how many random old tables the property test migrates:
// REPORTD_LEGACY_SEEDS raises it (a seed that fails is named, so it can be
// run alone with REPORTD_LEGACY_SEED).
func seeds(t *testing.T) []uint64 {
	if s := os.Getenv("REPORTD_LEGACY_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("REPORTD_LEGACY_SEED: %v", err)
		}
		return []uint64{n}
	}
	count := 6
	if s := os.Getenv("REPORTD_LEGACY_SEEDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("REPORTD_LEGACY_SEEDS must be a positive number, got %q", s)
		}
		count = n
	}
	out := make([]uint64, count)
	start := uint64(time.Now().UnixNano())
	for i := range out {
		out[i] = start + uint64(i)
	}
	return out
}

// fingerprint is what must survive the upgrade of one row unchanged.
type fingerprint struct {
	user, prompt, result, model string
}

func fingerprints(ctx context.Context, db *pgxpool.Pool) (map[string]fingerprint, error) {
	rows, err := db.Query(ctx, `select job_id, coalesce(user_id::text, '-'), coalesce(md5(prompt), '-'), coalesce(md5(result), '-'),
		coalesce(model, '-') from public.report_jobs`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]fingerprint{}
	for rows.Next() {
		var id string
		var f fingerprint
		if err := rows.Scan(&id, &f.user, &f.prompt, &f.result, &f.model); err != nil {
			return nil, err
		}
		out[id] = f
	}
	return out, rows.Err()
}

// Property: whatever the old table holds, the migrations apply, no row is
// lost or changed in what it says, every row keeps the new rules, the
// engine runs new jobs next to the old ones, and the old browser calls
// answer as they did.
func TestMigrationsOverRandomOldTables(t *testing.T) {
	t.Parallel()
	for _, seed := range seeds(t) {
		t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) {
			t.Parallel()
			upgrade(t, seed)
		})
	}
}

func upgrade(t *testing.T, seed uint64) {
	ctx := context.Background()
	table := legacy.Generate(seed, legacy.Options{Rows: 250})
	var before map[string]fingerprint
	p, err := base.Fork(ctx, stack.Options{BeforeMigrations: func(ctx context.Context, super string) error {
		if err := legacy.Install(ctx, super, table); err != nil {
			return err
		}
		db, err := pgxpool.New(ctx, super)
		if err != nil {
			return err
		}
		defer db.Close()
		before, err = fingerprints(ctx, db)
		return err
	}})
	if err != nil {
		t.Fatalf("seed %d: the migrations failed on the old table: %v", seed, err)
	}
	t.Cleanup(func() { _ = p.Close() })

	after, err := fingerprints(ctx, p.DB)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) || len(before) != len(table.Rows) {
		t.Fatalf("seed %d: %d rows generated, %d before, %d after the upgrade", seed, len(table.Rows), len(before), len(after))
	}
	for id, f := range before {
		if after[id] != f {
			t.Fatalf("seed %d: row %s changed: %+v -> %+v", seed, id, f, after[id])
		}
	}
	checkRules(t, p, seed)
	runEngine(t, p, table, seed)
	oldCalls(t, p, table, seed)
}

// checkRules: the rules hold for every row, validated by the database.
func checkRules(t *testing.T, p *stack.Stack, seed uint64) {
	t.Helper()
	var invalid, orphans, promptless, nonObjects int
	err := p.DB.QueryRow(context.Background(), `select
		(select count(*) from pg_constraint where conrelid = 'public.report_jobs'::regclass
		  and conname in ('report_jobs_user_id_required', 'report_jobs_limits') and not convalidated),
		count(*) filter (where user_id is null and status in ('queued', 'running')),
		count(*) filter (where status in ('queued', 'running') and coalesce(btrim(prompt), '') = ''),
		count(*) filter (where jsonb_typeof(metadata) <> 'object' or metadata ? 'attempt_history')
		from public.report_jobs`).Scan(&invalid, &orphans, &promptless, &nonObjects)
	if err != nil {
		t.Fatal(err)
	}
	if invalid != 0 || orphans != 0 || promptless != 0 || nonObjects != 0 {
		t.Fatalf("seed %d: %d rules not validated, %d ownerless and %d promptless active jobs, %d odd metadata values",
			seed, invalid, orphans, promptless, nonObjects)
	}
}

// runEngine: a worker with the offline demo model runs every job the old
// table left claimable and a new one; no claim fails or refuses a row.
func runEngine(t *testing.T, p *stack.Stack, table legacy.Table, seed uint64) {
	t.Helper()
	s, err := supabase.New(supabase.Config{URL: p.URL, AnonKey: p.AnonKey, ServiceKey: p.ServiceKey})
	if err != nil {
		t.Fatal(err)
	}
	token, err := p.Token(table.Users[0])
	if err != nil {
		t.Fatal(err)
	}
	u := report.Caller{UserID: table.Users[0], Role: report.RoleUser, Token: token}
	fresh, _, err := s.Create(context.Background(), u, report.NewJob{JobID: report.NewJobID(time.Now()), Prompt: "after the upgrade",
		Model: "demo", Temperature: 0.2, MaxTokens: 100, MaxAttempts: 3})
	if err != nil {
		t.Fatalf("seed %d: creating a job after the upgrade: %v", seed, err)
	}
	// Every model runs on the demo generator: the property is about the
	// engine and the rows, not about providers.
	gen := demoEverything{llm.Demo{}}
	w := worker.New(worker.Config{Concurrency: 8, PollInterval: 20 * time.Millisecond, Lease: 5 * time.Second,
		RetryBase: time.Millisecond, RetryMax: 5 * time.Millisecond}, s, gen, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	defer func() { cancel(); <-done }()

	deadline := time.Now().Add(60 * time.Second)
	for {
		var left int
		if err := p.DB.QueryRow(context.Background(), `select count(*) from public.report_jobs
			where status in ('queued', 'running') and (expires_at is null or expires_at > now())`).Scan(&left); err != nil {
			t.Fatal(err)
		}
		if left == 0 {
			break
		}
		if err := w.Healthy(ctx); err != nil {
			t.Fatalf("seed %d: the worker's claims fail: %v", seed, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("seed %d: %d jobs still active after a minute", seed, left)
		}
		time.Sleep(50 * time.Millisecond) // polling the table: nothing announces "all done"
	}
	j, err := s.Get(context.Background(), u, fresh.JobID)
	if err != nil || j.Status != report.StatusSucceeded {
		t.Fatalf("seed %d: the new job: %+v %v", seed, j, err)
	}
	var quarantined int
	if err := p.DB.QueryRow(context.Background(), `select count(*) from public.report_job_quarantine`).Scan(&quarantined); err != nil {
		t.Fatal(err)
	}
	if quarantined != 0 {
		t.Fatalf("seed %d: %d old rows were set aside by a claim", seed, quarantined)
	}
}

// demoEverything answers every model with the demo report.
type demoEverything struct{ llm.Demo }

func (d demoEverything) Generate(ctx context.Context, pr report.Prompt, emit func(report.Delta)) (report.Output, error) {
	pr.Model = "demo"
	return d.Demo.Generate(ctx, pr, emit)
}

// oldCalls: an owner of old rows reads them all with select('*'), queues a
// job the way createReportJob did and cancels it the way the monitor did.
func oldCalls(t *testing.T, p *stack.Stack, table legacy.Table, seed uint64) {
	t.Helper()
	uid := table.Users[1]
	token, err := p.Token(uid)
	if err != nil {
		t.Fatal(err)
	}
	code, body := dataAPI(t, p, token, "GET", "report_jobs?select=*&user_id=eq."+uid+"&order=created_at.desc&limit=1000", nil, "", "")
	var mine []map[string]any
	if code != http.StatusOK || json.Unmarshal(body, &mine) != nil {
		t.Fatalf("seed %d: getUserReportJobs: %d %s", seed, code, body)
	}
	want := 0
	for _, r := range table.Rows {
		if r.UserID != nil && *r.UserID == uid {
			want++
		}
	}
	if len(mine) != want {
		t.Fatalf("seed %d: the owner sees %d of their %d old jobs", seed, len(mine), want)
	}
	jobID := fmt.Sprintf("job_%d_oldcall%d", time.Now().UnixMilli(), seed%1000)
	code, body = dataAPI(t, p, token, "POST", "report_jobs?select=*", map[string]any{"job_id": jobID, "user_id": uid,
		"status": "queued", "model": "sonar", "prompt": "old call", "percent": 0, "eta_seconds": 90, "metadata": map[string]any{}},
		"return=representation", "application/vnd.pgrst.object+json")
	if code != http.StatusCreated || !strings.Contains(string(body), `"status":"queued"`) {
		t.Fatalf("seed %d: createReportJob: %d %s", seed, code, body)
	}
	code, body = dataAPI(t, p, token, "PATCH", "report_jobs?job_id=eq."+jobID+"&status=in.%28queued%2Crunning%29",
		map[string]any{"status": "cancelled", "completed_at": time.Now().UTC().Format(time.RFC3339)}, "", "")
	if code != http.StatusNoContent {
		t.Fatalf("seed %d: cancelReportJob: %d %s", seed, code, body)
	}
}

func dataAPI(t *testing.T, p *stack.Stack, token, method, path string, body any, prefer, accept string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	req, err := http.NewRequest(method, p.URL+"/rest/v1/"+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("apikey", p.AnonKey)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	if prefer != "" {
		req.Header.Set("Prefer", prefer)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

// The generator covers what the property is about.
func TestGeneratedTablesHoldEveryKindOfRow(t *testing.T) {
	t.Parallel()
	now := time.Now()
	tb := legacy.Generate(7, legacy.Options{Rows: 1000, HugePrompts: 2, Now: now})
	seen := map[string]bool{}
	keys := map[string]map[string]bool{}
	for _, r := range tb.Rows {
		status := "null"
		if r.Status != nil {
			status = *r.Status
		}
		seen["status "+status] = true
		if r.UserID == nil {
			seen["no owner "+status] = true
		}
		if r.Temperature != nil && (*r.Temperature > 2 || *r.Temperature < 0) {
			seen["temperature out of range"] = true
		}
		if r.MaxTokens != nil && *r.MaxTokens <= 0 {
			seen["max_tokens <= 0"] = true
		}
		if r.Metadata == nil {
			seen["metadata NULL"] = true
		} else if !strings.HasPrefix(*r.Metadata, "{") {
			seen["metadata not an object"] = true
		}
		if r.Prompt != nil && len(*r.Prompt) > 1<<20 {
			seen["huge prompt"] = true
		}
		if r.IdempotencyKey != nil {
			owner := "-"
			if r.UserID != nil {
				owner = *r.UserID
			}
			if keys[*r.IdempotencyKey] == nil {
				keys[*r.IdempotencyKey] = map[string]bool{}
			}
			if keys[*r.IdempotencyKey][owner] {
				seen["a key twice for one owner"] = true
			}
			keys[*r.IdempotencyKey][owner] = true
		}
		if r.CreatedAt != nil && time.Since(*r.CreatedAt) < 5*time.Minute {
			seen["minutes old"] = true
		}
		if r.CreatedAt != nil && time.Since(*r.CreatedAt) > 7*24*time.Hour {
			seen["weeks old"] = true
		}
	}
	for k, owners := range keys {
		if len(owners) > 1 {
			seen["a key across owners "+k[:0]] = true
		}
	}
	for _, want := range []string{"status queued", "status running", "status succeeded", "status failed", "status cancelled",
		"status null", "no owner queued", "no owner running", "temperature out of range", "max_tokens <= 0", "metadata NULL",
		"metadata not an object", "huge prompt", "a key twice for one owner", "a key across owners ", "minutes old", "weeks old"} {
		if !seen[want] {
			t.Errorf("no row with %s", want)
		}
	}
	again := legacy.Generate(7, legacy.Options{Rows: 1000, HugePrompts: 2, Now: now})
	if h(t, again) != h(t, tb) {
		t.Fatal("the same seed gave another table")
	}
}

func h(t *testing.T, tb legacy.Table) string {
	b, err := json.Marshal(tb)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
