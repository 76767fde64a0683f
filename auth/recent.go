package auth

import (
	"crypto/sha256"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/polaris/reportd/report"
)

// A client polls a job every few seconds with the same access token, and
// verifying it each time (base64, JSON, an HMAC or a signature check) was
// a third of a status read's allocations. recent remembers the callers of
// tokens verified in the last recentTTL, by the token's SHA-256 (computed
// anyway, to compare with the secret keys), in a bounded LRU. An entry is
// used only while its token is still within its exp (with the same leeway
// as the parser), so caching never accepts a token verification would
// refuse for its age. A signing key withdrawn from the JWKS stays trusted
// for up to recentTTL longer than it would be without the cache; the JWKS
// An entry is also used only while the key that verified it is
// still in the JWKS last fetched, so a key withdrawn from the project's JWKS
// stops its tokens at the next refetch, as without the cache. Failed
// verifications are never remembered.
const (
	recentTTL  = 30 * time.Second
	recentSize = 10_000
)

type recent struct {
	cache *lru.Cache[[sha256.Size]byte, recentCaller]
	now   func() time.Time
}

type recentCaller struct {
	caller report.Caller
	kid    string    // the JWKS key that verified the token; "" for the HS256 secret
	until  time.Time // the earlier of the token's exp (with leeway) and recentTTL after verifying it
}

func newRecent(now func() time.Time) *recent {
	c, err := lru.New[[sha256.Size]byte, recentCaller](recentSize)
	if err != nil {
		panic(err) // only for a size below 1
	}
	return &recent{cache: c, now: now}
}

// get is the caller of a token verified recently; keyKept says whether a
// JWKS key is still in the set.
func (r *recent) get(h [sha256.Size]byte, keyKept func(kid string) bool) (report.Caller, bool) {
	e, ok := r.cache.Get(h)
	if !ok {
		return report.Caller{}, false
	}
	if !r.now().Before(e.until) || (e.kid != "" && !keyKept(e.kid)) {
		r.cache.Remove(h)
		return report.Caller{}, false
	}
	return e.caller, true
}

func (r *recent) add(h [sha256.Size]byte, c report.Caller, kid string) {
	now := r.now()
	until := now.Add(recentTTL)
	if !c.Expires.IsZero() && c.Expires.Add(Leeway).Before(until) {
		until = c.Expires.Add(Leeway)
	}
	r.cache.Add(h, recentCaller{caller: c, kid: kid, until: until})
}
