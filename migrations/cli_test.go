package migrations_test

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/polaris/reportd/internal/pgtest"
	"github.com/polaris/reportd/internal/tooling"
	"github.com/polaris/reportd/migrations"
)

// The README tells users to apply the migrations with the Supabase CLI:
// copy them into supabase/migrations and run `supabase db push`. These tests
// do exactly that with the real CLI (tools/node) against a throwaway
// database laid out like a Supabase project.

const cliTimeout = 3 * time.Minute

// cliProject is a bootstrapped database (with the files of testdata applied
// first, if any) and a CLI workdir holding the migrations.
func cliProject(t *testing.T, before ...string) (c *pgtest.Cluster, workdir string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c = pgtest.New(t)
	if err := pgtest.Bootstrap(ctx, c.SuperURL()); err != nil {
		t.Fatal(err)
	}
	applyBefore(ctx, t, c.SuperURL(), before...)
	workdir = t.TempDir()
	dir := filepath.Join(workdir, "supabase", "migrations")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range migrations.Names() {
		sql, err := fs.ReadFile(migrations.FS(), name)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), sql, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return c, workdir
}

// push runs `supabase db push` against the database and returns its exit
// error and everything it printed. The CLI keeps its state in a temporary
// home and is told not to send telemetry or look for updates.
func push(t *testing.T, cli string, c *pgtest.Cluster, workdir string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, cli, "db", "push", "--db-url", c.SuperURL(), "--yes", "--workdir", workdir)
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HOME="+home, "SUPABASE_HOME="+filepath.Join(home, ".supabase"),
		"DO_NOT_TRACK=1", "SUPABASE_TELEMETRY_DISABLED=1", "SUPABASE_NO_UPDATE_NOTIFIER=1")
	cmd.Dir = workdir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustPush(t *testing.T, cli string, c *pgtest.Cluster, workdir string) string {
	t.Helper()
	out, err := push(t, cli, c, workdir)
	if err != nil {
		t.Fatalf("supabase db push: %v\n%s", err, out)
	}
	return out
}

func connectSuper(t *testing.T, c *pgtest.Cluster) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), c.SuperURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// checkPushed asserts the first push's output named every migration and
// that the CLI recorded each one under its file's timestamp and name.
func checkPushed(t *testing.T, conn *pgx.Conn, out string) {
	t.Helper()
	var want []string
	for _, name := range migrations.Names() {
		if !strings.Contains(out, "Applying migration "+name) {
			t.Errorf("the push did not report applying %s:\n%s", name, out)
		}
		want = append(want, strings.TrimSuffix(name, ".sql"))
	}
	got := query[[]string](t, conn, `select coalesce(array_agg(version || '_' || name order by version), '{}')
		from supabase_migrations.schema_migrations`)
	if !slices.Equal(got, want) {
		t.Fatalf("the CLI's migration history = %v, want %v", got, want)
	}
}

// checkUpToDate pushes again: nothing is left to apply and the history is
// unchanged.
func checkUpToDate(t *testing.T, cli string, c *pgtest.Cluster, conn *pgx.Conn, workdir string) {
	t.Helper()
	out := mustPush(t, cli, c, workdir)
	if !strings.Contains(out, "Remote database is up to date") || strings.Contains(out, "Applying migration") {
		t.Fatalf("second push was not a no-op:\n%s", out)
	}
	if n := query[int](t, conn, `select count(*) from supabase_migrations.schema_migrations`); n != len(migrations.Names()) {
		t.Fatalf("after the second push the history has %d rows, want %d", n, len(migrations.Names()))
	}
}

func TestSupabaseCLIPushesToANewProject(t *testing.T) {
	t.Parallel()
	cli := tooling.SupabaseCLI(t)
	c, workdir := cliProject(t)
	out := mustPush(t, cli, c, workdir)
	conn := connectSuper(t, c)
	checkPushed(t, conn, out)
	checkSchema(t, conn)
	checkUpToDate(t, cli, c, conn, workdir)
}

func TestSupabaseCLIPushesOverTheOldTable(t *testing.T) {
	t.Parallel()
	cli := tooling.SupabaseCLI(t)
	c, workdir := cliProject(t, "legacy_schema.sql", "legacy_rows.sql")
	conn := connectSuper(t, c)
	const rowsSQL = `select array_agg(job_id || '|' || coalesce(user_id::text, '-') || '|' || coalesce(prompt, '-') || '|' ||
		coalesce(result, '-') order by job_id) from public.report_jobs`
	before := query[[]string](t, conn, rowsSQL)
	if len(before) != 16 {
		t.Fatalf("the legacy fixture has %d rows, want 16", len(before))
	}
	out := mustPush(t, cli, c, workdir)
	checkPushed(t, conn, out)
	if after := query[[]string](t, conn, rowsSQL); !slices.Equal(after, before) {
		t.Fatalf("rows changed by the push:\nbefore %v\nafter  %v", before, after)
	}
	checkSchema(t, conn)
	checkUpToDate(t, cli, c, conn, workdir)
}
