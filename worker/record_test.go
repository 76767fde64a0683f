package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/polaris/reportd/logging"
	"github.com/polaris/reportd/memory"
	"github.com/polaris/reportd/report"
)

// loggingGenerator logs from inside the LLM call with the context it is
// given, streams three tokens, and fails prompts that ask it to.
type loggingGenerator struct{ log *slog.Logger }

func (g loggingGenerator) Generate(ctx context.Context, p report.Prompt, emit func(report.Delta)) (report.Output, error) {
	g.log.InfoContext(ctx, "deep in the provider call")
	if strings.Contains(p.Text, "fail") {
		return report.Output{}, &report.ProviderError{Provider: "fakeprov", Status: 400, Message: "bad request"}
	}
	for _, w := range []string{"a ", "b ", "c"} {
		emit(report.Delta{Text: w, Tokens: 1})
	}
	cost := 0.5
	return report.Output{Text: "a b c", Provider: "fakeprov", Usage: report.Usage{InputTokens: 4, OutputTokens: 3, Cost: &cost, Currency: "USD"}}, nil
}

type recorder struct {
	mu   sync.Mutex
	got  []report.AttemptStats
	done chan struct{}
}

func (r *recorder) AttemptFinished(a report.AttemptStats) {
	r.mu.Lock()
	r.got = append(r.got, a)
	r.mu.Unlock()
	r.done <- struct{}{}
}

// Every finished attempt reaches the recorder with its outcome and figures,
// and lines logged deep in the attempt with its context carry the job's id
// and attempt.
func TestAttemptsAreRecordedAndDeepLinesCarryTheJob(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	var mu sync.Mutex
	log := slog.New(logging.Handler(slog.NewJSONHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	}), nil)))
	store := memory.New(nil)
	rec := &recorder{done: make(chan struct{}, 10)}
	cfg := fastConfig()
	cfg.Recorder = rec
	w := New(cfg, store, loggingGenerator{log: log}, log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	defer func() { cancel(); <-done }()

	user := report.Caller{UserID: uuid.NewString(), Role: report.RoleUser}
	ids := map[string]string{}
	for _, prompt := range []string{"succeed", "fail"} {
		j, _, err := store.Create(context.Background(), user, report.NewJob{JobID: report.NewJobID(time.Now()), Prompt: prompt,
			Model: "sonar", MaxTokens: 10, MaxAttempts: 1})
		if err != nil {
			t.Fatal(err)
		}
		ids[j.JobID] = prompt
		w.OnChange(report.Change{Kind: report.ChangeCreated, JobID: j.JobID})
	}
	for range 2 {
		select {
		case <-rec.done:
		case <-time.After(10 * time.Second):
			t.Fatal("an attempt was never recorded")
		}
	}
	byOutcome := map[string]report.AttemptStats{}
	for _, a := range rec.got {
		byOutcome[a.Outcome] = a
	}
	ok, failed := byOutcome[report.AttemptSucceeded], byOutcome[report.AttemptFailed]
	if ok.Provider != "fakeprov" || ok.Model != "sonar" || ok.OutputTokens != 3 || ok.InputTokens != 4 || ok.Cost == nil ||
		*ok.Cost != 0.5 || ok.TimeToFirstToken <= 0 || ok.Duration < ok.TimeToFirstToken {
		t.Errorf("the successful attempt: %+v", ok)
	}
	if failed.Provider != "fakeprov" || failed.TimeToFirstToken != 0 || failed.Duration <= 0 {
		t.Errorf("the failed attempt: %+v (its provider comes from the error)", failed)
	}

	mu.Lock()
	defer mu.Unlock()
	deep := 0
	for _, raw := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var l map[string]any
		if err := json.Unmarshal([]byte(raw), &l); err != nil {
			t.Fatalf("not JSON: %q", raw)
		}
		if l["msg"] != "deep in the provider call" {
			continue
		}
		deep++
		if _, ok := ids[l["job_id"].(string)]; !ok || l["attempt"] != float64(1) {
			t.Errorf("a line from inside the attempt without its job: %v", l)
		}
	}
	if deep != 2 {
		t.Errorf("%d lines from inside attempts, want 2", deep)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
