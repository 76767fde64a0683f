// Package auth verifies the bearer tokens callers present and turns them
// into report.Caller values. It uses golang-jwt with the algorithms pinned
// to what is configured; it never trusts a claim of a token it could not
// verify.
package auth

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/polaris/reportd/report"
)

const (
	// Leeway allowed on exp, nbf and iat, as PostgREST allows.
	Leeway = 30 * time.Second
	// MaxTokenBytes bounds the tokens we parse at all.
	MaxTokenBytes = 8 << 10
	// UserAudience is the aud claim of Supabase user access tokens.
	UserAudience = "authenticated"
)

// Config says which keys sign acceptable tokens.
type Config struct {
	// HS256Secret is the project's legacy JWT secret.
	HS256Secret []byte
}

// Verifier checks access tokens.
type Verifier struct {
	hs256  []byte
	parser *jwt.Parser
}

// New returns a verifier for cfg.
func New(cfg Config) (*Verifier, error) {
	if len(cfg.HS256Secret) == 0 {
		return nil, errors.New("auth: no key configured to verify tokens")
	}
	return &Verifier{
		hs256: cfg.HS256Secret,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithExpirationRequired(),
			jwt.WithAudience(UserAudience),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(Leeway),
		),
	}, nil
}

// Claims are the parts of a Supabase access token the service reads.
type Claims struct {
	jwt.RegisteredClaims
	Role  string `json:"role"`
	Email string `json:"email,omitempty"`
}

// Verify checks a bearer token and returns the caller it stands for.
// Failures are *report.Error of kind ErrUnauthenticated whose message says
// what is wrong without echoing the token.
func (v *Verifier) Verify(_ context.Context, token string) (report.Caller, error) {
	if len(token) > MaxTokenBytes {
		return report.Caller{}, unauthenticated("the access token is too large")
	}
	var claims Claims
	_, err := v.parser.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return v.hs256, nil })
	if err != nil {
		return report.Caller{}, &report.Error{Kind: report.ErrUnauthenticated, Message: reason(err), Cause: err}
	}
	if claims.Role != UserAudience {
		return report.Caller{}, unauthenticated("the access token is not a signed-in user's token")
	}
	if !report.ValidUUID(claims.Subject) {
		return report.Caller{}, unauthenticated("the access token has no valid user id (sub)")
	}
	return report.Caller{UserID: strings.ToLower(claims.Subject), Role: report.RoleUser, Token: token}, nil
}

func unauthenticated(msg string) error { return report.Errorf(report.ErrUnauthenticated, "%s", msg) }

// reason explains a parse failure in words a client can act on.
func reason(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return "the access token has expired"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "the access token lacks a required claim (exp)"
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "the access token is not valid yet"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "the access token is not meant for this service (aud)"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "the access token was issued by another project (iss)"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return "the access token's signature is not valid"
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "the access token is malformed"
	}
	return "the access token was rejected"
}
