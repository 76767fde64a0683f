package fakellm

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// encoder renders one response in a flavour's wire format. Its methods are
// called in stream order, so it may count sequence numbers as it goes.
type encoder interface {
	// pieces are the chunks of text to stream.
	pieces() []string
	// head is sent before the first chunk.
	head() []byte
	// chunk renders one piece.
	chunk(piece string) []byte
	// tail ends the stream as Script.Terminal says.
	tail() []byte
	// fault renders the in-stream error object.
	fault() []byte
	// whole renders the non-streaming body; fail means "answer an HTTP error".
	whole() (body []byte, fail bool)
}

// keepAliveLine is one SSE comment line; go-openai counts each as an empty
// message.
const keepAliveLine = ": keep-alive\n"

// exchange plays one script on one request.
type exchange struct {
	s   *Server
	w   http.ResponseWriter
	r   *http.Request
	rc  *http.ResponseController
	rec *Request
	sc  Script
}

// play runs the script: delay, faults before headers, then the response.
func (x *exchange) play(sc Script) {
	x.sc = sc
	if !x.wait(sc.Delay, false) {
		return
	}
	if sc.FaultAfter < 0 {
		if !x.faultBeforeHeaders() {
			return
		}
	}
	switch {
	case sc.Body != "":
		x.sendRaw()
	case sc.Status >= http.StatusBadRequest:
		x.sendError(resolveError(x.s.flavor, sc.Status, sc.Kind, sc.Message), sc.Header)
	case x.rec.Stream:
		x.stream(x.encoder())
	default:
		x.whole(x.encoder())
	}
}

// faultBeforeHeaders plays a stall or reset before the status line and
// reports whether the response should go on.
func (x *exchange) faultBeforeHeaders() bool {
	fault := x.sc.Fault
	x.sc.Fault, x.sc.FaultAfter = NoFault, 0
	switch fault {
	case FaultStall:
		return x.wait(x.sc.StallFor, true)
	case FaultReset:
		x.reset()
		return false
	default:
		x.sc.Fault = fault
		return true
	}
}

// encoder picks the wire format for the request's endpoint.
func (x *exchange) encoder() encoder {
	failure := x.streamError()
	if x.rec.Endpoint == Responses {
		return newResponsesEncoder(x.s, x.rec, x.sc, failure)
	}
	return newChatEncoder(x.s.flavor, x.rec, x.sc, failure)
}

// streamError is the error that FaultError and the failing terminals report.
func (x *exchange) streamError() providerError {
	kind := x.sc.Kind
	if kind == KindNone {
		kind = KindServer
	}
	return resolveError(x.s.flavor, 0, kind, x.sc.Message)
}

// stream sends an SSE response chunk by chunk, with the script's timing,
// keep-alives and fault.
func (x *exchange) stream(enc encoder) {
	pieces := enc.pieces()
	x.sendHeaders(http.StatusOK, "text/event-stream; charset=utf-8")
	if !x.keepAlives(x.sc.KeepAlivesBefore) || !x.write(enc.head()) {
		return
	}
	gap := x.sc.interval(len(pieces))
	faultAt := min(max(x.sc.FaultAfter, 0), len(pieces))
	for i, piece := range pieces {
		if i == faultAt && !x.fault(enc) {
			return
		}
		if i > 0 && !(x.wait(gap, false) && x.keepAlives(x.sc.KeepAlivesBetween)) {
			return
		}
		if !x.write(enc.chunk(piece)) {
			return
		}
		x.s.update(x.rec, func(r *Request) { r.Chunks++ })
	}
	if faultAt == len(pieces) && !x.fault(enc) {
		return
	}
	if !x.sc.OmitTerminal {
		x.write(enc.tail())
	}
}

// fault plays the script's fault and reports whether the stream goes on.
func (x *exchange) fault(enc encoder) bool {
	switch x.sc.Fault {
	case FaultStall:
		return x.wait(x.sc.StallFor, true)
	case FaultReset:
		x.reset()
		return false
	case FaultError:
		x.write(enc.fault())
		return false
	default:
		return true
	}
}

// whole sends a non-streaming response after the time the chunks would
// have taken. Faults strike around the body: a stall after the headers, a
// reset or OmitTerminal after half the body, FaultError as an HTTP error.
func (x *exchange) whole(enc encoder) {
	pieces := enc.pieces()
	gap := x.sc.interval(len(pieces))
	if !x.wait(gap*time.Duration(max(len(pieces)-1, 0)), false) {
		return
	}
	body, fail := enc.whole()
	if fail || x.sc.Fault == FaultError {
		x.sendError(x.streamError(), x.sc.Header)
		return
	}
	x.sendHeaders(http.StatusOK, "application/json")
	switch {
	case x.sc.Fault == FaultStall && !x.wait(x.sc.StallFor, true):
		return
	case x.sc.Fault == FaultReset:
		x.write(body[:len(body)/2])
		x.reset()
		return
	case x.sc.OmitTerminal:
		x.write(body[:len(body)/2])
		return
	}
	if x.write(body) {
		x.s.update(x.rec, func(r *Request) { r.Chunks = len(pieces) })
	}
}

// sendHeaders writes the status line and headers and flushes them.
func (x *exchange) sendHeaders(status int, contentType string) {
	h := x.w.Header()
	h.Set("Content-Type", contentType)
	if contentType != "application/json" {
		h.Set("Cache-Control", "no-cache")
	}
	switch x.s.flavor {
	case OpenAI:
		h.Set("X-Request-Id", x.requestID())
	case Anthropic:
		h.Set("Request-Id", x.requestID())
	}
	for k, v := range x.sc.Header {
		h[k] = v
	}
	x.w.WriteHeader(status)
	x.s.update(x.rec, func(r *Request) { r.Status, r.HeadersAt = status, time.Now() })
	if x.rc.Flush() != nil {
		x.lost()
	}
}

// sendError answers e in the flavour's error shape.
func (x *exchange) sendError(e providerError, extra http.Header) {
	contentType, body := errorBody(x.s.flavor, x.rec.Endpoint, e, x.requestID())
	if e.kind == KindRateLimited {
		for k, v := range rateLimitHeaders(x.s.flavor) {
			x.w.Header()[k] = v
		}
	}
	x.sc.Header = extra
	x.sendHeaders(e.status, contentType)
	x.write(body)
}

// sendRaw answers the script's verbatim body.
func (x *exchange) sendRaw() {
	status := x.sc.Status
	if status == 0 {
		status = http.StatusOK
	}
	x.sendHeaders(status, "application/json")
	x.write([]byte(x.sc.Body))
}

// keepAlives sends n comment lines, paced by Script.KeepAliveEvery.
func (x *exchange) keepAlives(n int) bool {
	if n <= 0 {
		return true
	}
	if x.sc.KeepAliveEvery <= 0 {
		return x.write([]byte(strings.Repeat(keepAliveLine, n)))
	}
	for range n {
		if !x.wait(x.sc.KeepAliveEvery, false) || !x.write([]byte(keepAliveLine)) {
			return false
		}
	}
	return true
}

// write sends b at once; false means the client or the server went away.
func (x *exchange) write(b []byte) bool {
	if x.gone() {
		return false
	}
	if len(b) == 0 {
		return true
	}
	if _, err := x.w.Write(b); err != nil {
		x.lost()
		return false
	}
	if err := x.rc.Flush(); err != nil {
		x.lost()
		return false
	}
	return true
}

// wait pauses for d (forever: until interrupted, when d is 0) and reports
// false if the client went away or the server closed meanwhile.
func (x *exchange) wait(d time.Duration, forever bool) bool {
	if d <= 0 && !forever {
		return !x.gone()
	}
	var timeout <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-timeout:
		return true
	case <-x.r.Context().Done():
		x.lost()
		return false
	case <-x.s.quit:
		return false
	}
}

// gone reports, without blocking, whether the client or server went away.
func (x *exchange) gone() bool {
	select {
	case <-x.s.quit:
		return true
	case <-x.r.Context().Done():
		x.lost()
		return true
	default:
		return false
	}
}

// lost records that the client went away, unless the server is closing.
func (x *exchange) lost() {
	select {
	case <-x.s.quit:
		return
	default:
	}
	now := time.Now()
	x.s.update(x.rec, func(r *Request) {
		if !r.ClientClosed {
			r.ClientClosed, r.ClientClosedAt = true, now
		}
	})
}

// reset takes the connection over and closes it with a TCP RST.
func (x *exchange) reset() {
	conn, _, err := x.rc.Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// requestID is the provider request ID for the response headers and bodies.
func (x *exchange) requestID() string {
	return fmt.Sprintf("req_fake_%d", x.rec.ID)
}
