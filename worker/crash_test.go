package worker

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/polaris/reportd/internal/fakellm"
	"github.com/polaris/reportd/llm"
	"github.com/polaris/reportd/report"
)

// frozen is a queue whose writes hang while frozen, like those of a process
// that was paused or killed: nothing it says reaches the store.
type frozen struct {
	report.Queue
	mu     sync.Mutex
	thawed chan struct{}
}

func newFrozen(q report.Queue) *frozen {
	f := &frozen{Queue: q, thawed: make(chan struct{})}
	close(f.thawed)
	return f
}

func (f *frozen) freeze() {
	f.mu.Lock()
	f.thawed = make(chan struct{})
	f.mu.Unlock()
}

func (f *frozen) thaw() {
	f.mu.Lock()
	close(f.thawed)
	f.mu.Unlock()
}

func (f *frozen) wait() {
	f.mu.Lock()
	ch := f.thawed
	f.mu.Unlock()
	<-ch
}

func (f *frozen) Claim(ctx context.Context, r report.ClaimRequest) (report.Claimed, error) {
	f.wait()
	return f.Queue.Claim(ctx, r)
}

func (f *frozen) Heartbeat(ctx context.Context, l report.Lease, p report.Progress) error {
	f.wait()
	return f.Queue.Heartbeat(ctx, l, p)
}

func (f *frozen) Complete(ctx context.Context, l report.Lease, c report.Completion) error {
	f.wait()
	return f.Queue.Complete(ctx, l, c)
}

// A worker that stops responding mid-stream loses its job to another worker
// when its lease expires; when it wakes up, none of its writes land.
func TestStalledWorkerIsReplacedAndFencedOut(t *testing.T) {
	forEachBackend(t, testStalledWorkerIsReplaced)
}

func testStalledWorkerIsReplaced(t *testing.T, b backend) {
	fake, err := fakellm.New(fakellm.Perplexity)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	fake.Push(fakellm.Stream(strings.Repeat("first ", 40), 40, 50*time.Millisecond), fakellm.Instant("second attempt's report"))
	store, queue, user := b.open(t)
	gen := &llm.Router{DefaultModel: "sonar",
		Perplexity: llm.NewPerplexity(llm.PerplexityChat, llm.ProviderConfig{BaseURL: fake.URL, APIKey: fakellm.DefaultAPIKey, StallTimeout: 5 * time.Second})}
	cfg := fastConfig()
	cfg.Lease = time.Second
	cfg.HeartbeatInterval = 200 * time.Millisecond

	stalled := newFrozen(queue)
	spyA := newSpy(stalled)
	cfg.ID = "worker-a"
	a := New(cfg, spyA, gen, nil)
	ctxA, stopA := context.WithCancel(context.Background())
	doneA := make(chan struct{})
	go func() { defer close(doneA); _ = a.Run(ctxA) }()

	j, _, err := store.Create(context.Background(), user, report.NewJob{JobID: report.NewJobID(time.Now()),
		Prompt: "p", Model: "sonar", Temperature: 0.2, MaxTokens: 80, MaxAttempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	a.OnChange(report.Change{Kind: report.ChangeCreated, JobID: j.JobID})
	spyA.waitFor(t, "heartbeat", j.JobID, 5*time.Second)
	stalled.freeze()

	cfg.ID = "worker-b"
	spyB := newSpy(queue)
	bw := New(cfg, spyB, gen, nil)
	ctxB, stopB := context.WithCancel(context.Background())
	doneB := make(chan struct{})
	go func() { defer close(doneB); _ = bw.Run(ctxB) }()
	defer func() { stopB(); <-doneB }()

	if e := spyB.waitFor(t, "complete", j.JobID, 10*time.Second); e.err != nil {
		t.Fatalf("worker B's completion: %v", e.err)
	}
	stalled.thaw()
	lost := spyA.waitFor(t, "heartbeat", j.JobID, 5*time.Second)
	if !errors.Is(lost.err, report.ErrLeaseLost) {
		t.Fatalf("worker A's late heartbeat: %v, want ErrLeaseLost", lost.err)
	}
	stopA()
	<-doneA

	got, err := store.Get(context.Background(), user, j.JobID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != report.StatusSucceeded || got.Attempts != 2 || got.Result == nil || *got.Result != "second attempt's report" {
		t.Fatalf("job after the takeover: status %s attempts %d result %v", got.Status, got.Attempts, got.Result)
	}
	if h := history(got); len(h) != 2 || h[0].Outcome != report.HistoryLeaseExpired || h[1].Outcome != report.AttemptSucceeded {
		t.Fatalf("history %+v", h)
	}
	for _, e := range spyA.log {
		if e.op == "complete" && e.err == nil {
			t.Fatal("the stalled worker's completion landed")
		}
	}
}
