package llm_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/polaris/reportd/internal/fakellm"
	"github.com/polaris/reportd/llm"
	"github.com/polaris/reportd/memory"
	"github.com/polaris/reportd/report"
	"github.com/polaris/reportd/worker"
)

// bench is a real worker over a memory store, generating with a router.
type bench struct {
	store  *memory.Store
	router *llm.Router
	worker *worker.Worker
	user   report.Caller
}

func startBench(t *testing.T, router *llm.Router, concurrency int) *bench {
	t.Helper()
	store := memory.New(nil)
	// Some tests queue more jobs for their one user than a user may keep
	// waiting by default.
	limits := report.DefaultLimits
	limits.MaxQueuedPerUser = 10_000
	if _, err := store.Configure(t.Context(), limits); err != nil {
		t.Fatal(err)
	}
	cfg := worker.Config{
		Concurrency: concurrency, PollInterval: 20 * time.Millisecond, Lease: 5 * time.Second,
		HeartbeatInterval: time.Second, ProgressInterval: 100 * time.Millisecond, PartialInterval: 200 * time.Millisecond,
		JobTimeout: 10 * time.Second, RetryBase: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond,
		SystemPrompt: "be brief", Timeout: router.Timeout,
	}
	b := &bench{store: store, router: router, worker: worker.New(cfg, store, router, nil),
		user: report.Caller{UserID: uuid.NewString(), Role: report.RoleUser}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = b.worker.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return b
}

// submit creates a job the way the API does: the model name resolved first.
func (b *bench) submit(t *testing.T, model string, maxTokens int) string {
	t.Helper()
	m, err := b.router.Resolve(model, false)
	if err != nil {
		t.Fatal(err)
	}
	j, _, err := b.store.Create(context.Background(), b.user, report.NewJob{
		JobID: report.NewJobID(time.Now()), Prompt: "Write about tea.", Model: m,
		Temperature: 0.2, MaxTokens: maxTokens, MaxAttempts: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	b.worker.OnChange(report.Change{Kind: report.ChangeCreated, JobID: j.JobID})
	return j.JobID
}

// await polls the job until it is final.
func (b *bench) await(t *testing.T, jobID string, timeout time.Duration) report.Job {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		j, err := b.store.Get(context.Background(), b.user, jobID)
		if err != nil {
			t.Fatal(err)
		}
		if j.Status.Final() {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still %s after %s", jobID, j.Status, timeout)
		}
		<-tick.C
	}
}

func fakeServer(t *testing.T, f fakellm.Flavor) *fakellm.Server {
	t.Helper()
	s, err := fakellm.New(f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func config(base string) llm.ProviderConfig {
	return llm.ProviderConfig{BaseURL: base, APIKey: fakellm.DefaultAPIKey, Timeout: 10 * time.Second,
		StallTimeout: time.Second, Limits: llm.Limits{Concurrency: 4, Rate: llm.Rate{Requests: 50, Window: time.Minute}}}
}

var teaSources = []fakellm.Source{{Title: "Tea board", URL: "https://tea.example/board", Date: "2026-01-02"}}

// meta is the part of a job's metadata these tests read.
type meta struct {
	Provider      string            `json:"provider"`
	ResolvedModel string            `json:"resolved_model"`
	Usage         report.Usage      `json:"usage"`
	Citations     []report.Citation `json:"citations"`
	Reasoning     string            `json:"reasoning"`
	Truncated     bool              `json:"truncated"`
	TTFT          *float64          `json:"ttft_ms"`
	TokensPerSec  *float64          `json:"tokens_per_second"`
	DurationMS    *float64          `json:"duration_ms"`
}

func metaOf(t *testing.T, j report.Job) meta {
	t.Helper()
	var m meta
	if err := json.Unmarshal(j.Metadata, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// Each wire format, through the worker: the request the provider got, and
// what it returned ending up in the job's result and metadata.
func TestEachProviderFormatThroughTheWorker(t *testing.T) {
	t.Parallel()
	cost := 0.0123
	cases := []struct {
		name     string
		flavor   fakellm.Flavor
		router   func(s *fakellm.Server) *llm.Router
		model    string
		script   fakellm.Script
		path     string
		request  map[string]any // fields the request must carry
		absent   []string       // fields it must not carry
		meta     meta
		thinking string // reasoning kept in metadata (KEEP_REASONING)
	}{
		{
			name: "openai chat completions", flavor: fakellm.OpenAI, model: "gpt-4o",
			router: func(s *fakellm.Server) *llm.Router { return &llm.Router{OpenAI: llm.NewOpenAI(config(s.BaseURL()))} },
			script: fakellm.Script{Text: "Tea grows in Kenya.", Model: "gpt-4o-2024-08-06", Usage: &fakellm.Usage{InputTokens: 12, OutputTokens: 9}},
			path:   "/v1/chat/completions",
			request: map[string]any{"model": "gpt-4o", "temperature": 0.2, "max_completion_tokens": 300.0,
				"stream_options": map[string]any{"include_usage": true}},
			absent: []string{"max_tokens"},
			meta:   meta{Provider: "openai", ResolvedModel: "gpt-4o-2024-08-06", Usage: report.Usage{InputTokens: 12, OutputTokens: 9, TotalTokens: 21}},
		},
		{
			name: "perplexity legacy chat", flavor: fakellm.Perplexity, model: "sonar_reasoning_pro",
			router: func(s *fakellm.Server) *llm.Router {
				c := config(s.URL)
				c.KeepReasoning = true
				return &llm.Router{Perplexity: llm.NewPerplexity(llm.PerplexityChat, c)}
			},
			script: fakellm.Script{Text: "Tea grows in Kenya.", Think: "check the board", Model: "sonar-reasoning-pro-2026", Sources: teaSources,
				Usage: &fakellm.Usage{InputTokens: 11, OutputTokens: 7, Cost: fakellm.Cost{Total: cost}}},
			path:    "/chat/completions",
			request: map[string]any{"model": "sonar-reasoning-pro", "temperature": 0.2, "max_tokens": 300.0},
			meta: meta{Provider: "perplexity", ResolvedModel: "sonar-reasoning-pro-2026", Citations: []report.Citation{{URL: "https://tea.example/board", Title: "Tea board", Date: "2026-01-02"}},
				Usage: report.Usage{InputTokens: 11, OutputTokens: 7, TotalTokens: 18, Cost: &cost, Currency: "USD"}},
			thinking: "check the board",
		},
		{
			name: "perplexity agent api", flavor: fakellm.Perplexity, model: "sonar large",
			router: func(s *fakellm.Server) *llm.Router {
				return &llm.Router{Perplexity: llm.NewPerplexity(llm.PerplexityAgent, config(s.URL))}
			},
			script: fakellm.Script{Text: "Tea grows in Kenya.", Model: "perplexity/sonar-2026", Sources: teaSources,
				Usage: &fakellm.Usage{InputTokens: 11, OutputTokens: 7, Cost: fakellm.Cost{Total: cost}}},
			path:    "/v1/responses",
			request: map[string]any{"model": "perplexity/sonar", "preset": "low", "max_output_tokens": 300.0, "instructions": "be brief"},
			absent:  []string{"temperature", "max_tokens", "messages"},
			meta: meta{Provider: "perplexity", ResolvedModel: "perplexity/sonar-2026", Citations: []report.Citation{{URL: "https://tea.example/board", Title: "Tea board", Date: "2026-01-02"}},
				Usage: report.Usage{InputTokens: 11, OutputTokens: 7, TotalTokens: 18, Cost: &cost, Currency: "USD"}},
		},
		{
			name: "anthropic openai-compatible", flavor: fakellm.Anthropic, model: "Claude-Sonnet-4-5",
			router: func(s *fakellm.Server) *llm.Router {
				return &llm.Router{Anthropic: llm.NewAnthropic(config(s.BaseURL()))}
			},
			script: fakellm.Script{Text: "Tea grows in Kenya.", Usage: &fakellm.Usage{InputTokens: 14, OutputTokens: 6}},
			path:   "/v1/chat/completions",
			request: map[string]any{"model": "claude-sonnet-4-5", "temperature": 0.2, "max_tokens": 300.0,
				"stream_options": map[string]any{"include_usage": true}},
			meta: meta{Provider: "anthropic", ResolvedModel: "claude-sonnet-4-5", Usage: report.Usage{InputTokens: 14, OutputTokens: 6, TotalTokens: 20}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := fakeServer(t, c.flavor)
			c.script.Chunks, c.script.Interval = 4, 20*time.Millisecond
			s.Push(c.script)
			b := startBench(t, c.router(s), 2)
			j := b.await(t, b.submit(t, c.model, 300), 15*time.Second)
			if j.Status != report.StatusSucceeded || j.Result == nil || *j.Result != "Tea grows in Kenya." || j.Attempts != 1 {
				t.Fatalf("job %s attempts %d result %v error %v", j.Status, j.Attempts, j.Result, j.Error)
			}
			req := s.Requests()[0]
			if req.Path != c.path || req.Header.Get("Authorization") != "Bearer "+fakellm.DefaultAPIKey || req.Prompt != "Write about tea." {
				t.Fatalf("request to %s auth %q prompt %q", req.Path, req.Header.Get("Authorization"), req.Prompt)
			}
			for k, want := range c.request {
				if got, _ := json.Marshal(req.JSON[k]); string(got) != mustJSON(want) {
					t.Errorf("request %s = %s, want %s (body %s)", k, got, mustJSON(want), req.Body)
				}
			}
			for _, k := range c.absent {
				if _, ok := req.JSON[k]; ok {
					t.Errorf("request carries %s: %s", k, req.Body)
				}
			}
			got := metaOf(t, j)
			if got.TTFT == nil || got.TokensPerSec == nil || got.DurationMS == nil {
				t.Errorf("metadata lacks timings: %s", j.Metadata)
			}
			if got.Reasoning != c.thinking || strings.Contains(*j.Result, "think") {
				t.Errorf("reasoning %q (want %q), result %q", got.Reasoning, c.thinking, *j.Result)
			}
			got.TTFT, got.TokensPerSec, got.DurationMS, got.Reasoning = nil, nil, nil, ""
			if mustJSON(got) != mustJSON(c.meta) {
				t.Errorf("metadata\n got %s\nwant %s", mustJSON(got), mustJSON(c.meta))
			}
		})
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
