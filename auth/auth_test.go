package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/polaris/reportd/internal/jwttest"
	"github.com/polaris/reportd/report"
)

var secret = []byte("auth-test-secret-0123456789abcdef")

const (
	userID     = "4b1e3c2a-9f7d-4e6b-8a5c-1d2e3f4a5b6c"
	secretKey  = "sb_secret_auth-test-0123456789"
	hourPassed = time.Hour
)

func newVerifier(t *testing.T, cfg Config) *Verifier {
	t.Helper()
	v, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func wantUser(t *testing.T, v *Verifier, token, user string) {
	t.Helper()
	c, err := v.Verify(context.Background(), token)
	if err != nil || c.UserID != user || c.Role != report.RoleUser || c.Token != token {
		t.Fatalf("caller %+v err %v, want user %s", c, err, user)
	}
}

func wantRejected(t *testing.T, v *Verifier, token, why string) {
	t.Helper()
	_, err := v.Verify(context.Background(), token)
	var pub *report.Error
	if !errors.Is(err, report.ErrUnauthenticated) || !errors.As(err, &pub) || pub.Message == "" {
		t.Fatalf("%s: %v, want a clear ErrUnauthenticated", why, err)
	}
}

func TestUserTokensOfEveryConfiguredAlgorithm(t *testing.T) {
	t.Parallel()
	keys := jwttest.NewKeySet(t)
	keys.AddES256(t, "es")
	keys.AddRS256(t, "rs")
	v := newVerifier(t, Config{HS256Secret: secret, JWKSURL: keys.URL(), Issuer: jwttest.Issuer})
	wantUser(t, v, jwttest.UserToken(t, secret, userID), userID)
	wantUser(t, v, keys.UserToken(t, "es", userID), userID)
	wantUser(t, v, keys.UserToken(t, "rs", userID), userID)
	minted, _ := MintUserToken(secret, strings.ToUpper(userID), "a@b.c", time.Minute, time.Now())
	if c, err := newVerifier(t, Config{HS256Secret: secret}).Verify(t.Context(), minted); err != nil || c.UserID != userID {
		t.Fatalf("minted token: %+v %v", c, err)
	}
	// Within the 30 s leeway an expired token still passes.
	late := jwttest.UserToken(t, secret, userID, jwttest.WithNow(time.Now().Add(-hourPassed-10*time.Second)), jwttest.WithTTL(hourPassed))
	wantUser(t, v, late, userID)
}

func TestAlgorithmsArePinnedToTheConfiguredKeys(t *testing.T) {
	t.Parallel()
	keys := jwttest.NewKeySet(t)
	keys.AddES256(t, "es")
	hsOnly := newVerifier(t, Config{HS256Secret: secret})
	wantRejected(t, hsOnly, keys.UserToken(t, "es", userID), "ES256 without a JWKS")
	jwksOnly := newVerifier(t, Config{JWKSURL: keys.URL()})
	wantRejected(t, jwksOnly, jwttest.UserToken(t, secret, userID), "HS256 without a secret")
	wantUser(t, jwksOnly, keys.UserToken(t, "es", userID), userID)
	// An asymmetric token must name its key.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	noKID, _ := jwt.NewWithClaims(jwt.SigningMethodES256, jwttest.UserClaims(userID)).SignedString(key)
	_, err := jwksOnly.Verify(t.Context(), noKID)
	if !errors.Is(err, report.ErrUnauthenticated) || !strings.Contains(err.Error(), "kid") {
		t.Fatalf("ES256 without a kid: %v", err)
	}
	if _, err := New(t.Context(), Config{}); err == nil {
		t.Fatal("a verifier without any key was built")
	}
}

func TestServiceCallers(t *testing.T) {
	t.Parallel()
	keys := jwttest.NewKeySet(t)
	keys.AddES256(t, "user-key")
	keys.AddES256(t, "service-key")
	legacy := jwttest.ServiceRoleKey(t, secret)
	v := newVerifier(t, Config{HS256Secret: secret, JWKSURL: keys.URL(), Issuer: jwttest.Issuer,
		ServiceKeys: []string{LegacySecret, "service-key"}, SecretKeys: []string{secretKey, ""}})
	service := func(bearer, apikey string) error {
		c, err := v.Authenticate(t.Context(), bearer, apikey)
		if err == nil && (!c.IsService() || c.UserID != "" || c.Token != "") {
			t.Fatalf("caller %+v is not a bare service caller", c)
		}
		return err
	}
	serviceClaims := jwt.MapClaims{"role": "service_role", "iss": jwttest.Issuer, "exp": time.Now().Add(time.Hour).Unix()}
	for name, creds := range map[string][2]string{
		"legacy service_role key as bearer": {legacy, ""},
		"secret key as bearer":              {secretKey, ""},
		"secret key as apikey":              {"", secretKey},
		"service token from a trusted kid":  {keys.Sign(t, "service-key", serviceClaims), ""},
	} {
		if err := service(creds[0], creds[1]); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	user := jwttest.UserToken(t, secret, userID)
	if c, err := v.Authenticate(t.Context(), user, secretKey); err != nil || c.IsService() || c.UserID != userID {
		t.Fatalf("a user's token with the secret apikey: %+v %v", c, err)
	}
	for name, creds := range map[string][2]string{
		"service_role token from a user key": {keys.Sign(t, "user-key", serviceClaims), ""},
		"anon key as bearer":                 {jwttest.AnonKey(t, secret), ""},
		"publishable key as apikey":          {"", "sb_publishable_abc"},
		"wrong secret key":                   {"sb_secret_wrong", ""},
		"nothing":                            {"", ""},
	} {
		if err := service(creds[0], creds[1]); !errors.Is(err, report.ErrUnauthenticated) {
			t.Errorf("%s: %v, want ErrUnauthenticated", name, err)
		}
	}
	strict := newVerifier(t, Config{HS256Secret: secret, ServiceKeys: []string{}})
	wantRejected(t, strict, legacy, "legacy service_role key when no signing key is trusted for services")
}

// An unknown kid costs one refetch; within the interval a second unknown kid
// costs none; a key added to the set is accepted after one refetch.
func TestUnknownKIDRefetchesOnceAndRotationWorks(t *testing.T) {
	t.Parallel()
	keys := jwttest.NewKeySet(t)
	keys.AddES256(t, "k1")
	v := newVerifier(t, Config{JWKSURL: keys.URL(), JWKSRefresh: time.Hour, JWKSUnknownKID: time.Hour})
	wantUser(t, v, keys.UserToken(t, "k1", userID), userID)
	start := keys.Fetches()

	keys.AddES256(t, "k2")
	wantUser(t, v, keys.UserToken(t, "k2", userID), userID)
	if n := keys.Fetches() - start; n != 1 {
		t.Fatalf("a rotated-in key took %d fetches, want 1", n)
	}
	forged := keys.UserToken(t, "k1", userID, jwttest.WithKID("k-unknown"))
	wantRejected(t, v, forged, "unknown kid")
	wantRejected(t, v, keys.UserToken(t, "k2", userID, jwttest.WithKID("k-unknown-2")), "second unknown kid")
	if n := keys.Fetches() - start; n != 1 {
		t.Fatalf("unknown kids within the interval fetched %d times in all, want 1", n)
	}
}

// A removed key is rejected once the set is refetched; an outage keeps the
// last good keys and makes the verifier not ready.
func TestRevocationAndOutage(t *testing.T) {
	t.Parallel()
	keys := jwttest.NewKeySet(t)
	keys.AddES256(t, "old")
	keys.AddRS256(t, "new")
	v := newVerifier(t, Config{JWKSURL: keys.URL(), JWKSRefresh: 20 * time.Millisecond, JWKSUnknownKID: time.Hour})
	old := keys.UserToken(t, "old", userID)
	wantUser(t, v, old, userID)
	if err := v.Ready(t.Context()); err != nil {
		t.Fatalf("ready with the JWKS up: %v", err)
	}

	keys.Remove("old")
	eventually(t, "the removed key is rejected", func() bool {
		_, err := v.Verify(t.Context(), old)
		return err != nil
	})

	keys.SetDown(true)
	before := keys.Fetches()
	eventually(t, "refetches during the outage", func() bool { return keys.Fetches() >= before+3 })
	wantUser(t, v, keys.UserToken(t, "new", userID), userID)
	fresh := newVerifier(t, Config{JWKSURL: keys.URL()})
	if err := fresh.Ready(t.Context()); err == nil {
		t.Fatal("ready while the JWKS is down")
	}
}

func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10 s", what)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition with a deadline, not synchronising
	}
}

func TestDevUserIDIsStablePerName(t *testing.T) {
	t.Parallel()
	a, b := DevUserID("Ada"), DevUserID(" ada ")
	if a != b || a == DevUserID("grace") {
		t.Fatalf("ids: %s %s %s", a, b, DevUserID("grace"))
	}
	// Pinned: a user's jobs must stay theirs across versions of the service.
	if a != "4acc5535-3d4c-55e7-b29d-4301042c3752" {
		t.Fatalf("DevUserID(ada) = %s changed", a)
	}
}
