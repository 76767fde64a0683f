package migrations_test

import (
	"context"
	"io/fs"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/polaris/reportd/internal/legacy"
	"github.com/polaris/reportd/internal/pgtest"
	"github.com/polaris/reportd/migrations"
)

// project is a database with Supabase's roles and auth schema, where the
// files of testdata named in before were applied before the migrations.
// "legacy_schema.sql" stands for the replaced system's schema
// (internal/legacy).
func project(t *testing.T, before ...string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := pgtest.New(t)
	if err := pgtest.Bootstrap(ctx, c.SuperURL()); err != nil {
		t.Fatal(err)
	}
	applyBefore(ctx, t, c.SuperURL(), before...)
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

// applyBefore applies files of testdata to the database at superURL;
// "legacy_schema.sql" stands for the replaced system's schema
// (internal/legacy).
func applyBefore(ctx context.Context, t *testing.T, superURL string, names ...string) {
	t.Helper()
	for _, name := range names {
		var err error
		if name == "legacy_schema.sql" {
			err = legacy.InstallSchema(ctx, superURL)
		} else {
			err = pgtest.ApplyFiles(ctx, superURL, os.DirFS("testdata"), []string{name})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
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
	for _, col := range []string{"result", "error", "percent", "attempts", "lease_epoch", "metadata", "prompt", "user_id", "max_attempts"} {
		privileges = append(privileges, struct {
			role, check string
			want        bool
		}{"authenticated", "has_column_privilege('authenticated', 'public.report_jobs', '" + col + "', 'update')", false})
	}
	// What the old browser code sends on insert is accepted (a trigger
	// decides the worker-owned values); what a user may not set at all is not.
	for _, col := range []string{"percent", "eta_seconds", "completed_at"} {
		privileges = append(privileges, struct {
			role, check string
			want        bool
		}{"authenticated", "has_column_privilege('authenticated', 'public.report_jobs', '" + col + "', 'insert')", true})
	}
	for _, col := range []string{"result", "error", "attempts", "max_attempts", "lease_epoch", "lease_expires_at", "request_hash", "run_after"} {
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
	// Every column of a user's row is theirs to read (the old code selects
	// '*'); the engine's bookkeeping lives elsewhere.
	for _, col := range []string{"lease_token", "locked_by"} {
		if n := query[int](t, conn, `select count(*) from information_schema.columns
			where table_schema = 'public' and table_name = 'report_jobs' and column_name = $1`, col); n != 0 {
			t.Errorf("report_jobs still has %s", col)
		}
	}
	if n := query[int](t, conn, `select count(*) from information_schema.columns c
		where c.table_schema = 'public' and c.table_name = 'report_jobs'
		  and not has_column_privilege('authenticated', 'public.report_jobs', c.column_name, 'select')`); n != 0 {
		t.Errorf("%d columns of report_jobs are not readable by their owner: select('*') would fail", n)
	}
	for check, want := range map[string]bool{
		"has_column_privilege('authenticated', 'public.report_job_attempts', 'worker', 'select')":  false,
		"has_column_privilege('authenticated', 'public.report_job_attempts', 'outcome', 'select')": true,
		"has_table_privilege('authenticated', 'public.report_job_attempts', 'insert')":             false,
		"has_table_privilege('authenticated', 'public.report_job_attempts', 'update')":             false,
		"has_table_privilege('anon', 'public.report_job_attempts', 'select')":                      false,
		"has_table_privilege('authenticated', 'public.report_job_quarantine', 'select')":           false,
		"(select relrowsecurity from pg_class where oid = 'public.report_job_attempts'::regclass)": true,
	} {
		if got := query[bool](t, conn, "select "+check); got != want {
			t.Errorf("%s = %v, want %v", check, got, want)
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
	callerFacing := []string{"create_report_job", "cancel_report_job", "report_job_stats", "report_job_actor",
		"get_report_job"}
	// Status reads run as the caller, so that row-level security decides
	// what they return.
	invoker := []string{"get_report_job"}
	triggers := []string{"report_jobs_touch", "report_jobs_guard", "report_jobs_enforce", "report_jobs_enqueue_delivery"}
	// Helpers that read every user's rows for the functions above them (the
	// limits of a user, a summary's owner): SECURITY DEFINER, and executable
	// by service_role only.
	definerHelpers := []string{"report_job_user_limits", "report_job_summary_allowed"}
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
		if definer && slices.Contains(invoker, name) {
			t.Errorf("%s is SECURITY DEFINER; it must run as its caller", sig)
		}
		if definer && !wantAuthed && !slices.Contains(definerHelpers, name) {
			t.Errorf("%s is SECURITY DEFINER without being caller-facing", sig)
		}
	}
	if seen < 22 {
		t.Fatalf("found %d report job functions, want at least 22", seen)
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
	hot := []string{"percent", "eta_seconds", "lease_expires_at", "heartbeat_at", "updated_at", "result", "version", "lease_epoch"}
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
	if n := query[int](t, conn, `select count(*) from public.report_jobs`); n != 16 {
		t.Fatalf("%d rows after migrating, want the 16 rows of the old table", n)
	}
	old := query[[]string](t, conn, `select array[prompt, result, percent::text, model, metadata->>'report_type', summary_id::text]
		from public.report_jobs where job_id = 'job_1700000000000_done0001'`)
	if !slices.Equal(old, []string{"old prompt", "old result", "100", "sonar-pro", "greeting", "33333333-3333-4333-8333-333333333333"}) {
		t.Fatalf("old row changed: %v", old)
	}
	if n := query[int](t, conn, `select count(*) from public.report_jobs where user_id is null`); n != 5 {
		t.Fatalf("%d ownerless rows after migrating, want all 5 kept", n)
	}
	// Every ownerless row is final now, so the owner rule holds for every row
	// and is enforced for good.
	if !query[bool](t, conn, `select bool_and(convalidated) from pg_constraint
		where conname in ('report_jobs_user_id_required', 'report_jobs_limits')`) {
		t.Fatal("the owner and limits constraints are not validated")
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
		where job_id like '%stuck%' or job_id like '%lost%' or job_id like '%live%' or job_id like '%new0%'
		   or job_id like '%orph%' or job_id like '%odd%'`)
	want := []string{"job_1700000000000_live0001=running", "job_1700000000000_lost0001=failed",
		"job_1700000000000_new00001=queued", "job_1700000000000_odd00001=succeeded", "job_1700000000000_odd00002=queued",
		"job_1700000000000_odd00003=failed", "job_1700000000000_orph0001=failed", "job_1700000000000_orph0002=failed",
		"job_1700000000000_orph0003=failed", "job_1700000000000_orph0004=failed", "job_1700000000000_stuck001=failed"}
	if !slices.Equal(statuses, want) {
		t.Fatalf("statuses after migrating: %v, want %v", statuses, want)
	}
	// Settled rows say why, in words a user can act on.
	for _, id := range []string{"orph0001", "orph0002", "orph0003", "orph0004"} {
		msg := query[string](t, conn, `select error from public.report_jobs where job_id = $1`, "job_1700000000000_"+id)
		if !strings.Contains(msg, "no owner") || query[int](t, conn, `select percent from public.report_jobs where job_id = $1`,
			"job_1700000000000_"+id) != 100 {
			t.Errorf("%s settled with %q", id, msg)
		}
	}
	// Out-of-range values are brought into range, and the originals kept.
	odd := query[[]string](t, conn, `select array[temperature::text, coalesce(max_tokens::text, 'null'), coalesce(eta_seconds::text, 'null'),
		metadata->'legacy_values'->>'temperature', metadata->'legacy_values'->>'max_tokens', metadata->'legacy_values'->>'eta_seconds',
		metadata->>'legacy_metadata'] from public.report_jobs where job_id = 'job_1700000000000_odd00002'`)
	if !slices.Equal(odd, []string{"2.00", "null", "null", "3.25", "0", "-5", `["not", "an", "object"]`}) {
		t.Fatalf("odd values: %v", odd)
	}
	if got := query[string](t, conn, `select temperature::text || '|' || (metadata->'legacy_values'->>'temperature')
		from public.report_jobs where job_id = 'job_1700000000000_odd00001'`); got != "2.00|5.50" {
		t.Fatalf("a finished row's temperature: %s", got)
	}
	if got := query[string](t, conn, `select error || '|' || (metadata->>'legacy_metadata') from public.report_jobs
		where job_id = 'job_1700000000000_odd00003'`); !strings.Contains(got, "no status") || !strings.HasSuffix(got, "|a string") {
		t.Fatalf("the row without a status: %s", got)
	}
	if names := query[[]string](t, conn, `select array_agg(tgname::text order by tgname) from pg_trigger
		where tgrelid = 'public.report_jobs'::regclass and not tgisinternal`); !slices.Equal(names,
		[]string{"report_jobs_enforce", "report_jobs_enqueue_delivery", "report_jobs_guard", "report_jobs_touch"}) {
		t.Fatalf("triggers %v, want only report_jobs_enforce, report_jobs_enqueue_delivery, report_jobs_guard and report_jobs_touch", names)
	}
	if n := query[int](t, conn, `select count(*) from public.report_job_deliveries`); n != 0 {
		t.Fatalf("migrating queued %d webhook deliveries for old jobs", n)
	}
	if typ := query[string](t, conn, `select prorettype::regtype::text from pg_proc where proname = 'cleanup_expired_report_jobs'`); typ != "integer" {
		t.Fatalf("cleanup returns %s", typ)
	}
}

// The queue works on an upgraded project: the owned jobs still waiting are
// claimed, and no leftover row makes the claim fail.
func TestLegacyRowsDoNotBlockTheQueue(t *testing.T) {
	t.Parallel()
	conn := project(t, "legacy_schema.sql", "legacy_rows.sql")
	ctx := context.Background()
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }() // the test only reads; nothing to keep
	if _, err := tx.Exec(ctx, `set local role service_role`); err != nil {
		t.Fatal(err)
	}
	var claimed []string
	rows, err := tx.Query(ctx, `select c->'job'->>'job_id' from public.claim_report_jobs('legacy-test', 10, 30) c
		where c ? 'job' order by 1`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		claimed = append(claimed, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("claiming on an upgraded project: %v", err)
	}
	want := []string{"job_1700000000000_live0001", "job_1700000000000_new00001", "job_1700000000000_odd00002"}
	if !slices.Equal(claimed, want) {
		t.Fatalf("claimed %v, want the owned jobs still waiting %v", claimed, want)
	}
}

// The migrations never change settings of the roles a whole Supabase
// project shares (every other service-role query of the app would inherit
// them).
func TestNoSharedRoleSettings(t *testing.T) {
	t.Parallel()
	roleAlter := regexp.MustCompile(`(?i)alter\s+role\s+("?)(anon|authenticated|service_role|authenticator|postgres|supabase_admin)`)
	for _, name := range migrations.Names() {
		sql, err := fs.ReadFile(migrations.FS(), name)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(sql), "\n") {
			if code, _, _ := strings.Cut(line, "--"); roleAlter.MatchString(code) {
				t.Errorf("%s alters a shared role: %s", name, strings.TrimSpace(line))
			}
		}
	}
	conn := project(t)
	settings := query[[]string](t, conn, `select coalesce(array_agg(r.rolname || ':' || array_to_string(s.setconfig, ',') order by 1), '{}')
		from pg_db_role_setting s join pg_roles r on r.oid = s.setrole
		where r.rolname in ('service_role', 'authenticator')`)
	if len(settings) != 0 {
		t.Fatalf("role settings after migrating: %v", settings)
	}
}

// Claimers that run at the same time over one user's backlog each get a
// full batch: the rows the first holds (locked, not yet committed) are
// skipped, and the second finds others instead of nothing.
func TestConcurrentClaimersShareOneBacklog(t *testing.T) {
	t.Parallel()
	conn := project(t)
	ctx := context.Background()
	user := "7d3c1f0e-5a8b-4c2d-9e6f-1a2b3c4d5e6f"
	if _, err := conn.Exec(ctx, `insert into auth.users (id) values ($1)`, user); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `insert into public.report_jobs (job_id, user_id, model, prompt, created_at)
		select 'job_1700000000000_c' || lpad(g::text, 7, '0'), $1, 'sonar', 'a backlog', now() - (100 - g) * interval '1 second'
		  from generate_series(1, 100) g`, user); err != nil {
		t.Fatal(err)
	}
	claim := func(tx pgx.Tx, worker string) []string {
		t.Helper()
		if _, err := tx.Exec(ctx, `set local role service_role`); err != nil {
			t.Fatal(err)
		}
		rows, err := tx.Query(ctx, `select c->'job'->>'job_id' from public.claim_report_jobs($1, 16, 30) c where c ? 'job'`, worker)
		if err != nil {
			t.Fatal(err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	var held []string
	seen := map[string]bool{}
	for i := range 4 { // four claimers, each holding its batch uncommitted
		other, err := pgx.Connect(ctx, conn.Config().ConnString())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { other.Close(context.Background()) })
		tx, err := other.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
		got := claim(tx, "claimer-"+string(rune('a'+i)))
		if len(got) != 16 {
			t.Fatalf("claimer %d got %d jobs while %d were held by the others; want 16", i+1, len(got), len(held))
		}
		for _, id := range got {
			if seen[id] {
				t.Fatalf("claimer %d was given %s, which another claimer holds", i+1, id)
			}
			seen[id] = true
		}
		held = append(held, got...)
	}
	sorted := slices.Clone(held)
	slices.Sort(sorted)
	if sorted[0] != "job_1700000000000_c0000001" || sorted[len(sorted)-1] != "job_1700000000000_c0000064" {
		t.Errorf("the four claimers took %s … %s; want the oldest 64 jobs", sorted[0], sorted[len(sorted)-1])
	}
}
