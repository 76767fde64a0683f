package llm

import (
	"net/http"
	"testing"
	"time"
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
