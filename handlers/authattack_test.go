package handlers

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/polaris/reportd/auth"
	"github.com/polaris/reportd/internal/jwttest"
	"github.com/polaris/reportd/report"
)

// spyStore fails the test if anything reaches it: a request with a rejected
// token must stop at authentication.
type spyStore struct{ t *testing.T }

func (s spyStore) called(what string) {
	s.t.Errorf("the store was called (%s) for a request that should have been refused", what)
}

func (s spyStore) Create(context.Context, report.Caller, report.NewJob) (report.Job, bool, error) {
	s.called("Create")
	return report.Job{}, false, report.ErrForbidden
}

func (s spyStore) Get(context.Context, report.Caller, string) (report.Job, error) {
	s.called("Get")
	return report.Job{}, report.ErrForbidden
}

func (s spyStore) List(context.Context, report.Caller, report.Filter) ([]report.Job, error) {
	s.called("List")
	return nil, report.ErrForbidden
}

func (s spyStore) Cancel(context.Context, report.Caller, string) (report.Job, error) {
	s.called("Cancel")
	return report.Job{}, report.ErrForbidden
}

func (s spyStore) Delete(context.Context, report.Caller, string) error {
	s.called("Delete")
	return report.ErrForbidden
}

func (s spyStore) Stats(context.Context, report.Caller) (report.Stats, error) {
	s.called("Stats")
	return report.Stats{}, report.ErrForbidden
}

func (s spyStore) OperatorStats(context.Context, report.Caller, report.StatsWindow) (report.OperatorStats, error) {
	s.called("OperatorStats")
	return report.OperatorStats{}, report.ErrForbidden
}

func (s spyStore) Ping(context.Context) error { return nil }

func (s spyStore) Cleanup(context.Context) (int, error) {
	s.called("Cleanup")
	return 0, report.ErrForbidden
}

// authedEndpoints lists every endpoint that needs credentials.
var authedEndpoints = []struct{ method, path string }{
	{"POST", "/api/reportJobsDb"}, {"GET", "/api/reportJobsDb?job_id=job_1_x"},
	{"POST", "/api/reportJobs"}, {"GET", "/api/reportJobs?job_id=job_1_x"},
	{"POST", "/v1/jobs"}, {"GET", "/v1/jobs"}, {"GET", "/v1/jobs/job_1_x"},
	{"POST", "/v1/jobs/job_1_x/cancel"}, {"DELETE", "/v1/jobs/job_1_x"},
	{"GET", "/v1/jobs/job_1_x/events"}, {"GET", "/v1/events"},
	{"GET", "/v1/stats"}, {"GET", "/v1/stats/active"}, {"GET", "/v1/jobs/job_1_x/result"},
	{"GET", "/v1/admin/stats"}, {"POST", "/v1/admin/cleanup"},
}

// The JWT attack matrix: every token is refused with 401 and a Bearer
// challenge on every endpoint, and nothing reaches the store.
func TestJWTAttackMatrix(t *testing.T) {
	t.Parallel()
	keys := jwttest.NewKeySet(t)
	pub := keys.AddES256(t, "user-key")
	v, err := auth.New(t.Context(), auth.Config{
		HS256Secret: testSecret, JWKSURL: keys.URL(), Issuer: jwttest.Issuer,
		JWKSRefresh: time.Hour, JWKSUnknownKID: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	spy := spyStore{t: t}
	a := newAPIOn(t, backend{name: "spy", store: spy, queue: nil, secret: testSecret, serviceKey: testServiceKey},
		func(d *Deps) { d.Verifier = v; d.Maintenance = spy })
	user := uuid.NewString()
	tokens := attackTokens(t, keys, pub, user)
	fetches := keys.Fetches()
	for name, token := range tokens {
		for _, e := range authedEndpoints {
			r := a.do(e.method, e.path, token, map[string]any{"prompt": "p", "model": "demo"})
			if r.status != 401 || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") || r.json(t)["code"] != "unauthenticated" {
				t.Errorf("%s on %s %s: %s", name, e.method, e.path, r)
			}
		}
	}
	// Every unknown-kid attempt together cost one JWKS fetch: later ones are
	// refused without fetching.
	if n := keys.Fetches() - fetches; n != 1 {
		t.Errorf("unknown kids caused %d JWKS fetches, want 1", n)
	}
	// The same verifier accepts the real thing, so the refusals above are not
	// a broken setup.
	if c, err := v.Verify(t.Context(), keys.UserToken(t, "user-key", user)); err != nil || c.UserID != user {
		t.Fatalf("a valid ES256 token: %v", err)
	}
}

func attackTokens(t *testing.T, keys *jwttest.KeySet, pub any, user string) map[string]string {
	good := jwttest.UserToken(t, testSecret, user)
	parts := strings.Split(good, ".")
	unsigned := func(alg string) string {
		h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"` + alg + `","typ":"JWT"}`))
		return h + "." + parts[1] + "."
	}
	der, _ := x509.MarshalPKIXPublicKey(pub.(*ecdsa.PublicKey))
	confused := jwt.NewWithClaims(jwt.SigningMethodHS256, jwttest.UserClaims(user))
	confused.Header["kid"] = "user-key"
	confusedToken, _ := confused.SignedString(der)
	hs512, _ := jwt.NewWithClaims(jwt.SigningMethodHS512, jwttest.UserClaims(user)).SignedString(testSecret)
	claims := func(mod func(jwt.MapClaims)) string {
		c := jwttest.UserClaims(user)
		mod(c)
		tok, _ := jwttest.SignHS256(testSecret, c)
		return tok
	}
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	tampered := strings.Replace(string(payload), user, uuid.NewString(), 1)
	return map[string]string{
		"alg none":                         unsigned("none"),
		"alg None":                         unsigned("None"),
		"alg NONE":                         unsigned("NONE"),
		"HS256 signed with the public key": confusedToken,
		"algorithm not allowed (HS512)":    hs512,
		"missing exp":                      claims(func(c jwt.MapClaims) { delete(c, "exp") }),
		"expired beyond leeway":            jwttest.UserToken(t, testSecret, user, jwttest.WithNow(time.Now().Add(-2*time.Hour))),
		"nbf in the future":                claims(func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(time.Minute).Unix() }),
		"iat in the future":                jwttest.UserToken(t, testSecret, user, jwttest.WithNow(time.Now().Add(time.Minute))),
		"wrong aud":                        claims(func(c jwt.MapClaims) { c["aud"] = "someone-else" }),
		"no aud":                           claims(func(c jwt.MapClaims) { delete(c, "aud") }),
		"wrong iss":                        claims(func(c jwt.MapClaims) { c["iss"] = "https://other.supabase.co/auth/v1" }),
		"unknown kid":                      keys.UserToken(t, "user-key", user, jwttest.WithKID("kid-nobody-knows")),
		"another unknown kid":              keys.UserToken(t, "user-key", user, jwttest.WithKID("kid-nobody-knows-2")),
		"tampered payload":                 parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(tampered)) + "." + parts[2],
		"malformed base64":                 parts[0] + ".%%%not-base64%%%." + parts[2],
		"two parts":                        parts[0] + "." + parts[1],
		"oversized":                        parts[0] + "." + strings.Repeat("A", auth.MaxTokenBytes) + "." + parts[2],
		"service_role from a user key": keys.Sign(t, "user-key", jwt.MapClaims{"role": "service_role", "iss": jwttest.Issuer,
			"exp": time.Now().Add(time.Hour).Unix()}),
		"anon key":       jwttest.AnonKey(t, testSecret),
		"sub not a uuid": claims(func(c jwt.MapClaims) { c["sub"] = "admin" }),
		"other secret":   jwttest.UserToken(t, []byte("another-secret-another-secret!!!"), user),
	}
}

// Requests without credentials, or with an API key that names nobody, are
// refused before the store too.
func TestMissingCredentialsNeverReachTheStore(t *testing.T) {
	t.Parallel()
	spy := spyStore{t: t}
	a := newAPIOn(t, backend{name: "spy", store: spy, secret: testSecret, serviceKey: testServiceKey},
		func(d *Deps) { d.Maintenance = spy })
	for _, e := range authedEndpoints {
		for name, headers := range map[string][]string{
			"nothing":               nil,
			"basic auth":            {"Authorization", "Basic dXNlcjpwYXNz"},
			"publishable key alone": {"apikey", "sb_publishable_abc"},
			"empty bearer":          {"Authorization", "Bearer "},
		} {
			r := a.do(e.method, e.path, "", nil, headers...)
			if r.status != 401 || r.header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s on %s %s: %s", name, e.method, e.path, r)
			}
		}
	}
}
