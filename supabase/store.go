// Package supabase is the job store over a Supabase project's Data API
// (PostgREST). A caller's requests carry the caller's own JWT, set on each
// request and never on anything shared, so PostgreSQL's row-level security
// decides what they see. Worker and maintenance operations use the
// service-role key and the SQL functions in migrations/.
package supabase

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/polaris/reportd/report"
)

const (
	clientInfo       = "reportd"
	maxResponseBytes = 64 << 20
)

// Config locates the project and holds its keys.
type Config struct {
	URL        string // project URL, e.g. https://<ref>.supabase.co
	AnonKey    string // anon JWT or sb_publishable_ key: the apikey of user requests
	ServiceKey string // service_role JWT or sb_secret_ key: worker and maintenance only
	Timeout    time.Duration
	// Transport is shared by every request; nil builds a tuned one.
	Transport http.RoundTripper
	// SnapshotMaxAge is how long a snapshot of the whole queue (what a
	// queued job's estimate needs besides the job's own place) is reused,
	// so that however many status reads an instance serves, it reads the
	// snapshot at most once per SnapshotMaxAge. Default 1 s; negative: read
	// it for every estimate (tests).
	SnapshotMaxAge time.Duration
}

// Store implements report.Store and report.Queue over PostgREST.
type Store struct {
	restURL   string
	anonKey   string
	service   credentials
	http      *http.Client // shared by every caller; holds no caller's headers
	snapshots snapshots
}

var (
	_ report.Store = (*Store)(nil)
	_ report.Queue = (*Store)(nil)
)

// New returns a store for the project in cfg.
func New(cfg Config) (*Store, error) {
	if cfg.URL == "" || cfg.AnonKey == "" {
		return nil, errors.New("supabase: URL and anon key are required")
	}
	t := cfg.Transport
	if t == nil {
		t = newTransport()
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	s := &Store{
		restURL:   strings.TrimRight(cfg.URL, "/") + "/rest/v1",
		anonKey:   cfg.AnonKey,
		http:      &http.Client{Transport: t, Timeout: timeout},
		snapshots: snapshots{maxAge: cfg.SnapshotMaxAge},
	}
	if s.snapshots.maxAge == 0 {
		s.snapshots.maxAge = time.Second
	}
	if cfg.ServiceKey != "" {
		s.service = keyCredentials(cfg.ServiceKey)
	}
	return s, nil
}

// newTransport is the one connection pool every request shares; the default
// transport keeps only two idle connections per host.
func newTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
	}
}

// who returns the credentials a caller's requests carry: the user's own
// token (never the service key as a fallback), or the service key for a
// service caller.
func (s *Store) who(c report.Caller) (credentials, error) {
	if c.IsService() {
		if s.service.apikey == "" {
			return credentials{}, report.Errorf(report.ErrForbidden, "service callers are not enabled on this instance")
		}
		return s.service, nil
	}
	if c.Token == "" {
		return credentials{}, report.Errorf(report.ErrUnauthenticated, "an access token is required")
	}
	return credentials{apikey: s.anonKey, bearer: c.Token}, nil
}

// Ping checks that PostgREST and the database answer.
func (s *Store) Ping(ctx context.Context) error {
	who := s.service
	if who.apikey == "" {
		who = keyCredentials(s.anonKey)
	}
	err := s.do(ctx, who, request{method: http.MethodGet, path: "report_jobs",
		query: url.Values{"select": {"id"}, "limit": {"0"}}}, nil)
	var api *APIError
	if errors.As(err, &api) && api.Status < 500 && api.Status != http.StatusNotFound {
		return nil // an anon key may not read the table (401/403), but the database answered
	}
	if err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	return nil
}
