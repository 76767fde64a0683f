package e2e

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// front is a reverse proxy between the browser and a reportd process. It
// records what the page asks for (to tell streaming from polling), can cut
// the live event streams and refuse new ones (a network drop), and serves
// /canary/ on the page's own origin, so a script or image that slipped into
// a report could reach it despite the CSP's 'self'.
type front struct {
	URL string
	srv *httptest.Server

	mu       sync.Mutex
	seen     []request
	down     bool
	streams  map[*http.Request]context.CancelFunc
	canaries []string
}

// request is one request the page made.
type request struct {
	method, path, query, lastEventID string
	status                           int
}

func newFront(t *testing.T, target string) *front {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.FlushInterval = -1
	f := &front{streams: map[*http.Request]context.CancelFunc{}}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.serve(w, r, proxy)
	}))
	t.Cleanup(f.srv.Close)
	f.URL = f.srv.URL
	return f
}

func (f *front) serve(w http.ResponseWriter, r *http.Request, proxy http.Handler) {
	if strings.HasPrefix(r.URL.Path, "/canary/") {
		f.mu.Lock()
		f.canaries = append(f.canaries, r.URL.Path)
		f.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
		return
	}
	f.mu.Lock()
	i := len(f.seen)
	f.seen = append(f.seen, request{method: r.Method, path: r.URL.Path, query: r.URL.RawQuery, lastEventID: r.Header.Get("Last-Event-ID")})
	refuse := f.down && r.URL.Path == "/v1/events"
	if r.URL.Path == "/v1/events" && !refuse {
		ctx, cancel := context.WithCancel(r.Context())
		r = r.WithContext(ctx)
		f.streams[r] = cancel
		defer func() {
			f.mu.Lock()
			delete(f.streams, r)
			f.mu.Unlock()
			cancel()
		}()
	}
	f.mu.Unlock()
	sw := &statusWriter{ResponseWriter: w, onStatus: func(code int) { // as the answer starts: streams go on
		f.mu.Lock()
		f.seen[i].status = code
		f.mu.Unlock()
	}}
	if refuse {
		http.Error(sw, `{"error":"stream unavailable","code":"unavailable"}`, http.StatusServiceUnavailable)
	} else {
		proxy.ServeHTTP(sw, r)
	}
}

// cut ends every open event stream and refuses new ones until restore.
func (f *front) cut() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = true
	for _, cancel := range f.streams {
		cancel()
	}
}

func (f *front) restore() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = false
}

// requests returns the requests matching keep, in order.
func (f *front) requests(keep func(request) bool) []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []request
	for _, r := range f.seen {
		if keep(r) {
			out = append(out, r)
		}
	}
	return out
}

// polls counts the polling fallback's requests (the active jobs, listed).
func (f *front) polls() int {
	return len(f.requests(func(r request) bool {
		return r.method == "GET" && r.path == "/v1/jobs" && strings.Contains(r.query, "status=queued%2Crunning")
	}))
}

func (f *front) canaryHits() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.canaries...)
}

// statusWriter records the status of an answer, keeping flushes working
// for the event streams.
type statusWriter struct {
	http.ResponseWriter
	onStatus func(int)
	written  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.written {
		w.written = true
		w.onStatus(code)
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.written {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if fl, ok := w.ResponseWriter.(http.Flusher); ok {
		fl.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
