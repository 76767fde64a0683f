package handlers

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	sse "github.com/tmaxmax/go-sse"

	"github.com/polaris/reportd/internal/jwttest"
	"github.com/polaris/reportd/report"
	"github.com/polaris/reportd/worker"
)

// event is one Server-Sent Event as a client sees it.
type event struct {
	id, typ string
	job     map[string]any
}

// client is an open event stream; its events arrive on C, which closes when
// the server ends the stream.
type client struct {
	resp   *http.Response
	C      chan event
	cancel context.CancelFunc
}

func (a *api) stream(path, token string, headers ...string) *client {
	a.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req := a.request("GET", path, token, nil, headers...).WithContext(ctx)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		a.t.Fatal(err)
	}
	s := &client{resp: resp, C: make(chan event, 100), cancel: cancel}
	a.t.Cleanup(s.close)
	if resp.StatusCode != http.StatusOK {
		close(s.C)
		return s
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		a.t.Errorf("stream Content-Type %q", ct)
	}
	go func() {
		defer close(s.C)
		for e, err := range sse.Read(resp.Body, &sse.ReadConfig{MaxEventSize: 1 << 20}) {
			if err != nil {
				return
			}
			ev := event{id: e.LastEventID, typ: e.Type}
			_ = json.Unmarshal([]byte(e.Data), &ev.job)
			s.C <- ev
		}
	}()
	return s
}

func (s *client) close() {
	s.cancel()
	s.resp.Body.Close()
}

// next waits for the next event; ok is false when the stream ended.
func (s *client) next(t *testing.T) (event, bool) {
	t.Helper()
	select {
	case e, ok := <-s.C:
		return e, ok
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10 s")
		return event{}, false
	}
}

// until reads events until one satisfies ok, and returns every event read.
func (s *client) until(t *testing.T, what string, ok func(event) bool) []event {
	t.Helper()
	var seen []event
	for {
		e, open := s.next(t)
		if !open {
			t.Fatalf("the stream ended before %s; saw %v", what, seen)
		}
		seen = append(seen, e)
		if ok(e) {
			return seen
		}
	}
}

// gatedGenerator streams one piece of 60 tokens each time the test lets it,
// then answers; it lets the test watch every step.
type gatedGenerator struct {
	steps  chan struct{}
	pieces int
}

func (g *gatedGenerator) Generate(ctx context.Context, _ report.Prompt, emit func(report.Delta)) (report.Output, error) {
	for i := 0; i <= g.pieces; i++ {
		select {
		case <-g.steps:
		case <-ctx.Done():
			return report.Output{}, ctx.Err()
		}
		if i < g.pieces {
			emit(report.Delta{Text: "piece ", Tokens: 60})
		}
	}
	return report.Output{Text: "the report", Provider: "test"}, nil
}

// startWorker runs a worker on the API's queue, announcing its writes to
// the API's hub as main.go wires it.
func (a *api) startWorker(gen report.Generator) {
	a.t.Helper()
	w := worker.New(worker.Config{Concurrency: 2, PollInterval: 20 * time.Millisecond, ProgressInterval: 10 * time.Millisecond,
		Changes: a.hub, ShutdownGrace: time.Millisecond}, a.backend.queue, gen, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	a.t.Cleanup(func() { cancel(); <-done })
}

func status(e event) string { s, _ := e.job["status"].(string); return s }
func percent(e event) int   { p, _ := e.job["percent"].(float64); return int(p) }

// A client sees queued, running, each percent update and succeeded, in
// order, with the job's version as the event id.
func TestJobStreamShowsEveryStep(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	_, token := a.user()
	jobID := a.create(token, map[string]any{"prompt": "p", "model": "demo", "max_tokens": 300})
	s := a.stream("/v1/jobs/"+jobID+"/events", token)
	if first, _ := s.next(t); status(first) != "queued" || first.id != "0" || first.typ != "job" {
		t.Fatalf("first event: %+v", first)
	}
	gen := &gatedGenerator{steps: make(chan struct{}), pieces: 3}
	a.startWorker(gen)
	s.until(t, "running", func(e event) bool { return status(e) == "running" })
	for _, want := range []int{29, 59, 89} {
		gen.steps <- struct{}{}
		s.until(t, "percent "+strconv.Itoa(want), func(e event) bool { return percent(e) == want })
	}
	gen.steps <- struct{}{}
	final := s.until(t, "succeeded", func(e event) bool { return status(e) == "succeeded" })
	last := final[len(final)-1]
	if percent(last) != 100 || last.job["result"] != "the report" {
		t.Fatalf("final state: %v", last.job)
	}
	if _, open := s.next(t); open {
		t.Fatal("the stream stays open after the final state")
	}
}

func TestEventsAreOrderedAndResumable(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	_, token := a.user()
	jobID := a.create(token, map[string]any{"prompt": "p", "model": "demo", "max_tokens": 300})
	one := a.stream("/v1/jobs/"+jobID+"/events", token)
	all := a.stream("/v1/events", token)
	first, _ := one.next(t)
	firstAll, _ := all.next(t)
	if firstAll.job["job_id"] != jobID || status(firstAll) != "queued" {
		t.Fatalf("all-jobs stream starts with %+v", firstAll)
	}
	one.close() // the client goes away; everything happens while it is gone
	all.close()

	gen := &gatedGenerator{steps: make(chan struct{}, 10), pieces: 2}
	for range 3 {
		gen.steps <- struct{}{}
	}
	a.startWorker(gen)
	waitStatus(t, a, token, jobID, "succeeded")

	again := a.stream("/v1/jobs/"+jobID+"/events", token, "Last-Event-ID", first.id)
	e, _ := again.next(t)
	if status(e) != "succeeded" || e.id == first.id {
		t.Fatalf("resuming from %s: %+v", first.id, e)
	}
	if _, open := again.next(t); open {
		t.Fatal("the resumed stream stays open after the final state")
	}
	if r := a.do("GET", "/v1/jobs/"+jobID+"/events", token, nil, "Last-Event-ID", e.id); r.status != http.StatusNoContent {
		t.Fatalf("resuming after the final state: %s", r)
	}
	allAgain := a.stream("/v1/events", token, "Last-Event-ID", firstAll.id)
	got := allAgain.until(t, "the final state on the all-jobs stream", func(e event) bool { return status(e) == "succeeded" })
	for _, e := range got {
		if e.job["job_id"] != jobID {
			t.Fatalf("unexpected job on the stream: %v", e.job)
		}
	}
	for i := 1; i < len(got); i++ {
		if got[i].id < got[i-1].id {
			t.Fatalf("event ids go backwards: %s then %s", got[i-1].id, got[i].id)
		}
	}
}

func waitStatus(t *testing.T, a *api, token, jobID, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := a.do("GET", "/v1/jobs/"+jobID, token, nil)
		if r.json(t)["status"] == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s is %s, want %s", jobID, r.json(t)["status"], want)
		}
		time.Sleep(10 * time.Millisecond) // polling with a deadline, as a client would
	}
}

// The all-jobs stream shows jobs created, cancelled and deleted through the
// API; a deleted job ends its own stream with a "deleted" event.
func TestStreamsFollowAPIChanges(t *testing.T) {
	t.Parallel()
	a := newAPI(t, pollEvery(time.Hour)) // only local announcements wake streams
	_, token := a.user()
	all := a.stream("/v1/events", token)
	jobID := a.create(token, map[string]any{"prompt": "p", "model": "demo"})
	all.until(t, "the created job", func(e event) bool { return e.job["job_id"] == jobID && status(e) == "queued" })
	a.do("POST", "/v1/jobs/"+jobID+"/cancel", token, nil)
	all.until(t, "the cancelled job", func(e event) bool { return e.job["job_id"] == jobID && status(e) == "cancelled" })

	other := a.create(token, map[string]any{"prompt": "p", "model": "demo"})
	one := a.stream("/v1/jobs/"+other+"/events", token)
	one.next(t)
	a.do("DELETE", "/v1/jobs/"+other, token, nil)
	if e := one.until(t, "deleted", func(e event) bool { return e.typ == "deleted" }); e[len(e)-1].job["job_id"] != other {
		t.Fatalf("deleted event: %+v", e)
	}
	if r := a.do("GET", "/v1/events?since=yesterday", token, nil); r.status != 422 {
		t.Fatalf("a bad since: %s", r)
	}
}

// The server's read and write timeouts are for ordinary requests: a stream
// outlives them, with heartbeats, and still delivers the final state.
func TestStreamsOutliveServerTimeouts(t *testing.T) {
	t.Parallel()
	b := memoryBackend()
	a := newAPIOn(t, b, func(d *Deps) { d.HTTP.Heartbeat = 50 * time.Millisecond })
	srv := httptest.NewUnstartedServer(a.srv.Config.Handler)
	srv.Config.ReadTimeout, srv.Config.WriteTimeout = 200*time.Millisecond, 200*time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	_, token := a.user()
	jobID := a.create(token, map[string]any{"prompt": "p", "model": "demo"})
	req, _ := http.NewRequest("GET", srv.URL+"/v1/jobs/"+jobID+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := bufio.NewScanner(resp.Body)
	heartbeats := 0
	for heartbeats < 12 && lines.Scan() { // 12 x 50 ms: three times the timeouts
		if lines.Text() == ": keep-alive" {
			heartbeats++
		}
	}
	if heartbeats < 12 {
		t.Fatalf("the stream ended after %d heartbeats: %v", heartbeats, lines.Err())
	}
	a.do("POST", "/v1/jobs/"+jobID+"/cancel", token, nil)
	for lines.Scan() {
		if strings.HasPrefix(lines.Text(), "data: ") && strings.Contains(lines.Text(), `"status":"cancelled"`) {
			return
		}
	}
	t.Fatalf("the cancelled state never arrived: %v", lines.Err())
}

// A stream lives no longer than the access token that opened it: at its
// expiry the server ends the stream, and the client reconnects with a fresh
// token. A secret key does not expire, and its stream goes on.
func TestStreamsEndWhenTheirTokenExpires(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id, token := a.user()
	jobID := a.create(token, map[string]any{"prompt": "p", "model": "demo"})
	for _, path := range []string{"/v1/events", "/v1/jobs/" + jobID + "/events"} {
		c := a.stream(path, jwttest.UserToken(t, testSecret, id, jwttest.WithTTL(1500*time.Millisecond)))
		events := 0
		deadline := time.After(10 * time.Second)
	drain:
		for {
			select {
			case _, open := <-c.C:
				if !open {
					break drain
				}
				events++
			case <-deadline:
				t.Fatalf("%s outlived its token", path)
			}
		}
		if events == 0 {
			t.Fatalf("%s sent nothing before it ended", path)
		}
	}
	svc := a.stream("/v1/events", a.service(), "X-User-Id", id)
	if _, open := <-svc.C; !open {
		t.Fatal("a service key's stream ended at once")
	}
	select {
	case _, open := <-svc.C:
		t.Fatalf("a service key's stream went on with nothing to say: open %v", open)
	case <-time.After(2 * time.Second): // longer than the users' tokens lived
	}
}
