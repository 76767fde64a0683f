package llm

import (
	"context"
	"io"
	"net/http"
	"sync"
	"time"
)

// trace follows one provider call at the HTTP level: it keeps the headers of
// the answer (go-openai drops them from errors, and Retry-After lives there)
// and cancels the call when no byte arrives for the stall timeout, counting
// keep-alive comments as bytes, as the wire sees them.
type trace struct {
	stallAfter time.Duration
	cancel     context.CancelFunc

	mu      sync.Mutex
	timer   *time.Timer
	stalled bool
	status  int
	header  http.Header
}

type traceKey struct{}

// startTrace returns a context for the call that the trace cancels on a stall.
func startTrace(ctx context.Context, stallAfter time.Duration) (context.Context, *trace) {
	ctx, cancel := context.WithCancel(ctx)
	t := &trace{stallAfter: stallAfter, cancel: cancel}
	if stallAfter > 0 {
		t.timer = time.AfterFunc(stallAfter, t.fire)
	}
	return context.WithValue(ctx, traceKey{}, t), t
}

func (t *trace) fire() {
	t.mu.Lock()
	t.stalled = true
	t.mu.Unlock()
	t.cancel()
}

// touch records activity on the wire.
func (t *trace) touch() {
	if t.timer != nil {
		t.timer.Reset(t.stallAfter)
	}
}

// stop ends the trace and releases its context.
func (t *trace) stop() {
	if t.timer != nil {
		t.timer.Stop()
	}
	t.cancel()
}

func (t *trace) didStall() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.stalled
}

func (t *trace) answer() (int, http.Header) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.status, t.header
}

// tracingTransport feeds the trace of the request's context, if any.
type tracingTransport struct{ next http.RoundTripper }

// RoundTrip implements http.RoundTripper.
func (tt tracingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t, _ := req.Context().Value(traceKey{}).(*trace)
	resp, err := tt.next.RoundTrip(req)
	if t == nil || err != nil {
		return resp, err
	}
	t.touch()
	t.mu.Lock()
	t.status, t.header = resp.StatusCode, resp.Header.Clone()
	t.mu.Unlock()
	resp.Body = &touchingBody{ReadCloser: resp.Body, t: t}
	return resp, nil
}

type touchingBody struct {
	io.ReadCloser
	t *trace
}

func (b *touchingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.t.touch()
	}
	return n, err
}

// NewHTTPClient returns the client provider calls share: one pooled
// transport, and no overall timeout (streams are long; the worker bounds
// each job, and the trace bounds silence).
func NewHTTPClient() *http.Client {
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.MaxIdleConns = 512
	base.MaxIdleConnsPerHost = 256
	base.ResponseHeaderTimeout = 0 // the stall timer covers the wait for headers
	// Every open stream holds a connection, and each connection holds these
	// buffers for its life (4 KiB each by default). The stream is read
	// through go-openai's own buffered reader and requests are written once,
	// so 1 KiB each cost a few more system calls and save 6 KiB per stream
	// (measured with a thousand streams: docs/benchmarks.md, P7).
	base.ReadBufferSize, base.WriteBufferSize = 1<<10, 1<<10
	return &http.Client{Transport: tracingTransport{next: base}}
}
