package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/polaris/reportd/logging"
	"github.com/polaris/reportd/report"
)

// syncBuffer is a log destination the server's goroutines share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, raw := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		l := map[string]any{}
		if err := json.Unmarshal([]byte(raw), &l); err != nil {
			t.Fatalf("not JSON: %q", raw)
		}
		out = append(out, l)
	}
	return out
}

// deepStore logs from inside the store call, with the context it was given
// and the process's logger (which knows nothing of requests), and fails List.
type deepStore struct {
	report.Store
	log *slog.Logger
}

func (s deepStore) Get(ctx context.Context, c report.Caller, id string) (report.Job, error) {
	s.log.InfoContext(ctx, "deep in the store", "op", "get")
	return s.Store.Get(ctx, c, id)
}

func (s deepStore) List(ctx context.Context, c report.Caller, f report.Filter) ([]report.Job, error) {
	s.log.WarnContext(ctx, "deep in the store", "op", "list")
	return nil, errors.New("the disk is on fire")
}

// Lines logged anywhere in a request's call with its context carry its id:
// the request line, a store's own line, and the 500 the renderer logs.
func TestEveryLineOfARequestCarriesItsID(t *testing.T) {
	t.Parallel()
	var out syncBuffer
	log := slog.New(logging.Handler(slog.NewJSONHandler(&out, nil))) // the process's logger, as main builds it
	b := memoryBackend()
	b.store = deepStore{Store: b.store, log: log}
	a := newAPIOn(t, b, func(d *Deps) { d.Log = log })
	_, token := a.user()
	id := a.create(token, map[string]any{"prompt": "p", "model": "demo"})

	get := a.do("GET", "/v1/jobs/"+id, token, nil, "X-Request-Id", "req-get-1")
	list := a.do("GET", "/v1/jobs", token, nil)
	if get.status != 200 || list.status != 500 {
		t.Fatalf("get %s, list %s", get, list)
	}
	listID := list.header.Get("X-Request-Id")
	deadline := time.Now().Add(5 * time.Second)
	for !out.has(listID+`","method"`) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // the request line is written after the answer
	}
	byRequest := map[string][]string{}
	for _, l := range out.lines(t) {
		id, _ := l["request_id"].(string)
		msg, _ := l["msg"].(string)
		if id == "" {
			t.Errorf("a line without a request id: %v", l)
			continue
		}
		byRequest[id] = append(byRequest[id], msg)
	}
	if got := strings.Join(byRequest["req-get-1"], ","); got != "deep in the store,request" {
		t.Errorf("lines of the GET: %q", got)
	}
	if got := strings.Join(byRequest[listID], ","); got != "deep in the store,request failed,request" {
		t.Errorf("lines of the failing list: %q", got)
	}
	if all := out.String(); strings.Count(all, `"request_id"`) != strings.Count(strings.TrimSpace(all), "\n")+1 {
		t.Errorf("some line repeats its request id:\n%s", all)
	}
}

func (b *syncBuffer) has(s string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Contains(b.buf.String(), s)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
