package pgrest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// auth is who a request runs as: the role to switch to and the claims JSON (with role set).
type auth struct {
	role   string
	claims []byte
	anon   bool
}

// leeway is PostgREST's allowed clock skew for exp, nbf and iat.
const leeway = 30 * time.Second

// verifier checks JWTs like PostgREST: signature by the HS256 secret or a JWKS key, exp, nbf and
// iat with leeway; aud and iss are not checked (Supabase configures neither).
type verifier struct {
	parser *jwt.Parser
	keys   keyfunc.Keyfunc
}

var validMethods = []string{"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "EdDSA"}

// newVerifier builds the key store: the secret (and its optional kid) as a local key, plus the
// JWKS when configured. life ends the JWKS refresher.
func newVerifier(ctx, life context.Context, cfg Config) (*verifier, error) {
	if len(cfg.JWTSecret) == 0 && cfg.JWKSURL == "" {
		return nil, errors.New("pgrest: JWTSecret or JWKSURL is required")
	}
	local := jwkset.NewMemoryStorage()
	if len(cfg.JWTSecret) > 0 {
		jwk, err := jwkset.NewJWKFromKey(cfg.JWTSecret, jwkset.JWKOptions{
			Metadata: jwkset.JWKMetadataOptions{ALG: jwkset.AlgHS256, KID: cfg.JWTSecretKID},
			Marshal:  jwkset.JWKMarshalOptions{Private: true},
		})
		if err == nil {
			err = local.KeyWrite(ctx, jwk)
		}
		if err != nil {
			return nil, fmt.Errorf("pgrest: jwt secret: %w", err)
		}
	}
	var store jwkset.Storage = local
	if cfg.JWKSURL != "" {
		var err error
		if store, err = withJWKS(life, local, cfg); err != nil {
			return nil, fmt.Errorf("pgrest: jwks: %w", err)
		}
	}
	keys, err := keyfunc.New(keyfunc.Options{Ctx: life, Storage: store})
	if err != nil {
		return nil, fmt.Errorf("pgrest: keys: %w", err)
	}
	parser := jwt.NewParser(jwt.WithValidMethods(validMethods), jwt.WithLeeway(leeway),
		jwt.WithIssuedAt(), jwt.WithJSONNumber())
	return &verifier{parser: parser, keys: keys}, nil
}

// withJWKS adds the remote key set to the local keys. The set is refetched every
// JWKSRefreshInterval, keeping the last good one when the endpoint fails.
func withJWKS(life context.Context, local jwkset.Storage, cfg Config) (jwkset.Storage, error) {
	remote, err := jwkset.NewStorageFromHTTP(cfg.JWKSURL, jwkset.HTTPClientStorageOptions{
		Ctx:                       life,
		HTTPTimeout:               10 * time.Second,
		NoErrorReturnFirstHTTPReq: true, // start anyway; keys arrive with a later refresh
		RefreshInterval:           cfg.JWKSRefreshInterval,
	})
	if err != nil {
		return nil, err
	}
	return jwkset.NewHTTPClient(jwkset.HTTPClientOptions{
		Given:    local,
		HTTPURLs: map[string]jwkset.Storage{cfg.JWKSURL: remote},
		// An unknown kid refetches at most once per interval. jwkset bounds the wait for the
		// limiter AND the refetch itself with RateLimitWaitMax (one context), so it must
		// leave room for the HTTP request; a 1 ms bound made refetches fail under load.
		RefreshUnknownKID: rate.NewLimiter(rate.Every(cfg.JWKSRefetchInterval), 1),
		RateLimitWaitMax:  5 * time.Second,
	})
}

// verify returns the token's claims or a PGRST301 error.
func (v *verifier) verify(ctx context.Context, token string) (jwt.MapClaims, *apiError) {
	claims := jwt.MapClaims{}
	if _, err := v.parser.ParseWithClaims(token, claims, v.keys.KeyfuncCtx(ctx)); err != nil {
		return nil, tokenError(token, err)
	}
	return claims, nil
}

// tokenError uses PostgREST 12.2's code and messages: PGRST301 for every token failure.
// (PostgREST 13+ answers PGRST303 for claim failures such as "JWT expired"; both are 401.)
func tokenError(token string, err error) *apiError {
	msg := "JWSError JWSInvalidSignature"
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		msg = "JWT expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		msg = "JWTNotYetValid"
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		msg = "JWTIssuedAtFuture"
	case errors.Is(err, jwt.ErrTokenMalformed):
		if n := strings.Count(token, ".") + 1; n != 3 {
			msg = "JWSError (CompactDecodeError Invalid number of parts: Expected 3 parts; got " + strconv.Itoa(n) + ")"
		} else {
			msg = "JWSError JWSInvalidSignature"
		}
	}
	e := newError(http.StatusUnauthorized, "PGRST301", msg)
	e.authenticate = `Bearer error="invalid_token", error_description=` + strconv.Quote(msg)
	return e
}

// authenticate resolves the request's role and claims: first the front gateway (when
// RequireAPIKey), then PostgREST's own bearer-token handling.
func (g *Gateway) authenticate(r *http.Request) (*auth, error) {
	header, hasHeader := r.Header["Authorization"]
	authorization := ""
	if hasHeader && len(header) > 0 {
		authorization = header[0]
	}
	token := bearer(authorization)
	if g.cfg.RequireAPIKey {
		keyRole, keyToken, err := g.admitAPIKey(r)
		if err != nil {
			return nil, err
		}
		// A user JWT in Authorization wins; the key stands in only when there is none, or
		// when the client repeats the key there (supabase-go sends it as both headers).
		if !hasHeader || token == r.Header.Get("apikey") {
			if keyRole != "" {
				return g.keyAuth(keyRole), nil
			}
			token = keyToken
		}
	}
	if token == "" {
		return g.roleAuth(g.cfg.AnonRole, jwt.MapClaims{}), nil
	}
	claims, verr := g.verifier.verify(r.Context(), token)
	if verr != nil {
		return nil, verr
	}
	role := g.cfg.AnonRole
	switch v := claims["role"].(type) {
	case nil:
	case string:
		role = v
	default:
		b, _ := json.Marshal(v)
		role = string(b)
	}
	return g.roleAuth(role, claims), nil
}

// bearer extracts the token of a Bearer authorization (scheme case-insensitive). Any other
// scheme, and an empty token, mean anonymous, as in PostgREST 12.2 (v13+ rejects an empty one).
func bearer(authorization string) string {
	scheme, rest, ok := strings.Cut(strings.TrimSpace(authorization), " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return ""
	}
	return strings.TrimSpace(rest)
}

func (g *Gateway) roleAuth(role string, claims jwt.MapClaims) *auth {
	claims["role"] = role
	b, err := json.Marshal(claims)
	if err != nil {
		b = []byte(`{"role":` + strconv.Quote(role) + `}`)
	}
	return &auth{role: role, claims: b, anon: role == g.cfg.AnonRole}
}

// keyAuth stands for the short-lived JWT Supabase's gateway mints for a publishable or secret
// key. Minting and verifying one here would only add cost, so the claims are built directly.
func (g *Gateway) keyAuth(role string) *auth {
	now := time.Now().Unix()
	return g.roleAuth(role, jwt.MapClaims{"iss": "supabase", "iat": now, "exp": now + 60})
}

var (
	errNoAPIKey      = &apiError{Status: http.StatusUnauthorized, Message: "No API key found in request", messageOnly: true}
	errInvalidAPIKey = &apiError{Status: http.StatusUnauthorized, Message: "Invalid API key", messageOnly: true}
	errSecretInPage  = &apiError{Status: http.StatusUnauthorized, Message: "Forbidden use of secret API key in browser", messageOnly: true}
)

// admitAPIKey is Supabase's front gateway. A legacy key comes back as a token to forward; a new
// key as the role its minted JWT would carry.
func (g *Gateway) admitAPIKey(r *http.Request) (role, token string, err *apiError) {
	key := r.Header.Get("apikey")
	if key == "" {
		key = r.URL.Query().Get("apikey")
	}
	switch {
	case key == "":
		return "", "", errNoAPIKey
	case key == g.cfg.AnonKey || key == g.cfg.ServiceRoleKey:
		return "", key, nil
	case strings.HasPrefix(key, "sb_publishable_") && key == g.cfg.PublishableKey:
		return "anon", "", nil
	case strings.HasPrefix(key, "sb_secret_") && key == g.cfg.SecretKey:
		if strings.Contains(r.UserAgent(), "Mozilla/") {
			return "", "", errSecretInPage
		}
		return "service_role", "", nil
	}
	return "", "", errInvalidAPIKey
}
