// Package auth decides who a caller is. It verifies Supabase access tokens
// with golang-jwt, using the project's legacy HS256 secret and the ES256/RS256
// public keys of its JWKS (fetched, cached and refreshed by jwkset/keyfunc),
// with the algorithms pinned to what is configured. It recognises service
// callers: a service_role token signed by a key trusted for service callers,
// or the project's secret key itself. It never trusts a claim of a token it
// could not verify.
package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/polaris/reportd/report"
)

const (
	// Leeway allowed on exp, nbf and iat, as PostgREST allows.
	Leeway = 30 * time.Second
	// MaxTokenBytes bounds the tokens parsed at all. Supabase access tokens
	// are about 1 KiB; large app_metadata grows them, 8 KiB leaves room.
	MaxTokenBytes = 8 << 10
	// UserAudience is the aud claim (and role) of Supabase user access tokens.
	UserAudience = "authenticated"
	// ServiceRole is the role claim of service_role tokens.
	ServiceRole = "service_role"
	// LegacySecret names the HS256 secret in Config.ServiceKeys.
	LegacySecret = "legacy"
	// legacyIssuer is the iss of Supabase's legacy API keys.
	legacyIssuer = "supabase"
)

// Config says which keys sign acceptable tokens and who may act as a service.
type Config struct {
	// HS256Secret is the project's legacy JWT secret. It signs users' tokens
	// in projects that have not moved to asymmetric keys, and the legacy
	// anon and service_role API keys. Empty: HS256 is not accepted.
	HS256Secret []byte
	// JWKSURL is the project's JWKS (<SUPABASE_URL>/auth/v1/.well-known/jwks.json).
	// Empty: ES256 and RS256 are not accepted.
	JWKSURL string
	// JWKSRefresh is how often the JWKS is refetched (default 10 minutes,
	// Supabase's cache time). JWKSUnknownKID is the least time between two
	// refetches caused by tokens naming a key not in the set (default 2 minutes).
	JWKSRefresh    time.Duration
	JWKSUnknownKID time.Duration
	// Issuer, when set, is the iss every user token must carry
	// (<SUPABASE_URL>/auth/v1). service_role tokens may also carry "supabase",
	// the issuer of the legacy API keys.
	Issuer string
	// ServiceKeys are the signing keys whose service_role tokens make a
	// service caller: LegacySecret for the HS256 secret, or JWKS key ids.
	// Nil means []string{LegacySecret}, the key that signs Supabase's legacy
	// service_role key; an empty non-nil slice trusts no signing key.
	ServiceKeys []string
	// SecretKeys are API keys (the legacy service_role JWT or an
	// sb_secret_... key) that make a service caller when presented as they
	// are, as the bearer token or the apikey header.
	SecretKeys []string
	// HTTPClient fetches the JWKS (default: a client with a 10 s timeout).
	HTTPClient *http.Client
	Log        *slog.Logger
}

// Verifier authenticates callers. It is safe for concurrent use.
type Verifier struct {
	secret      []byte
	jwks        *keySet // nil without a JWKS
	parser      *jwt.Parser
	issuer      string
	serviceKeys []string
	secretKeys  [][sha256.Size]byte
	recent      *recent
}

// New returns a verifier for cfg. ctx ends the JWKS refresher. A JWKS that
// cannot be fetched now does not stop New: the keys arrive with a later
// refetch, and HS256 tokens work meanwhile.
func New(ctx context.Context, cfg Config) (*Verifier, error) {
	if len(cfg.HS256Secret) == 0 && cfg.JWKSURL == "" {
		return nil, errors.New("auth: no key configured to verify tokens (a JWT secret or a JWKS URL)")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	v := &Verifier{secret: cfg.HS256Secret, issuer: cfg.Issuer, serviceKeys: cfg.ServiceKeys, recent: newRecent(time.Now)}
	if v.serviceKeys == nil {
		v.serviceKeys = []string{LegacySecret}
	}
	for _, k := range cfg.SecretKeys {
		if k != "" {
			v.secretKeys = append(v.secretKeys, sha256.Sum256([]byte(k)))
		}
	}
	var methods []string
	if len(cfg.HS256Secret) > 0 {
		methods = append(methods, jwt.SigningMethodHS256.Alg())
	}
	if cfg.JWKSURL != "" {
		ks, err := newKeySet(ctx, cfg)
		if err != nil {
			return nil, err
		}
		v.jwks = ks
		methods = append(methods, jwt.SigningMethodES256.Alg(), jwt.SigningMethodRS256.Alg())
	}
	v.parser = jwt.NewParser(
		jwt.WithValidMethods(methods),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(Leeway),
	)
	return v, nil
}

// Claims are the parts of a Supabase token the service reads.
type Claims struct {
	jwt.RegisteredClaims
	Role  string `json:"role"`
	Email string `json:"email,omitempty"`
}

// Authenticate returns the caller behind a request's credentials: the bearer
// token when there is one (a user's token always wins over an API key, as at
// Supabase's gateway), else the apikey header, which identifies only service
// callers (a publishable or anon key says nothing about who is calling).
// Failures are *report.Error of kind ErrUnauthenticated with a message that
// says what is wrong without echoing the credentials.
func (v *Verifier) Authenticate(ctx context.Context, bearer, apikey string) (report.Caller, error) {
	switch {
	case bearer != "":
		return v.Verify(ctx, bearer)
	case apikey != "" && v.isSecretKey(apikey):
		return report.Caller{Role: report.RoleService}, nil
	case apikey != "":
		return report.Caller{}, unauthenticated("an API key alone does not identify a user: send the user's access token as Authorization: Bearer")
	}
	return report.Caller{}, unauthenticated("Authentication required: send an Authorization: Bearer header with a Supabase access token")
}

// Verify checks a bearer token: the secret key itself, a user's access
// token, or a service_role token signed by a key trusted for service callers.
func (v *Verifier) Verify(ctx context.Context, token string) (report.Caller, error) {
	if len(token) > MaxTokenBytes {
		return report.Caller{}, unauthenticated("the access token is too large")
	}
	h := sha256.Sum256([]byte(token))
	if v.isSecretHash(h) {
		return report.Caller{Role: report.RoleService}, nil
	}
	if c, ok := v.recent.get(h, func(kid string) bool { return v.jwks != nil && v.jwks.has(ctx, kid) }); ok {
		return c, nil
	}
	var claims Claims
	parsed, err := v.parser.ParseWithClaims(token, &claims, v.keyfunc(ctx))
	if err != nil {
		return report.Caller{}, &report.Error{Kind: report.ErrUnauthenticated, Message: reason(err), Cause: err}
	}
	var c report.Caller
	if claims.Role == ServiceRole {
		c, err = v.service(parsed, claims)
	} else {
		c, err = v.user(token, claims)
	}
	if err == nil {
		kid := ""
		if parsed.Method.Alg() != jwt.SigningMethodHS256.Alg() {
			kid, _ = parsed.Header["kid"].(string)
		}
		v.recent.add(h, c, kid)
	}
	return c, err
}

func (v *Verifier) user(token string, claims Claims) (report.Caller, error) {
	switch {
	case claims.Role != UserAudience:
		return report.Caller{}, unauthenticated("the access token is not a signed-in user's token")
	case !slices.Contains(claims.Audience, UserAudience):
		return report.Caller{}, unauthenticated("the access token is not meant for this service (aud)")
	case v.issuer != "" && claims.Issuer != v.issuer:
		return report.Caller{}, unauthenticated("the access token was issued by another project (iss)")
	case !report.ValidUUID(claims.Subject):
		return report.Caller{}, unauthenticated("the access token has no valid user id (sub)")
	}
	return report.Caller{UserID: strings.ToLower(claims.Subject), Role: report.RoleUser, Token: token,
		Expires: claims.ExpiresAt.Time}, nil
}

// service accepts a service_role token only when the key that verified it
// is trusted for service callers: anyone holding a user-signing key that is
// not (a JWKS key meant for user sessions) must not become a service.
func (v *Verifier) service(t *jwt.Token, claims Claims) (report.Caller, error) {
	signer := LegacySecret
	if t.Method.Alg() != jwt.SigningMethodHS256.Alg() {
		signer, _ = t.Header["kid"].(string)
	}
	if !slices.Contains(v.serviceKeys, signer) {
		return report.Caller{}, unauthenticated("the token's key is not trusted for service callers")
	}
	if v.issuer != "" && claims.Issuer != v.issuer && claims.Issuer != legacyIssuer {
		return report.Caller{}, unauthenticated("the token was issued by another project (iss)")
	}
	return report.Caller{Role: report.RoleService, Expires: claims.ExpiresAt.Time}, nil
}

// isSecretKey compares in constant time; hashing first keeps the key's
// length from showing in the timing too.
func (v *Verifier) isSecretKey(s string) bool {
	return v.isSecretHash(sha256.Sum256([]byte(s)))
}

func (v *Verifier) isSecretHash(h [sha256.Size]byte) bool {
	found := 0
	for _, k := range v.secretKeys {
		found |= subtle.ConstantTimeCompare(h[:], k[:])
	}
	return found == 1
}

// Ready reports whether the JWKS can be fetched (nil without a JWKS).
func (v *Verifier) Ready(ctx context.Context) error {
	if v.jwks == nil {
		return nil
	}
	return v.jwks.ready(ctx)
}

func unauthenticated(msg string) error { return report.Errorf(report.ErrUnauthenticated, "%s", msg) }

// reason explains a parse failure in words a client can act on.
func reason(err error) string {
	switch {
	case errors.Is(err, errNoKID):
		return "the access token does not name its key (kid)"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "the access token has expired"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "the access token lacks a required claim (exp)"
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "the access token is not valid yet"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return "the access token's signature is not valid, or its key or algorithm is not accepted"
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "the access token is malformed"
	}
	return "the access token was rejected"
}
