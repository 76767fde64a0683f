package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"
)

// Headers of a delivery. The first two are the old route's; the others are
// additions a receiver may use for replay protection.
const (
	HeaderSignature = "X-Webhook-Signature" // sha256=<hex HMAC-SHA256 of the exact body>
	HeaderID        = "X-Webhook-Id"        // the delivery id, the same on every attempt
	HeaderTimestamp = "X-Webhook-Timestamp" // Unix seconds when this attempt was sent
	HeaderAttempt   = "X-Webhook-Attempt"   // 1 for the first attempt
	UserAgent       = "Polaris-Webhook/1.0"
)

// Sign returns the X-Webhook-Signature value of body: "sha256=" and the hex
// HMAC-SHA256 of the exact bytes with the secret.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify reports whether signature (an X-Webhook-Signature value) signs
// body with secret, comparing in constant time. Receivers written in Go can
// use it; the README shows the same check in TypeScript.
func Verify(secret, body []byte, signature string) bool {
	got, ok := strings.CutPrefix(signature, "sha256=")
	if !ok {
		return false
	}
	mac, err := hex.DecodeString(got)
	if err != nil {
		return false
	}
	want := hmac.New(sha256.New, secret)
	want.Write(body)
	return hmac.Equal(mac, want.Sum(nil))
}

// Fresh reports whether a delivery sent at the Unix time ts may be accepted
// at now: not older than tolerance, and not more than tolerance in the
// future (clock skew). Together with remembering delivery ids for the same
// tolerance, it lets a receiver reject replays.
func Fresh(ts int64, now time.Time, tolerance time.Duration) bool {
	d := now.Sub(time.Unix(ts, 0))
	return d <= tolerance && d >= -tolerance
}
