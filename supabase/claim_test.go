package supabase_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/polaris/reportd/report"
)

// A claim never fails as a whole because of one row. Rows whose data makes
// the lease update fail are refused and reported: failed with the reason
// when that is possible, set aside otherwise; the other jobs are claimed
// all the same, and later claims are not bothered by them again.
func TestClaimRefusesRowsItCannotStart(t *testing.T) {
	t.Parallel()
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
	create := func(prompt string) report.Job {
		j, _, err := s.Create(ctx, u, report.NewJob{JobID: report.NewJobID(time.Now()), Prompt: prompt, Model: "demo",
			Temperature: 0.2, MaxTokens: 100, MaxAttempts: 3})
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	first, settled, aside, last := create("fine"), create("poisoned"), create("unmovable"), create("fine too")

	// Data that breaks any update of two rows, as a schema change made by
	// hand (or a row from an older system) might: a trigger that refuses to
	// start one job, and a rule that one row breaks whatever is written.
	for _, sql := range []string{
		`create function public.test_refuse_poison() returns trigger language plpgsql as $$
		 begin
		   if new.prompt = 'poisoned' and new.status = 'running' then
		     raise exception 'this row may not run';
		   end if;
		   return new;
		 end $$`,
		`create trigger test_refuse_poison before update on public.report_jobs
		   for each row execute function public.test_refuse_poison()`,
		`alter table public.report_jobs add constraint test_no_unmovable check (prompt <> 'unmovable') not valid`,
	} {
		if _, err := p.DB.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}

	got, err := s.Claim(ctx, report.ClaimRequest{Worker: "w", Limit: 10, Lease: time.Minute})
	if err != nil {
		t.Fatalf("one bad row failed the whole claim: %v", err)
	}
	if len(got.Jobs) != 2 || got.Jobs[0].JobID != first.JobID || got.Jobs[1].JobID != last.JobID {
		t.Fatalf("claimed %+v, want %s and %s", got.Jobs, first.JobID, last.JobID)
	}
	refused := map[string]report.Refusal{}
	for _, r := range got.Refused {
		refused[r.JobID] = r
	}
	if r := refused[settled.JobID]; len(got.Refused) != 2 || !r.Settled || !strings.Contains(r.Reason, "this row may not run") {
		t.Fatalf("refusals %+v", got.Refused)
	}
	if r := refused[aside.JobID]; r.Settled || !strings.Contains(r.Reason, "test_no_unmovable") {
		t.Fatalf("the unmovable row: %+v", r)
	}
	j, err := s.Get(ctx, u, settled.JobID)
	if err != nil || j.Status != report.StatusFailed || j.Error == nil || !strings.Contains(*j.Error, "this row may not run") {
		t.Fatalf("the settled job: %+v %v", j, err)
	}
	if j, err := s.Get(ctx, u, aside.JobID); err != nil || j.Status != report.StatusQueued {
		t.Fatalf("the row set aside: %+v %v", j, err)
	}

	// Later claims go on: new jobs run, the row set aside is not tried again.
	next := create("after")
	again, err := s.Claim(ctx, report.ClaimRequest{Worker: "w", Limit: 10, Lease: time.Minute})
	if err != nil || len(again.Refused) != 0 || len(again.Jobs) != 1 || again.Jobs[0].JobID != next.JobID {
		t.Fatalf("the next claim: %+v %v", again, err)
	}
}
