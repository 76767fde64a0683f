package handlers

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	sse "github.com/tmaxmax/go-sse"

	"github.com/polaris/reportd/report"
)

// Streams tunes the live event streams (Server-Sent Events).
type Streams struct {
	// Poll is how often a stream re-reads the store when nothing in this
	// process announced a change: changes made by other instances (a worker
	// elsewhere) appear within it. Default 1 s.
	Poll time.Duration
	// Heartbeat is how often a comment line keeps an idle stream open
	// through proxies. Default 15 s.
	Heartbeat time.Duration
	// Lookback is how far behind its cursor the all-jobs stream re-reads, so
	// that a change committed late (or stamped by a slightly different
	// clock) is not missed. Default 30 s.
	Lookback time.Duration
	// WriteTimeout ends a stream whose client stops reading. Default 30 s.
	WriteTimeout time.Duration
}

func (s Streams) withDefaults() Streams {
	setDefault := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	setDefault(&s.Poll, time.Second)
	setDefault(&s.Heartbeat, 15*time.Second)
	setDefault(&s.Lookback, 30*time.Second)
	setDefault(&s.WriteTimeout, 30*time.Second)
	return s
}

// stream is one open event stream. go-sse writes the wire format; the
// deadline is ours: the server's WriteTimeout is meant for ordinary requests
// and would cut a stream off, so a stream moves the write deadline before
// every write (a client that stops reading still ends it). ReadTimeout needs
// nothing: net/http clears the read deadline once the request is read.
type stream struct {
	rc      *http.ResponseController
	sess    *sse.Session
	timeout time.Duration
}

// open starts the event stream: headers out, 200 committed.
func (h *handler) open(c echo.Context) (*stream, error) {
	w := c.Response()
	rc := http.NewResponseController(w)
	sess, err := sse.Upgrade(w, c.Request())
	if err != nil {
		return nil, err
	}
	w.Header().Set(echo.HeaderContentType, "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	s := &stream{rc: rc, sess: sess, timeout: h.streams.WriteTimeout}
	s.extend()
	w.WriteHeader(http.StatusOK)
	return s, sess.Flush()
}

// extend moves the write deadline; writers without deadlines (test
// recorders) need none.
func (s *stream) extend() { _ = s.rc.SetWriteDeadline(time.Now().Add(s.timeout)) }

func (s *stream) send(m *sse.Message) error {
	s.extend()
	if err := s.sess.Send(m); err != nil {
		return err
	}
	return s.sess.Flush()
}

func (s *stream) heartbeat() error {
	m := &sse.Message{}
	m.AppendComment("keep-alive")
	return s.send(m)
}

// sendJob sends a job's current state as a "job" event with the given id.
func (s *stream) sendJob(id string, j report.Job) error {
	data, err := json.Marshal(viewOf(j))
	if err != nil {
		return err
	}
	m := &sse.Message{ID: sse.ID(id), Type: sse.Type("job")}
	m.AppendData(string(data))
	return s.send(m)
}

// What a stream does next.
const (
	streamDone = iota
	streamCheck
	streamBeat
)

// waiter decides when a stream looks at the store again: when this process
// announces a change, when the poll interval passes (changes elsewhere), or
// when a heartbeat is due. It ends the stream when the access token that
// opened it expires: a stream lives no longer than its credentials, and the
// client reconnects (with Last-Event-ID) using its refreshed token.
type waiter struct {
	ctx    context.Context
	stop   <-chan struct{}
	sub    report.Subscription
	poll   *time.Ticker
	beat   *time.Ticker
	expiry *time.Timer // nil: credentials that do not expire (a secret key)
}

func (h *handler) waiter(ctx context.Context, caller report.Caller, sub report.Subscription) *waiter {
	w := &waiter{ctx: ctx, stop: h.stop, sub: sub,
		poll: time.NewTicker(h.streams.Poll), beat: time.NewTicker(h.streams.Heartbeat)}
	if exp, ok := tokenExpiry(caller.Token); ok {
		w.expiry = time.NewTimer(time.Until(exp))
	}
	return w
}

// tokenExpiry reads the exp claim of a JWT the verifier already accepted.
func tokenExpiry(token string) (time.Time, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return time.Time{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}, false
	}
	var claims struct {
		Exp *float64 `json:"exp"`
	}
	if json.Unmarshal(payload, &claims) != nil || claims.Exp == nil {
		return time.Time{}, false
	}
	return time.Unix(int64(*claims.Exp), 0), true
}

func (w *waiter) next() int {
	var expired <-chan time.Time
	if w.expiry != nil {
		expired = w.expiry.C
	}
	select {
	case <-w.ctx.Done():
		return streamDone
	case <-w.stop:
		return streamDone
	case <-expired:
		return streamDone
	case <-w.sub.Changed():
		return streamCheck
	case <-w.poll.C:
		return streamCheck
	case <-w.beat.C:
		return streamBeat
	}
}

func (w *waiter) close() {
	w.poll.Stop()
	w.beat.Stop()
	if w.expiry != nil {
		w.expiry.Stop()
	}
	w.sub.Close()
}
