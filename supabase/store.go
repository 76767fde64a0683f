// Package supabase is the job store over a Supabase project's Data API
// (PostgREST). Caller operations run with a postgrest-go client built for
// that request, carrying the caller's own JWT, so PostgreSQL's row-level
// security decides what they see. Worker and maintenance operations use the
// service-role key and the SQL functions in migrations/.
package supabase

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	postgrest "github.com/supabase-community/postgrest-go"

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
}

// Store implements report.Store and report.Queue over PostgREST.
type Store struct {
	restURL   string
	anonKey   string
	service   credentials
	transport http.RoundTripper
	http      *http.Client
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
		transport: t,
		http:      &http.Client{Transport: t, Timeout: timeout},
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

// table is a postgrest-go client built for one request, with a recorder that
// keeps the HTTP status and body of an error answer.
type table struct {
	client *postgrest.Client
	rec    *recorder
}

// tableFor builds the per-request client. postgrest-go's SetAuthToken changes
// headers shared by every request on a client, so a client is never shared
// between callers; they share only the transport.
func (s *Store) tableFor(c report.Caller) (table, error) {
	who, err := s.who(c)
	if err != nil {
		return table{}, err
	}
	headers := map[string]string{"apikey": who.apikey, "X-Client-Info": clientInfo}
	if who.bearer != "" {
		headers["Authorization"] = "Bearer " + who.bearer
	}
	client := postgrest.NewClient(s.restURL, "public", headers)
	if client.ClientError != nil {
		return table{}, fmt.Errorf("postgrest client: %w", client.ClientError)
	}
	rec := &recorder{next: s.transport}
	client.Transport.Parent = rec
	return table{client: client, rec: rec}, nil
}

// failure turns a failed postgrest-go call into a domain error using what the
// recorder saw, since postgrest-go itself keeps only "(code) message".
func (t table) failure(ctx context.Context, what string, err error) error {
	if t.rec.status != 0 {
		return fmt.Errorf("%s: %w", what, translate(decodeAPIError(t.rec.status, t.rec.body)))
	}
	return unreachable(ctx, what, err)
}

// recorder is a RoundTripper that remembers the last error answer. It serves
// one request at a time (one per-request client).
type recorder struct {
	next   http.RoundTripper
	status int
	body   []byte
}

// RoundTrip implements http.RoundTripper.
func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if err != nil || resp.StatusCode < 400 {
		return resp, err
	}
	body, readErr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if readErr != nil {
		return nil, readErr
	}
	r.status, r.body = resp.StatusCode, body
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// Ping checks that PostgREST and the database answer.
func (s *Store) Ping(ctx context.Context) error {
	who := s.service
	if who.apikey == "" {
		who = keyCredentials(s.anonKey)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.restURL+"/report_jobs?select=id&limit=0", nil)
	if err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	who.apply(req.Header)
	resp, err := s.http.Do(req)
	if err != nil {
		return unreachable(ctx, "ping", err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	// An anon key may not read the table (401/403) but the database answered.
	if resp.StatusCode >= 500 || resp.StatusCode == http.StatusNotFound {
		return fmt.Errorf("ping: %w", translate(decodeAPIError(resp.StatusCode, data)))
	}
	return nil
}
