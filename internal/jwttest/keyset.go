package jwttest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

// KeySet is a set of asymmetric signing keys whose public halves are served as a JWKS, like
// <SUPABASE_URL>/auth/v1/.well-known/jwks.json. Keys can be added and removed while a test runs,
// to exercise rotation and revocation.
type KeySet struct {
	srv     *httptest.Server
	store   *jwkset.MemoryJWKSet
	fetches atomic.Int64
	down    atomic.Bool

	mu      sync.Mutex
	signers map[string]signer
}

type signer struct {
	method jwt.SigningMethod
	key    crypto.Signer
}

// NewKeySet starts an empty key set's JWKS server; it is closed when the test ends.
func NewKeySet(tb testing.TB) *KeySet {
	tb.Helper()
	k := &KeySet{store: jwkset.NewMemoryStorage(), signers: map[string]signer{}}
	k.srv = httptest.NewServer(http.HandlerFunc(k.serveJWKS))
	tb.Cleanup(k.srv.Close)
	return k
}

func (k *KeySet) serveJWKS(w http.ResponseWriter, r *http.Request) {
	k.fetches.Add(1)
	if k.down.Load() {
		http.Error(w, "jwks unavailable", http.StatusServiceUnavailable)
		return
	}
	body, err := k.store.JSONPublic(r.Context())
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}

// URL is the JWKS address.
func (k *KeySet) URL() string { return k.srv.URL + "/auth/v1/.well-known/jwks.json" }

// Fetches counts the requests the JWKS server has answered, to check caching and rate limits.
func (k *KeySet) Fetches() int64 { return k.fetches.Load() }

// SetDown makes the JWKS server answer 503 (true) or serve the set again (false).
func (k *KeySet) SetDown(down bool) { k.down.Store(down) }

// AddES256 generates a P-256 key, publishes it under kid and returns its public key.
func (k *KeySet) AddES256(tb testing.TB, kid string) crypto.PublicKey {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	k.add(tb, kid, jwt.SigningMethodES256, jwkset.AlgES256, key)
	return key.Public()
}

// AddRS256 generates a 2048-bit RSA key, publishes it under kid and returns its public key.
func (k *KeySet) AddRS256(tb testing.TB, kid string) crypto.PublicKey {
	tb.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatal(err)
	}
	k.add(tb, kid, jwt.SigningMethodRS256, jwkset.AlgRS256, key)
	return key.Public()
}

func (k *KeySet) add(tb testing.TB, kid string, method jwt.SigningMethod, alg jwkset.ALG, key crypto.Signer) {
	tb.Helper()
	jwk, err := jwkset.NewJWKFromKey(key, jwkset.JWKOptions{
		Metadata: jwkset.JWKMetadataOptions{ALG: alg, KID: kid, USE: jwkset.UseSig},
		Marshal:  jwkset.JWKMarshalOptions{Private: true},
	})
	if err != nil {
		tb.Fatal(err)
	}
	if err := k.store.KeyWrite(context.Background(), jwk); err != nil {
		tb.Fatal(err)
	}
	k.mu.Lock()
	k.signers[kid] = signer{method: method, key: key}
	k.mu.Unlock()
}

// Remove withdraws kid from the published set (revocation). Tokens can still be signed with it,
// to check that verifiers reject them once they refetch.
func (k *KeySet) Remove(kid string) {
	_, _ = k.store.KeyDelete(context.Background(), kid)
}

// Sign signs claims with the key kid and puts kid in the header.
func (k *KeySet) Sign(tb testing.TB, kid string, claims jwt.MapClaims) string {
	tb.Helper()
	k.mu.Lock()
	s, ok := k.signers[kid]
	k.mu.Unlock()
	if !ok {
		tb.Fatalf("jwttest: no key %q in the key set", kid)
	}
	return must(tb)(sign(s.method, s.key, claims, kid))
}

// UserToken is a user access token for userID signed with the key kid. A WithKID option changes
// only the header, to forge a token that names another key.
func (k *KeySet) UserToken(tb testing.TB, kid, userID string, opts ...Option) string {
	tb.Helper()
	k.mu.Lock()
	s, ok := k.signers[kid]
	k.mu.Unlock()
	if !ok {
		tb.Fatalf("jwttest: no key %q in the key set", kid)
	}
	header := kid
	if o := newSpec(0, opts).kid; o != "" {
		header = o
	}
	return must(tb)(sign(s.method, s.key, UserClaims(userID, opts...), header))
}
