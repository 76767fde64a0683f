package pgrest_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"
)

type note struct {
	ID        int64        `json:"id"`
	UserID    string       `json:"user_id"`
	Title     string       `json:"title"`
	Done      bool         `json:"done"`
	Score     *json.Number `json:"score"`
	CreatedAt string       `json:"created_at"`
}

var representation = map[string]string{"Prefer": "return=representation"}

// seedNotes inserts notes as the user and returns them.
func seedNotes(t *testing.T, token string, body string) []note {
	t.Helper()
	var out []note
	do(t, api, req{method: http.MethodPost, path: "/notes", body: body, token: token, header: representation}).
		expect(t, http.StatusCreated, "").decode(t, &out)
	return out
}

func TestInsertAndRead(t *testing.T) {
	t.Parallel()
	userID, token := newUser(t)
	r := do(t, api, req{method: http.MethodPost, path: "/notes", body: `{"title":"minimal"}`, token: token})
	r.expect(t, http.StatusCreated, "")
	if len(r.body) != 0 {
		t.Errorf("return=minimal body = %q, want none", r.body)
	}
	notes := seedNotes(t, token, `[{"title":"b","score":1.5},{"title":"c","score":null}]`)
	if len(notes) != 2 || notes[0].UserID != userID || notes[0].CreatedAt != "2024-05-06T07:08:09.123456+00:00" {
		t.Fatalf("inserted %+v", notes)
	}
	if notes[0].Score == nil || *notes[0].Score != "1.50" {
		t.Errorf("score = %v, want numeric(10,2)'s 1.50", notes[0].Score)
	}
	var got []note
	r = do(t, api, req{path: "/notes?select=id,title&order=title.desc", token: token}).expect(t, http.StatusOK, "")
	r.decode(t, &got)
	if len(got) != 3 || got[0].Title != "minimal" || got[2].Title != "b" || got[0].UserID != "" {
		t.Errorf("read back %s", r.body)
	}
	if cr := r.header.Get("Content-Range"); cr != "0-2/*" {
		t.Errorf("Content-Range = %q", cr)
	}
}

func TestRLSHidesRowsAndChecksWrites(t *testing.T) {
	t.Parallel()
	_, owner := newUser(t)
	_, other := newUser(t)
	n := seedNotes(t, owner, `{"title":"private"}`)[0]
	id := strconv.FormatInt(n.ID, 10)

	r := do(t, api, req{path: "/notes?id=eq." + id, token: other}).expect(t, http.StatusOK, "")
	if strings.TrimSpace(string(r.body)) != "[]" {
		t.Errorf("another user sees %s", r.body)
	}
	do(t, api, req{path: "/notes?id=eq." + id, token: other, header: map[string]string{"Accept": "application/vnd.pgrst.object+json"}}).
		expect(t, http.StatusNotAcceptable, "PGRST116")
	do(t, api, req{method: http.MethodPost, path: "/notes", token: other, body: `{"title":"forged","user_id":"` + n.UserID + `"}`}).
		expect(t, http.StatusForbidden, "42501")
	do(t, api, req{path: "/notes"}).expect(t, http.StatusUnauthorized, "42501")

	// Allowed to insert, not to read back: representation fails where minimal succeeds.
	do(t, api, req{method: http.MethodPost, path: "/inbox", token: other, body: `{"body":"hi"}`}).expect(t, http.StatusCreated, "")
	do(t, api, req{method: http.MethodPost, path: "/inbox", token: other, body: `{"body":"hi"}`, header: representation}).
		expect(t, http.StatusForbidden, "42501")
}

func TestFilters(t *testing.T) {
	t.Parallel()
	_, token := newUser(t)
	seedNotes(t, token, `[{"title":"alpha","score":1,"done":true},{"title":"beta","score":2,"done":false},
		{"title":"Gamma, ray","score":null,"done":false},{"title":"delta","score":4,"done":true}]`)
	tests := []struct {
		query string
		want  []string
	}{
		{"title=eq.alpha", []string{"alpha"}},
		{"title=neq.alpha&order=title", []string{"Gamma, ray", "beta", "delta"}},
		{"score=gt.1&order=score", []string{"beta", "delta"}},
		{"score=lte.2&order=score.desc", []string{"beta", "alpha"}},
		{"title=like.*ta&order=title", []string{"beta", "delta"}},
		{"title=ilike.gam*", []string{"Gamma, ray"}},
		{"title=in.(alpha," + url.QueryEscape(`"Gamma, ray"`) + ")&order=title", []string{"Gamma, ray", "alpha"}},
		{"score=is.null", []string{"Gamma, ray"}},
		{"done=is.true&order=title", []string{"alpha", "delta"}},
		{"score=not.is.null&done=not.eq.true", []string{"beta"}},
		{"or=(title.eq.alpha,score.gte.4)&order=title", []string{"alpha", "delta"}},
		{"or=(title.eq.beta,and(done.is.true,score.lt.2))&order=title", []string{"alpha", "beta"}},
		{"not.or=(done.is.true,score.is.null)", []string{"beta"}},
		{"order=score.desc.nullslast&limit=2", []string{"delta", "beta"}},
		{"order=score.asc.nullsfirst&limit=1&offset=1", []string{"alpha"}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			t.Parallel()
			var got []note
			do(t, api, req{path: "/notes?select=title&" + tt.query, token: token}).expect(t, http.StatusOK, "").decode(t, &got)
			titles := make([]string, len(got))
			for i, n := range got {
				titles[i] = n.Title
			}
			if strings.Join(titles, "|") != strings.Join(tt.want, "|") {
				t.Errorf("got %q, want %q", titles, tt.want)
			}
		})
	}
}

func TestFilterErrors(t *testing.T) {
	t.Parallel()
	_, token := newUser(t)
	tests := []struct {
		query, code string
		status      int
	}{
		{"user_id=eq.abc", "22P02", 400},
		{"nope=eq.1", "42703", 400},
		{"title=xx.1", "PGRST100", 400},
		{"select=nope", "42703", 400},
		{"limit=-1", "PGRST100", 400},
		{"or=(title.eq.a", "PGRST100", 400},
	}
	for _, tt := range tests {
		do(t, api, req{path: "/notes?" + tt.query, token: token}).expect(t, tt.status, tt.code)
	}
	do(t, api, req{path: "/missing", token: token}).expect(t, http.StatusNotFound, "42P01")
}

func TestCountAndContentRange(t *testing.T) {
	t.Parallel()
	_, token := newUser(t)
	seedNotes(t, token, `[{"title":"1"},{"title":"2"},{"title":"3"},{"title":"4"},{"title":"5"}]`)
	count := map[string]string{"Prefer": "count=exact"}
	r := do(t, api, req{path: "/notes?limit=2&offset=1&order=id", token: token, header: count}).expect(t, http.StatusPartialContent, "")
	if cr := r.header.Get("Content-Range"); cr != "1-2/5" {
		t.Errorf("Content-Range = %q, want 1-2/5", cr)
	}
	r = do(t, api, req{path: "/notes", token: token, header: count}).expect(t, http.StatusOK, "")
	if cr := r.header.Get("Content-Range"); cr != "0-4/5" {
		t.Errorf("Content-Range = %q, want 0-4/5", cr)
	}
	r = do(t, api, req{method: http.MethodHead, path: "/notes?title=eq.none", token: token, header: count}).expect(t, http.StatusOK, "")
	if cr := r.header.Get("Content-Range"); cr != "*/0" || len(r.body) != 0 {
		t.Errorf("HEAD: Content-Range = %q, body %q", cr, r.body)
	}
	do(t, api, req{path: "/notes?offset=9", token: token, header: count}).expect(t, http.StatusRequestedRangeNotSatisfiable, "PGRST103")
}

func TestUpdateAndDelete(t *testing.T) {
	t.Parallel()
	_, token := newUser(t)
	notes := seedNotes(t, token, `[{"title":"u1"},{"title":"u2"}]`)
	id := strconv.FormatInt(notes[0].ID, 10)

	r := do(t, api, req{method: http.MethodPatch, path: "/notes?id=eq." + id, body: `{"done":true}`, token: token})
	r.expect(t, http.StatusNoContent, "")
	var updated []note
	do(t, api, req{method: http.MethodPatch, path: "/notes?id=eq." + id + "&select=id,done", body: `{"title":"u1b"}`, token: token, header: representation}).
		expect(t, http.StatusOK, "").decode(t, &updated)
	if len(updated) != 1 || !updated[0].Done {
		t.Errorf("updated = %+v", updated)
	}
	do(t, api, req{method: http.MethodPatch, path: "/notes", body: `{"done":true}`, token: token}).expect(t, http.StatusBadRequest, "21000")
	do(t, api, req{method: http.MethodDelete, path: "/notes", token: token}).expect(t, http.StatusBadRequest, "21000")
	do(t, api, req{method: http.MethodPatch, path: "/notes?id=eq." + id, body: `{"nope":1}`, token: token}).expect(t, http.StatusBadRequest, "PGRST204")

	var deleted []note
	do(t, api, req{method: http.MethodDelete, path: "/notes?id=eq." + id, token: token, header: representation}).
		expect(t, http.StatusOK, "").decode(t, &deleted)
	if len(deleted) != 1 || deleted[0].Title != "u1b" {
		t.Errorf("deleted = %+v", deleted)
	}
	do(t, api, req{method: http.MethodDelete, path: "/notes?id=eq." + id, token: token}).expect(t, http.StatusNoContent, "")
}

func TestSingularMutationRollsBack(t *testing.T) {
	t.Parallel()
	_, token := newUser(t)
	seedNotes(t, token, `[{"title":"s1"},{"title":"s2"}]`)
	one := map[string]string{"Accept": "application/vnd.pgrst.object+json"}
	do(t, api, req{method: http.MethodPatch, path: "/notes?title=like.s*", body: `{"done":true}`, token: token, header: one}).
		expect(t, http.StatusNotAcceptable, "PGRST116")
	do(t, api, req{method: http.MethodDelete, path: "/notes?title=like.s*", token: token, header: one}).
		expect(t, http.StatusNotAcceptable, "PGRST116")
	var left []note
	do(t, api, req{path: "/notes?order=title", token: token}).expect(t, http.StatusOK, "").decode(t, &left)
	if len(left) != 2 || left[0].Done || left[1].Done {
		t.Errorf("after the rejected singular PATCH and DELETE: %+v", left)
	}
	var n note
	r := do(t, api, req{method: http.MethodPatch, path: "/notes?title=eq.s1", body: `{"done":true}`, token: token,
		header: map[string]string{"Accept": "application/vnd.pgrst.object+json", "Prefer": "return=representation"}})
	r.expect(t, http.StatusOK, "").decode(t, &n)
	if !n.Done || !strings.HasPrefix(r.header.Get("Content-Type"), "application/vnd.pgrst.object+json") {
		t.Errorf("singular PATCH = %s (%s)", r.body, r.header.Get("Content-Type"))
	}
}

func TestFirstAcceptHeaderWins(t *testing.T) {
	t.Parallel()
	_, token := newUser(t)
	seedNotes(t, token, `{"title":"only"}`)
	hr := req{path: "/notes", token: token, header: map[string]string{"Accept": "application/vnd.pgrst.object+json"}}
	r := do(t, api, hr)
	var n note
	r.expect(t, http.StatusOK, "").decode(t, &n)
	if n.Title != "only" {
		t.Errorf("object = %s", r.body)
	}
	do(t, api, req{path: "/notes", token: token, header: map[string]string{"Accept": "text/csv"}}).expect(t, http.StatusNotAcceptable, "PGRST107")
}

func TestUpsert(t *testing.T) {
	t.Parallel()
	svc := serviceToken(t)
	name := "tag-" + uuid.NewString()
	body := `{"name":"` + name + `","color":"red"}`
	do(t, api, req{method: http.MethodPost, path: "/tags", body: body, token: svc}).expect(t, http.StatusCreated, "")
	do(t, api, req{method: http.MethodPost, path: "/tags", body: body, token: svc}).expect(t, http.StatusConflict, "23505")
	// on_conflict without resolution is ignored, so this is a plain insert.
	do(t, api, req{method: http.MethodPost, path: "/tags?on_conflict=name", body: body, token: svc}).expect(t, http.StatusConflict, "23505")

	blue := `{"name":"` + name + `","color":"blue"}`
	do(t, api, req{method: http.MethodPost, path: "/tags?on_conflict=name", body: blue, token: svc,
		header: map[string]string{"Prefer": "resolution=ignore-duplicates"}}).expect(t, http.StatusCreated, "")
	var tags []map[string]any
	do(t, api, req{path: "/tags?name=eq." + name, token: svc}).expect(t, http.StatusOK, "").decode(t, &tags)
	if len(tags) != 1 || tags[0]["color"] != "red" {
		t.Fatalf("after ignore-duplicates: %v", tags)
	}
	r := do(t, api, req{method: http.MethodPost, path: "/tags?on_conflict=name", body: blue, token: svc,
		header: map[string]string{"Prefer": "resolution=merge-duplicates,return=representation"}}).expect(t, http.StatusCreated, "")
	r.decode(t, &tags)
	if len(tags) != 1 || tags[0]["color"] != "blue" || tags[0]["weight"] != 1.0 {
		t.Errorf("after merge-duplicates: %s", r.body)
	}
	do(t, api, req{method: http.MethodPost, path: "/tags", body: `[{"name":"a"},{"color":"b"}]`, token: svc}).
		expect(t, http.StatusBadRequest, "PGRST102")
}

func TestSelectAliasesAndCasts(t *testing.T) {
	t.Parallel()
	_, token := newUser(t)
	seedNotes(t, token, `{"title":"cast me","score":2}`)
	var got []map[string]any
	do(t, api, req{path: "/notes?select=heading:title,score::text", token: token}).expect(t, http.StatusOK, "").decode(t, &got)
	if len(got) != 1 || got[0]["heading"] != "cast me" || got[0]["score"] != "2.00" || len(got[0]) != 2 {
		t.Errorf("got %v", got)
	}
	bad := url.QueryEscape("title::text union select 1")
	do(t, api, req{path: "/notes?select=" + bad, token: token}).expect(t, http.StatusBadRequest, "PGRST100")
}
