// Package jwttest mints the tokens a Supabase project hands out, for tests across the
// repository: user access tokens, the legacy anon and service_role API keys, and (in keyset.go)
// asymmetric ES256/RS256 keys served as a JWKS that tests can rotate.
package jwttest

import (
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

const (
	// Issuer is the iss of user tokens, as issued by a local Supabase stack
	// (<SUPABASE_URL>/auth/v1).
	Issuer = "http://127.0.0.1:54321/auth/v1"
	// ProjectRef is the ref claim of the legacy API keys.
	ProjectRef = "reportdtest"
	// UserTTL is the lifetime of user tokens, Supabase's default of one hour.
	UserTTL = time.Hour
	// APIKeyTTL is the lifetime of legacy API keys, which Supabase issues for about ten years.
	APIKeyTTL = 10 * 365 * 24 * time.Hour
)

// Option changes a token before it is signed.
type Option func(*spec)

type spec struct {
	now            time.Time
	ttl            time.Duration
	nowSet, ttlSet bool
	kid            string
	set            map[string]any
	drop           []string
}

// WithClaim sets (or overrides) a claim.
func WithClaim(name string, value any) Option {
	return func(s *spec) {
		if s.set == nil {
			s.set = map[string]any{}
		}
		s.set[name] = value
	}
}

// WithoutClaim removes a claim, for tokens missing exp, sub, role and the like.
func WithoutClaim(name string) Option {
	return func(s *spec) { s.drop = append(s.drop, name) }
}

// WithKID puts a kid in the token header.
func WithKID(kid string) Option {
	return func(s *spec) { s.kid = kid }
}

// WithTTL sets exp to iat plus d; a negative d makes an expired token.
func WithTTL(d time.Duration) Option {
	return func(s *spec) { s.ttl, s.ttlSet = d, true }
}

// WithNow sets the issue time (iat) the other times are counted from.
func WithNow(t time.Time) Option {
	return func(s *spec) { s.now, s.nowSet = t, true }
}

func newSpec(ttl time.Duration, opts []Option) *spec {
	s := &spec{now: time.Now(), ttl: ttl}
	for _, o := range opts {
		o(s)
	}
	return s
}

// apply fills in iat and exp, then the caller's overrides and removals.
func (s *spec) apply(c jwt.MapClaims) jwt.MapClaims {
	c["iat"] = s.now.Unix()
	c["exp"] = s.now.Add(s.ttl).Unix()
	return s.override(c)
}

func (s *spec) override(c jwt.MapClaims) jwt.MapClaims {
	for k, v := range s.set {
		c[k] = v
	}
	for _, k := range s.drop {
		delete(c, k)
	}
	return c
}

// restamp applies options to claims built elsewhere: WithNow and WithTTL move iat and exp (an
// unchanged lifetime is kept), and claim overrides and removals apply again.
func (s *spec) restamp(c jwt.MapClaims) jwt.MapClaims {
	if s.nowSet || s.ttlSet {
		ttl := s.ttl
		if !s.ttlSet {
			ttl = lifetime(c)
		}
		c["iat"] = s.now.Unix()
		c["exp"] = s.now.Add(ttl).Unix()
	}
	return s.override(c)
}

func lifetime(c jwt.MapClaims) time.Duration {
	exp, err1 := c.GetExpirationTime()
	iat, err2 := c.GetIssuedAt()
	if err1 != nil || err2 != nil || exp == nil || iat == nil {
		return UserTTL
	}
	return exp.Sub(iat.Time)
}

// UserClaims are the claims of a Supabase user access token for userID (a UUID string):
// iss, aud "authenticated", exp, iat, sub, email, phone, role "authenticated", aal, amr,
// session_id, is_anonymous, app_metadata and user_metadata.
func UserClaims(userID string, opts ...Option) jwt.MapClaims {
	s := newSpec(UserTTL, opts)
	return s.apply(userClaims(userID, s.now))
}

func userClaims(userID string, now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"iss":          Issuer,
		"aud":          "authenticated",
		"sub":          userID,
		"email":        "user-" + userID + "@example.test",
		"phone":        "",
		"role":         "authenticated",
		"aal":          "aal1",
		"amr":          []any{map[string]any{"method": "password", "timestamp": now.Unix()}},
		"session_id":   uuid.NewString(),
		"is_anonymous": false,
		"app_metadata": map[string]any{"provider": "email", "providers": []any{"email"}},
		"user_metadata": map[string]any{
			"email_verified": true,
		},
	}
}

// APIKeyClaims are the claims of a legacy API key for role ("anon" or "service_role"): iss
// "supabase", ref, role, iat and exp; no sub and no aud.
func APIKeyClaims(role string, opts ...Option) jwt.MapClaims {
	s := newSpec(APIKeyTTL, opts)
	return s.apply(jwt.MapClaims{"iss": "supabase", "ref": ProjectRef, "role": role})
}

// SignHS256 signs a copy of claims with the legacy shared secret. Options apply to the copy
// (WithKID sets the header's kid), so SignHS256(secret, UserClaims(id), opts...) and
// SignHS256(secret, UserClaims(id, opts...), opts...) make the same token.
func SignHS256(secret []byte, claims jwt.MapClaims, opts ...Option) (string, error) {
	s := newSpec(0, opts)
	return sign(jwt.SigningMethodHS256, secret, s.restamp(maps.Clone(claims)), s.kid)
}

func sign(method jwt.SigningMethod, key any, claims jwt.MapClaims, kid string) (string, error) {
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		return "", fmt.Errorf("jwttest: sign %s: %w", method.Alg(), err)
	}
	return s, nil
}

// UserToken is an HS256 user access token for userID signed with secret.
func UserToken(tb testing.TB, secret []byte, userID string, opts ...Option) string {
	tb.Helper()
	return must(tb)(SignHS256(secret, UserClaims(userID, opts...), opts...))
}

// AnonKey is a legacy anon API key signed with secret.
func AnonKey(tb testing.TB, secret []byte, opts ...Option) string {
	tb.Helper()
	return must(tb)(SignHS256(secret, APIKeyClaims("anon", opts...), opts...))
}

// ServiceRoleKey is a legacy service_role API key signed with secret.
func ServiceRoleKey(tb testing.TB, secret []byte, opts ...Option) string {
	tb.Helper()
	return must(tb)(SignHS256(secret, APIKeyClaims("service_role", opts...), opts...))
}

func must(tb testing.TB) func(string, error) string {
	return func(s string, err error) string {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
		return s
	}
}
