package handlers

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	sse "github.com/tmaxmax/go-sse"
)

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
	s := &stream{rc: rc, sess: sess, timeout: h.HTTP.StreamWriteTimeout}
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
