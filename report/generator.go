package report

import (
	"context"
	"fmt"
	"time"
)

// Prompt is what a generator is asked to write.
type Prompt struct {
	Model       string
	System      string
	Text        string
	Temperature float64
	MaxTokens   int
	JSON        bool // the answer must be a JSON document
}

// Citation is a source the provider used.
type Citation struct {
	URL   string
	Title string
	Date  string
}

// Usage counts tokens and, where the provider reports it, cost.
type Usage struct {
	InputTokens  int
	OutputTokens int
	TotalTokens  int
	Cost         *float64
	Currency     string
}

// Output is a finished generation.
type Output struct {
	Text      string     // the answer, reasoning removed
	Reasoning string     // removed reasoning text, when kept
	Model     string     // model the provider says it used
	Provider  string     // provider name
	Usage     Usage      //
	Citations []Citation //
	// Truncated: the provider stopped at the prompt's MaxTokens; Text is
	// the answer up to there.
	Truncated bool
}

// Delta is one piece of streamed output.
type Delta struct {
	Text   string // visible answer text
	Tokens int    // tokens this piece stands for, when known (else 0)
}

// Generator produces text for a prompt, streaming pieces to emit as they
// arrive. It stops when ctx is cancelled. Failures are *ProviderError when
// the provider (or the connection to it) is at fault.
type Generator interface {
	Generate(ctx context.Context, p Prompt, emit func(Delta)) (Output, error)
}

// ProviderError is a failed call to an LLM provider, classified for the
// retry policy.
type ProviderError struct {
	Provider   string
	Status     int           // HTTP status, 0 when none arrived
	Code       string        // provider error code, e.g. insufficient_quota
	Message    string        // provider's message, shown to the user
	Retryable  bool          // another attempt may succeed
	RetryAfter time.Duration // provider asked to wait this long (0: unknown)
	RateLimit  bool          // a rate limit: waiting does not spend the job's attempts
}

func (e *ProviderError) Error() string {
	if e.Status > 0 {
		return fmt.Sprintf("%s: %s (HTTP %d)", e.Provider, e.Message, e.Status)
	}
	return fmt.Sprintf("%s: %s", e.Provider, e.Message)
}

// Models decides which model a job runs on.
type Models interface {
	// Resolve returns the model to store on a job that asked for name
	// (aliases normalised); an empty name means the default, which for a
	// questionnaire may differ. ErrInvalid for a model no configured
	// provider serves.
	Resolve(name string, questionnaire bool) (string, error)
	// Default is the model of a job that names none (not a questionnaire).
	Default() string
	// Suggested lists models worth offering in a form, the default first.
	Suggested() []string
}
