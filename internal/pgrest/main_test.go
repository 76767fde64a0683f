package pgrest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/polaris/reportd/internal/jwttest"
	"github.com/polaris/reportd/internal/pgrest"
	"github.com/polaris/reportd/internal/pgtest"
)

var (
	cluster *pgtest.Cluster
	secret  = []byte("pgrest-test-secret-with-at-least-32-bytes")
	// api is a gateway with PostgREST's own behaviour (no front gateway).
	api *pgrest.TestServer
)

func TestMain(m *testing.M) {
	os.Exit(pgtest.Main(m, func(ctx context.Context, c *pgtest.Cluster) error {
		cluster = c
		if err := pgtest.Bootstrap(ctx, c.SuperURL()); err != nil {
			return err
		}
		if err := pgtest.ApplyFiles(ctx, c.SuperURL(), os.DirFS("testdata"), []string{"fixture.sql"}); err != nil {
			return err
		}
		var err error
		api, err = pgrest.StartTestServer(ctx, baseConfig(c))
		return err
	}))
}

func baseConfig(c *pgtest.Cluster) pgrest.Config {
	return pgrest.Config{DatabaseURL: c.URL("authenticator", "authenticator"), JWTSecret: secret}
}

// startGateway runs a gateway with extra configuration for one test.
func startGateway(t *testing.T, cfg pgrest.Config) *pgrest.TestServer {
	t.Helper()
	srv, err := pgrest.StartTestServer(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

// req is one HTTP call to a gateway.
type req struct {
	method string
	path   string // below the API root, e.g. "/rpc/whoami" or "/notes?id=eq.1"
	body   string
	token  string // sent as Authorization: Bearer
	header map[string]string
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func do(t *testing.T, srv *pgrest.TestServer, r req) reply {
	t.Helper()
	if r.method == "" {
		r.method = http.MethodGet
	}
	hr, err := http.NewRequestWithContext(t.Context(), r.method, srv.URL+r.path, strings.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	if r.body != "" {
		hr.Header.Set("Content-Type", "application/json")
	}
	if r.token != "" {
		hr.Header.Set("Authorization", "Bearer "+r.token)
	}
	for k, v := range r.header {
		hr.Header.Add(k, v)
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: body}
}

// expect checks the status (and, for errors, the code) of a reply.
func (r reply) expect(t *testing.T, status int, code string) reply {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body %s", r.status, status, r.body)
	}
	if code != "" {
		if got := r.errorBody(t).Code; got != code {
			t.Fatalf("code = %q, want %q; body %s", got, code, r.body)
		}
	}
	return r
}

type errorBody struct {
	Code    string  `json:"code"`
	Message string  `json:"message"`
	Details *string `json:"details"`
	Hint    *string `json:"hint"`
}

func (r reply) errorBody(t *testing.T) errorBody {
	t.Helper()
	var e errorBody
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("error body %q: %v", r.body, err)
	}
	return e
}

func (r reply) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %q: %v", r.body, err)
	}
}

// newUser returns a fresh user id and an access token for it, so each test owns its rows.
func newUser(t *testing.T) (string, string) {
	t.Helper()
	id := uuid.NewString()
	return id, jwttest.UserToken(t, secret, id)
}

func serviceToken(t *testing.T) string {
	t.Helper()
	return jwttest.ServiceRoleKey(t, secret)
}
