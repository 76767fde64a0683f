package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

var errNoKID = errors.New("token has no kid")

const (
	defaultRefresh    = 10 * time.Minute
	defaultUnknownKID = 2 * time.Minute
	fetchTimeout      = 5 * time.Second
	readyCacheFor     = 10 * time.Second
)

// keyfunc picks the key by algorithm first: an HS256 token is checked
// against the legacy secret only, never against a JWKS key, so a token
// "signed" with a public key under HS256 (algorithm confusion) cannot pass;
// an ES256/RS256 token must name its key, and keyfunc checks that the key's
// own alg matches the token's.
func (v *Verifier) keyfunc(ctx context.Context) jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		switch t.Method.Alg() {
		case jwt.SigningMethodHS256.Alg():
			if len(v.secret) == 0 {
				return nil, errors.New("HS256 is not configured")
			}
			return v.secret, nil
		case jwt.SigningMethodES256.Alg(), jwt.SigningMethodRS256.Alg():
			if v.jwks == nil {
				return nil, errors.New("no JWKS is configured")
			}
			if kid, _ := t.Header["kid"].(string); kid == "" {
				return nil, errNoKID
			}
			return v.jwks.keys.KeyfuncCtx(ctx)(t)
		}
		return nil, fmt.Errorf("algorithm %s is not accepted", t.Method.Alg())
	}
}

// keySet is the project's JWKS: fetched at start, refetched every refresh
// interval and, rate-limited, when a token names an unknown kid. A failed
// fetch keeps the last good set (jwkset replaces keys only on success).
type keySet struct {
	url    string
	client *http.Client
	keys   keyfunc.Keyfunc
	remote jwkset.Storage // the keys last fetched

	mu        sync.Mutex
	checkedAt time.Time
	lastErr   error
}

func newKeySet(ctx context.Context, cfg Config) (*keySet, error) {
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 2 * fetchTimeout}
	}
	refresh, unknown := cfg.JWKSRefresh, cfg.JWKSUnknownKID
	if refresh <= 0 {
		refresh = defaultRefresh
	}
	if unknown <= 0 {
		unknown = defaultUnknownKID
	}
	remote, err := jwkset.NewStorageFromHTTP(cfg.JWKSURL, jwkset.HTTPClientStorageOptions{
		Client:                    client,
		Ctx:                       ctx,
		HTTPTimeout:               fetchTimeout,
		NoErrorReturnFirstHTTPReq: true,
		RefreshInterval:           refresh,
		RefreshErrorHandler: func(ctx context.Context, err error) {
			cfg.Log.WarnContext(ctx, "JWKS fetch failed; keeping the last good keys", "url", cfg.JWKSURL, "err", err)
		},
	})
	if err != nil {
		return nil, fmt.Errorf("auth: jwks %s: %w", cfg.JWKSURL, err)
	}
	store, err := jwkset.NewHTTPClient(jwkset.HTTPClientOptions{
		HTTPURLs: map[string]jwkset.Storage{cfg.JWKSURL: remote},
		// Past the limit, a token with an unknown kid is rejected at once:
		// the limiter's wait would exceed this bound, so it does not wait.
		// The bound also covers the refetch itself.
		RefreshUnknownKID: rate.NewLimiter(rate.Every(unknown), 1),
		RateLimitWaitMax:  fetchTimeout,
	})
	if err != nil {
		return nil, fmt.Errorf("auth: jwks: %w", err)
	}
	keys, err := keyfunc.New(keyfunc.Options{Ctx: ctx, Storage: store})
	if err != nil {
		return nil, fmt.Errorf("auth: jwks: %w", err)
	}
	return &keySet{url: cfg.JWKSURL, client: client, keys: keys, remote: remote}, nil
}

// has says whether the key is still in the set last fetched (never fetches).
func (k *keySet) has(ctx context.Context, kid string) bool {
	_, err := k.remote.KeyRead(ctx, kid)
	return err == nil
}

// ready fetches the JWKS to see that it answers, at most once per
// readyCacheFor, so frequent readiness probes do not load the project.
func (k *keySet) ready(ctx context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if time.Since(k.checkedAt) < readyCacheFor {
		return k.lastErr
	}
	k.checkedAt, k.lastErr = time.Now(), k.fetch(ctx)
	return k.lastErr
}

func (k *keySet) fetch(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return err
	}
	resp, err := k.client.Do(req)
	if err != nil {
		return fmt.Errorf("jwks unreachable: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("jwks answered HTTP %d", resp.StatusCode)
	}
	return nil
}
