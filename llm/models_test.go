package llm

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/polaris/reportd/report"
)

func TestNormalizePerplexity(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"sonar": "sonar", "Sonar Pro": "sonar-pro", "sonar_reasoning": "sonar-reasoning",
		"sonar-reasoning-pro": "sonar-reasoning-pro", "sonar-deep-research": "sonar-deep-research",
		"sonar large": "sonar-pro", "sonar medium": "sonar-pro", "sonar-small-online": "sonar",
		"llama-3.1-sonar-small-128k-online": "sonar", "llama-3.1-sonar-large-128k-online": "sonar-pro",
		"llama-3.1-sonar-huge-128k-online": "sonar-pro",
	}
	for in, want := range cases {
		if got, ok := NormalizePerplexity(in); !ok || got != want {
			t.Errorf("NormalizePerplexity(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, other := range []string{"gpt-4o", "claude-3-5-sonnet", "llama3", "demo", ""} {
		if got, ok := NormalizePerplexity(other); ok {
			t.Errorf("NormalizePerplexity(%q) = %q, want not Perplexity", other, got)
		}
	}
}

func TestRouterResolve(t *testing.T) {
	t.Parallel()
	without := &Router{DefaultModel: "sonar", Demo: Demo{}}
	with := &Router{DefaultModel: "sonar", Demo: Demo{}, Perplexity: Demo{}}
	if m, err := without.Resolve("DEMO"); err != nil || m != "demo" {
		t.Fatalf("demo: %q %v", m, err)
	}
	if _, err := without.Resolve(""); !errors.Is(err, report.ErrInvalid) {
		t.Fatalf("default model without a Perplexity key: %v, want ErrInvalid", err)
	}
	if m, err := with.Resolve(""); err != nil || m != "sonar" {
		t.Fatalf("default model: %q %v", m, err)
	}
	if m, err := with.Resolve("llama-3.1-sonar-large-128k-online"); err != nil || m != "sonar-pro" {
		t.Fatalf("alias: %q %v", m, err)
	}
	if _, err := with.Resolve("no-such-model"); !errors.Is(err, report.ErrInvalid) {
		t.Fatalf("unknown model: %v", err)
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		header http.Header
		want   time.Duration
	}{
		{http.Header{"Retry-After": {"12"}}, 12 * time.Second},
		{http.Header{"Retry-After": {now.Add(30 * time.Second).Format(http.TimeFormat)}}, 30 * time.Second},
		{http.Header{"Retry-After-Ms": {"250"}, "Retry-After": {"9"}}, 250 * time.Millisecond},
		{http.Header{"X-Ratelimit-Reset": {"4"}}, 4 * time.Second},
		{http.Header{"X-Ratelimit-Reset": {"1795958420"}}, time.Unix(1795958420, 0).Sub(now)},
		{http.Header{"Retry-After": {"soon"}}, 0},
		{nil, 0},
	}
	for _, c := range cases {
		if got := retryAfter(c.header, now); got != c.want {
			t.Errorf("retryAfter(%v) = %s, want %s", c.header, got, c.want)
		}
	}
}
