// Package legacy generates the report_jobs tables the replaced system left
// in real projects, for upgrade tests: rows in every status (and none), of
// every age, with and without an owner, with the values its schema allowed
// and this service's rules do not (temperatures above 2, max_tokens of 0 or
// less, negative ETAs, metadata that is not an object, a forged
// attempt_history), idempotency keys repeated within and across users, and
// huge prompts. A seed makes a table reproducible.
package legacy

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/polaris/reportd/internal/pgtest"
)

//go:embed schema.sql
var schemaFS embed.FS

// Options shape a generated table.
type Options struct {
	Rows        int       // rows to generate (default 300)
	Users       int       // users who own some of them (default 4)
	HugePrompts int       // rows whose prompt is 1-2 MB (default 1; negative: none)
	Now         time.Time // the instant ages are measured from (default time.Now())
}

func (o Options) withDefaults() Options {
	if o.Rows <= 0 {
		o.Rows = 300
	}
	if o.Users <= 0 {
		o.Users = 4
	}
	if o.HugePrompts < 0 {
		o.HugePrompts = 0
	} else if o.HugePrompts == 0 {
		o.HugePrompts = 1
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	return o
}

// Table is one generated old table: its users and summaries, and its rows.
type Table struct {
	Seed      uint64
	Users     []string
	Summaries []string
	Rows      []Row
}

// Row is one row of the old report_jobs; nil is SQL NULL. Metadata is raw
// jsonb text (any JSON value), or nil.
type Row struct {
	JobID          string
	UserID         *string
	SummaryID      *string
	Status         *string
	Model          *string
	Prompt         *string
	Temperature    *float64
	MaxTokens      *int
	Result         *string
	Error          *string
	Percent        *int
	ETASeconds     *int
	IdempotencyKey *string
	Metadata       *string
	CreatedAt      *time.Time
	UpdatedAt      *time.Time
	StartedAt      *time.Time
	CompletedAt    *time.Time
	ExpiresAt      *time.Time
}

// Generate makes a table from seed.
func Generate(seed uint64, opts Options) Table {
	o := opts.withDefaults()
	g := gen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), now: o.Now}
	t := Table{Seed: seed}
	for range o.Users {
		t.Users = append(t.Users, g.uuid())
	}
	for range 3 {
		t.Summaries = append(t.Summaries, g.uuid())
	}
	keys := []string{"greeting:1", "org:5", "requirements:9", "greeting:42", "dynamic_questionnaire:3"}
	for i := range o.Rows {
		row := g.row(i, t, keys)
		if i < o.HugePrompts {
			part := fmt.Sprintf("A very long research request, part %d. ", i)
			huge := strings.Repeat(part, (1+g.r.IntN(2))<<20/len(part)+1)
			row.Prompt = &huge
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

// gen draws the values of one table.
type gen struct {
	r   *rand.Rand
	now time.Time
}

func (g gen) uuid() string {
	var b [16]byte
	for i := range b {
		b[i] = byte(g.r.UintN(256))
	}
	u, _ := uuid.FromBytes(b[:])
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	return u.String()
}

func (g gen) chance(p float64) bool { return g.r.Float64() < p }

func pick[T any](g gen, xs ...T) T { return xs[g.r.IntN(len(xs))] }

func ptr[T any](v T) *T { return &v }

func (g gen) row(i int, t Table, keys []string) Row {
	created := g.age()
	r := Row{JobID: fmt.Sprintf("job_%d_legacy%03d", created.UnixMilli(), i)}
	if g.chance(0.3) { // the old route stored the body's user_id: nearly always none
		r.UserID = ptr(pick(g, t.Users...))
	}
	if g.chance(0.3) {
		r.SummaryID = ptr(pick(g, t.Summaries...))
	}
	if !g.chance(0.05) {
		r.Status = ptr(pick(g, "queued", "running", "succeeded", "succeeded", "succeeded", "failed", "cancelled"))
	}
	if !g.chance(0.05) {
		r.Model = ptr(pick(g, "sonar", "sonar-pro", "sonar-reasoning", "llama-3.1-sonar-small-128k-online", "sonar large", "gpt-4o", ""))
	}
	switch {
	case g.chance(0.03):
	case g.chance(0.03):
		r.Prompt = ptr("   ")
	default:
		r.Prompt = ptr(fmt.Sprintf("Write a report on subject %d. %s", i, strings.Repeat("Context. ", g.r.IntN(50))))
	}
	r.Temperature = g.temperature()
	r.MaxTokens = g.maxTokens()
	r.Percent = ptr(g.r.IntN(101))
	switch {
	case g.chance(0.3):
	case g.chance(0.1):
		r.ETASeconds = ptr(-1 - g.r.IntN(100))
	default:
		r.ETASeconds = ptr(g.r.IntN(200))
	}
	if g.chance(0.4) {
		r.IdempotencyKey = ptr(pick(g, keys...)) // repeats within and across users
	}
	r.Metadata = g.metadata()
	g.times(&r, created)
	if r.Status != nil && *r.Status == "succeeded" && !g.chance(0.1) {
		r.Result = ptr("# Report\n\nWhat the old route stored.")
	}
	if r.Status != nil && *r.Status == "failed" && !g.chance(0.1) {
		r.Error = ptr(pick(g, "Perplexity timeout", "HTTP 500", ""))
	}
	return r
}

// age is a creation time from seconds to two months ago.
func (g gen) age() time.Time {
	var d time.Duration
	switch g.r.IntN(4) {
	case 0:
		d = time.Duration(g.r.IntN(300)) * time.Second
	case 1:
		d = time.Duration(1+g.r.IntN(59)) * time.Minute
	case 2:
		d = time.Duration(1+g.r.IntN(48)) * time.Hour
	default:
		d = time.Duration(1+g.r.IntN(60)) * 24 * time.Hour
	}
	return g.now.Add(-d).Truncate(time.Microsecond)
}

// temperature: numeric(3,2), so within ±9.99; out of 0..2 one time in ten.
func (g gen) temperature() *float64 {
	switch {
	case g.chance(0.05):
		return nil
	case g.chance(0.1):
		return ptr(float64(g.r.IntN(1999)-999) / 100)
	}
	return ptr(float64(g.r.IntN(201)) / 100)
}

func (g gen) maxTokens() *int {
	switch {
	case g.chance(0.05):
		return nil
	case g.chance(0.05):
		return ptr(-g.r.IntN(5000))
	case g.chance(0.02):
		return ptr(2147483647)
	}
	return ptr(100 + g.r.IntN(8000))
}

// metadata: mostly objects (some naming a delivered report), and every
// other JSON value the jsonb column took, SQL NULL, deep nesting, and an
// attempt_history a caller wrote themselves.
func (g gen) metadata() *string {
	var v any
	switch n := g.r.IntN(100); {
	case n < 4:
		return nil
	case n < 7:
		v = nil // jsonb null
	case n < 12:
		v = []any{"not", "an", "object", n}
	case n < 16:
		v = "a string"
	case n < 19:
		v = 42.5
	case n < 21:
		deep := map[string]any{"leaf": true}
		for range 60 {
			deep = map[string]any{"nested": deep}
		}
		v = deep
	case n < 24:
		v = map[string]any{"attempt_history": []any{
			map[string]any{"attempt": "one", "worker": "forged", "error": "x", "ended_at": "yesterday", "rate_limited": true},
			"not an entry", 7,
		}}
	default:
		m := map[string]any{"source": "api", "timestamp": g.now.Format(time.RFC3339)}
		if g.chance(0.5) {
			m["report_type"] = pick(g, "greeting", "org", "requirements", "dynamic_questionnaire", "unknown_kind")
			m["report_id"] = pick[any](g, "17", 17, "", nil)
		}
		v = m
	}
	b, _ := json.Marshal(v)
	return ptr(string(b))
}

// times fills the timestamps around created, with the gaps the old schema
// allowed (NULLs, a completion without a start).
func (g gen) times(r *Row, created time.Time) {
	if !g.chance(0.03) {
		r.CreatedAt = ptr(created)
	}
	since := g.now.Sub(created)
	later := func() time.Time { return created.Add(time.Duration(g.r.Int64N(int64(since) + 1))) }
	if !g.chance(0.03) {
		r.UpdatedAt = ptr(later())
	}
	status := ""
	if r.Status != nil {
		status = *r.Status
	}
	if status != "queued" && g.chance(0.8) {
		r.StartedAt = ptr(later())
	}
	if (status == "succeeded" || status == "failed" || status == "cancelled") && g.chance(0.85) {
		r.CompletedAt = ptr(later())
	}
	switch {
	case g.chance(0.05):
	case g.chance(0.1):
		r.ExpiresAt = ptr(g.now.Add(-time.Hour))
	default:
		r.ExpiresAt = ptr(created.Add(7 * 24 * time.Hour))
	}
}

// Install creates the old schema (migrations' testdata: the table as the
// replaced system created it, its trigger, policies and grants, and
// polaris_summaries) in the database at superURL and stores the table: its
// users in auth.users, its summaries, its rows.
func Install(ctx context.Context, superURL string, t Table) error {
	if err := InstallSchema(ctx, superURL); err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, superURL)
	if err != nil {
		return fmt.Errorf("legacy: connect: %w", err)
	}
	defer conn.Close(context.Background())
	for _, u := range t.Users {
		if _, err := conn.Exec(ctx, `insert into auth.users (id, email) values ($1::uuid, $2)`, u, u+"@example.com"); err != nil {
			return fmt.Errorf("legacy: user: %w", err)
		}
	}
	for _, s := range t.Summaries {
		if _, err := conn.Exec(ctx, `insert into public.polaris_summaries (id, title) values ($1, 'a summary')`, s); err != nil {
			return fmt.Errorf("legacy: summary: %w", err)
		}
	}
	rows := make([][]any, len(t.Rows))
	for i, r := range t.Rows {
		rows[i] = []any{r.JobID, r.UserID, r.SummaryID, r.Status, r.Model, r.Prompt, r.Temperature, r.MaxTokens,
			r.Result, r.Error, r.Percent, r.ETASeconds, r.IdempotencyKey, r.Metadata,
			r.CreatedAt, r.UpdatedAt, r.StartedAt, r.CompletedAt, r.ExpiresAt}
	}
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"public", "report_jobs"}, Columns, pgx.CopyFromRows(rows))
	if err != nil {
		return fmt.Errorf("legacy: rows: %w", err)
	}
	return nil
}

// InstallSchema creates the replaced system's schema, without rows, in the
// database at superURL: its report_jobs table, indexes, trigger, cleanup
// function, policies and the grants Supabase gave every table back then, and
// a polaris_summaries table.
func InstallSchema(ctx context.Context, superURL string) error {
	return pgtest.ApplyFiles(ctx, superURL, schemaFS, []string{"schema.sql"})
}

// Columns are the old table's columns a Row fills, in Row's order.
var Columns = []string{"job_id", "user_id", "summary_id", "status", "model", "prompt", "temperature", "max_tokens",
	"result", "error", "percent", "eta_seconds", "idempotency_key", "metadata",
	"created_at", "updated_at", "started_at", "completed_at", "expires_at"}
