// Package webhook delivers finished jobs to the app's webhooks, as the old
// route did, but durably: deliveries are rows of an outbox that the store
// fills in the same transaction that finishes a job (report.Outbox). A
// Dispatcher claims due deliveries under a lease, builds the old payloads
// from the job, signs the exact body (HMAC-SHA256 with WEBHOOK_SECRET),
// POSTs it to WEBHOOK_BASE_URL/<endpoint>, and records each attempt,
// retrying with capped exponential backoff and jitter until it gives up.
//
// The target URL comes only from configuration and a fixed set of endpoint
// names; nothing in a request can point a delivery elsewhere, and redirects
// are not followed. A delivery is attempted by one dispatcher at a time
// (its lease); it can reach a receiver twice only when a dispatcher dies
// mid-request and the lease expires, so receivers deduplicate by the
// delivery id (X-Webhook-Id, also delivery_id in the body).
package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/polaris/reportd/report"
)

// Config tunes a Dispatcher. Zero values take the old route's defaults.
type Config struct {
	BaseURL      string        // WEBHOOK_BASE_URL; empty: deliveries are marked skipped
	Secret       string        // WEBHOOK_SECRET; required with BaseURL
	Timeout      time.Duration // per request (10 s)
	MaxRetries   int           // attempts after the first (3); negative means 0
	BackoffBase  time.Duration // first retry delay (1 s), doubling per attempt
	BackoffMax   time.Duration // cap of the retry delay (10 s)
	PollInterval time.Duration // how often to look for due deliveries (1 s)
	Batch        int           // deliveries claimed, and sent concurrently, per poll (8)
	Lease        time.Duration // how long an attempt holds a delivery (Timeout + 20 s)
	ID           string        // dispatcher id, stored as locked_by; generated when empty
	// PerUserPerMinute bounds the attempts started per job owner per
	// minute, across dispatchers (0: no bound): a user creating and
	// cancelling jobs in a loop cannot flood the receiver.
	PerUserPerMinute int
	Client           *http.Client // nil: one with Timeout that follows no redirects
}

// NotConfigured is why deliveries are skipped on a service without
// WEBHOOK_BASE_URL.
const NotConfigured = "Webhooks are not configured on this service (WEBHOOK_BASE_URL is unset), so the result was not sent"

// Dispatcher sends due deliveries.
type Dispatcher struct {
	cfg    Config
	base   string // validated BaseURL without a trailing slash
	outbox report.Outbox
	log    *slog.Logger
	now    func() time.Time
}

// New returns a dispatcher over outbox. It fails for a base URL that is not
// an absolute http(s) URL without credentials, query or fragment, and for a
// base URL without a secret.
func New(cfg Config, outbox report.Outbox, log *slog.Logger) (*Dispatcher, error) {
	base, err := ValidateBaseURL(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	if base != "" && cfg.Secret == "" {
		return nil, errors.New("webhook: WEBHOOK_SECRET is required with WEBHOOK_BASE_URL (receivers verify the signature)")
	}
	cfg.defaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Dispatcher{cfg: cfg, base: base, outbox: outbox, log: log.With("component", "webhook"),
		now: time.Now}, nil
}

func (c *Config) defaults() {
	setDefault(&c.Timeout, 10*time.Second)
	setDefault(&c.BackoffBase, time.Second)
	setDefault(&c.BackoffMax, 10*time.Second)
	setDefault(&c.PollInterval, time.Second)
	setDefault(&c.Lease, c.Timeout+20*time.Second)
	c.MaxRetries = max(c.MaxRetries, 0)
	if c.Batch <= 0 {
		c.Batch = 8
	}
	if c.ID == "" {
		host, _ := os.Hostname()
		c.ID = fmt.Sprintf("%s-%d-webhook-%s", host, os.Getpid(), uuid.NewString()[:8])
	}
	if c.Client == nil {
		c.Client = &http.Client{
			Timeout: c.Timeout,
			// A redirect could send the signed result anywhere: refuse it.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d <= 0 {
		*d = v
	}
}

// ValidateBaseURL checks a WEBHOOK_BASE_URL value and returns it without a
// trailing slash ("" stays ""): an absolute http(s) URL with a host and no
// user info, query or fragment.
func ValidateBaseURL(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", nil
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "", fmt.Errorf("WEBHOOK_BASE_URL is not a URL: %w", err)
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		return "", fmt.Errorf("WEBHOOK_BASE_URL must be an absolute http(s) URL, got %q", raw)
	case u.User != nil:
		return "", errors.New("WEBHOOK_BASE_URL must not contain credentials")
	case u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(raw, "?") || strings.HasSuffix(raw, "#"):
		return "", errors.New("WEBHOOK_BASE_URL must not have a query or a fragment (the endpoint name is appended to it)")
	}
	return strings.TrimRight(raw, "/"), nil
}

// Run delivers until ctx ends, then returns after the attempts in flight
// are finished and recorded (each is bounded by Timeout).
func (d *Dispatcher) Run(ctx context.Context) error {
	if d.base == "" {
		d.log.Warn("webhooks are not configured (WEBHOOK_BASE_URL is unset): finished jobs' deliveries are marked skipped")
	} else {
		d.log.Info("webhook dispatcher started", "base_url", d.base, "max_retries", d.cfg.MaxRetries,
			"timeout", d.cfg.Timeout.String(), "poll", d.cfg.PollInterval.String())
	}
	ticker := time.NewTicker(d.cfg.PollInterval)
	defer ticker.Stop()
	for ctx.Err() == nil {
		if d.poll(ctx) == d.cfg.Batch {
			continue // a full batch: more may be due
		}
		select {
		case <-ctx.Done():
		case <-ticker.C:
		}
	}
	return nil
}

// poll claims one batch, sends it concurrently and records the outcomes. It
// returns how many deliveries it claimed.
func (d *Dispatcher) poll(ctx context.Context) int {
	batch, err := d.outbox.ClaimDeliveries(ctx, report.DeliveryClaim{
		Worker: d.cfg.ID, Limit: d.cfg.Batch, Lease: d.cfg.Lease, MaxAttempts: d.cfg.MaxRetries + 1,
		PerUserPerMinute: d.cfg.PerUserPerMinute,
	})
	if err != nil {
		if ctx.Err() == nil {
			d.log.Warn("claiming webhook deliveries failed", "err", err)
		}
		return 0
	}
	// Attempts in flight finish even when shutdown begins: cutting them
	// would only make the receiver see the delivery again later.
	attemptCtx := context.WithoutCancel(ctx)
	var wg sync.WaitGroup
	for _, del := range batch {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.deliver(attemptCtx, del)
		}()
	}
	wg.Wait()
	return len(batch)
}
