package worker

import (
	"strings"
	"sync"
	"time"

	"github.com/polaris/reportd/report"
)

// tracker turns a stream into progress: percent from the output received
// against the expected length, ETA from the observed token rate. It is fed
// by the generator's goroutine and read by the heartbeat goroutine.
type tracker struct {
	now      func() time.Time
	start    time.Time
	expected int // tokens the answer is expected to have

	mu         sync.Mutex
	tokens     int
	firstToken time.Time
	visible    strings.Builder
	changed    bool
}

func newTracker(now func() time.Time, expected int) *tracker {
	return &tracker{now: now, start: now(), expected: max(expected, 1)}
}

// add is the generator's emit callback.
func (t *tracker) add(d report.Delta) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.firstToken.IsZero() && d.Tokens > 0 {
		t.firstToken = t.now()
	}
	t.tokens += d.Tokens
	t.visible.WriteString(d.Text)
	t.changed = true
}

// snapshot is progress at one instant.
type snapshot struct {
	Percent int
	ETA     *time.Duration
	Tokens  int
	Text    string
	Changed bool // anything arrived since the previous snapshot
}

// snapshot returns current progress; withText copies the visible text.
func (t *tracker) snapshot(withText bool) snapshot {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := snapshot{Tokens: t.tokens, Changed: t.changed}
	t.changed = false
	s.Percent = min(99, 99*t.tokens/t.expected)
	if !t.firstToken.IsZero() {
		if elapsed := t.now().Sub(t.firstToken); elapsed > 0 && t.tokens > 0 {
			rate := float64(t.tokens) / elapsed.Seconds()
			left := time.Duration(float64(max(t.expected-t.tokens, 0)) / rate * float64(time.Second))
			s.ETA = &left
		}
	}
	if withText {
		s.Text = t.visible.String()
	}
	return s
}

// text returns the visible text streamed so far.
func (t *tracker) text() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.visible.String()
}

// timeToFirstToken is zero when nothing arrived.
func (t *tracker) timeToFirstToken() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.firstToken.IsZero() {
		return 0
	}
	return t.firstToken.Sub(t.start)
}

// lengths remembers how long recent answers of each model were, so that the
// expected length of the next one is a measured figure rather than the
// max_tokens ceiling.
type lengths struct {
	mu   sync.Mutex
	avg  map[string]float64 // exponentially weighted, in tokens
	seen map[string]int
}

func newLengths() *lengths { return &lengths{avg: map[string]float64{}, seen: map[string]int{}} }

// record adds a finished answer's length.
func (l *lengths) record(model string, tokens int) {
	if tokens <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	const weight = 0.2
	if l.seen[model] == 0 {
		l.avg[model] = float64(tokens)
	} else {
		l.avg[model] = weight*float64(tokens) + (1-weight)*l.avg[model]
	}
	l.seen[model]++
}

// expected is the answer length to measure progress against: the recent
// average of the model (with headroom), never above max_tokens; without
// history, two thirds of max_tokens.
func (l *lengths) expected(model string, maxTokens int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if maxTokens <= 0 {
		maxTokens = report.DefaultMaxTokens
	}
	if l.seen[model] == 0 {
		return max(1, maxTokens*2/3)
	}
	return max(1, min(maxTokens, int(l.avg[model]*1.1)))
}
