package auth

import (
	"context"
	"testing"
	"time"
)

// TestRecentVerifications: a token verified a moment ago is not verified
// again (the check below swaps the secret, so only a remembered
// verification can pass), and stops being remembered after recentTTL, or
// after its exp (with the parser's leeway) when that comes first. A
// refused token is never remembered.
func TestRecentVerifications(t *testing.T) {
	now := time.Now()
	v := newVerifier(t, Config{HS256Secret: secret})
	v.recent.now = func() time.Time { return now }
	ctx := context.Background()

	long, err := MintUserToken(secret, userID, "a@b.c", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// Expired 20 s ago: still accepted for the last 10 s of the leeway.
	short, err := MintUserToken(secret, userID, "a@b.c", 5*time.Second, time.Now().Add(-25*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	other, err := MintUserToken([]byte("another-secret-0123456789abcdef!"), userID, "a@b.c", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	wantUser(t, v, long, userID)
	wantUser(t, v, short, userID)
	if _, err := v.Verify(ctx, other); err == nil {
		t.Fatal("a token signed with another secret was accepted")
	}

	v.secret = []byte("the-secret-after-a-change-0123456789")
	wantUser(t, v, long, userID) // remembered
	wantUser(t, v, short, userID)
	if _, err := v.Verify(ctx, other); err == nil {
		t.Fatal("a refused token was remembered as accepted")
	}

	now = now.Add(11 * time.Second) // past the short token's exp and leeway
	if _, err := v.Verify(ctx, short); err == nil {
		t.Fatal("a remembered token was accepted past its exp")
	}
	wantUser(t, v, long, userID)

	now = now.Add(recentTTL) // past every entry's time
	if _, err := v.Verify(ctx, long); err == nil {
		t.Fatal("a token was remembered for longer than recentTTL")
	}
}
