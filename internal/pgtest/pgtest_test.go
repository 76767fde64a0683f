package pgtest_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/polaris/reportd/internal/pgtest"
)

var shared *pgtest.Cluster

func TestMain(m *testing.M) {
	os.Exit(pgtest.Main(m, func(ctx context.Context, c *pgtest.Cluster) error {
		shared = c
		return pgtest.Bootstrap(ctx, c.SuperURL())
	}))
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestBootstrapRoles(t *testing.T) {
	t.Parallel()
	conn := connect(t, shared.SuperURL())
	tests := []struct {
		role                       string
		login, inherit, bypass, su bool
	}{
		{role: "anon"},
		{role: "authenticated"},
		{role: "service_role", bypass: true},
		{role: "authenticator", login: true},
	}
	for _, tt := range tests {
		var login, inherit, bypass, su bool
		err := conn.QueryRow(context.Background(),
			"select rolcanlogin, rolinherit, rolbypassrls, rolsuper from pg_roles where rolname = $1", tt.role,
		).Scan(&login, &inherit, &bypass, &su)
		if err != nil {
			t.Fatalf("%s: %v", tt.role, err)
		}
		if login != tt.login || inherit != tt.inherit || bypass != tt.bypass || su != tt.su {
			t.Errorf("%s: login=%v inherit=%v bypassrls=%v super=%v, want %v %v %v %v",
				tt.role, login, inherit, bypass, su, tt.login, tt.inherit, tt.bypass, tt.su)
		}
	}
	var members int
	err := conn.QueryRow(context.Background(), `select count(*) from pg_auth_members m
		join pg_roles r on r.oid = m.roleid join pg_roles u on u.oid = m.member
		where u.rolname = 'authenticator' and r.rolname in ('anon', 'authenticated', 'service_role')`).Scan(&members)
	if err != nil || members != 3 {
		t.Errorf("authenticator is a member of %d API roles (err %v), want 3", members, err)
	}
}

func TestBootstrapIsIdempotent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	if err := pgtest.Bootstrap(ctx, shared.SuperURL()); err != nil {
		t.Fatalf("second bootstrap: %v", err)
	}
}

func TestAuthenticatorSwitchesRoleAndReadsClaims(t *testing.T) {
	t.Parallel()
	conn := connect(t, shared.URL("authenticator", "authenticator"))
	ctx := context.Background()
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }() // the test only reads; nothing to keep
	claims := `{"sub":"6f1c1d1e-1111-4222-8333-444455556666","role":"authenticated","email":"a@example.com"}`
	_, err = tx.Exec(ctx, "select set_config('role', 'authenticated', true), set_config('request.jwt.claims', $1, true)", claims)
	if err != nil {
		t.Fatal(err)
	}
	var uid, role, email, user, jwtEmail string
	err = tx.QueryRow(ctx, `select auth.uid()::text, auth.role(), auth.email(), current_user,
		auth.jwt() ->> 'email'`).Scan(&uid, &role, &email, &user, &jwtEmail)
	if err != nil {
		t.Fatal(err)
	}
	if uid != "6f1c1d1e-1111-4222-8333-444455556666" || role != "authenticated" || email != "a@example.com" || user != "authenticated" || jwtEmail != email {
		t.Errorf("got uid=%s role=%s email=%s user=%s", uid, role, email, user)
	}
}

func TestAuthUIDIsNullAfterTransaction(t *testing.T) {
	t.Parallel()
	conn := connect(t, shared.URL("authenticator", "authenticator"))
	ctx := context.Background()
	_, err := conn.Exec(ctx, "set role anon; begin; select set_config('request.jwt.claims', '{\"sub\":\"6f1c1d1e-1111-4222-8333-444455556666\"}', true); commit")
	if err != nil {
		t.Fatal(err)
	}
	var uid *string
	if err := conn.QueryRow(ctx, "select auth.uid()::text").Scan(&uid); err != nil {
		t.Fatalf("auth.uid() after the transaction: %v", err)
	}
	if uid != nil {
		t.Errorf("auth.uid() = %q after the transaction, want NULL", *uid)
	}
}

func TestRoleSettings(t *testing.T) {
	t.Parallel()
	conn := connect(t, shared.SuperURL())
	var settings string
	err := conn.QueryRow(context.Background(), `select string_agg(r.rolname || ':' || array_to_string(s.setconfig, ','), ' ' order by r.rolname)
		from pg_db_role_setting s join pg_roles r on r.oid = s.setrole
		where r.rolname in ('anon', 'authenticated') and s.setdatabase = 0`).Scan(&settings)
	if err != nil {
		t.Fatal(err)
	}
	if settings != "anon:statement_timeout=3s authenticated:statement_timeout=8s" {
		t.Errorf("role settings = %q", settings)
	}
}

func TestNoTableGrantsByDefault(t *testing.T) {
	t.Parallel()
	conn := connect(t, shared.SuperURL())
	ctx := context.Background()
	if _, err := conn.Exec(ctx, "create table if not exists public.grants_probe (id int)"); err != nil {
		t.Fatal(err)
	}
	var granted bool
	err := conn.QueryRow(ctx, "select has_table_privilege('anon', 'public.grants_probe', 'select')").Scan(&granted)
	if err != nil || granted {
		t.Errorf("anon can select a new public table (err %v)", err)
	}
}

func TestApplyFilesNamesTheFailingFile(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{
		"001_ok.sql":  {Data: []byte("create table applied_ok (id int); create table applied_ok2 (id int);")},
		"002_bad.sql": {Data: []byte("create table applied_bad (id int); select * from missing_table;")},
	}
	err := pgtest.ApplyFiles(context.Background(), shared.SuperURL(), fsys, []string{"001_ok.sql", "002_bad.sql"})
	if err == nil || !strings.Contains(err.Error(), "002_bad.sql") {
		t.Fatalf("err = %v, want it to name 002_bad.sql", err)
	}
	conn := connect(t, shared.SuperURL())
	var ok, bad *string
	err = conn.QueryRow(context.Background(), "select to_regclass('applied_ok2')::text, to_regclass('applied_bad')::text").Scan(&ok, &bad)
	if err != nil {
		t.Fatal(err)
	}
	if ok == nil || bad != nil {
		t.Errorf("applied_ok2=%v applied_bad=%v: want the first file kept and the second rolled back", ok, bad)
	}
}

func TestRestartKeepsData(t *testing.T) {
	t.Parallel()
	c := pgtest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn := connect(t, c.SuperURL())
	if _, err := conn.Exec(ctx, "create table kept (v text); insert into kept values ('before restart')"); err != nil {
		t.Fatal(err)
	}
	port := c.Port()
	err := c.StopServer(ctx)
	if errors.Is(err, pgtest.ErrSharedServer) {
		t.Skip("restart needs a throwaway cluster")
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pgx.Connect(ctx, c.SuperURL()); err == nil {
		t.Fatal("connected to a stopped server")
	}
	if err := c.StartServer(ctx); err != nil {
		t.Fatal(err)
	}
	if c.Port() != port {
		t.Errorf("port changed from %d to %d", port, c.Port())
	}
	var v string
	if err := connect(t, c.SuperURL()).QueryRow(ctx, "select v from kept").Scan(&v); err != nil || v != "before restart" {
		t.Errorf("after restart: v=%q err=%v", v, err)
	}
}

func TestCloseIsIdempotentAndRemovesDatabase(t *testing.T) {
	t.Parallel()
	c, err := pgtest.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	url := c.SuperURL()
	if err := c.Close(); err != nil {
		t.Fatalf("first close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if conn, err := pgx.Connect(ctx, url); err == nil {
		conn.Close(ctx)
		t.Fatal("the database is still reachable after Close")
	}
}

func TestStartWithSettingsAndDatabaseName(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := pgtest.StartWith(ctx, pgtest.Options{
		Settings: map[string]string{"work_mem": "3MB", "application_name": `it's a \ test`},
		Database: "chosen_name",
	})
	if errors.Is(err, pgtest.ErrSharedServer) {
		t.Skip("server settings need a throwaway cluster")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	var workMem, app, db string
	err = connect(t, c.SuperURL()).QueryRow(ctx, "select current_setting('work_mem'), current_setting('application_name'), current_database()").
		Scan(&workMem, &app, &db)
	if err != nil {
		t.Fatal(err)
	}
	if workMem != "3MB" || app != `it's a \ test` || db != "chosen_name" || c.Database() != "chosen_name" {
		t.Errorf("work_mem=%q application_name=%q database=%q (%q)", workMem, app, db, c.Database())
	}
}

func TestStartWithRefusesWhatIsNotASetting(t *testing.T) {
	t.Parallel()
	for _, settings := range []map[string]string{
		{"fsync = on\nwork_mem": "1MB"},
		{"work_mem": "1MB\nfsync = on"},
		{"": "x"},
	} {
		if c, err := pgtest.StartWith(context.Background(), pgtest.Options{Settings: settings}); err == nil {
			c.Close()
			t.Errorf("StartWith(%q) started a cluster", settings)
		}
	}
}
