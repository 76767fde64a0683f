package migrations_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/polaris/reportd/internal/pgtest"
	"github.com/polaris/reportd/internal/tooling"
	"github.com/polaris/reportd/migrations"
)

// 20261129000400_schedule_cleanup.sql schedules cleanup with pg_cron where
// the extension can be enabled (Supabase Cron), and does nothing elsewhere.

const (
	cleanupJobName    = "cleanup-expired-report-jobs"
	cleanupJobCommand = "select public.cleanup_expired_report_jobs()"
	// cronRunTimeout bounds the wait for pg_cron's next run: its schedules
	// have minute granularity (Debian's pg_cron 1.4 has no seconds).
	cronRunTimeout = 3 * time.Minute
)

func TestCleanupScheduleWithoutPgCron(t *testing.T) {
	t.Parallel()
	conn := project(t) // applies the migrations twice; a failure fails the test
	if n := query[int](t, conn, `select count(*) from pg_extension where extname = 'pg_cron'`); n != 0 {
		t.Fatalf("pg_cron was enabled on a server that does not preload it")
	}
	if query[bool](t, conn, `select to_regnamespace('cron') is not null`) {
		t.Fatal("a cron schema exists without pg_cron")
	}
	if typ := query[string](t, conn, `select prorettype::regtype::text from pg_proc
		where oid = 'public.cleanup_expired_report_jobs()'::regprocedure`); typ != "integer" {
		t.Fatalf("cleanup_expired_report_jobs returns %s", typ)
	}
}

// cronProject starts a throwaway cluster that preloads pg_cron for the
// database cronDB, with a test database named reportd_cron, bootstraps that
// like Supabase and applies the migrations to it twice.
func cronProject(t *testing.T, cronDB string) (*pgtest.Cluster, *pgx.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := pgtest.StartWith(ctx, pgtest.Options{
		Database: "reportd_cron",
		Settings: map[string]string{"shared_preload_libraries": "pg_cron", "cron.database_name": cronDB},
	})
	if errors.Is(err, pgtest.ErrSharedServer) {
		tooling.Missing(t, "pg_cron needs a throwaway cluster that preloads it, not TEST_DATABASE_URL's server")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := pgtest.Bootstrap(ctx, c.SuperURL()); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := pgtest.ApplyFiles(ctx, c.SuperURL(), migrations.FS(), migrations.Names()); err != nil {
			t.Fatal(err)
		}
	}
	return c, connectSuper(t, c)
}

// pgCron remembers whether the pg_cron package is installed, asked once.
var pgCron struct {
	once      sync.Once
	available bool
	err       error
}

// requirePgCron skips (or fails, under REPORTD_REQUIRE_TOOLS=1) where the
// pg_cron package is not installed: a server told to preload it would not
// start. An ordinary throwaway server is asked once.
func requirePgCron(t *testing.T) {
	t.Helper()
	pgCron.once.Do(func() { pgCron.available, pgCron.err = pgCronAvailable() })
	if pgCron.err != nil {
		t.Fatal(pgCron.err)
	}
	if !pgCron.available {
		tooling.Missing(t, "pg_cron is not installed (Debian: apt-get install postgresql-15-cron): the cleanup schedule was not tested")
	}
}

func pgCronAvailable() (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := pgtest.Start(ctx)
	if err != nil {
		return false, err
	}
	defer c.Close()
	conn, err := pgx.Connect(ctx, c.SuperURL())
	if err != nil {
		return false, err
	}
	defer conn.Close(context.Background())
	var available bool
	err = conn.QueryRow(ctx, `select exists (select from pg_available_extensions where name = 'pg_cron')`).Scan(&available)
	return available, err
}

func TestCleanupScheduleWithPgCron(t *testing.T) {
	t.Parallel()
	requirePgCron(t)
	c, conn := cronProject(t, "reportd_cron")
	if schema := query[string](t, conn, `select extnamespace::regnamespace::text from pg_extension where extname = 'pg_cron'`); schema != "pg_catalog" {
		t.Fatalf("pg_cron is in schema %s, want pg_catalog as on Supabase", schema)
	}
	jobs := query[[]string](t, conn, `select coalesce(array_agg(format('%s|%s|%s|%s|%s|%s', jobname, schedule, command, database, username, active)), '{}')
		from cron.job`)
	want := fmt.Sprintf("%s|17 * * * *|%s|%s|postgres|t", cleanupJobName, cleanupJobCommand, c.Database())
	if len(jobs) != 1 || jobs[0] != want {
		t.Fatalf("after applying the migrations twice cron.job holds %q, want exactly %q", jobs, want)
	}
	checkScheduledCleanupRuns(t, conn)
}

// pg_cron serves one database per server (cron.database_name, "postgres" on
// Supabase). Migrations applied to another database cannot enable it there:
// they still apply, and leave cleanup to the service.
func TestCleanupScheduleWhenPgCronServesAnotherDatabase(t *testing.T) {
	t.Parallel()
	requirePgCron(t)
	_, conn := cronProject(t, "postgres")
	if n := query[int](t, conn, `select count(*) from pg_extension where extname = 'pg_cron'`); n != 0 {
		t.Fatal("pg_cron was enabled in a database it does not serve")
	}
	if query[bool](t, conn, `select to_regnamespace('cron') is not null`) {
		t.Fatal("a cron schema exists in a database pg_cron does not serve")
	}
}

// checkScheduledCleanupRuns lets pg_cron run the scheduled job itself: its
// schedule moves to every minute, and the test waits for the run to end.
// Expired and day-old finished jobs go; live ones stay.
func checkScheduledCleanupRuns(t *testing.T, conn *pgx.Conn) {
	t.Helper()
	ctx := context.Background()
	const owner = "11111111-1111-4111-8111-111111111111"
	_, err := conn.Exec(ctx, `
		insert into auth.users (id) values ('`+owner+`');
		insert into public.report_jobs (job_id, user_id, prompt, status, expires_at, completed_at) values
		  ('job_expired', '`+owner+`', 'p', 'queued', now() - interval '1 minute', null),
		  ('job_finished_long_ago', '`+owner+`', 'p', 'succeeded', now() + interval '1 day', now() - interval '25 hours'),
		  ('job_finished_just_now', '`+owner+`', 'p', 'succeeded', now() + interval '1 day', now()),
		  ('job_waiting', '`+owner+`', 'p', 'queued', now() + interval '1 day', null)`)
	if err != nil {
		t.Fatal(err)
	}
	var since time.Time
	err = conn.QueryRow(ctx, `select now(), cron.alter_job(jobid, schedule := '* * * * *') from cron.job where jobname = $1`,
		cleanupJobName).Scan(&since, nil)
	if err != nil {
		t.Fatal(err)
	}
	status, message := waitForCronRun(t, conn, since)
	if status != "succeeded" {
		t.Fatalf("pg_cron ran the cleanup: %s: %s", status, message)
	}
	left := query[[]string](t, conn, `select array_agg(job_id order by job_id) from public.report_jobs`)
	if want := []string{"job_finished_just_now", "job_waiting"}; !slices.Equal(left, want) {
		t.Fatalf("after pg_cron's run the table holds %v, want %v", left, want)
	}
}

// waitForCronRun waits for a run of the cleanup job that started after since
// to end, and returns its status and message.
func waitForCronRun(t *testing.T, conn *pgx.Conn, since time.Time) (status, message string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cronRunTimeout)
	defer cancel()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		err := conn.QueryRow(ctx, `select d.status, coalesce(d.return_message, '') from cron.job_run_details d
			join cron.job j using (jobid)
			where j.jobname = $1 and d.start_time > $2 and d.status in ('succeeded', 'failed')
			order by d.start_time limit 1`, cleanupJobName, since).Scan(&status, &message)
		if err == nil {
			return status, message
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			t.Fatalf("reading cron.job_run_details: %v", err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("pg_cron did not run the cleanup within %s of moving its schedule to every minute", cronRunTimeout)
		case <-tick.C:
		}
	}
}
