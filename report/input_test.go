package report

import (
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestNewJobIDFormat(t *testing.T) {
	t.Parallel()
	now := time.UnixMilli(1795954584832)
	re := regexp.MustCompile(`^job_1795954584832_[0-9a-z]{8}$`)
	seen := map[string]bool{}
	for range 1000 {
		id := NewJobID(now)
		if !re.MatchString(id) || seen[id] {
			t.Fatalf("job id %q (seen before: %v)", id, seen[id])
		}
		seen[id] = true
	}
}

func TestLimitsCheck(t *testing.T) {
	t.Parallel()
	ok := NewJob{JobID: "job_1_ok", Prompt: "p", Temperature: 0.2, MaxTokens: 100, MaxAttempts: 3, Metadata: json.RawMessage(`{"a":1}`)}
	cases := []struct {
		name     string
		mod      func(*NewJob)
		field    string
		tooLarge bool
	}{
		{"valid", func(*NewJob) {}, "", false},
		{"empty prompt", func(n *NewJob) { n.Prompt = " \n" }, "prompt", false},
		{"prompt at the limit", func(n *NewJob) { n.Prompt = strings.Repeat("é", 10_000) }, "", false},
		{"prompt over the limit", func(n *NewJob) { n.Prompt = strings.Repeat("é", 10_001) }, "prompt", true},
		{"NUL in prompt", func(n *NewJob) { n.Prompt = "a\x00b" }, "prompt", false},
		{"temperature below 0", func(n *NewJob) { n.Temperature = -0.1 }, "temperature", false},
		{"temperature above 2", func(n *NewJob) { n.Temperature = 2.01 }, "temperature", false},
		{"max_tokens 0", func(n *NewJob) { n.MaxTokens = 0 }, "max_tokens", false},
		{"max_tokens over the limit", func(n *NewJob) { n.MaxTokens = 32_001 }, "max_tokens", false},
		{"summary_id not a uuid", func(n *NewJob) { n.SummaryID = "summary-1" }, "summary_id", false},
		{"metadata an array", func(n *NewJob) { n.Metadata = json.RawMessage(`[1]`) }, "metadata", false},
		{"metadata too large", func(n *NewJob) { n.Metadata = json.RawMessage(`{"a":"` + strings.Repeat("x", 17_000) + `"}`) }, "metadata", true},
		{"metadata with NUL", func(n *NewJob) { n.Metadata = json.RawMessage(`{"a":"\u0000"}`) }, "metadata", false},
		{"idempotency key too long", func(n *NewJob) { n.IdempotencyKey = strings.Repeat("k", 256) }, "idempotency_key", false},
		{"metadata nested too deep", func(n *NewJob) {
			n.Metadata = json.RawMessage(strings.Repeat(`{"a":`, 33) + "1" + strings.Repeat("}", 33))
		}, "metadata", false},
		{"metadata at the depth limit", func(n *NewJob) {
			n.Metadata = json.RawMessage(strings.Repeat(`{"a":`, 32) + "1" + strings.Repeat("}", 32))
		}, "", false},
		{"job_id of another shape", func(n *NewJob) { n.JobID = strings.Repeat("j", 129) }, "job_id", false},
		{"max_attempts over the limit", func(n *NewJob) { n.MaxAttempts = 20 }, "max_attempts", false},
	}
	for _, c := range cases {
		in := ok
		c.mod(&in)
		err := DefaultLimits.Check(in)
		if c.field == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		var v *ValidationError
		if !errors.As(err, &v) || !errors.Is(err, ErrInvalid) || v.Fields[0].Field != c.field || v.TooLarge != c.tooLarge {
			t.Errorf("%s: got %#v, want a problem with %s (too large %v)", c.name, err, c.field, c.tooLarge)
		}
	}
}

func TestFingerprintIgnoresKeyOrder(t *testing.T) {
	t.Parallel()
	a := NewJob{Prompt: "p", Model: "sonar", Metadata: json.RawMessage(`{"a":1,"b":{"c":2,"d":3}}`)}
	b := a
	b.Metadata = json.RawMessage(`{"b":{"d":3,"c":2},"a":1}`)
	c := a
	c.Prompt = "q"
	if Fingerprint(a) != Fingerprint(b) {
		t.Fatal("the same request in another key order has another fingerprint")
	}
	if Fingerprint(a) == Fingerprint(c) {
		t.Fatal("different prompts share a fingerprint")
	}
}

func TestJSONDepth(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int{
		`1`: 0, `"[{"`: 0, `{}`: 1, `{"a":1}`: 1, `{"a":{"b":[]}}`: 3, `[[[]],[]]`: 3,
		`{"s":"}}]]{{[[","n":{"x":"\"{"}}`: 2, strings.Repeat("[", 50) + strings.Repeat("]", 50): 50,
	} {
		if got := JSONDepth([]byte(in)); got != want {
			t.Errorf("JSONDepth(%s) = %d, want %d", in, got, want)
		}
	}
}

func TestValidJobID(t *testing.T) {
	t.Parallel()
	for id, want := range map[string]bool{
		"job_1795954584832_deitnyya": true, "a": true, "job-1.2:3": true, strings.Repeat("j", 128): true,
		"": false, "_job": false, "job id": false, "job/1": false, strings.Repeat("j", 129): false, "job\n1": false,
	} {
		if got := ValidJobID(id); got != want {
			t.Errorf("ValidJobID(%q) = %v, want %v", id, got, want)
		}
	}
}
