package pgrest_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"testing/fstest"
	"time"

	"github.com/polaris/reportd/internal/pgrest"
	"github.com/polaris/reportd/internal/pgtest"
)

// TestSurvivesDatabaseRestart stops the database under a running gateway: requests fail with
// 503 while it is down and succeed again once it is back, without restarting the gateway.
func TestSurvivesDatabaseRestart(t *testing.T) {
	t.Parallel()
	c := pgtest.New(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	if err := pgtest.Bootstrap(ctx, c.SuperURL()); err != nil {
		t.Fatal(err)
	}
	gw := startGateway(t, pgrest.Config{DatabaseURL: c.URL("authenticator", "authenticator"), JWTSecret: secret, MaxConns: 4})
	ping := req{path: "/rpc/now"}
	if err := pgtest.ApplyFiles(ctx, c.SuperURL(), nowSQL, []string{"now.sql"}); err != nil {
		t.Fatal(err)
	}
	if err := gw.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	for range 8 { // fill the pool with connections that the restart will break
		do(t, gw, ping).expect(t, http.StatusOK, "")
	}

	err := c.StopServer(ctx)
	if errors.Is(err, pgtest.ErrSharedServer) {
		t.Skip("needs a throwaway cluster")
	}
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		r := do(t, gw, ping)
		if r.status != http.StatusServiceUnavailable {
			t.Fatalf("while the database is down: status %d, body %s", r.status, r.body)
		}
		if code := r.errorBody(t).Code; code != "PGRST000" && code != "PGRST001" && code != "57P01" {
			t.Errorf("while down: code %s", code)
		}
	}

	if err := c.StartServer(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(30 * time.Second)
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	for r := do(t, gw, ping); r.status != http.StatusOK; r = do(t, gw, ping) {
		select {
		case <-deadline:
			t.Fatalf("still %d 30 s after the database came back: %s", r.status, r.body)
		case <-poll.C:
		}
	}
	for range 8 {
		do(t, gw, ping).expect(t, http.StatusOK, "")
	}
}

// nowSQL is the one function the restart test calls.
var nowSQL = fstest.MapFS{"now.sql": {Data: []byte(
	"create function public.now() returns timestamptz language sql stable as 'select pg_catalog.now()';")}}
