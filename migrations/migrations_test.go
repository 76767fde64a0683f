package migrations_test

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/polaris/reportd/internal/pgtest"
	"github.com/polaris/reportd/migrations"
)

// project is a database with Supabase's roles and auth schema.
func project(t *testing.T, before ...string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := pgtest.New(t)
	if err := pgtest.Bootstrap(ctx, c.SuperURL()); err != nil {
		t.Fatal(err)
	}
	if len(before) > 0 {
		if err := pgtest.ApplyFiles(ctx, c.SuperURL(), os.DirFS("testdata"), before); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 { // migrations must be safe to apply again
		if err := pgtest.ApplyFiles(ctx, c.SuperURL(), migrations.FS(), migrations.Names()); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := pgx.Connect(ctx, c.SuperURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func query[T any](t *testing.T, conn *pgx.Conn, sql string, args ...any) T {
	t.Helper()
	var v T
	if err := conn.QueryRow(context.Background(), sql, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

func TestEmptyProject(t *testing.T) {
	t.Parallel()
	conn := project(t)
	checkSchema(t, conn)
	if !query[bool](t, conn, `select convalidated from pg_constraint where conname = 'report_jobs_user_id_required'`) {
		t.Fatal("on an empty project the user_id constraint should be validated")
	}
	if def := query[string](t, conn, `select pg_get_expr(adbin, adrelid) from pg_attrdef d join pg_attribute a
		on a.attrelid = d.adrelid and a.attnum = d.adnum where a.attrelid = 'public.report_jobs'::regclass and a.attname = 'user_id'`); def != "auth.uid()" {
		t.Fatalf("user_id default %q, want auth.uid()", def)
	}
	if n := query[int](t, conn, `select count(*) from pg_constraint where conrelid = 'public.report_jobs'::regclass and contype = 'f'
		and confrelid = 'auth.users'::regclass`); n != 1 {
		t.Fatalf("%d foreign keys to auth.users, want 1", n)
	}
}

func TestSummaryForeignKeyOnlyWhereTheTableExists(t *testing.T) {
	t.Parallel()
	without := project(t)
	if n := query[int](t, without, `select count(*) from pg_constraint where conname = 'report_jobs_summary_id_fkey'`); n != 0 {
		t.Fatalf("a foreign key to a missing table")
	}
	with := project(t, "summaries_only.sql")
	if n := query[int](t, with, `select count(*) from pg_constraint where conrelid = 'public.report_jobs'::regclass
		and confrelid = 'public.polaris_summaries'::regclass`); n != 1 {
		t.Fatalf("%d foreign keys to polaris_summaries, want 1", n)
	}
}

// checkSchema asserts what every migrated project must have.
func checkSchema(t *testing.T, conn *pgx.Conn) {
	t.Helper()
	ctx := context.Background()
	if !query[bool](t, conn, `select relrowsecurity from pg_class where oid = 'public.report_jobs'::regclass`) {
		t.Fatal("row-level security is off")
	}
	policies := query[[]string](t, conn, `select array_agg(policyname || ':' || cmd || ':' || coalesce(qual, '') || ':' || coalesce(with_check, '') order by policyname)
		from pg_policies where tablename = 'report_jobs'`)
	if len(policies) != 4 {
		t.Fatalf("policies: %v", policies)
	}
	for _, p := range policies {
		if !strings.Contains(p, "( SELECT auth.uid() AS uid) = user_id") {
			t.Fatalf("policy does not use (select auth.uid()): %s", p)
		}
	}
	privileges := []struct {
		role, check string
		want        bool
	}{
		{"anon", "has_table_privilege('anon', 'public.report_jobs', 'select')", false},
		{"anon", "has_table_privilege('anon', 'public.report_jobs', 'insert')", false},
		{"authenticated", "has_table_privilege('authenticated', 'public.report_jobs', 'select')", true},
		{"authenticated", "has_table_privilege('authenticated', 'public.report_jobs', 'delete')", true},
		{"authenticated", "has_column_privilege('authenticated', 'public.report_jobs', 'status', 'update')", true},
		{"authenticated", "has_column_privilege('authenticated', 'public.report_jobs', 'prompt', 'insert')", true},
		{"authenticated", "has_column_privilege('authenticated', 'public.report_jobs', 'user_id', 'update')", false},
	}
	for _, col := range []string{"result", "error", "percent", "attempts", "lease_token", "metadata", "prompt"} {
		privileges = append(privileges, struct {
			role, check string
			want        bool
		}{"authenticated", "has_column_privilege('authenticated', 'public.report_jobs', '" + col + "', 'update')", false})
	}
	for _, col := range []string{"result", "error", "percent", "attempts", "max_attempts", "lease_token", "request_hash"} {
		privileges = append(privileges, struct {
			role, check string
			want        bool
		}{"authenticated", "has_column_privilege('authenticated', 'public.report_jobs', '" + col + "', 'insert')", false})
	}
	for _, p := range []string{"select", "insert", "update", "delete"} {
		privileges = append(privileges, struct {
			role, check string
			want        bool
		}{"service_role", "has_table_privilege('service_role', 'public.report_jobs', '" + p + "')", true})
	}
	for _, p := range privileges {
		if got := query[bool](t, conn, "select "+p.check); got != p.want {
			t.Errorf("%s = %v, want %v", p.check, got, p.want)
		}
	}
	checkFunctions(t, conn)
	checkQueueTuning(t, conn)
	checkDeliveries(t, conn)
	_ = ctx
}

func checkFunctions(t *testing.T, conn *pgx.Conn) {
	t.Helper()
	rows, err := conn.Query(context.Background(), `select p.oid::regprocedure::text, p.prosecdef, coalesce(p.proconfig, '{}'),
		has_function_privilege('anon', p.oid, 'execute'), has_function_privilege('authenticated', p.oid, 'execute'),
		has_function_privilege('service_role', p.oid, 'execute')
		from pg_proc p where p.pronamespace = 'public'::regnamespace and p.proname like any (array['%report_job%'])`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	callerFacing := []string{"create_report_job", "cancel_report_job", "report_job_stats", "report_job_actor", "report_job_queue_estimate"}
	triggers := []string{"report_jobs_touch", "report_jobs_enqueue_delivery"}
	seen := 0
	for rows.Next() {
		var sig string
		var definer, anon, authed, service bool
		var config []string
		if err := rows.Scan(&sig, &definer, &config, &anon, &authed, &service); err != nil {
			t.Fatal(err)
		}
		seen++
		name := sig[:strings.Index(sig, "(")]
		if !slices.Contains(config, "search_path=\"\"") {
			t.Errorf("%s does not pin search_path: %v", sig, config)
		}
		if anon {
			t.Errorf("anon may execute %s", sig)
		}
		wantAuthed := slices.Contains(callerFacing, name)
		if slices.Contains(triggers, name) {
			if authed || service {
				t.Errorf("trigger function %s is executable by authenticated (%v) or service_role (%v)", sig, authed, service)
			}
			continue // not callable over RPC; triggers run it whoever changes the row
		}
		if authed != wantAuthed {
			t.Errorf("authenticated execute on %s = %v, want %v", sig, authed, wantAuthed)
		}
		if !service {
			t.Errorf("service_role may not execute %s", sig)
		}
		if definer && !wantAuthed {
			t.Errorf("%s is SECURITY DEFINER without being caller-facing", sig)
		}
	}
	if seen < 17 {
		t.Fatalf("found %d report job functions, want at least 17", seen)
	}
}

// checkQueueTuning: room for HOT updates, eager autovacuum, and no index on
// a column that heartbeats write.
func checkQueueTuning(t *testing.T, conn *pgx.Conn) {
	t.Helper()
	opts := query[[]string](t, conn, `select reloptions from pg_class where oid = 'public.report_jobs'::regclass`)
	if !slices.Contains(opts, "fillfactor=70") || !slices.Contains(opts, "autovacuum_vacuum_scale_factor=0.01") {
		t.Fatalf("reloptions %v", opts)
	}
	hot := []string{"percent", "eta_seconds", "lease_expires_at", "heartbeat_at", "updated_at", "result", "version", "lease_token"}
	defs := query[[]string](t, conn, `select array_agg(indexdef) from pg_indexes where tablename = 'report_jobs'`)
	for _, def := range defs {
		for _, col := range hot {
			if strings.Contains(def, col) {
				t.Errorf("index on a heartbeat column %s: %s", col, def)
			}
		}
	}
}

func TestLegacyProjectKeepsItsRows(t *testing.T) {
	t.Parallel()
	conn := project(t, "legacy_schema.sql", "legacy_rows.sql")
	checkSchema(t, conn)
	if n := query[int](t, conn, `select count(*) from public.report_jobs`); n != 9 {
		t.Fatalf("%d rows after migrating, want the 9 rows of the old table", n)
	}
	old := query[[]string](t, conn, `select array[prompt, result, percent::text, model, metadata->>'report_type', summary_id::text]
		from public.report_jobs where job_id = 'job_1700000000000_done0001'`)
	if !slices.Equal(old, []string{"old prompt", "old result", "100", "sonar-pro", "greeting", "33333333-3333-4333-8333-333333333333"}) {
		t.Fatalf("old row changed: %v", old)
	}
	if n := query[int](t, conn, `select count(*) from public.report_jobs where user_id is null`); n != 1 {
		t.Fatalf("the ownerless row was not kept")
	}
	if query[bool](t, conn, `select convalidated from pg_constraint where conname = 'report_jobs_user_id_required'`) {
		t.Fatal("the user_id constraint cannot be validated while an ownerless row exists")
	}
	if _, err := conn.Exec(context.Background(), `insert into public.report_jobs (job_id, prompt) values ('job_new_no_owner', 'x')`); err == nil {
		t.Fatal("a new row without an owner was accepted")
	}
	keys := query[[]string](t, conn, `select array_agg(coalesce(idempotency_key, '-') || '|' || coalesce(metadata->>'legacy_idempotency_key', '-') order by job_id)
		from public.report_jobs where job_id in ('job_1700000000000_dupe0001', 'job_1700000000000_dupe0002')`)
	if !slices.Equal(keys, []string{"-|org:5", "org:5|-"}) {
		t.Fatalf("duplicate keys: %v", keys)
	}
	statuses := query[[]string](t, conn, `select array_agg(job_id || '=' || status order by job_id) from public.report_jobs
		where job_id like '%stuck%' or job_id like '%lost%' or job_id like '%live%' or job_id like '%new0%'`)
	want := []string{"job_1700000000000_live0001=running", "job_1700000000000_lost0001=failed",
		"job_1700000000000_new00001=queued", "job_1700000000000_stuck001=failed"}
	if !slices.Equal(statuses, want) {
		t.Fatalf("abandoned jobs: %v, want %v", statuses, want)
	}
	if names := query[[]string](t, conn, `select array_agg(tgname::text order by tgname) from pg_trigger
		where tgrelid = 'public.report_jobs'::regclass and not tgisinternal`); !slices.Equal(names, []string{"report_jobs_enqueue_delivery", "report_jobs_touch"}) {
		t.Fatalf("triggers %v, want only report_jobs_enqueue_delivery and report_jobs_touch", names)
	}
	if n := query[int](t, conn, `select count(*) from public.report_job_deliveries`); n != 0 {
		t.Fatalf("migrating queued %d webhook deliveries for old jobs", n)
	}
	if typ := query[string](t, conn, `select prorettype::regtype::text from pg_proc where proname = 'cleanup_expired_report_jobs'`); typ != "integer" {
		t.Fatalf("cleanup returns %s", typ)
	}
}
