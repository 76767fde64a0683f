package pgrest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// serveRPC calls a function per §2: the argument keys pick the overload, json_to_record binds
// the values with the declared types, and the function is called in named notation with only
// the supplied arguments.
func (g *Gateway) serveRPC(w http.ResponseWriter, r *http.Request, a *auth, rq *request, name string) error {
	var (
		args []byte
		keys []string
		err  error
	)
	switch r.Method {
	case http.MethodPost:
		args, keys, err = bodyArgs(r)
	case http.MethodGet, http.MethodHead:
		args, keys = queryArgs(rq.query)
	default:
		return invalidRPCMethod(r.Method)
	}
	if err != nil {
		return err
	}
	f, err := g.schema.Load().resolve(name, keys, r.Method == http.MethodPost)
	if err != nil {
		return err
	}
	if r.Method != http.MethodPost && f.volatility == 'v' {
		return invalidRPCMethod(r.Method) // GET only reaches STABLE and IMMUTABLE functions
	}
	m := media{singular: rq.singular && f.shape.isSet(), stripNulls: rq.stripNulls}
	p := rpcPlan(f, keys, args, m)
	p.readOnly = r.Method != http.MethodPost || f.volatility != 'v'
	out, err := g.execute(r.Context(), a, rq, p)
	if err != nil {
		return fromDB(err, a.anon)
	}
	res := response{status: http.StatusOK, body: out.body, media: m, contentRange: "0-0/*"}
	switch {
	case f.shape == shapeVoid:
		res.status, res.body = http.StatusNoContent, nil
	case f.shape.isSet() && !p.singular:
		res.contentRange = contentRange(0, out.count, nil)
	}
	if res.body == nil && res.status == http.StatusOK {
		res.body = []byte("null")
	}
	writeResponse(w, r, res)
	return nil
}

func invalidRPCMethod(method string) *apiError {
	return newError(http.StatusMethodNotAllowed, "PGRST101", "Cannot use the "+method+" method on RPC")
}

// bodyArgs reads a JSON object of arguments; an empty body counts as {}.
func bodyArgs(r *http.Request) ([]byte, []string, error) {
	body, err := readBody(r)
	if err != nil {
		return nil, nil, err
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return []byte("{}"), nil, nil
	}
	var obj map[string]json.RawMessage
	if body[0] != '{' || json.Unmarshal(body, &obj) != nil {
		return nil, nil, invalidBody("Empty or invalid json")
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return body, keys, nil
}

// queryArgs turns a GET's query string into arguments; a repeated key becomes an array.
func queryArgs(q url.Values) ([]byte, []string) {
	obj := make(map[string]any, len(q))
	keys := make([]string, 0, len(q))
	for k, v := range q {
		if reservedParam(k) {
			continue
		}
		keys = append(keys, k)
		if len(v) == 1 {
			obj[k] = v[0]
		} else {
			obj[k] = v
		}
	}
	sort.Strings(keys)
	b, _ := json.Marshal(obj)
	return b, keys
}

// resolve picks the one overload whose parameters accept keys: every key is a parameter and
// every parameter without a default is a key.
func (sc *schemaCache) resolve(name string, keys []string, post bool) (*function, error) {
	var matches []*function
	for _, f := range sc.functions[name] {
		if f.accepts(keys) {
			matches = append(matches, f)
		}
	}
	switch len(matches) {
	case 1:
		return matches[0], nil
	case 0:
		return nil, noFunction(sc.schema, name, keys, post)
	}
	return nil, ambiguousFunction(matches)
}

func (f *function) accepts(keys []string) bool {
	supplied := 0
	for _, k := range keys {
		i := f.paramIndex(k)
		if i < 0 {
			return false
		}
		if i < f.required {
			supplied++
		}
	}
	return supplied == f.required
}

func (f *function) paramIndex(name string) int {
	for i, p := range f.params {
		if p.name == name {
			return i
		}
	}
	return -1
}

// noFunction words PGRST202 like PostgREST 12.2, without its fuzzy "Perhaps you meant" hint.
func noFunction(schema, name string, keys []string, post bool) *apiError {
	fn := schema + "." + name
	msg, det := "Could not find the function "+fn, "Searched for the function "+fn
	if len(keys) == 0 {
		msg += " without parameters"
		det += " without parameters"
	} else {
		msg += "(" + strings.Join(keys, ", ") + ")"
		det += " with parameter"
		if len(keys) > 1 {
			det += "s"
		}
		det += " " + strings.Join(keys, ", ")
	}
	if post {
		det += " or with a single unnamed json/jsonb parameter"
	}
	return newError(http.StatusNotFound, "PGRST202", msg+" in the schema cache").
		withDetails(det + ", but no matches were found in the schema cache.")
}

func ambiguousFunction(fns []*function) *apiError {
	sigs := make([]string, len(fns))
	for i, f := range fns {
		params := make([]string, len(f.params))
		for j, p := range f.params {
			params[j] = p.name + " => " + p.typ
		}
		sigs[i] = f.schema + "." + f.name + "(" + strings.Join(params, ", ") + ")"
	}
	return newError(http.StatusMultipleChoices, "PGRST203", "Could not choose the best candidate function between: "+strings.Join(sigs, ", ")).
		withHint("Try renaming the parameters or the function itself in the database so function overloading can be resolved")
}

// rpcPlan builds the call. Postgres produces the JSON (to_json, json_agg), so values keep its
// JSON forms; a void function is called in the select list because a subquery would let the
// planner skip a STABLE one.
func rpcPlan(f *function, keys []string, args []byte, m media) *plan {
	call, from := rpcCall(f, keys)
	var sql string
	switch f.shape {
	case shapeVoid:
		sql = "select null::bigint, 1::bigint, (" + call + ")::text" + from
	case shapeScalar:
		sql = "select null::bigint, 1::bigint, pg_catalog.to_json(" + call + ")::text" + from
	default:
		sql = rowsQuery(f, call, from, m)
	}
	p := &plan{sql: sql, singular: m.singular}
	if from != "" {
		p.args = []any{string(args)}
	}
	return p
}

// rowsQuery aggregates a function's rows (or its one composite value) into JSON.
func rowsQuery(f *function, call, from string, m media) string {
	source, agg := "pgrst_call.*", "_t"
	alias := " pgrst_call"
	if f.shape == shapeSetOfScalars {
		source, agg, alias = "pgrst_call.pgrst_scalar", "_t.pgrst_scalar", " pgrst_call(pgrst_scalar)"
	}
	if from == "" {
		from = " from " + call + alias
	} else {
		from += ", lateral " + call + alias
	}
	body := "coalesce(" + stripNulls(m, "pg_catalog.json_agg("+agg+")") + ", '[]')::text"
	if m.singular || f.shape == shapeComposite {
		body = "(" + stripNulls(m, "pg_catalog.json_agg("+agg+") -> 0") + ")::text"
	}
	return "select null::bigint, pg_catalog.count(*), " + body + " from (select " + source + from + ") _t"
}

// rpcCall is the named-notation call and, when there are arguments, the json_to_record source
// that types them.
func rpcCall(f *function, keys []string) (call, from string) {
	var c, cols strings.Builder
	c.WriteString(quoteIdent(f.schema) + "." + quoteIdent(f.name) + "(")
	n := 0
	for _, p := range f.params { // declaration order keeps the SQL text stable for the statement cache
		if !contains(keys, p.name) {
			continue
		}
		if n > 0 {
			c.WriteString(", ")
			cols.WriteString(", ")
		}
		if p.variadic {
			c.WriteString("variadic ")
		}
		c.WriteString(quoteIdent(p.name) + " := _." + quoteIdent(p.name))
		cols.WriteString(quoteIdent(p.name) + " " + p.typ)
		n++
	}
	c.WriteString(")")
	if n == 0 {
		return c.String(), ""
	}
	return c.String(), " from pg_catalog.json_to_record($1::json) as _(" + cols.String() + ")"
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// quoteIdent quotes an SQL identifier.
func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// quoteLiteral quotes an SQL string literal (standard_conforming_strings, PostgreSQL's default).
func quoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
