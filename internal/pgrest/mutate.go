package pgrest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"sort"
	"strings"
)

// insertPlan is POST on a table: one INSERT ... SELECT from json_populate_recordset, optionally
// an upsert, returning 1 per row (minimal) or the selected columns (representation). PostgreSQL
// applies RLS SELECT policies only in the second case, as under PostgREST.
//
// The inserted columns are the payload's keys, or those named by columns= (which supabase-js
// sends for arrays, quoted); with columns= the rows may have different keys, and a row's missing
// key is NULL, or the column default under Prefer: missing=default.
func insertPlan(r *http.Request, rq *request, b *sqlBuilder) (*plan, error) {
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	listed := rq.query.Has("columns")
	payload, keys, err := parseRows(body, !listed)
	if err != nil {
		return nil, err
	}
	if listed {
		if keys, err = parseColumns(rq.query.Get("columns")); err != nil {
			return nil, err
		}
	}
	cols, err := b.payloadColumns(keys)
	if err != nil {
		return nil, err
	}
	returning, err := b.returning(rq)
	if err != nil {
		return nil, err
	}
	conflict, err := b.onConflict(rq, cols)
	if err != nil {
		return nil, err
	}
	insert := "insert into " + b.name
	selectList := ""
	if len(cols) > 0 {
		insert += " (" + b.quoteList(cols, "") + ")"
		selectList = b.quoteList(cols, "_.")
	}
	rows, withDefaults := b.rowsFrom(string(payload), cols, rq.prefer.missingDefault)
	insert += " select " + selectList + " from " + rows + " _" + conflict + " returning " + returning
	p := mutation(insert, b, rq)
	p.afterSetup = withDefaults
	return p, nil
}

// rowsFrom is the set of rows of a JSON array payload. With missing=default each object is laid
// over the defaults of the inserted columns first (as PostgREST does), so only missing keys
// take them; withDefaults says the SQL then holds default expressions.
func (b *sqlBuilder) rowsFrom(payload string, cols []string, missingDefault bool) (rows string, withDefaults bool) {
	arg := b.param(payload)
	var defaults []string
	if missingDefault {
		for _, name := range cols {
			if c, _ := b.t.column(name); c.def != "" {
				defaults = append(defaults, quoteLiteral(name)+", "+c.def)
			}
		}
	}
	if len(defaults) == 0 {
		return "pg_catalog.json_populate_recordset(null::" + b.name + ", " + arg + "::json)", false
	}
	return "pg_catalog.jsonb_populate_recordset(null::" + b.name + ", (select pg_catalog.jsonb_agg(" +
		"pg_catalog.jsonb_build_object(" + strings.Join(defaults, ", ") + ") || _e) " +
		"from pg_catalog.jsonb_array_elements(" + arg + "::jsonb) _e))", true
}

// parseColumns reads columns=: comma-separated names, each optionally double-quoted.
func parseColumns(s string) ([]string, error) {
	items := splitTopLevel(s)
	for i, it := range items {
		it = unquote(strings.TrimSpace(it))
		if it == "" {
			return nil, parseError("columns parameter (" + s + ")")
		}
		items[i] = it
	}
	return items, nil
}

// parseRows accepts an object or an array of objects, with the same keys when uniform, and
// returns the rows as a JSON array with the (sorted) keys of the first.
func parseRows(body []byte, uniform bool) ([]byte, []string, error) {
	body = bytes.TrimSpace(body)
	var rows []map[string]json.RawMessage
	switch {
	case len(body) > 0 && body[0] == '{':
		var one map[string]json.RawMessage
		if json.Unmarshal(body, &one) != nil {
			return nil, nil, invalidBody("Empty or invalid json")
		}
		rows = append(rows, one)
		body = append(append([]byte("["), body...), ']')
	case len(body) > 0 && body[0] == '[':
		if json.Unmarshal(body, &rows) != nil {
			return nil, nil, invalidBody("Empty or invalid json")
		}
	default:
		return nil, nil, invalidBody("Empty or invalid json")
	}
	if len(rows) == 0 {
		return body, nil, nil
	}
	keys := sortedKeys(rows[0])
	for _, row := range rows[1:] {
		if uniform && !sameKeys(row, keys) {
			return nil, nil, invalidBody("All object keys must match")
		}
	}
	return body, keys, nil
}

func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func sameKeys(m map[string]json.RawMessage, keys []string) bool {
	if len(m) != len(keys) {
		return false
	}
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			return false
		}
	}
	return true
}

// payloadColumns checks the payload's keys against the table and puts them in table order, so
// equal payload shapes give equal SQL.
func (b *sqlBuilder) payloadColumns(keys []string) ([]string, error) {
	want := make(map[string]bool, len(keys))
	for _, k := range keys {
		k = strings.TrimSpace(k)
		if _, ok := b.t.column(k); !ok {
			return nil, newError(http.StatusBadRequest, "PGRST204",
				"Could not find the '"+k+"' column of '"+b.table+"' in the schema cache")
		}
		want[k] = true
	}
	cols := make([]string, 0, len(want))
	for _, c := range b.t.columns {
		if want[c.name] {
			cols = append(cols, c.name)
		}
	}
	return cols, nil
}

func (b *sqlBuilder) returning(rq *request) (string, error) {
	if !rq.prefer.representation {
		return "1", nil
	}
	items, err := parseSelect(rq.query.Get("select"))
	if err != nil {
		return "", err
	}
	return b.columns(items)
}

// onConflict renders the upsert clause. Without a resolution preference on_conflict is ignored;
// without on_conflict the primary key is the conflict target.
func (b *sqlBuilder) onConflict(rq *request, cols []string) (string, error) {
	if rq.prefer.resolution == "" {
		return "", nil
	}
	target := b.t.pk
	if oc := rq.query.Get("on_conflict"); oc != "" {
		target = nil
		for _, c := range strings.Split(oc, ",") {
			c = strings.TrimSpace(c)
			if _, ok := b.t.column(c); !ok {
				return "", b.noColumn(c)
			}
			target = append(target, c)
		}
	}
	if len(target) == 0 {
		if rq.prefer.resolution == "ignore-duplicates" {
			return " on conflict do nothing", nil
		}
		return "", newError(http.StatusBadRequest, "PGRST100", "merge-duplicates needs on_conflict or a primary key")
	}
	clause := " on conflict (" + b.quoteList(target, "") + ")"
	if rq.prefer.resolution == "ignore-duplicates" || len(cols) == 0 {
		return clause + " do nothing", nil
	}
	sets := make([]string, len(cols))
	for i, c := range cols {
		sets[i] = quoteIdent(c) + " = excluded." + quoteIdent(c)
	}
	return clause + " do update set " + strings.Join(sets, ", "), nil
}

// updatePlan is PATCH: UPDATE ... FROM json_populate_record for the filtered rows. An empty
// object changes nothing and returns a nil plan.
func updatePlan(r *http.Request, rq *request, b *sqlBuilder) (*plan, error) {
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	var obj map[string]json.RawMessage
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' || json.Unmarshal(body, &obj) != nil {
		return nil, invalidBody("Empty or invalid json")
	}
	conds, err := mutationFilters(rq, "UPDATE")
	if err != nil {
		return nil, err
	}
	cols, err := b.payloadColumns(sortedKeys(obj))
	if err != nil || len(cols) == 0 {
		return nil, err
	}
	returning, err := b.returning(rq)
	if err != nil {
		return nil, err
	}
	sets := make([]string, len(cols))
	for i, c := range cols {
		sets[i] = quoteIdent(c) + " = _." + quoteIdent(c)
	}
	arg := b.param(string(body))
	where, err := b.where(conds)
	if err != nil {
		return nil, err
	}
	update := "update " + b.name + " set " + strings.Join(sets, ", ") +
		" from (select * from pg_catalog.json_populate_record(null::" + b.name + ", " + arg + "::json)) _" +
		where + " returning " + returning
	return mutation(update, b, rq), nil
}

// deletePlan is DELETE of the filtered rows.
func deletePlan(rq *request, b *sqlBuilder) (*plan, error) {
	conds, err := mutationFilters(rq, "DELETE")
	if err != nil {
		return nil, err
	}
	returning, err := b.returning(rq)
	if err != nil {
		return nil, err
	}
	where, err := b.where(conds)
	if err != nil {
		return nil, err
	}
	return mutation("delete from "+b.name+where+" returning "+returning, b, rq), nil
}

// mutationFilters reads the filters of a PATCH or DELETE. Without any it fails like Supabase's
// pg-safeupdate does (21000, 400). Limited updates (limit/order) are not supported.
func mutationFilters(rq *request, verb string) ([]condition, error) {
	if rq.query.Has("limit") || rq.query.Has("offset") || rq.query.Has("order") {
		return nil, parseError("limit/offset/order on " + verb + " (not supported)")
	}
	conds, err := parseFilters(rq.query)
	if err != nil {
		return nil, err
	}
	if len(conds) == 0 {
		return nil, newError(http.StatusBadRequest, "21000", verb+" requires a WHERE clause")
	}
	return conds, nil
}

func mutation(stmt string, b *sqlBuilder, rq *request) *plan {
	sql := "with pgrst_source as (" + stmt + ") " +
		result("select * from pgrst_source", rq.prefer.representation, rq.media, "null::bigint")
	return &plan{sql: sql, args: b.args, singular: rq.singular}
}
