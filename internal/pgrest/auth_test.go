package pgrest_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/polaris/reportd/internal/jwttest"
	"github.com/polaris/reportd/internal/pgrest"
)

func TestTokenErrors(t *testing.T) {
	t.Parallel()
	id := "9d7b4f52-6a0e-4c47-9c7e-2f3a1b0c9d8e"
	tests := []struct {
		name, token, message string
	}{
		{"expired", jwttest.UserToken(t, secret, id, jwttest.WithTTL(-time.Minute)), "JWT expired"},
		{"wrong secret", jwttest.UserToken(t, []byte("another-secret-with-32-bytes-or-more"), id), "JWSError JWSInvalidSignature"},
		{"not yet valid", jwttest.UserToken(t, secret, id, jwttest.WithClaim("nbf", time.Now().Add(time.Hour).Unix())), "JWTNotYetValid"},
		{"issued in the future", jwttest.UserToken(t, secret, id, jwttest.WithNow(time.Now().Add(time.Hour))), "JWTIssuedAtFuture"},
		{"garbage", "abc", "JWSError (CompactDecodeError Invalid number of parts: Expected 3 parts; got 1)"},
		{"alg none", "eyJhbGciOiJub25lIn0.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.", "JWSError JWSInvalidSignature"},
		{"unknown kid", jwttest.UserToken(t, secret, id, jwttest.WithKID("nope")), "JWSError JWSInvalidSignature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := do(t, api, req{method: http.MethodPost, path: "/rpc/whoami", token: tt.token}).expect(t, http.StatusUnauthorized, "PGRST301")
			if e := r.errorBody(t); e.Message != tt.message {
				t.Errorf("message = %q, want %q", e.Message, tt.message)
			}
			want := `Bearer error="invalid_token", error_description="` + tt.message + `"`
			if got := r.header.Get("WWW-Authenticate"); got != want {
				t.Errorf("WWW-Authenticate = %q, want %q", got, want)
			}
		})
	}
}

func TestTokenEdgeCases(t *testing.T) {
	t.Parallel()
	id := "9d7b4f52-6a0e-4c47-9c7e-2f3a1b0c9d8e"
	withinLeeway := jwttest.UserToken(t, secret, id, jwttest.WithTTL(-20*time.Second))
	if w := callWhoami(t, req{token: withinLeeway}); w.Role != "authenticated" {
		t.Errorf("a token expired 20 s ago (inside the 30 s leeway) ran as %s", w.Role)
	}
	noRole := jwttest.UserToken(t, secret, id, jwttest.WithoutClaim("role"), jwttest.WithClaim("aud", "elsewhere"))
	if w := callWhoami(t, req{token: noRole}); w.Role != "anon" || w.Claims["role"] != "anon" || w.Claims["sub"] != id {
		t.Errorf("no role claim: role=%s claims=%v, want anon with the other claims kept", w.Role, w.Claims)
	}
	w := callWhoami(t, req{header: map[string]string{"Authorization": "bearer " + jwttest.UserToken(t, secret, id)}})
	if w.Role != "authenticated" {
		t.Errorf("lower-case bearer scheme ran as %s", w.Role)
	}
	if w := callWhoami(t, req{header: map[string]string{"Authorization": "Basic dXNlcjpwYXNz"}}); w.Role != "anon" {
		t.Errorf("a Basic authorization ran as %s, want anon", w.Role)
	}
	ghost := jwttest.UserToken(t, secret, id, jwttest.WithClaim("role", "ghost"))
	do(t, api, req{method: http.MethodPost, path: "/rpc/whoami", token: ghost}).expect(t, http.StatusUnauthorized, "22023")
	super := jwttest.UserToken(t, secret, id, jwttest.WithClaim("role", "postgres"))
	do(t, api, req{method: http.MethodPost, path: "/rpc/whoami", token: super}).expect(t, http.StatusForbidden, "42501")
}

func TestFrontGateway(t *testing.T) {
	t.Parallel()
	cfg := baseConfig(cluster)
	cfg.RequireAPIKey = true
	cfg.AnonKey = jwttest.AnonKey(t, secret)
	cfg.ServiceRoleKey = jwttest.ServiceRoleKey(t, secret)
	cfg.PublishableKey = "sb_publishable_test123"
	cfg.SecretKey = "sb_secret_test456"
	gw := startGateway(t, cfg)
	_, userToken := newUser(t)

	role := func(t *testing.T, h map[string]string) string {
		t.Helper()
		var w whoami
		do(t, gw, req{method: http.MethodPost, path: "/rpc/whoami", header: h}).expect(t, http.StatusOK, "").decode(t, &w)
		return w.Role
	}
	tests := []struct {
		name   string
		header map[string]string
		want   string
	}{
		{"legacy anon key", map[string]string{"apikey": cfg.AnonKey}, "anon"},
		{"legacy service key", map[string]string{"apikey": cfg.ServiceRoleKey}, "service_role"},
		{"publishable key", map[string]string{"apikey": cfg.PublishableKey}, "anon"},
		{"secret key", map[string]string{"apikey": cfg.SecretKey}, "service_role"},
		{"secret key repeated as bearer", map[string]string{"apikey": cfg.SecretKey, "Authorization": "Bearer " + cfg.SecretKey}, "service_role"},
		{"user token wins over the secret key", map[string]string{"apikey": cfg.SecretKey, "Authorization": "Bearer " + userToken}, "authenticated"},
		{"user token wins over the anon key", map[string]string{"apikey": cfg.AnonKey, "Authorization": "Bearer " + userToken}, "authenticated"},
	}
	for _, tt := range tests {
		if got := role(t, tt.header); got != tt.want {
			t.Errorf("%s: role = %s, want %s", tt.name, got, tt.want)
		}
	}

	rejected := []struct {
		name    string
		header  map[string]string
		message string
	}{
		{"no key", map[string]string{"Authorization": "Bearer " + userToken}, "No API key found in request"},
		{"unknown key", map[string]string{"apikey": "sb_publishable_other"}, "Invalid API key"},
		{"key signed right but not issued", map[string]string{"apikey": jwttest.AnonKey(t, secret, jwttest.WithClaim("ref", "x"))}, "Invalid API key"},
		{"secret key from a browser", map[string]string{"apikey": cfg.SecretKey, "User-Agent": "Mozilla/5.0 (X11; Linux x86_64)"}, "Forbidden use of secret API key in browser"},
	}
	for _, tt := range rejected {
		r := do(t, gw, req{method: http.MethodPost, path: "/rpc/whoami", header: tt.header}).expect(t, http.StatusUnauthorized, "")
		if got := strings.TrimSpace(string(r.body)); got != `{"message":"`+tt.message+`"}` {
			t.Errorf("%s: body = %s", tt.name, got)
		}
	}
}

func TestJWKS(t *testing.T) {
	t.Parallel()
	keys := jwttest.NewKeySet(t)
	keys.AddES256(t, "es-1")
	cfg := baseConfig(cluster)
	cfg.JWKSURL = keys.URL()
	cfg.JWKSRefetchInterval = time.Millisecond
	gw := startGateway(t, cfg)
	id := "2b1f0e3d-4c5b-4a69-8877-665544332211"
	whoamiVia := func(token string) reply {
		return do(t, gw, req{method: http.MethodPost, path: "/rpc/whoami", token: token})
	}

	var w whoami
	whoamiVia(keys.UserToken(t, "es-1", id)).expect(t, http.StatusOK, "").decode(t, &w)
	if w.Role != "authenticated" || w.Claims["sub"] != id {
		t.Errorf("ES256 token ran as %s with %v", w.Role, w.Claims)
	}
	whoamiVia(jwttest.UserToken(t, secret, id)).expect(t, http.StatusOK, "")

	// A token naming es-1 is checked only against es-1, even when another key signed it.
	keys.AddES256(t, "es-2")
	forged := keys.UserToken(t, "es-2", id, jwttest.WithKID("es-1"))
	whoamiVia(forged).expect(t, http.StatusUnauthorized, "PGRST301")

	// Rotation: es-2 was published after the gateway fetched the set; its unknown kid refetches.
	whoamiVia(keys.UserToken(t, "es-2", id)).expect(t, http.StatusOK, "")
	keys.AddRS256(t, "rs-1")
	whoamiVia(keys.UserToken(t, "rs-1", id)).expect(t, http.StatusOK, "")
	whoamiVia(keys.UserToken(t, "es-1", id, jwttest.WithTTL(-time.Hour))).expect(t, http.StatusUnauthorized, "PGRST301")
}

func TestRefusesPrivilegedRoles(t *testing.T) {
	t.Parallel()
	cfg := baseConfig(cluster)
	cfg.DatabaseURL = cluster.SuperURL()
	if _, err := pgrest.New(t.Context(), cfg); err == nil || !strings.Contains(err.Error(), "superuser") {
		t.Errorf("New as superuser: err = %v", err)
	}
	cfg = baseConfig(cluster)
	cfg.JWTSecret = nil
	if _, err := pgrest.New(t.Context(), cfg); err == nil {
		t.Error("New without any key succeeded")
	}
}

func TestSecretWithKID(t *testing.T) {
	t.Parallel()
	cfg := baseConfig(cluster)
	cfg.JWTSecretKID = "legacy-hs256"
	gw := startGateway(t, cfg)
	id := "0c4d7a8e-1f2b-4c3d-9e8f-7a6b5c4d3e2f"
	for name, tok := range map[string]string{
		"kid names the secret": jwttest.UserToken(t, secret, id, jwttest.WithKID("legacy-hs256")),
		"no kid":               jwttest.UserToken(t, secret, id),
	} {
		if r := do(t, gw, req{method: http.MethodPost, path: "/rpc/whoami", token: tok}); r.status != http.StatusOK {
			t.Errorf("%s: status %d %s", name, r.status, r.body)
		}
	}
	other := jwttest.UserToken(t, secret, id, jwttest.WithKID("other"))
	do(t, gw, req{method: http.MethodPost, path: "/rpc/whoami", token: other}).expect(t, http.StatusUnauthorized, "PGRST301")
}
