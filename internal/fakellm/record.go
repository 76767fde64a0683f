package fakellm

import (
	"context"
	"net/http"
	"slices"
	"time"
)

// Request is what the server recorded about one HTTP request. Header, Body
// and JSON are shared between snapshots: read them, do not modify them.
type Request struct {
	// ID numbers requests from 1 in arrival order.
	ID int
	// Flavor is the server's flavour.
	Flavor Flavor
	// Endpoint is the API the path reaches (NoEndpoint for unknown paths).
	Endpoint Endpoint
	// Method is the HTTP method.
	Method string
	// Path is the URL path.
	Path string
	// Header is the request headers.
	Header http.Header
	// Body is the raw request body.
	Body []byte
	// JSON is the decoded body, nil if it was not a JSON object.
	JSON map[string]any
	// Model is the requested model (the preset when the Agent API gets no model).
	Model string
	// Prompt is the text of the last user message or input.
	Prompt string
	// Stream reports whether the client asked for a stream.
	Stream bool

	// Status is the HTTP status sent; 0 if the connection ended before it.
	Status int
	// Chunks counts the answer chunks sent.
	Chunks int

	// Start is when the request was read.
	Start time.Time
	// HeadersAt is when the response headers were sent; zero if never.
	HeadersAt time.Time
	// End is when the server finished with the request; zero while it runs.
	End time.Time
	// ClientClosed reports that the client went away (closed the connection
	// or cancelled the request) before the response was complete.
	ClientClosed bool
	// ClientClosedAt is when the server noticed the client had gone.
	ClientClosedAt time.Time
}

// Finished reports whether the server is done with the request.
func (r Request) Finished() bool { return !r.End.IsZero() }

// Requests returns a snapshot of the recorded requests, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	recs := s.records
	if s.cfg.recordLimit > 0 && len(recs) > s.cfg.recordLimit {
		recs = recs[len(recs)-s.cfg.recordLimit:]
	}
	out := make([]Request, len(recs))
	for i, r := range recs {
		out[i] = *r
	}
	return out
}

// Finished delivers each request once the server is done with it. The
// channel is buffered (WithFinishedBuffer, 1024 by default) and never blocks
// the server: when it is full the oldest undelivered request is dropped.
func (s *Server) Finished() <-chan Request {
	return s.finished
}

// WaitFor returns the first finished request, oldest first, that match
// accepts, waiting for one until ctx ends. Requests that were evicted by
// WithRecordLimit are not seen.
func (s *Server) WaitFor(ctx context.Context, match func(Request) bool) (Request, error) {
	for {
		s.mu.Lock()
		changed := s.changed
		for _, r := range s.records {
			if r.Finished() && (match == nil || match(*r)) {
				found := *r
				s.mu.Unlock()
				return found, nil
			}
		}
		s.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return Request{}, ctx.Err()
		}
	}
}

// MaxInWindow returns the largest number of requests that started within
// any span of length window, for checks such as "never more than 50
// requests in any minute". Evicted requests are not counted.
func (s *Server) MaxInWindow(window time.Duration) int {
	s.mu.Lock()
	starts := make([]time.Time, len(s.records))
	for i, r := range s.records {
		starts[i] = r.Start
	}
	s.mu.Unlock()
	slices.SortFunc(starts, func(a, b time.Time) int { return a.Compare(b) })
	best, lo := 0, 0
	for hi := range starts {
		for starts[hi].Sub(starts[lo]) >= window {
			lo++
		}
		best = max(best, hi-lo+1)
	}
	return best
}

// PeakInFlight returns the largest number of requests the server was
// handling at once.
func (s *Server) PeakInFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}

// begin records a new request and counts it in flight.
func (s *Server) begin(rec *Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	rec.ID = s.nextID
	s.records = append(s.records, rec)
	if limit := s.cfg.recordLimit; limit > 0 && len(s.records) >= 2*limit {
		s.records = slices.Clone(s.records[len(s.records)-limit:])
	}
	s.inFlight++
	s.peak = max(s.peak, s.inFlight)
}

// update changes a recorded request under the lock.
func (s *Server) update(rec *Request, change func(*Request)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	change(rec)
}

// end marks a request finished, wakes WaitFor and publishes to Finished.
func (s *Server) end(rec *Request) {
	s.mu.Lock()
	rec.End = time.Now()
	s.inFlight--
	close(s.changed)
	s.changed = make(chan struct{})
	done := *rec
	s.mu.Unlock()

	s.publishMu.Lock()
	defer s.publishMu.Unlock()
	for {
		select {
		case s.finished <- done:
			return
		default:
		}
		select { // full: drop the oldest and try again
		case <-s.finished:
		default:
		}
	}
}
