package llm_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/polaris/reportd/internal/fakellm"
	"github.com/polaris/reportd/llm"
	"github.com/polaris/reportd/report"
)

// Every failure script of llm-providers.md, on the Agent API, ends a job as
// specified: retried (attempts spent), waited out (no attempt spent), or
// failed at once with the provider's message. Each script is followed by a
// good answer for the retry.
func TestAgentFailuresEndJobsAsSpecified(t *testing.T) {
	t.Parallel()
	keepAlives := fakellm.KeepAlives(5000)
	keepAlives.KeepAlivesBetween = 500
	cases := []struct {
		name      string
		script    fakellm.Script
		status    report.Status
		attempts  int    // charged attempts when the job ended
		errText   string // in the job's error (failed) or last attempt's error (retried)
		truncated bool
	}{
		{"429 with Retry-After waits", fakellm.RateLimited(time.Second), report.StatusSucceeded, 1, "Rate limit", false},
		{"429 with Retry-After-Ms waits", fakellm.RateLimitedMs(100 * time.Millisecond), report.StatusSucceeded, 1, "Rate limit", false},
		{"429 with X-RateLimit-Reset waits", fakellm.RateLimitedReset(time.Second), report.StatusSucceeded, 1, "Rate limit", false},
		{"insufficient quota fails at once", fakellm.QuotaExhausted(), report.StatusFailed, 1, "quota", false},
		{"500 is retried", fakellm.ServerError(500), report.StatusSucceeded, 2, "Internal server error", false},
		{"502 is retried", fakellm.ServerError(502), report.StatusSucceeded, 2, "Bad gateway", false},
		{"503 is retried", fakellm.ServerError(503), report.StatusSucceeded, 2, "Service unavailable", false},
		{"504 is retried", fakellm.ServerError(504), report.StatusSucceeded, 2, "Gateway timeout", false},
		{"stall before headers is retried", fakellm.StallBeforeHeaders(time.Minute), report.StatusSucceeded, 2, "sent nothing", false},
		{"stall mid-stream is retried", fakellm.StallMidStream(2), report.StatusSucceeded, 2, "sent nothing", false},
		{"reset is retried", fakellm.Reset(2), report.StatusSucceeded, 2, "connection", false},
		{"thousands of keep-alives pass", keepAlives, report.StatusSucceeded, 1, "", false},
		{"error object mid-stream is retried", fakellm.ErrorMidStream(2, "upstream exploded"), report.StatusSucceeded, 2, "upstream exploded", false},
		{"missing terminal event is retried", fakellm.MissingTerminal(), report.StatusSucceeded, 2, "ended before", false},
		{"response.failed under HTTP 200 is retried", fakellm.ResponseFailed("model overloaded"), report.StatusSucceeded, 2, "model overloaded", false},
		{"response.cancelled is retried", fakellm.ResponseCancelled(), report.StatusSucceeded, 2, "cancelled", false},
		{"bare error event is retried", fakellm.ResponseError("search backend down"), report.StatusSucceeded, 2, "search backend down", false},
		{"response.incomplete keeps the text", fakellm.ResponseIncomplete(), report.StatusSucceeded, 1, "", true},
		{"400 fails with the provider's message", fakellm.BadRequest("max_output_tokens must be at most 8192"), report.StatusFailed, 1, "max_output_tokens must be at most 8192", false},
		{"401 fails at once", fakellm.Unauthorized(), report.StatusFailed, 1, "Unauthorized", false},
		{"403 fails with the provider's message", fakellm.HTTPError(http.StatusForbidden, fakellm.KindForbidden, "presets are not enabled for this key"), report.StatusFailed, 1, "presets are not enabled", false},
		{"404 fails with the provider's message", fakellm.HTTPError(http.StatusNotFound, fakellm.KindNotFound, "unknown preset"), report.StatusFailed, 1, "unknown preset", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := fakeServer(t, fakellm.Perplexity)
			s.Push(c.script, fakellm.Instant("Tea grows in Kenya."))
			b := startBench(t, &llm.Router{Perplexity: llm.NewPerplexity(llm.PerplexityAgent, config(s.URL))}, 1)
			j := b.await(t, b.submit(t, "sonar", 300), 20*time.Second)
			if j.Status != c.status || j.Attempts != c.attempts {
				t.Fatalf("status %s attempts %d, want %s %d (error %v)", j.Status, j.Attempts, c.status, c.attempts, j.Error)
			}
			if metaOf(t, j).Truncated != c.truncated {
				t.Fatalf("truncated %v, want %v: %s", !c.truncated, c.truncated, j.Metadata)
			}
			if c.errText == "" {
				return
			}
			errText := lastAttemptError(j)
			if j.Status == report.StatusFailed {
				errText = *j.Error
			}
			if !strings.Contains(strings.ToLower(errText), strings.ToLower(c.errText)) {
				t.Fatalf("error %q, want it to mention %q", errText, c.errText)
			}
		})
	}
}

// lastAttemptError is the error of the last failed attempt in the history.
func lastAttemptError(j report.Job) string {
	for i := len(j.History) - 1; i >= 0; i-- {
		if j.History[i].Error != "" {
			return j.History[i].Error
		}
	}
	return ""
}
