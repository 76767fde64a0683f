package jwttest_test

import (
	"context"
	"testing"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"

	"github.com/polaris/reportd/internal/jwttest"
)

var secret = []byte("jwttest-secret-with-at-least-32-characters")

func parseHS256(t *testing.T, tok string) (jwt.MapClaims, *jwt.Token) {
	t.Helper()
	claims := jwt.MapClaims{}
	parsed, err := jwt.ParseWithClaims(tok, claims, func(*jwt.Token) (any, error) { return secret, nil },
		jwt.WithValidMethods([]string{"HS256"}))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return claims, parsed
}

func TestUserTokenHasSupabaseClaims(t *testing.T) {
	t.Parallel()
	const id = "0b8f5b7e-3c1d-4d5e-9f00-112233445566"
	claims, _ := parseHS256(t, jwttest.UserToken(t, secret, id))
	want := map[string]any{"iss": jwttest.Issuer, "aud": "authenticated", "sub": id, "role": "authenticated", "is_anonymous": false}
	for k, v := range want {
		if claims[k] != v {
			t.Errorf("%s = %v, want %v", k, claims[k], v)
		}
	}
	for _, k := range []string{"exp", "iat", "email", "session_id", "app_metadata", "user_metadata"} {
		if _, ok := claims[k]; !ok {
			t.Errorf("claim %s missing", k)
		}
	}
	if exp, iat := claims["exp"].(float64), claims["iat"].(float64); exp-iat != jwttest.UserTTL.Seconds() {
		t.Errorf("lifetime = %vs, want %v", exp-iat, jwttest.UserTTL)
	}
}

func TestOptionsOverrideAndRemoveClaims(t *testing.T) {
	t.Parallel()
	tok := jwttest.UserToken(t, secret, "u1",
		jwttest.WithClaim("role", "service_role"), jwttest.WithoutClaim("email"), jwttest.WithKID("legacy"))
	claims, parsed := parseHS256(t, tok)
	if claims["role"] != "service_role" {
		t.Errorf("role = %v", claims["role"])
	}
	if _, ok := claims["email"]; ok {
		t.Error("email still present")
	}
	if parsed.Header["kid"] != "legacy" {
		t.Errorf("kid = %v", parsed.Header["kid"])
	}
}

func TestExpiredToken(t *testing.T) {
	t.Parallel()
	tok := jwttest.UserToken(t, secret, "u1", jwttest.WithTTL(-time.Minute))
	_, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return secret, nil })
	if err == nil {
		t.Fatal("an expired token parsed")
	}
}

func TestLegacyAPIKeys(t *testing.T) {
	t.Parallel()
	for role, tok := range map[string]string{
		"anon":         jwttest.AnonKey(t, secret),
		"service_role": jwttest.ServiceRoleKey(t, secret),
	} {
		claims, _ := parseHS256(t, tok)
		if claims["role"] != role || claims["iss"] != "supabase" || claims["ref"] != jwttest.ProjectRef {
			t.Errorf("%s key claims = %v", role, claims)
		}
		if _, ok := claims["sub"]; ok {
			t.Errorf("%s key has sub", role)
		}
		if _, ok := claims["aud"]; ok {
			t.Errorf("%s key has aud", role)
		}
	}
}

func TestKeySetRotation(t *testing.T) {
	t.Parallel()
	ks := jwttest.NewKeySet(t)
	ks.AddES256(t, "es-1")
	ks.AddRS256(t, "rs-1")
	kf, err := keyfunc.NewDefaultCtx(t.Context(), []string{ks.URL()})
	if err != nil {
		t.Fatal(err)
	}
	for _, kid := range []string{"es-1", "rs-1"} {
		tok := ks.UserToken(t, kid, "u1")
		if _, err := jwt.Parse(tok, kf.Keyfunc); err != nil {
			t.Errorf("%s: %v", kid, err)
		}
	}

	ks.Remove("es-1")
	fresh, err := keyfunc.NewDefaultCtx(context.Background(), []string{ks.URL()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jwt.Parse(ks.UserToken(t, "es-1", "u1"), fresh.Keyfunc); err == nil {
		t.Error("a token signed with a removed key still verifies against a fresh JWKS")
	}
	if ks.Fetches() < 2 {
		t.Errorf("fetches = %d, want at least 2", ks.Fetches())
	}
}

func TestKeySetDown(t *testing.T) {
	t.Parallel()
	ks := jwttest.NewKeySet(t)
	ks.SetDown(true)
	kf, err := keyfunc.NewDefaultCtx(t.Context(), []string{ks.URL()})
	if err != nil {
		t.Fatal(err)
	}
	ks.AddES256(t, "es-1")
	if _, err := jwt.Parse(ks.UserToken(t, "es-1", "u1"), kf.Keyfunc); err == nil {
		t.Error("verified a token while the JWKS was down")
	}
}

func TestSignHS256AppliesOptions(t *testing.T) {
	t.Parallel()
	base := jwttest.UserClaims("u1")
	tok, err := jwttest.SignHS256(secret, base, jwttest.WithTTL(-time.Minute), jwttest.WithClaim("role", "anon"), jwttest.WithKID("k1"))
	if err != nil {
		t.Fatal(err)
	}
	claims := jwt.MapClaims{}
	parsed, _, err := jwt.NewParser().ParseUnverified(tok, claims)
	if err != nil {
		t.Fatal(err)
	}
	exp, _ := claims.GetExpirationTime()
	if claims["role"] != "anon" || parsed.Header["kid"] != "k1" || exp == nil || !exp.Before(time.Now()) {
		t.Errorf("claims %v header %v: want role anon, kid k1 and an expired exp", claims, parsed.Header)
	}
	if base["role"] != "authenticated" {
		t.Error("SignHS256 changed the caller's claims")
	}
	if tok, _ := jwttest.SignHS256(secret, jwttest.APIKeyClaims("anon"), jwttest.WithKID("k")); tok == "" {
		t.Fatal("no token")
	} else {
		c := jwt.MapClaims{}
		if _, _, err := jwt.NewParser().ParseUnverified(tok, c); err != nil {
			t.Fatal(err)
		}
		if exp, _ := c.GetExpirationTime(); exp == nil || exp.Before(time.Now().Add(time.Hour)) {
			t.Errorf("an API key's lifetime changed without WithTTL: exp %v", exp)
		}
	}
}
