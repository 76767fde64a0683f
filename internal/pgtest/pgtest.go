// Package pgtest gives tests and benchmarks a PostgreSQL database of their own.
//
// Start creates a fresh database: on the server named by TEST_DATABASE_URL when that is set (CI
// with a service container), otherwise in a throwaway cluster it initialises and starts itself,
// so no test depends on a server someone started by hand. Bootstrap then reproduces the roles,
// schemas and auth helpers that Supabase provides.
//
// Nothing here imports testing except Main and New, so commands can reuse Start and Close.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"sync"

	"github.com/jackc/pgx/v5"
)

// EnvDatabaseURL names the variable that points Start at an existing server. It must be a
// postgres:// URL of a superuser; Start creates and later drops its own database there.
const EnvDatabaseURL = "TEST_DATABASE_URL"

// ErrSharedServer is returned by StopServer and StartServer on a server pgtest does not own.
var ErrSharedServer = errors.New("pgtest: the server belongs to " + EnvDatabaseURL + " and cannot be stopped")

// Cluster is one test database, on a throwaway cluster or on a shared server.
type Cluster struct {
	base   *url.URL // superuser URL of the test database
	dbName string
	admin  string  // URL of a maintenance database, for CREATE/DROP DATABASE
	local  *server // nil on a shared server

	closeOnce sync.Once
	closeErr  error
}

// Start creates a fresh, empty database named reportd_test_<random> and returns it. The caller
// must Close it. See the package comment for where the database lives.
func Start(ctx context.Context) (*Cluster, error) { return StartWith(ctx, Options{}) }

// Options change what StartWith starts. The zero value is Start's behaviour.
type Options struct {
	// Settings are extra postgresql.conf settings of a throwaway cluster, by name, applied
	// before the server first starts (so server-start-only settings such as
	// shared_preload_libraries work). Values are written as quoted strings, which PostgreSQL
	// accepts for settings of every type. A server named by TEST_DATABASE_URL cannot take them:
	// StartWith then fails with ErrSharedServer.
	Settings map[string]string
	// Database names the test database instead of reportd_test_<random>, for settings that
	// must name it before it exists (pg_cron's cron.database_name).
	Database string
}

// StartWith is Start with options: extra server settings, a chosen database name.
func StartWith(ctx context.Context, opts Options) (*Cluster, error) {
	if err := checkSettings(opts.Settings); err != nil {
		return nil, err
	}
	if raw := os.Getenv(EnvDatabaseURL); raw != "" {
		if len(opts.Settings) > 0 {
			return nil, fmt.Errorf("%w: server settings need a throwaway cluster", ErrSharedServer)
		}
		return startShared(ctx, raw, opts.Database)
	}
	return startLocal(ctx, opts)
}

func startShared(ctx context.Context, raw, name string) (*Cluster, error) {
	admin, err := url.Parse(raw)
	if err != nil || (admin.Scheme != "postgres" && admin.Scheme != "postgresql") {
		return nil, fmt.Errorf("pgtest: %s must be a postgres:// URL", EnvDatabaseURL)
	}
	c := &Cluster{admin: raw}
	if err := c.createDatabase(ctx, admin, name); err != nil {
		return nil, err
	}
	return c, nil
}

func startLocal(ctx context.Context, opts Options) (*Cluster, error) {
	srv, err := newServer(ctx, opts.Settings)
	if err != nil {
		return nil, err
	}
	admin := srv.url("postgres", "", "postgres")
	c := &Cluster{admin: admin.String(), local: srv}
	if err := c.createDatabase(ctx, admin, opts.Database); err != nil {
		return nil, errors.Join(err, srv.destroy())
	}
	return c, nil
}

// createDatabase creates the test database through admin and points c at it. An empty name
// means a random one.
func (c *Cluster) createDatabase(ctx context.Context, admin *url.URL, name string) error {
	var err error
	if name == "" {
		if name, err = randomName(); err != nil {
			return err
		}
	}
	conn, err := pgx.Connect(ctx, admin.String())
	if err != nil {
		return fmt.Errorf("pgtest: connect to server: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "create database "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("pgtest: create database: %w", err)
	}
	base := *admin
	base.Path = "/" + name
	c.base, c.dbName = &base, name
	return nil
}

func randomName() (string, error) {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("pgtest: random name: %w", err)
	}
	return "reportd_test_" + hex.EncodeToString(b), nil
}

// Sibling creates another fresh database on the same server, for tests that
// need a database of their own without starting another cluster. Closing it
// drops only that database.
func (c *Cluster) Sibling(ctx context.Context) (*Cluster, error) {
	admin, err := url.Parse(c.admin)
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	s := &Cluster{admin: c.admin}
	if err := s.createDatabase(ctx, admin, ""); err != nil {
		return nil, err
	}
	return s, nil
}

// SuperURL is a superuser URL for the test database.
func (c *Cluster) SuperURL() string { return c.base.String() }

// URL is the test database's URL for another role. On a throwaway cluster every local
// connection is trusted, so the password is not checked there.
func (c *Cluster) URL(user, password string) string {
	u := *c.base
	if password == "" {
		u.User = url.User(user)
	} else {
		u.User = url.UserPassword(user, password)
	}
	return u.String()
}

// Database is the name of the test database.
func (c *Cluster) Database() string { return c.dbName }

// Port is the TCP port the server listens on.
func (c *Cluster) Port() int {
	if c.local != nil {
		return c.local.port
	}
	_, port, err := net.SplitHostPort(c.base.Host)
	if err != nil {
		return 5432
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		return 5432
	}
	return n
}

// StopServer shuts a throwaway cluster down (fast mode: sessions are terminated) and keeps its
// data and port, so StartServer can bring the same database back.
func (c *Cluster) StopServer(ctx context.Context) error {
	if c.local == nil {
		return ErrSharedServer
	}
	return c.local.stop(ctx, "fast")
}

// StartServer starts a throwaway cluster stopped by StopServer and waits until it accepts
// connections.
func (c *Cluster) StartServer(ctx context.Context) error {
	if c.local == nil {
		return ErrSharedServer
	}
	return c.local.start(ctx)
}

// Close drops the test database, or stops and deletes the throwaway cluster. It is safe to call
// more than once; later calls return the first result.
func (c *Cluster) Close() error {
	c.closeOnce.Do(func() {
		if c.local != nil {
			c.closeErr = c.local.destroy()
			return
		}
		c.closeErr = c.dropDatabase()
	})
	return c.closeErr
}

func (c *Cluster) dropDatabase() error {
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.admin)
	if err != nil {
		return fmt.Errorf("pgtest: connect to drop database: %w", err)
	}
	defer conn.Close(context.Background())
	// WITH (FORCE) ends sessions a test leaked, so cleanup never waits on them.
	_, err = conn.Exec(ctx, "drop database if exists "+pgx.Identifier{c.dbName}.Sanitize()+" with (force)")
	if err != nil {
		return fmt.Errorf("pgtest: drop database: %w", err)
	}
	return nil
}
