// Package pgrest is a PostgREST-compatible HTTP gateway over a real PostgreSQL, standing in for
// Supabase's /rest/v1 in tests and benchmarks (PostgREST itself cannot be installed there).
//
// It does what PostgREST does with each request (the project's Supabase/PostgREST notes, §1–4,
// §6 and §9): verifies the JWT (HS256 secret and JWKS by kid), switches to the role it names
// inside one transaction with the request settings set transaction-locally, calls RPC functions
// with json_to_record and named arguments, serves the table endpoints the project uses, and
// maps errors to PostgREST's codes and statuses. Optionally it also plays Supabase's front gateway,
// which requires an apikey. Where PostgREST 12.2 and 14 differ it follows 12.2, the version
// hosted Supabase runs; each such place says so.
package pgrest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Config configures a Gateway.
type Config struct {
	// DatabaseURL connects as the LOGIN NOINHERIT authenticator role. New refuses a superuser or
	// a BYPASSRLS role, which would make every policy test pass vacuously.
	DatabaseURL string
	// JWTSecret is the legacy HS256 secret; JWTSecretKID, if set, is its kid, so that tokens
	// naming that kid verify against it.
	JWTSecret    []byte
	JWTSecretKID string
	// JWKSURL optionally points at a JWKS with ES256/RS256 public keys. A token with a kid is
	// checked only against the key with that kid; an unknown kid triggers a refetch, at most
	// once per JWKSRefetchInterval.
	JWKSURL string
	// JWKSRefreshInterval is how often the JWKS is refetched (default 10 minutes, Supabase's
	// cache time); JWKSRefetchInterval limits refetches on unknown kids (default 30 seconds).
	JWKSRefreshInterval time.Duration
	JWKSRefetchInterval time.Duration

	// AnonKey and ServiceRoleKey are the legacy API keys (long-lived HS256 JWTs);
	// PublishableKey and SecretKey the new sb_publishable_... and sb_secret_... keys. They
	// matter only with RequireAPIKey.
	AnonKey, ServiceRoleKey   string
	PublishableKey, SecretKey string
	// RequireAPIKey emulates Supabase's front gateway: every request needs a known apikey.
	RequireAPIKey bool

	// AnonRole is the role of requests without a token or role claim (default "anon").
	AnonRole string
	// Schema is the exposed schema (default "public"); ExtraSearchPath follows it on the
	// search_path (default ["extensions"]).
	Schema          string
	ExtraSearchPath []string
	// BasePath prefixes every route (default "/rest/v1").
	BasePath string
	// MaxConns bounds the connection pool (default 20).
	MaxConns int32
	// MaxBodyBytes bounds request bodies (default 10 MiB).
	MaxBodyBytes int64
}

func (c Config) withDefaults() Config {
	if c.AnonRole == "" {
		c.AnonRole = "anon"
	}
	if c.Schema == "" {
		c.Schema = "public"
	}
	if c.ExtraSearchPath == nil {
		c.ExtraSearchPath = []string{"extensions"}
	}
	if c.BasePath == "" {
		c.BasePath = "/rest/v1"
	}
	c.BasePath = strings.TrimSuffix(c.BasePath, "/")
	if c.MaxConns <= 0 {
		c.MaxConns = 20
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 10 << 20
	}
	if c.JWKSRefreshInterval <= 0 {
		c.JWKSRefreshInterval = 10 * time.Minute
	}
	if c.JWKSRefetchInterval <= 0 {
		c.JWKSRefetchInterval = 30 * time.Second
	}
	return c
}

// Gateway serves a PostgREST-compatible API. It is safe for concurrent use.
type Gateway struct {
	cfg        Config
	pool       *pgxpool.Pool
	verifier   *verifier
	schema     atomic.Pointer[schemaCache]
	searchPath string
	stop       context.CancelFunc
}

// New connects to the database, checks the authenticator role, loads the schema cache and
// starts the JWKS refresher. ctx bounds only the start-up.
func New(ctx context.Context, cfg Config) (*Gateway, error) {
	cfg = cfg.withDefaults()
	life, stop := context.WithCancel(context.Background())
	g := &Gateway{cfg: cfg, stop: stop, searchPath: searchPath(cfg)}
	var err error
	if g.verifier, err = newVerifier(ctx, life, cfg); err != nil {
		stop()
		return nil, err
	}
	if g.pool, err = newPool(ctx, cfg); err != nil {
		stop()
		return nil, err
	}
	if err := g.checkAuthenticator(ctx); err != nil {
		g.Close()
		return nil, err
	}
	if err := g.Reload(ctx); err != nil {
		g.Close()
		return nil, err
	}
	return g, nil
}

func newPool(ctx context.Context, cfg Config) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("pgrest: database url: %w", err)
	}
	pc.MaxConns = cfg.MaxConns
	if pc.ConnConfig.ConnectTimeout == 0 {
		pc.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	// Dead connections are found quickly after a database restart.
	pc.HealthCheckPeriod = 5 * time.Second
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("pgrest: connect: %w", err)
	}
	return pool, nil
}

// checkAuthenticator refuses roles that would bypass what the tests are meant to check.
func (g *Gateway) checkAuthenticator(ctx context.Context) error {
	var name string
	var super, bypass bool
	err := g.pool.QueryRow(ctx, "select rolname, rolsuper, rolbypassrls from pg_catalog.pg_roles where rolname = current_user").
		Scan(&name, &super, &bypass)
	if err != nil {
		return fmt.Errorf("pgrest: check authenticator role: %w", err)
	}
	if super || bypass {
		return fmt.Errorf("pgrest: role %q is a superuser or has BYPASSRLS; connect as the authenticator role", name)
	}
	return nil
}

// Reload re-reads functions, tables and role settings, like NOTIFY pgrst, 'reload schema'. It
// also drops pooled connections so no prepared statement outlives a schema change.
func (g *Gateway) Reload(ctx context.Context) error {
	sc, err := loadSchema(ctx, g.pool, g.cfg.Schema)
	if err != nil {
		return err
	}
	g.schema.Store(sc)
	g.pool.Reset()
	return nil
}

// Close stops the JWKS refresher and closes the pool.
func (g *Gateway) Close() {
	g.stop()
	if g.pool != nil {
		g.pool.Close()
	}
}

func searchPath(cfg Config) string {
	parts := make([]string, 0, 1+len(cfg.ExtraSearchPath))
	for _, s := range append([]string{cfg.Schema}, cfg.ExtraSearchPath...) {
		parts = append(parts, quoteIdent(s))
	}
	return strings.Join(parts, ", ")
}

// ServeHTTP serves BasePath/rpc/<fn> and BasePath/<table>.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			writeError(w, newError(http.StatusInternalServerError, "PGRSTX00", "Internal error").withDetails(fmt.Sprint(v)))
		}
	}()
	if err := g.serve(w, r); err != nil {
		var apiErr *apiError
		if !errors.As(err, &apiErr) {
			apiErr = fromDB(err, false)
		}
		writeError(w, apiErr)
	}
}

func (g *Gateway) serve(w http.ResponseWriter, r *http.Request) error {
	rest, ok := strings.CutPrefix(r.URL.Path, g.cfg.BasePath+"/")
	if !ok {
		return invalidPath()
	}
	a, err := g.authenticate(r)
	if err != nil {
		return err
	}
	if rest == "" || strings.Contains(rest, "/") && !strings.HasPrefix(rest, "rpc/") {
		return invalidPath()
	}
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, g.cfg.MaxBodyBytes)
	}
	rq, err := newRequest(r, g.cfg)
	if err != nil {
		return err
	}
	if fn, isRPC := strings.CutPrefix(rest, "rpc/"); isRPC {
		return g.serveRPC(w, r, a, rq, fn)
	}
	return g.serveTable(w, r, a, rq, rest)
}

func invalidPath() *apiError {
	return newError(http.StatusNotFound, "PGRST125", "Invalid path specified in request URL")
}

// TestServer is a Gateway listening on a local httptest server.
type TestServer struct {
	*Gateway
	Server *httptest.Server
	// URL is the API root, the server address plus BasePath (what clients call SUPABASE_URL
	// plus /rest/v1).
	URL string
}

// StartTestServer creates a Gateway and serves it on a new httptest server. Close both with
// (*TestServer).Close.
func StartTestServer(ctx context.Context, cfg Config) (*TestServer, error) {
	g, err := New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	srv := httptest.NewServer(g)
	return &TestServer{Gateway: g, Server: srv, URL: srv.URL + g.cfg.BasePath}, nil
}

// Close stops the server, then the gateway.
func (s *TestServer) Close() {
	s.Server.Close()
	s.Gateway.Close()
}
