package pgrest_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// What postgrest-js (supabase-js) sends beyond the basics, answered as PostgREST 12.2 does.

type tag struct {
	Name   string  `json:"name"`
	Color  *string `json:"color"`
	Weight *int    `json:"weight"`
}

// columnsParam is columns= as postgrest-js builds it for an array insert: every key of every
// row, each double-quoted.
func columnsParam(names ...string) string {
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = `"` + n + `"`
	}
	return url.QueryEscape(strings.Join(quoted, ","))
}

func TestInsertWithColumnsParam(t *testing.T) {
	t.Parallel()
	svc := serviceToken(t)
	n := uuid.NewString()[:8]
	var got []tag
	// Rows with different keys: a missing key is NULL (weight is not listed, so it takes its
	// default); a key not listed is ignored.
	body := `[{"name":"c1-` + n + `","color":"red"},{"name":"c2-` + n + `"},{"name":"c3-` + n + `","color":"blue","weight":9}]`
	do(t, api, req{method: http.MethodPost, path: "/tags?columns=" + columnsParam("name", "color") + "&select=*", body: body,
		token: svc, header: representation}).expect(t, http.StatusCreated, "").decode(t, &got)
	if len(got) != 3 || got[0].Color == nil || *got[0].Color != "red" || got[1].Color != nil ||
		got[2].Weight == nil || *got[2].Weight != 1 {
		t.Fatalf("inserted %+v", got)
	}
	// Unquoted names and spaces after commas are accepted too.
	do(t, api, req{method: http.MethodPost, path: "/tags?columns=name,%20color", body: `{"name":"c4-` + n + `"}`, token: svc}).
		expect(t, http.StatusCreated, "")
	do(t, api, req{method: http.MethodPost, path: "/tags?columns=" + columnsParam("name", "nope"), body: `[{"name":"x"}]`, token: svc}).
		expect(t, http.StatusBadRequest, "PGRST204")
	do(t, api, req{method: http.MethodPost, path: "/tags?columns=name,,color", body: `[{"name":"x"}]`, token: svc}).
		expect(t, http.StatusBadRequest, "PGRST100")
	// Without columns= the keys must still match.
	do(t, api, req{method: http.MethodPost, path: "/tags", body: `[{"name":"x"},{"color":"y"}]`, token: svc}).
		expect(t, http.StatusBadRequest, "PGRST102")
}

func TestInsertMissingDefault(t *testing.T) {
	t.Parallel()
	svc := serviceToken(t)
	n := uuid.NewString()[:8]
	path := "/tags?columns=" + columnsParam("name", "weight")
	body := `[{"name":"m1-` + n + `"},{"name":"m2-` + n + `","weight":5}]`
	// postgrest-js's default (defaultToNull): the missing weight is NULL, which NOT NULL refuses.
	do(t, api, req{method: http.MethodPost, path: path, body: body, token: svc}).expect(t, http.StatusBadRequest, "23502")

	var got []tag
	r := do(t, api, req{method: http.MethodPost, path: path, body: body, token: svc,
		header: map[string]string{"Prefer": "missing=default,return=representation"}})
	r.expect(t, http.StatusCreated, "").decode(t, &got)
	if len(got) != 2 || got[0].Weight == nil || *got[0].Weight != 1 || got[1].Weight == nil || *got[1].Weight != 5 {
		t.Fatalf("inserted %s", r.body)
	}
	if applied := r.header.Get("Preference-Applied"); !strings.Contains(applied, "missing=default") {
		t.Errorf("Preference-Applied = %q", applied)
	}
	// Only a missing key takes the default: an explicit null stays null.
	do(t, api, req{method: http.MethodPost, path: path, body: `[{"name":"m3-` + n + `","weight":null}]`, token: svc,
		header: map[string]string{"Prefer": "missing=default"}}).expect(t, http.StatusBadRequest, "23502")

	// A default that depends on the request (user_id default auth.uid()) is evaluated in it.
	userID, token := newUser(t)
	var notes []note
	do(t, api, req{method: http.MethodPost, path: "/notes?columns=" + columnsParam("title", "user_id"), body: `[{"title":"mine"}]`,
		token: token, header: map[string]string{"Prefer": "missing=default,return=representation"}}).
		expect(t, http.StatusCreated, "").decode(t, &notes)
	if len(notes) != 1 || notes[0].UserID != userID {
		t.Fatalf("inserted %+v, want user_id %s from the token", notes, userID)
	}
}

// supabase-js's insert(...).select().single(): one object back, or 406 and nothing stored.
func TestSingularInsert(t *testing.T) {
	t.Parallel()
	_, token := newUser(t)
	one := map[string]string{"Accept": "application/vnd.pgrst.object+json", "Prefer": "return=representation"}
	var n note
	r := do(t, api, req{method: http.MethodPost, path: "/notes?select=*", body: `{"title":"single"}`, token: token, header: one})
	r.expect(t, http.StatusCreated, "").decode(t, &n)
	if n.Title != "single" || !strings.HasPrefix(r.header.Get("Content-Type"), "application/vnd.pgrst.object+json") {
		t.Fatalf("singular insert: %s (%s)", r.body, r.header.Get("Content-Type"))
	}
	do(t, api, req{method: http.MethodPost, path: "/notes?select=*", body: `[{"title":"two-a"},{"title":"two-b"}]`, token: token, header: one}).
		expect(t, http.StatusNotAcceptable, "PGRST116")
	var left []note
	do(t, api, req{path: "/notes?title=like.two*", token: token}).expect(t, http.StatusOK, "").decode(t, &left)
	if len(left) != 0 {
		t.Errorf("a refused singular insert stored %+v", left)
	}
}

func TestPatchContentRange(t *testing.T) {
	t.Parallel()
	_, token := newUser(t)
	seedNotes(t, token, `[{"title":"cr1"},{"title":"cr2"}]`)
	tests := []struct {
		query, prefer, want string
	}{
		{"title=like.cr*", "", "0-1/*"},
		{"title=like.cr*", "count=exact", "0-1/2"},
		{"title=eq.none", "", "*/*"},
		{"title=eq.none", "count=exact", "*/0"},
	}
	for _, tt := range tests {
		r := do(t, api, req{method: http.MethodPatch, path: "/notes?" + tt.query, body: `{"done":true}`, token: token,
			header: map[string]string{"Prefer": tt.prefer}}).expect(t, http.StatusNoContent, "")
		if cr := r.header.Get("Content-Range"); cr != tt.want {
			t.Errorf("PATCH ?%s (Prefer %q): Content-Range %q, want %q", tt.query, tt.prefer, cr, tt.want)
		}
	}
}

func TestNullsStripped(t *testing.T) {
	t.Parallel()
	_, token := newUser(t)
	seedNotes(t, token, `[{"title":"with score","score":1},{"title":"no score","score":null}]`)
	read := func(accept string) (reply, []map[string]any) {
		r := do(t, api, req{path: "/notes?select=title,score&order=title", token: token, header: map[string]string{"Accept": accept}})
		r.expect(t, http.StatusOK, "")
		var rows []map[string]any
		if strings.Contains(accept, "object") {
			var one map[string]any
			r.decode(t, &one)
			rows = append(rows, one)
		} else {
			r.decode(t, &rows)
		}
		return r, rows
	}
	r, rows := read("application/vnd.pgrst.array+json;nulls=stripped")
	if _, has := rows[0]["score"]; len(rows) != 2 || has || rows[1]["score"] != 1.0 {
		t.Errorf("stripped array: %s", r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/vnd.pgrst.array+json;nulls=stripped; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	r, rows = read("application/vnd.pgrst.array+json")
	if _, has := rows[0]["score"]; !has || r.header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Errorf("array without nulls=stripped: %s (%s)", r.body, r.header.Get("Content-Type"))
	}
	one := do(t, api, req{path: "/notes?select=title,score&title=eq.no%20score", token: token,
		header: map[string]string{"Accept": "application/vnd.pgrst.object+json;nulls=stripped"}}).expect(t, http.StatusOK, "")
	var obj map[string]json.RawMessage
	one.decode(t, &obj)
	if _, has := obj["score"]; has || string(obj["title"]) != `"no score"` {
		t.Errorf("stripped object: %s", one.body)
	}
	if ct := one.header.Get("Content-Type"); ct != "application/vnd.pgrst.object+json;nulls=stripped; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	// Function results are stripped the same way.
	var called []map[string]any
	do(t, api, req{method: http.MethodPost, path: "/rpc/my_notes", token: token,
		header: map[string]string{"Accept": "application/vnd.pgrst.array+json;nulls=stripped"}}).expect(t, http.StatusOK, "").decode(t, &called)
	for _, row := range called {
		if _, has := row["score"]; has && row["title"] == "no score" {
			t.Errorf("stripped RPC rows: %v", called)
		}
	}
	if len(called) != 2 {
		t.Errorf("my_notes returned %d rows, want 2", len(called))
	}
}
