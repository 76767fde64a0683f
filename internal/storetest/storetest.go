// Package storetest is the conformance suite every job store must pass: the
// in-memory store and the Supabase store (through the PostgREST-compatible
// gateway over real PostgreSQL) are held to the same behaviour, which is the
// behaviour of the SQL functions in migrations/.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/polaris/reportd/report"
)

// Harness is what the suite needs from a store under test.
type Harness struct {
	Store report.Store
	Queue report.Queue
	// NewUser creates a user the store knows and returns a caller for them.
	NewUser func(t *testing.T) report.Caller
	// Service returns a service caller acting for user.
	Service func(user report.Caller) report.Caller
	// Shift moves a timestamp column of a job (created_at, completed_at,
	// expires_at, run_after, lease_expires_at) by d, as if time had passed.
	Shift func(t *testing.T, jobID, column string, d time.Duration)
	// Outbox is the store's webhook outbox (its tests are skipped when nil).
	Outbox report.Outbox
	// ShiftDelivery moves a timestamp column of a delivery
	// (next_attempt_at, lease_expires_at) by d.
	ShiftDelivery func(t *testing.T, deliveryID, column string, d time.Duration)
	// Monitor reads the queue depth (its tests are skipped when nil).
	Monitor report.Monitor
	// SetBudget gives a user limits of their own (0: the default): tokens
	// and cost per day, and waiting jobs.
	SetBudget func(t *testing.T, user report.Caller, dailyTokens int64, dailyCost float64, maxQueued int)
}

// Run runs every conformance test against the harness.
func Run(t *testing.T, h Harness) {
	t.Run("jobs", func(t *testing.T) { runJobs(t, h) })
	t.Run("queue", func(t *testing.T) { runQueue(t, h) })
	t.Run("tenants", func(t *testing.T) { runTenants(t, h) })
	if h.Outbox != nil {
		t.Run("outbox", func(t *testing.T) { runOutbox(t, h) })
	}
	t.Run("operator statistics", func(t *testing.T) { runOperator(t, h) })
	if h.Monitor != nil {
		t.Run("queue depth", func(t *testing.T) { runMonitor(t, h) })
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// newJob is a valid job to create; each call gets a fresh job id.
func newJob(mods ...func(*report.NewJob)) report.NewJob {
	in := report.NewJob{
		JobID: report.NewJobID(time.Now()), Prompt: "Write a report on tea.", Model: "demo",
		Temperature: 0.2, MaxTokens: 2600, Metadata: json.RawMessage(`{"report_type":"greeting","n":1}`),
		MaxAttempts: 3,
	}
	for _, m := range mods {
		m(&in)
	}
	return in
}

func create(t *testing.T, h Harness, c report.Caller, mods ...func(*report.NewJob)) report.Job {
	t.Helper()
	j, created, err := h.Store.Create(ctx(t), c, newJob(mods...))
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if !created {
		t.Fatalf("create: expected a new job")
	}
	return j
}

func get(t *testing.T, h Harness, c report.Caller, jobID string) report.Job {
	t.Helper()
	j, err := h.Store.Get(ctx(t), c, jobID)
	if err != nil {
		t.Fatalf("get %s: %v", jobID, err)
	}
	return j
}

func wantErr(t *testing.T, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("got error %v, want %v", err, kind)
	}
}

func metaOf(t *testing.T, j report.Job) map[string]any {
	t.Helper()
	m := map[string]any{}
	if err := json.Unmarshal(j.Metadata, &m); err != nil {
		t.Fatalf("metadata of %s is not an object: %s", j.JobID, j.Metadata)
	}
	return m
}
