package worker

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

	"github.com/polaris/reportd/memory"
	"github.com/polaris/reportd/report"
)

// flaky is a queue whose claims fail while broken is set, and which adds a
// refused row to the first claim that works.
type flaky struct {
	report.Queue
	mu      sync.Mutex
	broken  bool
	refused bool
	claims  chan struct{}
}

func (f *flaky) Claim(ctx context.Context, r report.ClaimRequest) (report.Claimed, error) {
	defer func() {
		select {
		case f.claims <- struct{}{}:
		default:
		}
	}()
	f.mu.Lock()
	broken, refuse := f.broken, !f.refused
	if !broken {
		f.refused = true
	}
	f.mu.Unlock()
	if broken {
		return report.Claimed{}, &report.Error{Kind: report.ErrUnavailable, Message: "The job store cannot be reached"}
	}
	c, err := f.Queue.Claim(ctx, r)
	if refuse {
		c.Refused = append(c.Refused, report.Refusal{ID: "row-1", JobID: "job_1_poisoned", Reason: "bad data", Settled: true})
	}
	return c, err
}

func (f *flaky) set(broken bool) {
	f.mu.Lock()
	f.broken = broken
	f.mu.Unlock()
}

// syncBuffer is a log destination safe for the worker's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines(msg string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(s.b.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// Claims that keep failing make the worker unhealthy (readiness answers
// 503), and the first claim that works makes it healthy again. A row the
// claim refused is logged with its id.
func TestClaimFailuresMakeTheWorkerUnhealthy(t *testing.T) {
	q := &flaky{Queue: memory.New(nil), broken: true, claims: make(chan struct{}, 1)}
	var logs syncBuffer
	cfg := fastConfig()
	w := New(cfg, q, nil, slog.New(slog.NewJSONHandler(&logs, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	defer func() { cancel(); <-done }()

	waitClaims := func(n int) {
		t.Helper()
		for range n {
			select {
			case <-q.claims:
			case <-time.After(5 * time.Second):
				t.Fatal("the worker stopped claiming")
			}
		}
	}
	waitClaims(1)
	if err := w.Healthy(ctx); err != nil && w.health.failures() < unhealthyAfter {
		t.Fatalf("unhealthy after %d failed claims: %v", w.health.failures(), err)
	}
	waitClaims(unhealthyAfter + 1)
	err := w.Healthy(ctx)
	if err == nil || !errors.Is(err, report.ErrUnavailable) || !strings.Contains(err.Error(), "claims failed") {
		t.Fatalf("after repeated claim failures: %v", err)
	}
	if n := len(logs.lines("claiming jobs failed; retrying every poll interval")); n != 1 {
		t.Fatalf("the failure was logged %d times, want once", n)
	}

	q.set(false)
	deadline := time.After(5 * time.Second)
	for w.Healthy(ctx) != nil {
		select {
		case <-q.claims:
		case <-deadline:
			t.Fatal("still unhealthy after claims work again")
		}
	}
	waitClaims(1)
	refused := logs.lines("claim refused a job whose stored data it could not start")
	if len(refused) != 1 || refused[0]["job_id"] != "job_1_poisoned" || refused[0]["reason"] != "bad data" {
		t.Fatalf("refusal log lines: %v", refused)
	}
	if len(logs.lines("claiming jobs works again")) != 1 {
		t.Fatal("the recovery was not logged")
	}
}
