package migrations_test

import (
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// checkDeliveries: the outbox table is private to the service except for
// reading one's own deliveries, and the enqueue trigger is in place.
func checkDeliveries(t *testing.T, conn *pgx.Conn) {
	t.Helper()
	if !query[bool](t, conn, `select relrowsecurity from pg_class where oid = 'public.report_job_deliveries'::regclass`) {
		t.Fatal("row-level security is off on report_job_deliveries")
	}
	policies := query[[]string](t, conn, `select array_agg(cmd || ':' || array_to_string(roles, ',') || ':' || coalesce(qual, ''))
		from pg_policies where tablename = 'report_job_deliveries'`)
	if len(policies) != 1 || !strings.HasPrefix(policies[0], "SELECT:authenticated:") ||
		!strings.Contains(policies[0], "( SELECT auth.uid() AS uid) = user_id") {
		t.Fatalf("delivery policies: %v", policies)
	}
	checks := map[string]bool{
		"has_table_privilege('anon', 'public.report_job_deliveries', 'select')":                          false,
		"has_column_privilege('authenticated', 'public.report_job_deliveries', 'status', 'select')":      true,
		"has_column_privilege('authenticated', 'public.report_job_deliveries', 'last_error', 'select')":  true,
		"has_column_privilege('authenticated', 'public.report_job_deliveries', 'lease_token', 'select')": false,
		"has_table_privilege('authenticated', 'public.report_job_deliveries', 'insert')":                 false,
		"has_table_privilege('authenticated', 'public.report_job_deliveries', 'update')":                 false,
		"has_table_privilege('authenticated', 'public.report_job_deliveries', 'delete')":                 false,
		"has_table_privilege('service_role', 'public.report_job_deliveries', 'select')":                  true,
		"has_table_privilege('service_role', 'public.report_job_deliveries', 'update')":                  true,
		"has_table_privilege('service_role', 'public.report_job_deliveries', 'insert')":                  false,
	}
	for check, want := range checks {
		if got := query[bool](t, conn, "select "+check); got != want {
			t.Errorf("%s = %v, want %v", check, got, want)
		}
	}
	def := query[string](t, conn, `select pg_get_triggerdef(oid) from pg_trigger where tgname = 'report_jobs_enqueue_delivery'`)
	for _, want := range []string{"AFTER UPDATE OF status", "FOR EACH ROW", "old.status", "new.status"} {
		if !strings.Contains(def, want) {
			t.Errorf("enqueue trigger %q lacks %q", def, want)
		}
	}
	if !query[bool](t, conn, `select prosecdef from pg_proc where proname = 'report_jobs_enqueue_delivery'`) {
		t.Error("the enqueue trigger must be SECURITY DEFINER: users' own cancels fire it and they may not write deliveries")
	}
}
