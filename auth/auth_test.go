package auth

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/polaris/reportd/internal/jwttest"
	"github.com/polaris/reportd/report"
)

var secret = []byte("auth-test-secret-0123456789abcdef")

const userID = "4b1e3c2a-9f7d-4e6b-8a5c-1d2e3f4a5b6c"

func TestVerifyUserToken(t *testing.T) {
	t.Parallel()
	v, err := New(Config{HS256Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	token := jwttest.UserToken(t, secret, userID)
	c, err := v.Verify(context.Background(), token)
	if err != nil || c.UserID != userID || c.Role != report.RoleUser || c.Token != token {
		t.Fatalf("caller %+v err %v", c, err)
	}
	minted, _ := MintUserToken(secret, userID, "a@b.c", time.Minute, time.Now())
	if c, err := v.Verify(context.Background(), minted); err != nil || c.UserID != userID {
		t.Fatalf("minted token: %+v %v", c, err)
	}
}

func TestRejectedTokens(t *testing.T) {
	t.Parallel()
	v, _ := New(Config{HS256Secret: secret})
	none := jwt.NewWithClaims(jwt.SigningMethodNone, jwttest.UserClaims(userID))
	noneToken, _ := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
	hs384, _ := jwt.NewWithClaims(jwt.SigningMethodHS384, jwttest.UserClaims(userID)).SignedString(secret)
	good := jwttest.UserToken(t, secret, userID)
	cases := map[string]string{
		"alg none":         noneToken,
		"HS384":            hs384,
		"other secret":     jwttest.UserToken(t, []byte("another-secret-another-secret!!"), userID),
		"expired":          jwttest.UserToken(t, secret, userID, jwttest.WithTTL(-time.Minute)),
		"no exp":           jwttest.UserToken(t, secret, userID, jwttest.WithoutClaim("exp")),
		"not yet valid":    jwttest.UserToken(t, secret, userID, jwttest.WithClaim("nbf", time.Now().Add(time.Hour).Unix())),
		"issued in future": jwttest.UserToken(t, secret, userID, jwttest.WithNow(time.Now().Add(time.Hour))),
		"wrong aud":        jwttest.UserToken(t, secret, userID, jwttest.WithClaim("aud", "someone-else")),
		"anon key":         jwttest.AnonKey(t, secret),
		"sub not a uuid":   jwttest.UserToken(t, secret, "admin"),
		"tampered":         good[:strings.LastIndex(good, ".")-2] + "xx" + good[strings.LastIndex(good, "."):],
		"garbage":          "a.b.c",
		"oversized":        strings.Repeat("a", MaxTokenBytes+1),
	}
	for name, token := range cases {
		_, err := v.Verify(context.Background(), token)
		var pub *report.Error
		if !errors.Is(err, report.ErrUnauthenticated) || !errors.As(err, &pub) || pub.Message == "" {
			t.Errorf("%s: %v, want a clear ErrUnauthenticated", name, err)
		}
	}
	// Within the 30 s leeway an expired token still passes.
	late := jwttest.UserToken(t, secret, userID, jwttest.WithNow(time.Now().Add(-time.Hour-10*time.Second)), jwttest.WithTTL(time.Hour))
	if _, err := v.Verify(context.Background(), late); err != nil {
		t.Fatalf("token expired 10 s ago: %v", err)
	}
}
