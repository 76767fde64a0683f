package fakellm

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"time"
)

// DefaultAPIKey is the key a server expects unless WithAPIKey says otherwise.
const DefaultAPIKey = "fake-api-key"

// maxBody bounds a recorded request body.
const maxBody = 16 << 20

// Option configures a Server.
type Option func(*config)

type config struct {
	apiKey         string
	addr           string
	recordLimit    int
	finishedBuffer int
	presets        map[string]string
	agentFields    map[string]bool
}

// WithAPIKey sets the API key the server expects; "" accepts any request.
// OpenAI and Perplexity read "Authorization: Bearer KEY"; Anthropic also
// accepts "x-api-key: KEY".
func WithAPIKey(key string) Option {
	return func(c *config) { c.apiKey = key }
}

// WithAddr sets the listen address (default "127.0.0.1:0", a free port), for
// worker processes that need a known port.
func WithAddr(addr string) Option {
	return func(c *config) { c.addr = addr }
}

// WithRecordLimit keeps only about the last n requests (0: all), so a long
// benchmark does not grow without bound.
func WithRecordLimit(n int) Option {
	return func(c *config) { c.recordLimit = n }
}

// WithFinishedBuffer sets the capacity of the Finished channel (default 1024).
func WithFinishedBuffer(n int) Option {
	return func(c *config) { c.finishedBuffer = max(1, n) }
}

// WithPreset makes the Agent API accept preset name and report model as the
// model it resolved to.
func WithPreset(name, model string) Option {
	return func(c *config) { c.presets[name] = model }
}

// WithAgentFields makes the Agent API accept more top-level request fields.
func WithAgentFields(fields ...string) Option {
	return func(c *config) {
		for _, f := range fields {
			c.agentFields[f] = true
		}
	}
}

// Server is a running fake provider. Its methods are safe for concurrent use.
type Server struct {
	// URL is the server root, such as "http://127.0.0.1:41234".
	URL string

	flavor   Flavor
	cfg      config
	srv      *http.Server
	quit     chan struct{}
	handlers sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	queue    []Script
	fallback Script
	hook     func(*Request) *Script
	records  []*Request
	changed  chan struct{}
	nextID   int
	inFlight int
	peak     int

	publishMu sync.Mutex
	finished  chan Request
}

// New starts a fake provider of flavour f on a loopback port.
func New(f Flavor, opts ...Option) (*Server, error) {
	if routes[f] == nil {
		return nil, fmt.Errorf("fakellm: unknown flavour %d", int(f))
	}
	cfg := config{
		apiKey: DefaultAPIKey, addr: "127.0.0.1:0", finishedBuffer: 1024,
		presets: defaultPresets(), agentFields: defaultAgentFields(),
	}
	for _, opt := range opts {
		opt(&cfg)
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return nil, fmt.Errorf("fakellm: listen: %w", err)
	}
	s := &Server{
		URL:    "http://" + ln.Addr().String(),
		flavor: f, cfg: cfg, quit: make(chan struct{}),
		changed: make(chan struct{}), finished: make(chan Request, cfg.finishedBuffer),
	}
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// BaseURL is the base URL to give an OpenAI-style client: URL + "/v1".
// (Perplexity's legacy chat API also answers at URL + "/chat/completions".)
func (s *Server) BaseURL() string { return s.URL + "/v1" }

// Flavor returns the server's flavour.
func (s *Server) Flavor() Flavor { return s.flavor }

// Close stops the server: stalled responses are released, open connections
// are closed, and Close returns once every handler has finished.
func (s *Server) Close() {
	s.mu.Lock()
	already := s.closed
	s.closed = true
	s.mu.Unlock()
	if already {
		return
	}
	close(s.quit)
	_ = s.srv.Close()
	s.handlers.Wait()
}

// Push queues scripts for the next requests, first in first out.
func (s *Server) Push(scripts ...Script) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue = append(s.queue, scripts...)
}

// Pending returns how many pushed scripts are still waiting for a request.
func (s *Server) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}

// SetDefault sets the script used when the hook declines and the queue is
// empty; until then the zero Script is used.
func (s *Server) SetDefault(sc Script) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fallback = sc
}

// Handle sets a hook asked first for every valid request; returning nil
// falls through to the queue and then the default. The hook runs outside
// the server's lock, so it may call Push or Requests. nil removes it.
func (s *Server) Handle(hook func(*Request) *Script) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hook = hook
}

// ServeHTTP records the request, rejects what the provider would reject
// (unknown path, bad key, malformed or invalid body), and plays a script.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.enter() {
		return
	}
	defer s.handlers.Done()
	rec := s.read(r)
	s.begin(rec)
	defer s.end(rec)
	x := &exchange{s: s, w: w, r: r, rc: http.NewResponseController(w), rec: rec}
	if e, rejected := s.reject(r, rec); rejected {
		x.sendError(e, nil)
		return
	}
	x.play(s.pick(rec))
}

// enter counts a handler in unless the server is closing.
func (s *Server) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.handlers.Add(1)
	return true
}

// read builds the record of a request, reading and decoding its body.
func (s *Server) read(r *http.Request) *Request {
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxBody))
	rec := &Request{
		Flavor: s.flavor, Endpoint: endpointFor(s.flavor, r.URL.Path),
		Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body,
		Start: time.Now(),
	}
	if json.Unmarshal(body, &rec.JSON) != nil {
		rec.JSON = nil
	}
	rec.Model, _ = rec.JSON["model"].(string)
	if preset, _ := rec.JSON["preset"].(string); rec.Model == "" && preset != "" {
		rec.Model = preset
	}
	rec.Stream, _ = rec.JSON["stream"].(bool)
	rec.Prompt = promptOf(rec.Endpoint, rec.JSON)
	return rec
}

// reject returns the error the provider would answer before generating.
func (s *Server) reject(r *http.Request, rec *Request) (providerError, bool) {
	if rec.Endpoint == NoEndpoint || r.Method != http.MethodPost {
		return resolveError(s.flavor, http.StatusNotFound, KindNotFound,
			fmt.Sprintf("Unknown request URL: %s %s.", r.Method, r.URL.Path)), true
	}
	if !s.authorized(r.Header) {
		return resolveError(s.flavor, http.StatusUnauthorized, KindUnauthorized, ""), true
	}
	if rec.JSON == nil {
		return resolveError(s.flavor, http.StatusBadRequest, KindBadRequest, "request body must be a JSON object"), true
	}
	if s.flavor == Perplexity && rec.Endpoint == Responses {
		if msg := s.validateAgent(rec.JSON); msg != "" {
			return resolveError(s.flavor, http.StatusBadRequest, KindBadRequest, msg), true
		}
	}
	return providerError{}, false
}

// authorized checks the API key the way the flavour reads it.
func (s *Server) authorized(h http.Header) bool {
	key := s.cfg.apiKey
	if key == "" || h.Get("Authorization") == "Bearer "+key {
		return true
	}
	return s.flavor == Anthropic && h.Get("X-Api-Key") == key
}

// pick chooses the script for a request: hook, then queue, then default.
func (s *Server) pick(rec *Request) Script {
	s.mu.Lock()
	hook := s.hook
	view := *rec
	s.mu.Unlock()
	if hook != nil {
		if sc := hook(&view); sc != nil {
			return *sc
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) > 0 {
		sc := s.queue[0]
		s.queue = s.queue[1:]
		return sc
	}
	return s.fallback
}
