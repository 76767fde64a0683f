package pgrest

import (
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// reservedParams are query parameters that are not filters.
var reservedParams = map[string]bool{
	"select": true, "order": true, "limit": true, "offset": true, "columns": true, "on_conflict": true,
	"and": true, "or": true, "not.and": true, "not.or": true, "apikey": true,
}

func reservedParam(k string) bool { return reservedParams[k] }

// condition is a filter: a leaf (column, operator, value) or an and/or group of conditions.
type condition struct {
	column, op, value string
	list              []string // the values of in.(...)
	negate            bool
	logic             string // "and" or "or" for a group
	children          []condition
}

// valueOps take one value that is cast to the column's type, and their SQL operator.
var valueOps = map[string]string{
	"eq": "=", "neq": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<=",
	"cs": "@>", "cd": "<@", "ov": "&&", "isdistinct": "is distinct from",
}

// textOps compare the column with a text pattern.
var textOps = map[string]string{"like": "like", "ilike": "ilike", "match": "~", "imatch": "~*"}

func parseError(what string) *apiError {
	return newError(http.StatusBadRequest, "PGRST100", `"failed to parse `+what+`" (line 1, column 1)`)
}

// parseFilters reads col=op.value filters and and=/or= groups. Keys are sorted so equal requests
// produce equal SQL, which the statement cache relies on.
func parseFilters(q url.Values) ([]condition, error) {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []condition
	for _, k := range keys {
		for _, v := range q[k] {
			c, err := parseParam(k, v)
			if err != nil {
				return nil, err
			}
			if c != nil {
				out = append(out, *c)
			}
		}
	}
	return out, nil
}

func parseParam(key, value string) (*condition, error) {
	switch key {
	case "and", "or", "not.and", "not.or":
		logic, negate := strings.TrimPrefix(key, "not."), strings.HasPrefix(key, "not.")
		c, err := parseGroup(logic, negate, value)
		return &c, err
	}
	if reservedParam(key) {
		return nil, nil
	}
	if strings.ContainsAny(key, ".(") {
		return nil, parseError("filter on embedded resource " + key + " (not supported)")
	}
	c, err := parseLeaf(key, value, false)
	return &c, err
}

// parseLeaf reads "[not.]op.value". Inside and/or groups a value may be double-quoted.
func parseLeaf(column, s string, inGroup bool) (condition, error) {
	c := condition{column: column}
	if rest, ok := strings.CutPrefix(s, "not."); ok {
		c.negate, s = true, rest
	}
	op, val, ok := strings.Cut(s, ".")
	if !ok {
		return c, parseError("filter (" + s + ")")
	}
	c.op = op
	switch {
	case op == "in":
		list, err := parseList(val)
		if err != nil {
			return c, err
		}
		c.list = list
	case op == "is":
		switch strings.ToLower(val) {
		case "null", "true", "false", "unknown":
			c.value = strings.ToLower(val)
		default:
			return c, parseError("filter (is." + val + ")")
		}
	case valueOps[op] != "" || textOps[op] != "":
		c.value = val
		if inGroup {
			c.value = unquote(val)
		}
	default:
		return c, parseError("filter (" + s + ")")
	}
	return c, nil
}

// parseList reads "(a,b,"c,d")": a comma-separated list in parentheses whose items may be
// double-quoted to hold commas and parentheses.
func parseList(s string) ([]string, error) {
	if len(s) < 2 || s[0] != '(' || s[len(s)-1] != ')' {
		return nil, parseError("list (" + s + ")")
	}
	inner := s[1 : len(s)-1]
	if strings.TrimSpace(inner) == "" {
		return []string{}, nil
	}
	items := splitTopLevel(inner)
	for i, it := range items {
		items[i] = unquote(it)
	}
	return items, nil
}

// parseGroup reads "(c1,c2,and(c3,c4),not.or(c5,c6))" where each ci is "column.[not.]op.value".
func parseGroup(logic string, negate bool, s string) (condition, error) {
	g := condition{logic: logic, negate: negate}
	if len(s) < 2 || s[0] != '(' || s[len(s)-1] != ')' {
		return g, parseError("logic tree (" + s + ")")
	}
	for _, item := range splitTopLevel(s[1 : len(s)-1]) {
		c, err := parseGroupItem(strings.TrimSpace(item))
		if err != nil {
			return g, err
		}
		g.children = append(g.children, c)
	}
	if len(g.children) == 0 {
		return g, parseError("logic tree (" + s + ")")
	}
	return g, nil
}

func parseGroupItem(item string) (condition, error) {
	rest, negate := strings.CutPrefix(item, "not.")
	for _, logic := range []string{"and", "or"} {
		if inner, ok := strings.CutPrefix(rest, logic+"("); ok {
			return parseGroup(logic, negate, "("+inner)
		}
	}
	column, filter, ok := strings.Cut(item, ".")
	if !ok {
		return condition{}, parseError("logic tree item (" + item + ")")
	}
	return parseLeaf(column, filter, true)
}

// splitTopLevel splits at commas outside parentheses and double quotes.
func splitTopLevel(s string) []string {
	var out []string
	depth, start, quoted := 0, 0, false
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; {
		case quoted && ch == '\\':
			i++
		case ch == '"':
			quoted = !quoted
		case quoted:
		case ch == '(':
			depth++
		case ch == ')':
			depth--
		case ch == ',' && depth == 0:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// unquote removes surrounding double quotes and backslash escapes.
func unquote(s string) string {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return s
	}
	var b strings.Builder
	for i := 1; i < len(s)-1; i++ {
		if s[i] == '\\' && i+1 < len(s)-1 {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// selectItem is one entry of select=: a column, with an optional alias and cast.
type selectItem struct {
	column, alias, cast string
}

// castPattern admits a type name for select=col::type: one identifier or a multi-word built-in
// type, never free text (the name goes into the SQL as written).
var castPattern = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*|double precision|character varying|` +
	`(timestamp|time) with(out)? time zone)(\[\])?$`)

// parseSelect reads select=; nil means every column. Embedding and JSON paths are not
// supported.
func parseSelect(s string) ([]selectItem, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "*" {
		return nil, nil
	}
	var items []selectItem
	for _, raw := range splitTopLevel(s) {
		raw = strings.TrimSpace(raw)
		if raw == "*" {
			return nil, nil
		}
		if strings.ContainsAny(raw, "()->!") {
			return nil, parseError("select (" + raw + "): embedding and JSON paths are not supported")
		}
		var it selectItem
		name := raw
		if i := strings.Index(raw, "::"); i >= 0 {
			name, it.cast = raw[:i], raw[i+2:]
			if !castPattern.MatchString(it.cast) {
				return nil, parseError("select (" + raw + ")")
			}
		}
		if alias, col, ok := strings.Cut(name, ":"); ok {
			it.alias, name = alias, col
		}
		it.column = unquote(name)
		if it.alias == "" {
			it.alias = it.column
		}
		items = append(items, it)
	}
	return items, nil
}

type orderTerm struct {
	column string
	desc   bool
	nulls  string // "", "first" or "last"
}

func parseOrder(s string) ([]orderTerm, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []orderTerm
	for _, raw := range strings.Split(s, ",") {
		parts := strings.Split(strings.TrimSpace(raw), ".")
		t := orderTerm{column: parts[0]}
		for _, m := range parts[1:] {
			switch m {
			case "asc":
				t.desc = false
			case "desc":
				t.desc = true
			case "nullsfirst":
				t.nulls = "first"
			case "nullslast":
				t.nulls = "last"
			default:
				return nil, parseError("order (" + raw + ")")
			}
		}
		out = append(out, t)
	}
	return out, nil
}

// parseCount reads a non-negative limit or offset; -1 means absent.
func parseCount(q url.Values, name string) (int64, error) {
	v := q.Get(name)
	if v == "" {
		return -1, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, parseError(name + " (" + v + ")")
	}
	return n, nil
}
