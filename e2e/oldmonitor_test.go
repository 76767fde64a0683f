package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/polaris/reportd/internal/stack"
)

// The app's existing React monitor and its useActiveJobs hook read and
// cancel jobs through supabase-js table calls, with the user's session.
// These are the requests supabase-js (postgrest-js) sends for them, header
// for header, against the new schema through the gateway: they work for
// the owner and show another user nothing.

// supabaseJS sends one Data API request the way supabase-js does: apikey
// and the session's bearer token, its client header, the schema profile
// header, and JSON for writes; accept, when given, is the Accept header
// (.single() asks for application/vnd.pgrst.object+json).
func supabaseJS(t *testing.T, p *stack.Stack, token, method, pathAndQuery string, body any, prefer string, accept ...string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	req, err := http.NewRequest(method, p.URL+"/rest/v1/"+pathAndQuery, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("apikey", p.AnonKey)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("X-Client-Info", "supabase-js-web/2.45.4")
	if method == http.MethodGet || method == http.MethodHead {
		req.Header.Set("Accept-Profile", "public")
	} else {
		req.Header.Set("Content-Profile", "public")
		req.Header.Set("Content-Type", "application/json")
	}
	if prefer != "" {
		req.Header.Set("Prefer", prefer)
	}
	if len(accept) > 0 {
		req.Header.Set("Accept", accept[0])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

type monitorRow struct {
	JobID       string     `json:"job_id"`
	UserID      string     `json:"user_id"`
	Status      string     `json:"status"`
	Percent     int        `json:"percent"`
	Prompt      string     `json:"prompt"`
	Result      *string    `json:"result"`
	CreatedAt   time.Time  `json:"created_at"`
	StartedAt   *time.Time `json:"started_at"`
	CompletedAt *time.Time `json:"completed_at"`
}

func rows(t *testing.T, code int, body []byte) []monitorRow {
	t.Helper()
	var out []monitorRow
	if code != http.StatusOK || json.Unmarshal(body, &out) != nil {
		t.Fatalf("%d %s", code, body)
	}
	return out
}

func TestOldReactMonitorTableCalls(t *testing.T) {
	t.Parallel()
	p := fork(t)
	env := supabaseEnv(p)
	env["DEMO_CHUNK_DELAY"], env["WORKER_POLL_INTERVAL"] = "30ms", "50ms"
	svc := start(t, env)
	ada, adaToken := user(t, p)
	grace, graceToken := user(t, p)

	done := create(t, svc.URL, adaToken, map[string]any{"prompt": "finished", "model": "demo"})
	await(t, svc.URL, adaToken, done, 20*time.Second)
	active := create(t, svc.URL, adaToken, map[string]any{"prompt": "to cancel", "model": "demo"})
	create(t, svc.URL, graceToken, map[string]any{"prompt": "grace's own", "model": "demo"})

	// The monitor's list: select('*').eq('user_id', id).order('created_at', {ascending: false}).limit(20)
	list := func(uid, token string) []monitorRow {
		code, body := supabaseJS(t, p, token, "GET", "report_jobs?select=*&user_id=eq."+uid+"&order=created_at.desc&limit=20", nil, "")
		return rows(t, code, body)
	}
	got := list(ada, adaToken)
	if len(got) != 2 || got[0].JobID != active || got[1].JobID != done || got[1].Status != "succeeded" || got[1].Result == nil {
		t.Fatalf("ada's list: %+v", got)
	}
	// Filtering on someone else's id, or on none, shows only what RLS allows.
	if leak := list(ada, graceToken); len(leak) != 0 {
		t.Fatalf("grace listing ada's jobs got %d rows", len(leak))
	}
	code, body := supabaseJS(t, p, graceToken, "GET", "report_jobs?select=*&order=created_at.desc&limit=20", nil, "")
	if all := rows(t, code, body); len(all) != 1 || all[0].UserID != grace {
		t.Fatalf("grace without a filter: %+v", all)
	}

	// Cancel: update({status: 'cancelled'}).eq('job_id', id).select(). Grace
	// cannot; ada can.
	cancel := "report_jobs?job_id=eq." + url.QueryEscape(active)
	code, body = supabaseJS(t, p, graceToken, "PATCH", cancel+"&select=*", map[string]any{"status": "cancelled"}, "return=representation")
	if n := rows(t, code, body); len(n) != 0 {
		t.Fatalf("grace cancelled ada's job: %s", body)
	}
	code, body = supabaseJS(t, p, adaToken, "PATCH", cancel+"&select=*", map[string]any{"status": "cancelled"}, "return=representation")
	if c := rows(t, code, body); len(c) != 1 || c[0].Status != "cancelled" || c[0].CompletedAt == nil {
		t.Fatalf("ada's cancel: %s", body)
	}
	if r := await(t, svc.URL, adaToken, active, 10*time.Second); r.body["status"] != "cancelled" {
		t.Fatalf("after the cancel the API shows %s", r.raw)
	}
	// Without .select() supabase-js asks for nothing back: 204.
	if code, body := supabaseJS(t, p, adaToken, "PATCH", cancel, map[string]any{"status": "cancelled"}, ""); code != http.StatusNoContent {
		t.Fatalf("plain update: %d %s", code, body)
	}

	// The statistics: select('status, started_at, completed_at').eq('user_id', id),
	// averaged in the browser as the component does.
	code, body = supabaseJS(t, p, adaToken, "GET", "report_jobs?select=status%2Cstarted_at%2Ccompleted_at&user_id=eq."+ada, nil, "")
	stats := rows(t, code, body)
	counts := map[string]int{}
	var total time.Duration
	var timed int
	for _, r := range stats {
		counts[r.Status]++
		if r.StartedAt != nil && r.CompletedAt != nil {
			total += r.CompletedAt.Sub(*r.StartedAt)
			timed++
		}
	}
	if len(stats) != 2 || counts["succeeded"] != 1 || counts["cancelled"] != 1 || timed == 0 || total <= 0 {
		t.Fatalf("ada's statistics rows: %s", body)
	}
	if code, body := supabaseJS(t, p, graceToken, "GET", "report_jobs?select=status%2Cstarted_at%2Ccompleted_at&user_id=eq."+ada, nil, ""); len(rows(t, code, body)) != 0 {
		t.Fatalf("grace read ada's statistics: %s", body)
	}

	// useActiveJobs: the user's queued and running jobs.
	code, body = supabaseJS(t, p, adaToken, "GET", "report_jobs?select=job_id%2Cstatus&user_id=eq."+ada+"&status=in.%28queued%2Crunning%29", nil, "")
	if n := rows(t, code, body); len(n) != 0 {
		t.Fatalf("ada's active jobs after the cancel: %s", body)
	}
}
