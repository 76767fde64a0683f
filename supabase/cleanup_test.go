package supabase_test

import (
	"context"
	"testing"
	"time"

	"github.com/polaris/reportd/report"
)

// Only one caller cleans up at a time: while another session does (holds
// the cleanup lock), a call returns 0 at once instead of waiting or doing
// the work twice.
func TestCleanupRunsOneAtATime(t *testing.T) {
	ctx := context.Background()
	p, err := project.Fork(ctx, stackOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	s := storeOf(t, p)
	id, token, err := p.NewUser(ctx)
	if err != nil {
		t.Fatal(err)
	}
	u := report.Caller{UserID: id, Role: report.RoleUser, Token: token}
	j, _, err := s.Create(ctx, u, report.NewJob{JobID: report.NewJobID(time.Now()), Prompt: "p", Model: "demo",
		Temperature: 0.2, MaxTokens: 10, MaxAttempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DB.Exec(ctx, `update public.report_jobs set expires_at = now() - interval '1 day' where job_id = $1`, j.JobID); err != nil {
		t.Fatal(err)
	}

	tx, err := p.DB.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `select pg_advisory_xact_lock(hashtext('public.cleanup_expired_report_jobs'))`); err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	n, err := s.Cleanup(ctx)
	if err != nil || n != 0 {
		t.Fatalf("cleanup while another runs: %d %v, want 0", n, err)
	}
	if waited := time.Since(started); waited > 2*time.Second {
		t.Fatalf("cleanup waited %s for the other run", waited)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Cleanup(ctx); err != nil || n != 1 {
		t.Fatalf("cleanup afterwards: %d %v, want 1", n, err)
	}
}
