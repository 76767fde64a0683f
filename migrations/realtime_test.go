package migrations_test

import (
	"testing"

	"github.com/jackc/pgx/v5"
)

// published lists the publications that publish public.report_jobs.
func published(t *testing.T, conn *pgx.Conn) []string {
	t.Helper()
	return query[[]string](t, conn, `select coalesce(array_agg(pubname::text order by pubname), '{}')
		from pg_publication_tables where schemaname = 'public' and tablename = 'report_jobs'`)
}

// Plain PostgreSQL has no supabase_realtime publication: the migration
// leaves it that way and publishes nothing.
func TestRealtimeWithoutThePublication(t *testing.T) {
	t.Parallel()
	conn := project(t)
	if n := query[int](t, conn, `select count(*) from pg_publication`); n != 0 {
		t.Fatalf("%d publications after migrating a database that had none", n)
	}
	if pubs := published(t, conn); len(pubs) != 0 {
		t.Fatalf("report_jobs is published in %v", pubs)
	}
}

// On Supabase the publication exists, empty: the migration adds report_jobs
// once, however often it is applied (project applies every file twice), and
// adds nothing else.
func TestRealtimePublishesReportJobs(t *testing.T) {
	t.Parallel()
	conn := project(t, "realtime_publication.sql")
	if pubs := published(t, conn); len(pubs) != 1 || pubs[0] != "supabase_realtime" {
		t.Fatalf("report_jobs is published in %v, want [supabase_realtime]", pubs)
	}
	tables := query[[]string](t, conn, `select array_agg(schemaname || '.' || tablename order by tablename)
		from pg_publication_tables where pubname = 'supabase_realtime'`)
	if len(tables) != 1 || tables[0] != "public.report_jobs" {
		t.Fatalf("supabase_realtime publishes %v, want only public.report_jobs", tables)
	}
	if n := query[int](t, conn, `select count(*) from pg_publication_rel r join pg_publication p on p.oid = r.prpubid
		where p.pubname = 'supabase_realtime' and r.prrelid = 'public.report_jobs'::regclass`); n != 1 {
		t.Fatalf("report_jobs is in the publication %d times", n)
	}
	actions := query[[]bool](t, conn, `select array[pubinsert, pubupdate, pubdelete] from pg_publication where pubname = 'supabase_realtime'`)
	for i, on := range actions {
		if !on {
			t.Fatalf("the publication does not publish %s", []string{"inserts", "updates", "deletes"}[i])
		}
	}
	if identity := query[string](t, conn, `select relreplident::text from pg_class where oid = 'public.report_jobs'::regclass`); identity != "d" {
		t.Fatalf("replica identity %q, want the default (d): FULL would log whole old rows on every progress write", identity)
	}
}

// A publication FOR ALL TABLES cannot take a table by name, and needs none:
// the migration must apply cleanly and leave report_jobs published.
func TestRealtimePublicationForAllTables(t *testing.T) {
	t.Parallel()
	conn := project(t, "realtime_all_tables.sql")
	if !query[bool](t, conn, `select puballtables from pg_publication where pubname = 'supabase_realtime'`) {
		t.Fatal("the publication is no longer FOR ALL TABLES")
	}
	if pubs := published(t, conn); len(pubs) != 1 || pubs[0] != "supabase_realtime" {
		t.Fatalf("report_jobs is published in %v, want [supabase_realtime]", pubs)
	}
}
