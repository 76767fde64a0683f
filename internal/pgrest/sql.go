package pgrest

import (
	"net/http"
	"strconv"
	"strings"
)

// sqlBuilder renders SQL for one table. Values only ever travel as parameters: a filter value
// is sent as text and cast to the column's type by PostgreSQL (so "abc" for a uuid is 22P02),
// and identifiers are checked against the schema cache before they are quoted into the text.
type sqlBuilder struct {
	t     *table
	name  string // "schema"."table"
	args  []any
	table string
}

func newSQLBuilder(schema string, t *table) *sqlBuilder {
	return &sqlBuilder{t: t, name: quoteIdent(schema) + "." + quoteIdent(t.name), table: t.name}
}

func (b *sqlBuilder) param(v any) string {
	b.args = append(b.args, v)
	return "$" + strconv.Itoa(len(b.args))
}

// col returns the qualified column, or 42703 as PostgreSQL words it when there is no such column.
func (b *sqlBuilder) col(name string) (string, column, error) {
	c, ok := b.t.column(name)
	if !ok {
		return "", c, b.noColumn(name)
	}
	return b.name + "." + quoteIdent(name), c, nil
}

func (b *sqlBuilder) noColumn(name string) *apiError {
	return newError(http.StatusBadRequest, "42703", "column "+b.table+"."+name+" does not exist")
}

// where renders conditions joined by AND, or "" when there are none.
func (b *sqlBuilder) where(conds []condition) (string, error) {
	if len(conds) == 0 {
		return "", nil
	}
	s, err := b.group("and", conds)
	if err != nil {
		return "", err
	}
	return " where " + s, nil
}

func (b *sqlBuilder) group(logic string, conds []condition) (string, error) {
	parts := make([]string, 0, len(conds))
	for _, c := range conds {
		s, err := b.condition(c)
		if err != nil {
			return "", err
		}
		parts = append(parts, s)
	}
	return "(" + strings.Join(parts, " "+logic+" ") + ")", nil
}

func (b *sqlBuilder) condition(c condition) (string, error) {
	var s string
	var err error
	if c.logic != "" {
		s, err = b.group(c.logic, c.children)
	} else {
		s, err = b.leaf(c)
	}
	if err != nil || !c.negate {
		return s, err
	}
	return "not " + s, nil
}

func (b *sqlBuilder) leaf(c condition) (string, error) {
	col, info, err := b.col(c.column)
	if err != nil {
		return "", err
	}
	switch {
	case c.op == "in":
		return "(" + col + " = any(" + b.param(c.list) + "::text[]::" + info.typ + "[]))", nil
	case c.op == "is":
		return "(" + col + " is " + c.value + ")", nil
	case textOps[c.op] != "":
		pattern := c.value
		if c.op == "like" || c.op == "ilike" {
			pattern = strings.ReplaceAll(pattern, "*", "%")
		}
		return "(" + col + " " + textOps[c.op] + " " + b.param(pattern) + "::text)", nil
	}
	return "(" + col + " " + valueOps[c.op] + " " + b.param(c.value) + "::text::" + info.typ + ")", nil
}

// columns renders select= for a query or a RETURNING clause.
func (b *sqlBuilder) columns(items []selectItem) (string, error) {
	if len(items) == 0 {
		return b.name + ".*", nil
	}
	parts := make([]string, 0, len(items))
	for _, it := range items {
		col, _, err := b.col(it.column)
		if err != nil {
			return "", err
		}
		if it.cast != "" {
			col += "::" + it.cast
		}
		parts = append(parts, col+" as "+quoteIdent(it.alias))
	}
	return strings.Join(parts, ", "), nil
}

func (b *sqlBuilder) orderBy(terms []orderTerm) (string, error) {
	if len(terms) == 0 {
		return "", nil
	}
	parts := make([]string, 0, len(terms))
	for _, t := range terms {
		col, _, err := b.col(t.column)
		if err != nil {
			return "", err
		}
		if t.desc {
			col += " desc"
		}
		if t.nulls != "" {
			col += " nulls " + t.nulls
		}
		parts = append(parts, col)
	}
	return " order by " + strings.Join(parts, ", "), nil
}

// quoteList quotes and joins validated column names.
func (b *sqlBuilder) quoteList(names []string, prefix string) string {
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = prefix + quoteIdent(n)
	}
	return strings.Join(parts, ", ")
}

// result wraps a source query into the (total, page count, body) row every plan returns.
func result(source string, representation bool, m media, total string) string {
	body := "null::text"
	switch {
	case representation && m.singular:
		body = "(" + stripNulls(m, "pg_catalog.json_agg(_t) -> 0") + ")::text"
	case representation:
		body = "coalesce(" + stripNulls(m, "pg_catalog.json_agg(_t)") + ", '[]')::text"
	}
	return "select " + total + ", pg_catalog.count(*), " + body + " from (" + source + ") _t"
}

// stripNulls wraps a JSON expression in json_strip_nulls when nulls=stripped was asked for.
func stripNulls(m media, expr string) string {
	if !m.stripNulls {
		return expr
	}
	return "pg_catalog.json_strip_nulls(" + expr + ")"
}
