package pgrest_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
)

// compact removes insignificant space; numbers keep the form PostgreSQL gave them.
func compact(t *testing.T, b []byte) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatalf("invalid JSON %q: %v", b, err)
	}
	return buf.String()
}

type whoami struct {
	CurrentUser      string            `json:"current_user"`
	Role             string            `json:"role"`
	Claims           map[string]any    `json:"claims"`
	LegacySub        string            `json:"legacy_sub"`
	UID              *string           `json:"uid"`
	Method           string            `json:"method"`
	Path             string            `json:"path"`
	Headers          map[string]string `json:"headers"`
	Cookies          map[string]string `json:"cookies"`
	SearchPath       string            `json:"search_path"`
	StatementTimeout string            `json:"statement_timeout"`
	ReadOnly         string            `json:"read_only"`
	Isolation        string            `json:"isolation"`
}

func callWhoami(t *testing.T, r req) whoami {
	t.Helper()
	r.method, r.path = http.MethodPost, "/rpc/whoami"
	var w whoami
	do(t, api, r).expect(t, http.StatusOK, "").decode(t, &w)
	return w
}

func TestRoleSwitchAndClaims(t *testing.T) {
	t.Parallel()
	userID, userToken := newUser(t)
	tests := []struct {
		name, token, role, timeout string
	}{
		{name: "anonymous", role: "anon", timeout: "3s"},
		{name: "user", token: userToken, role: "authenticated", timeout: "8s"},
		{name: "service", token: serviceToken(t), role: "service_role", timeout: "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := callWhoami(t, req{token: tt.token})
			if w.CurrentUser != tt.role || w.Role != tt.role || w.Claims["role"] != tt.role {
				t.Errorf("current_user=%s role=%s claims.role=%v, want %s", w.CurrentUser, w.Role, w.Claims["role"], tt.role)
			}
			if w.StatementTimeout != tt.timeout {
				t.Errorf("statement_timeout = %s, want the role's own %s", w.StatementTimeout, tt.timeout)
			}
			if w.LegacySub != "" {
				t.Errorf("request.jwt.claim.sub = %q, want it never set", w.LegacySub)
			}
		})
	}
	if w := callWhoami(t, req{}); len(w.Claims) != 1 {
		t.Errorf("anonymous claims = %v, want {\"role\":\"anon\"}", w.Claims)
	}
	if w := callWhoami(t, req{token: userToken}); w.UID == nil || *w.UID != userID || w.Claims["sub"] != userID {
		t.Errorf("auth.uid() = %v, claims.sub = %v, want %s", w.UID, w.Claims["sub"], userID)
	}
}

func TestRequestSettings(t *testing.T) {
	t.Parallel()
	w := callWhoami(t, req{header: map[string]string{"X-Trace-ID": "abc", "Cookie": "session=s1; theme=dark"}})
	if w.Method != "POST" || w.Path != "/rpc/whoami" {
		t.Errorf("method=%q path=%q", w.Method, w.Path)
	}
	if w.Headers["x-trace-id"] != "abc" {
		t.Errorf("request.headers = %v, want lower-case x-trace-id", w.Headers)
	}
	if _, ok := w.Headers["cookie"]; ok {
		t.Error("request.headers includes the cookie header")
	}
	if w.Cookies["session"] != "s1" || w.Cookies["theme"] != "dark" {
		t.Errorf("request.cookies = %v", w.Cookies)
	}
	if w.SearchPath != `public, extensions` && w.SearchPath != `"public", "extensions"` {
		t.Errorf("search_path = %q", w.SearchPath)
	}
	if w.Isolation != "read committed" || w.ReadOnly != "on" {
		t.Errorf("isolation=%s read_only=%s, want read committed and read-only for a STABLE function", w.Isolation, w.ReadOnly)
	}
	var mode string
	do(t, api, req{method: http.MethodPost, path: "/rpc/tx_mode"}).expect(t, http.StatusOK, "").decode(t, &mode)
	if mode != "off" {
		t.Errorf("a VOLATILE function ran with transaction_read_only=%s", mode)
	}
}

func TestResultShapes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, path, body, want, contentRange string
		status                               int
	}{
		{"scalar", "/rpc/add", `{"a":1,"b":2}`, `3`, "0-0/*", 200},
		{"default omitted", "/rpc/add", `{"a":1}`, `11`, "0-0/*", 200},
		{"composite", "/rpc/make_pair", `{"k":"x","v":1.50}`, `{"k":"x","v":1.50}`, "0-0/*", 200},
		{"setof scalars", "/rpc/series", `{"n":3}`, `[1,2,3]`, "0-2/*", 200},
		{"empty set", "/rpc/series", `{"n":0}`, `[]`, "*/*", 200},
		{"timestamp keeps Postgres's JSON form", "/rpc/stamp", ``, `"2024-05-06T07:08:09.123456+00:00"`, "0-0/*", 200},
		{"overload by keys", "/rpc/pick", `{"a":1,"b":2}`, `"two"`, "0-0/*", 200},
		{"other overload", "/rpc/pick", `{"a":1}`, `"one"`, "0-0/*", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := do(t, api, req{method: http.MethodPost, path: tt.path, body: tt.body}).expect(t, tt.status, "")
			if got := compact(t, r.body); got != tt.want {
				t.Errorf("body = %s, want %s", got, tt.want)
			}
			if got := r.header.Get("Content-Range"); got != tt.contentRange {
				t.Errorf("Content-Range = %q, want %q", got, tt.contentRange)
			}
		})
	}
}

func TestVoidIs204(t *testing.T) {
	t.Parallel()
	r := do(t, api, req{method: http.MethodPost, path: "/rpc/set_done", body: `{"note_id":-1}`, token: serviceToken(t)})
	r.expect(t, http.StatusNoContent, "")
	if len(r.body) != 0 || r.header.Get("Content-Range") == "" {
		t.Errorf("body %q, Content-Range %q", r.body, r.header.Get("Content-Range"))
	}
}

func TestSetReturningFunctionsRespectRLS(t *testing.T) {
	t.Parallel()
	_, token := newUser(t)
	for _, title := range []string{"a", "b"} {
		do(t, api, req{method: http.MethodPost, path: "/notes", body: `{"title":"` + title + `"}`, token: token}).expect(t, http.StatusCreated, "")
	}
	var notes []map[string]any
	r := do(t, api, req{method: http.MethodPost, path: "/rpc/my_notes", token: token}).expect(t, http.StatusOK, "")
	r.decode(t, &notes)
	if len(notes) != 2 || notes[0]["title"] != "a" || r.header.Get("Content-Range") != "0-1/*" {
		t.Errorf("my_notes = %s (Content-Range %s), want the user's two notes", r.body, r.header.Get("Content-Range"))
	}
	var stats []map[string]any
	do(t, api, req{method: http.MethodPost, path: "/rpc/note_stats", token: token}).expect(t, http.StatusOK, "").decode(t, &stats)
	if len(stats) != 1 || stats[0]["total"] != 2.0 {
		t.Errorf("note_stats = %v", stats)
	}
	var one map[string]any
	do(t, api, req{method: http.MethodPost, path: "/rpc/note_stats", token: token,
		header: map[string]string{"Accept": "application/vnd.pgrst.object+json"}}).expect(t, http.StatusOK, "").decode(t, &one)
	if one["finished"] != 0.0 {
		t.Errorf("single object = %v", one)
	}
}

func TestRPCErrors(t *testing.T) {
	t.Parallel()
	userToken := func() string { _, tok := newUser(t); return tok }()
	tests := []struct {
		name, path, body, token string
		status                  int
		code                    string
	}{
		{"unknown function", "/rpc/nope", `{}`, "", 404, "PGRST202"},
		{"unknown key", "/rpc/pick", `{"c":1}`, "", 404, "PGRST202"},
		{"missing required key", "/rpc/add", `{"b":1}`, "", 404, "PGRST202"},
		{"ambiguous overload", "/rpc/echo", `{"x":1}`, "", 300, "PGRST203"},
		{"bad uuid", "/rpc/count_owned", `{"owner":"abc"}`, userToken, 400, "22P02"},
		{"custom status", "/rpc/pay", ``, userToken, 402, "PT402"},
		{"plain raise", "/rpc/fail", `{"reason":"nope"}`, userToken, 400, "P0001"},
		{"write in a STABLE function", "/rpc/stable_writer", `{"tag":"t1"}`, userToken, 405, "25006"},
		{"revoked function, anonymous", "/rpc/admin_note_count", ``, "", 401, "42501"},
		{"revoked function, user", "/rpc/admin_note_count", ``, userToken, 403, "42501"},
		{"body not an object", "/rpc/add", `[1]`, "", 400, "PGRST102"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := do(t, api, req{method: http.MethodPost, path: tt.path, body: tt.body, token: tt.token}).expect(t, tt.status, tt.code)
			if tt.status == http.StatusUnauthorized && r.header.Get("WWW-Authenticate") != "Bearer" {
				t.Errorf("WWW-Authenticate = %q, want Bearer", r.header.Get("WWW-Authenticate"))
			}
		})
	}
}

func TestErrorBodyShape(t *testing.T) {
	t.Parallel()
	_, token := newUser(t)
	e := do(t, api, req{method: http.MethodPost, path: "/rpc/pay", token: token}).expect(t, 402, "PT402").errorBody(t)
	if e.Message != "Payment required" || e.Details == nil || *e.Details != "top up" || e.Hint == nil || *e.Hint != "card" {
		t.Errorf("error = %+v", e)
	}
	e = do(t, api, req{method: http.MethodPost, path: "/rpc/nope"}).expect(t, 404, "PGRST202").errorBody(t)
	if e.Message != "Could not find the function public.nope without parameters in the schema cache" || e.Hint != nil {
		t.Errorf("error = %+v", e)
	}
}

func TestSecurityDefinerForServiceRole(t *testing.T) {
	t.Parallel()
	var n int
	do(t, api, req{method: http.MethodPost, path: "/rpc/admin_note_count", token: serviceToken(t)}).expect(t, http.StatusOK, "").decode(t, &n)
	if n < 0 {
		t.Errorf("count = %d", n)
	}
}

func TestGetRPC(t *testing.T) {
	t.Parallel()
	var n int
	do(t, api, req{path: "/rpc/add?a=2&b=3"}).expect(t, http.StatusOK, "").decode(t, &n)
	if n != 5 {
		t.Errorf("GET add = %d", n)
	}
	do(t, api, req{path: "/rpc/tx_mode"}).expect(t, http.StatusMethodNotAllowed, "PGRST101")
}
