// Package stack runs a local stand-in for a Supabase project, for tests and
// benchmarks: a throwaway PostgreSQL (or TEST_DATABASE_URL) with Supabase's
// roles and auth schema, the project's migrations applied, and the
// PostgREST-compatible gateway in front of it at <URL>/rest/v1, requiring an
// apikey like Supabase's API gateway does. It mints the project's keys and
// its users' access tokens.
package stack

import (
	"context"
	"errors"
	"fmt"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/polaris/reportd/internal/jwttest"
	"github.com/polaris/reportd/internal/pgrest"
	"github.com/polaris/reportd/internal/pgtest"
	"github.com/polaris/reportd/migrations"
)

// Stack is one running project.
type Stack struct {
	Cluster    *pgtest.Cluster
	Gateway    *pgrest.TestServer
	URL        string // the project URL (SUPABASE_URL); the Data API is URL+"/rest/v1"
	JWTSecret  []byte
	AnonKey    string // legacy anon key (an HS256 JWT)
	ServiceKey string // legacy service_role key
	DB         *pgxpool.Pool
}

// Options tune the stack.
type Options struct {
	MaxConns int32 // gateway pool size (default 20)
	// BeforeMigrations, when set, runs after the Supabase bootstrap and before the migrations,
	// with a superuser URL of the project's database: an existing project's schema and rows
	// (e.g. the old report_jobs table, with pgtest.ApplyFiles).
	BeforeMigrations func(ctx context.Context, superURL string) error
}

// Start brings up a project. Close it when done.
func Start(ctx context.Context, opts Options) (*Stack, error) {
	c, err := pgtest.Start(ctx)
	if err != nil {
		return nil, err
	}
	s := &Stack{Cluster: c, JWTSecret: []byte("stack-jwt-secret-" + uuid.NewString())}
	if err := s.init(ctx, opts); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Stack) init(ctx context.Context, opts Options) error {
	super := s.Cluster.SuperURL()
	if err := pgtest.Bootstrap(ctx, super); err != nil {
		return err
	}
	if opts.BeforeMigrations != nil {
		if err := opts.BeforeMigrations(ctx, super); err != nil {
			return fmt.Errorf("before the migrations: %w", err)
		}
	}
	if err := pgtest.ApplyFiles(ctx, super, migrations.FS(), migrations.Names()); err != nil {
		return err
	}
	var err error
	if s.AnonKey, err = jwttest.SignHS256(s.JWTSecret, jwttest.APIKeyClaims("anon")); err != nil {
		return err
	}
	if s.ServiceKey, err = jwttest.SignHS256(s.JWTSecret, jwttest.APIKeyClaims("service_role")); err != nil {
		return err
	}
	if s.DB, err = pgxpool.New(ctx, super); err != nil {
		return err
	}
	s.Gateway, err = pgrest.StartTestServer(ctx, pgrest.Config{
		DatabaseURL: s.Cluster.URL("authenticator", "authenticator"), JWTSecret: s.JWTSecret,
		AnonKey: s.AnonKey, ServiceRoleKey: s.ServiceKey, RequireAPIKey: true, MaxConns: opts.MaxConns,
	})
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	s.URL = s.Gateway.Server.URL
	return nil
}

// Fork starts another project on the same PostgreSQL server: a fresh
// database with the migrations applied and its own gateway, sharing the
// keys. Tests whose workers claim any queued job use one each, so that
// parallel tests never take each other's jobs.
func (s *Stack) Fork(ctx context.Context, opts Options) (*Stack, error) {
	c, err := s.Cluster.Sibling(ctx)
	if err != nil {
		return nil, err
	}
	f := &Stack{Cluster: c, JWTSecret: s.JWTSecret}
	if err := f.init(ctx, opts); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// NewUser adds a user to auth.users and returns its id and an access token.
func (s *Stack) NewUser(ctx context.Context) (id, token string, err error) {
	id = uuid.NewString()
	if _, err = s.DB.Exec(ctx, `insert into auth.users (id, email, aud, role) values ($1, $2, 'authenticated', 'authenticated')`,
		id, id+"@example.com"); err != nil {
		return "", "", fmt.Errorf("new user: %w", err)
	}
	token, err = s.Token(id)
	return id, token, err
}

// Token mints an access token for a user id.
func (s *Stack) Token(userID string, opts ...jwttest.Option) (string, error) {
	return jwttest.SignHS256(s.JWTSecret, jwttest.UserClaims(userID), opts...)
}

// Claims mints a token with arbitrary claims, signed with the project secret.
func (s *Stack) Claims(c jwt.MapClaims) (string, error) { return jwttest.SignHS256(s.JWTSecret, c) }

// Close stops everything.
func (s *Stack) Close() error {
	if s.Gateway != nil {
		s.Gateway.Close()
	}
	if s.DB != nil {
		s.DB.Close()
	}
	var err error
	if s.Cluster != nil {
		err = s.Cluster.Close()
	}
	return errors.Join(err)
}
