package pgrest

import (
	"net/http"
	"net/url"
	"strconv"
)

// serveTable serves §4's table endpoints on the tables and views of the exposed schema.
func (g *Gateway) serveTable(w http.ResponseWriter, r *http.Request, a *auth, rq *request, name string) error {
	sc := g.schema.Load()
	t := sc.tables[name]
	if t == nil {
		// PostgREST 12.2 lets PostgreSQL report the missing relation (v13+ answers PGRST205).
		return newError(http.StatusNotFound, "42P01", `relation "`+sc.schema+"."+name+`" does not exist`)
	}
	b := newSQLBuilder(sc.schema, t)
	var (
		p   *plan
		err error
	)
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return g.serveRead(w, r, a, rq, b)
	case http.MethodPost:
		p, err = insertPlan(r, rq, b)
	case http.MethodPatch:
		p, err = updatePlan(r, rq, b)
	case http.MethodDelete:
		p, err = deletePlan(rq, b)
	default:
		return newError(http.StatusMethodNotAllowed, "PGRST117", "Unsupported HTTP method: "+r.Method)
	}
	if err != nil {
		return err
	}
	if p == nil { // nothing to change: an empty PATCH body
		return g.writeMutation(w, r, rq, outcome{body: []byte("[]")})
	}
	out, err := g.execute(r.Context(), a, rq, p)
	if err != nil {
		return fromDB(err, a.anon)
	}
	return g.writeMutation(w, r, rq, out)
}

func (g *Gateway) writeMutation(w http.ResponseWriter, r *http.Request, rq *request, out outcome) error {
	res := response{status: http.StatusNoContent, media: rq.media, prefer: rq.prefer.applied}
	var total *int64
	if rq.prefer.count {
		total = &out.count
	}
	switch r.Method {
	case http.MethodPatch: // PostgREST: the affected rows' range, "0-<n-1>/*" ("*/*" for none)
		res.contentRange = contentRange(0, out.count, total)
	case http.MethodPost:
		res.status = http.StatusCreated
		fallthrough
	default: // PostgREST: "*/*", or "*/<affected>" when counted
		res.contentRange = contentRange(1, 0, total)
	}
	if rq.prefer.representation {
		if res.status == http.StatusNoContent {
			res.status = http.StatusOK
		}
		res.body = out.body
	}
	writeResponse(w, r, res)
	return nil
}

// serveRead answers GET and HEAD with the selected, filtered, ordered page of rows.
func (g *Gateway) serveRead(w http.ResponseWriter, r *http.Request, a *auth, rq *request, b *sqlBuilder) error {
	p, offset, err := readPlan(rq, b)
	if err != nil {
		return err
	}
	out, err := g.execute(r.Context(), a, rq, p)
	if err != nil {
		return fromDB(err, a.anon)
	}
	res := response{status: http.StatusOK, body: out.body, media: rq.media, prefer: rq.prefer.applied}
	res.contentRange = contentRange(offset, out.count, out.total)
	if out.total != nil {
		if offset > *out.total {
			return newError(http.StatusRequestedRangeNotSatisfiable, "PGRST103", "Requested range not satisfiable").
				withDetails("An offset of " + strconv.FormatInt(offset, 10) + " was requested, but there are only " +
					strconv.FormatInt(*out.total, 10) + " rows.")
		}
		if out.count < *out.total {
			res.status = http.StatusPartialContent
		}
	}
	writeResponse(w, r, res)
	return nil
}

// readQuery is a parsed GET: select=, filters, order=, limit= and offset= (-1 when absent).
type readQuery struct {
	items         []selectItem
	conds         []condition
	terms         []orderTerm
	limit, offset int64
}

func parseRead(q url.Values) (rd readQuery, err error) {
	if rd.items, err = parseSelect(q.Get("select")); err != nil {
		return rd, err
	}
	if rd.conds, err = parseFilters(q); err != nil {
		return rd, err
	}
	if rd.terms, err = parseOrder(q.Get("order")); err != nil {
		return rd, err
	}
	if rd.limit, err = parseCount(q, "limit"); err != nil {
		return rd, err
	}
	rd.offset, err = parseCount(q, "offset")
	return rd, err
}

func readPlan(rq *request, b *sqlBuilder) (*plan, int64, error) {
	rd, err := parseRead(rq.query)
	if err != nil {
		return nil, 0, err
	}
	cols, err := b.columns(rd.items)
	if err != nil {
		return nil, 0, err
	}
	where, err := b.where(rd.conds)
	if err != nil {
		return nil, 0, err
	}
	order, err := b.orderBy(rd.terms)
	if err != nil {
		return nil, 0, err
	}
	source := "select " + cols + " from " + b.name + where + order
	if rd.limit >= 0 {
		source += " limit " + b.param(rd.limit)
	}
	if rd.offset >= 0 {
		source += " offset " + b.param(rd.offset)
	}
	total := "null::bigint"
	if rq.prefer.count {
		total = "(select pg_catalog.count(*) from " + b.name + where + ")"
	}
	p := &plan{sql: result(source, true, rq.media, total), args: b.args, readOnly: true, singular: rq.singular}
	return p, max(rd.offset, 0), nil
}
