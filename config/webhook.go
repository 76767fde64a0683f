package config

import (
	"net/url"
	"time"
)

// Webhook configures the delivery of finished jobs to the app's webhooks
// (the old route's WEBHOOK_* variables, plus backoff and polling).
type Webhook struct {
	BaseURL      string        // WEBHOOK_BASE_URL; empty: deliveries are recorded as skipped
	Secret       Secret        // WEBHOOK_SECRET: HMAC-SHA256 key of X-Webhook-Signature
	Timeout      time.Duration // WEBHOOK_TIMEOUT_MS, per request
	MaxRetries   int           // WEBHOOK_MAX_RETRIES, attempts after the first
	BackoffBase  time.Duration // WEBHOOK_BACKOFF_BASE_MS, first retry delay (doubles per attempt)
	BackoffMax   time.Duration // WEBHOOK_BACKOFF_MAX_MS, cap of the retry delay
	PollInterval time.Duration // WEBHOOK_POLL_INTERVAL
	// PerUserPerMinute is WEBHOOK_PER_USER_PER_MINUTE: attempts started per
	// job owner per minute, across instances (0: no bound).
	PerUserPerMinute int
}

// Enabled reports whether deliveries are sent.
func (w Webhook) Enabled() bool { return w.BaseURL != "" }

func loadWebhook(r *reader) Webhook {
	return Webhook{
		BaseURL:          r.baseURL("", "WEBHOOK_BASE_URL"),
		Secret:           r.secret("WEBHOOK_SECRET"),
		Timeout:          r.duration("WEBHOOK_TIMEOUT_MS", 10*time.Second, 100*time.Millisecond, 5*time.Minute),
		MaxRetries:       r.integer("WEBHOOK_MAX_RETRIES", 3, 0, 20),
		BackoffBase:      r.duration("WEBHOOK_BACKOFF_BASE_MS", time.Second, time.Millisecond, time.Hour),
		BackoffMax:       r.duration("WEBHOOK_BACKOFF_MAX_MS", 10*time.Second, time.Millisecond, 24*time.Hour),
		PollInterval:     r.duration("WEBHOOK_POLL_INTERVAL", time.Second, 10*time.Millisecond, time.Minute),
		PerUserPerMinute: r.integer("WEBHOOK_PER_USER_PER_MINUTE", 30, 0, 100_000),
	}
}

// check reports problems that involve several webhook variables. The target
// URL is configuration only, so it is checked closely: it must not carry
// credentials, a query or a fragment (the endpoint name is appended to it).
func (w Webhook) check(r *reader) {
	if w.BaseURL != "" {
		if u, err := url.Parse(w.BaseURL); err == nil && (u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery) {
			r.fail("WEBHOOK_BASE_URL must not contain credentials, a query or a fragment")
		}
		if !w.Secret.Set() {
			r.fail("WEBHOOK_SECRET is required with WEBHOOK_BASE_URL: receivers verify the X-Webhook-Signature it makes")
		}
	}
	if w.BackoffBase > w.BackoffMax {
		r.fail("WEBHOOK_BACKOFF_BASE_MS (%s) must not exceed WEBHOOK_BACKOFF_MAX_MS (%s)", w.BackoffBase, w.BackoffMax)
	}
}
