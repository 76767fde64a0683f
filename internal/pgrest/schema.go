package pgrest

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// schemaCache is what PostgREST calls its schema cache: read once (and on Reload) so requests
// never query the catalogs.
type schemaCache struct {
	schema    string
	functions map[string][]*function
	tables    map[string]*table
	roles     map[string]*roleSettings
}

// function is a callable RPC: prokind 'f', not a trigger, every input argument named.
type function struct {
	schema, name string
	params       []param // input parameters in declaration order
	required     int     // the first required params have no default
	volatility   byte    // 'i', 's' or 'v'
	shape        resultShape
}

type param struct {
	name, typ string
	variadic  bool
}

type resultShape int

const (
	shapeScalar    resultShape = iota // bare JSON value
	shapeComposite                    // one JSON object
	shapeSetOfRows                    // JSON array of objects
	shapeSetOfScalars
	shapeVoid // 204
)

func (s resultShape) isSet() bool { return s == shapeSetOfRows || s == shapeSetOfScalars }

type table struct {
	name    string
	columns []column
	index   map[string]int // column name → position in columns
	pk      []string
}

type column struct {
	name, typ string // typ is format_type without typmod, schema-qualified outside pg_catalog
	def       string // the default expression ("" for none), names schema-qualified
}

func (t *table) column(name string) (column, bool) {
	i, ok := t.index[name]
	if !ok {
		return column{}, false
	}
	return t.columns[i], true
}

// roleSettings are a role's own settings (ALTER ROLE ... SET), applied with the role switch.
type roleSettings struct {
	names, values []string
}

func loadSchema(ctx context.Context, pool *pgxpool.Pool, schema string) (*schemaCache, error) {
	sc := &schemaCache{schema: schema}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		// With an empty search_path format_type qualifies every type outside pg_catalog, so the
		// names stay valid whatever search_path a request runs with.
		if _, err := tx.Exec(ctx, "set local search_path = ''"); err != nil {
			return err
		}
		var err error
		if sc.functions, err = loadFunctions(ctx, tx, schema); err != nil {
			return fmt.Errorf("functions: %w", err)
		}
		if sc.tables, err = loadTables(ctx, tx, schema); err != nil {
			return fmt.Errorf("tables: %w", err)
		}
		if sc.roles, err = loadRoleSettings(ctx, tx); err != nil {
			return fmt.Errorf("role settings: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pgrest: load schema cache: %w", err)
	}
	return sc, nil
}

const functionsSQL = `
select p.proname, p.provolatile::text, p.proretset, p.pronargdefaults::int,
  p.prorettype = 'pg_catalog.void'::pg_catalog.regtype,
  t.typtype = 'c' or p.prorettype = 'pg_catalog.record'::pg_catalog.regtype,
  coalesce(a.names, '{}'), coalesce(a.types, '{}'), coalesce(a.modes, '{}')
from pg_catalog.pg_proc p
join pg_catalog.pg_namespace n on n.oid = p.pronamespace
join pg_catalog.pg_type t on t.oid = p.prorettype
left join lateral (
  select pg_catalog.array_agg(coalesce(x.name, '') order by x.ord) as names,
         pg_catalog.array_agg(pg_catalog.format_type(x.typ, null) order by x.ord) as types,
         pg_catalog.array_agg(x.mode order by x.ord) as modes
  from unnest(
         coalesce(p.proallargtypes, p.proargtypes::pg_catalog.oid[]),
         coalesce(p.proargmodes::text[], pg_catalog.array_fill('i'::text, array[p.pronargs::int])),
         coalesce(p.proargnames, pg_catalog.array_fill(''::text, array[p.pronargs::int]))
       ) with ordinality as x(typ, mode, name, ord)
  where x.mode in ('i', 'b', 'v')
) a on true
where n.nspname = $1 and p.prokind = 'f' and p.prorettype <> 'pg_catalog.trigger'::pg_catalog.regtype`

func loadFunctions(ctx context.Context, tx pgx.Tx, schema string) (map[string][]*function, error) {
	rows, err := tx.Query(ctx, functionsSQL, schema)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]*function{}
	for rows.Next() {
		var (
			f                         = &function{schema: schema}
			volatility                string
			retSet, isVoid, composite bool
			defaults                  int
			names, types, modes       []string
		)
		if err := rows.Scan(&f.name, &volatility, &retSet, &defaults, &isVoid, &composite, &names, &types, &modes); err != nil {
			return nil, err
		}
		f.volatility = volatility[0]
		f.shape = shapeOf(retSet, isVoid, composite)
		f.required = len(names) - defaults
		if !f.setParams(names, types, modes) {
			continue // an unnamed argument: not callable through RPC
		}
		out[f.name] = append(out[f.name], f)
	}
	return out, rows.Err()
}

func shapeOf(retSet, isVoid, composite bool) resultShape {
	switch {
	case isVoid:
		return shapeVoid
	case retSet && composite:
		return shapeSetOfRows
	case retSet:
		return shapeSetOfScalars
	case composite:
		return shapeComposite
	}
	return shapeScalar
}

func (f *function) setParams(names, types, modes []string) bool {
	for i, n := range names {
		if n == "" {
			return false
		}
		f.params = append(f.params, param{name: n, typ: types[i], variadic: modes[i] == "v"})
	}
	return true
}

const tablesSQL = `
select c.relname, a.attname, pg_catalog.format_type(a.atttypid, null),
  coalesce(case when a.attgenerated = '' then pg_catalog.pg_get_expr(d.adbin, d.adrelid) end, ''),
  coalesce((select pg_catalog.array_agg(pa.attname order by k.ord)
            from pg_catalog.pg_constraint con
            cross join pg_catalog.unnest(con.conkey) with ordinality as k(attnum, ord)
            join pg_catalog.pg_attribute pa on pa.attrelid = con.conrelid and pa.attnum = k.attnum
            where con.conrelid = c.oid and con.contype = 'p'), '{}')
from pg_catalog.pg_class c
join pg_catalog.pg_namespace n on n.oid = c.relnamespace
join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
left join pg_catalog.pg_attrdef d on d.adrelid = c.oid and d.adnum = a.attnum
where n.nspname = $1 and c.relkind in ('r', 'p', 'v', 'm', 'f')
order by c.relname, a.attnum`

func loadTables(ctx context.Context, tx pgx.Tx, schema string) (map[string]*table, error) {
	rows, err := tx.Query(ctx, tablesSQL, schema)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]*table{}
	for rows.Next() {
		var rel, name, typ, def string
		var pk []string
		if err := rows.Scan(&rel, &name, &typ, &def, &pk); err != nil {
			return nil, err
		}
		t := out[rel]
		if t == nil {
			t = &table{name: rel, index: map[string]int{}, pk: pk}
			out[rel] = t
		}
		t.index[name] = len(t.columns)
		t.columns = append(t.columns, column{name: name, typ: typ, def: def})
	}
	return out, rows.Err()
}

// roleSettingsSQL reads the settings of roles the authenticator can switch to, database-specific
// ones after global ones so they win. Only settings a plain role may change are kept (context
// 'user', or custom dotted names), as set_config would fail on the others.
const roleSettingsSQL = `
select r.rolname, split_part(kv, '=', 1), substr(kv, strpos(kv, '=') + 1)
from pg_catalog.pg_db_role_setting s
join pg_catalog.pg_roles r on r.oid = s.setrole
cross join pg_catalog.unnest(s.setconfig) as kv
left join pg_catalog.pg_settings ps on ps.name = split_part(kv, '=', 1)
where s.setdatabase in (0, (select oid from pg_catalog.pg_database where datname = current_database()))
  and r.rolname <> current_user
  and pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER')
  and (ps.context = 'user' or (ps.name is null and strpos(split_part(kv, '=', 1), '.') > 0))
order by r.rolname, s.setdatabase`

func loadRoleSettings(ctx context.Context, tx pgx.Tx) (map[string]*roleSettings, error) {
	rows, err := tx.Query(ctx, roleSettingsSQL)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	byRole := map[string]map[string]string{}
	for rows.Next() {
		var role, name, value string
		if err := rows.Scan(&role, &name, &value); err != nil {
			return nil, err
		}
		if byRole[role] == nil {
			byRole[role] = map[string]string{}
		}
		byRole[role][name] = value
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make(map[string]*roleSettings, len(byRole))
	for role, kv := range byRole {
		rs := &roleSettings{}
		for name := range kv {
			rs.names = append(rs.names, name)
		}
		sort.Strings(rs.names)
		for _, name := range rs.names {
			rs.values = append(rs.values, kv[name])
		}
		out[role] = rs
	}
	return out, nil
}

// setupSQLs caches the settings statement for roles with few settings, by their number.
var setupSQLs = func() (out [8]string) {
	for i := range out {
		out[i] = buildSetupSQL(i)
	}
	return out
}()

// setupSQL is §1's one statement of transaction-local settings, in PostgREST's order:
// search_path, the role's own settings, role, request.jwt.claims, request.method, request.path,
// request.headers, request.cookies.
func setupSQL(nSettings int) string {
	if nSettings < len(setupSQLs) {
		return setupSQLs[nSettings]
	}
	return buildSetupSQL(nSettings)
}

func buildSetupSQL(nSettings int) string {
	var b strings.Builder
	b.WriteString("select pg_catalog.set_config('search_path', $1, true)")
	n := 2
	for range nSettings {
		fmt.Fprintf(&b, ", pg_catalog.set_config($%d, $%d, true)", n, n+1)
		n += 2
	}
	for _, name := range []string{"role", "request.jwt.claims", "request.method", "request.path", "request.headers", "request.cookies"} {
		b.WriteString(", pg_catalog.set_config('" + name + "', $" + strconv.Itoa(n) + ", true)")
		n++
	}
	return b.String()
}
