package report

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Defaults of the old route, kept so existing callers see the same jobs.
const (
	DefaultModel       = "sonar"
	DefaultTemperature = 0.2
	DefaultMaxTokens   = 2600
	DefaultMaxAttempts = 3
)

// Limits bound what a caller may ask for, and what one user may have
// waiting and spend. The same values are in force in the database
// (report_job_settings), which applies them to every insert, whichever
// path it comes by.
type Limits struct {
	MaxPromptChars    int // characters (not bytes); the old route cut at 10,000 silently
	MaxTokens         int // upper bound of max_tokens
	MaxMetadataBytes  int // encoded size of the metadata object
	MaxMetadataDepth  int // nesting of the metadata object (the object itself is 1)
	MaxIdempotencyKey int // characters
	MaxAttempts       int // upper bound of a job's attempt budget
	MaxQueuedPerUser  int // a user's jobs waiting at once
	// A user's budget per UTC day (0: none), unless a per-user override
	// says otherwise: tokens, and cost in the providers' currency.
	DailyTokens int64
	DailyCost   float64
}

// DefaultLimits are the limits used when configuration leaves them unset.
var DefaultLimits = Limits{
	MaxPromptChars:    10_000,
	MaxTokens:         32_000,
	MaxMetadataBytes:  16 << 10,
	MaxMetadataDepth:  32,
	MaxIdempotencyKey: 255,
	MaxAttempts:       5,
	MaxQueuedPerUser:  100,
}

var jobIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$`)

// ValidJobID reports whether s has the shape of a job id: 1 to 128 letters,
// digits or _.:- starting with a letter or digit (the database's rule).
func ValidJobID(s string) bool { return jobIDPattern.MatchString(s) }

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// ValidUUID reports whether s is a textual uuid.
func ValidUUID(s string) bool { return uuidPattern.MatchString(s) }

// Check validates a new job against the limits and reports every problem at
// once. A prompt or metadata over its size limit makes the error TooLarge.
func (l Limits) Check(in NewJob) error {
	v := &ValidationError{}
	switch n := utf8.RuneCountInString(in.Prompt); {
	case strings.TrimSpace(in.Prompt) == "":
		v.Add("prompt", "prompt is required")
	case n > l.MaxPromptChars:
		v.Add("prompt", "prompt is %d characters long; the limit is %d", n, l.MaxPromptChars)
		v.TooLarge = true
	}
	if strings.ContainsRune(in.Prompt, 0) {
		v.Add("prompt", "prompt must not contain NUL characters")
	}
	if in.Temperature < 0 || in.Temperature > 2 {
		v.Add("temperature", "temperature must be between 0 and 2")
	}
	if in.MaxTokens < 1 || in.MaxTokens > l.MaxTokens {
		v.Add("max_tokens", "max_tokens must be between 1 and %d", l.MaxTokens)
	}
	if in.SummaryID != "" && !ValidUUID(in.SummaryID) {
		v.Add("summary_id", "summary_id must be a uuid")
	}
	if utf8.RuneCountInString(in.IdempotencyKey) > l.MaxIdempotencyKey {
		v.Add("idempotency_key", "idempotency key must be at most %d characters", l.MaxIdempotencyKey)
	}
	if in.JobID != "" && !ValidJobID(in.JobID) {
		v.Add("job_id", "job_id must be 1 to 128 letters, digits or _.:- starting with a letter or digit")
	}
	if l.MaxAttempts > 0 && (in.MaxAttempts < 1 || in.MaxAttempts > l.MaxAttempts) {
		v.Add("max_attempts", "max_attempts must be between 1 and %d", l.MaxAttempts)
	}
	l.checkMetadata(v, in.Metadata)
	return v.OrNil()
}

func (l Limits) checkMetadata(v *ValidationError, raw json.RawMessage) {
	if len(raw) == 0 {
		return
	}
	if len(raw) > l.MaxMetadataBytes {
		v.Add("metadata", "metadata is %d bytes; the limit is %d", len(raw), l.MaxMetadataBytes)
		v.TooLarge = true
		return
	}
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' {
		v.Add("metadata", "metadata must be a JSON object")
	}
	// PostgreSQL's jsonb cannot hold the NUL character.
	if bytes.Contains(raw, []byte(`\u0000`)) {
		v.Add("metadata", "metadata must not contain NUL characters")
	}
	if l.MaxMetadataDepth > 0 && JSONDepth(raw) > l.MaxMetadataDepth {
		v.Add("metadata", "metadata is nested more than %d levels deep", l.MaxMetadataDepth)
	}
}

// JSONDepth is how deeply objects and arrays nest in a JSON text (a
// scalar is 0, {"a":1} is 1, {"a":{"b":[]}} is 3), counted from its
// brackets without decoding it; brackets inside strings do not count. The
// database's report_job_json_depth() counts the same way.
func JSONDepth(raw []byte) int {
	depth, deepest, inString, escaped := 0, 0, false, false
	for _, c := range raw {
		switch {
		case inString && escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case inString:
		case c == '{' || c == '[':
			depth++
			deepest = max(deepest, depth)
		case c == '}' || c == ']':
			depth--
		}
	}
	return deepest
}

// NewJobID returns a public job id in the old route's format:
// job_<epoch milliseconds>_<8 base-36 characters>.
func NewJobID(now time.Time) string {
	const alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
	var b [8]byte
	max := big.NewInt(int64(len(alphabet)))
	for i := range b {
		n, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic(fmt.Sprintf("crypto/rand failed: %v", err)) // the OS random source is gone; nothing sensible remains
		}
		b[i] = alphabet[n.Int64()]
	}
	return "job_" + strconv.FormatInt(now.UnixMilli(), 10) + "_" + string(b[:])
}

// Fingerprint hashes the parts of a request that define the job, so that an
// idempotency key reused with a different request can be told apart.
func Fingerprint(in NewJob) string {
	h := sha256.New()
	enc := json.NewEncoder(h)
	_ = enc.Encode([]any{in.Prompt, in.Model, in.Temperature, in.MaxTokens, in.SummaryID, canonicalJSON(in.Metadata)})
	return hex.EncodeToString(h.Sum(nil))
}

// canonicalJSON re-encodes a JSON value with sorted keys (encoding/json sorts
// map keys), so equal objects hash equally whatever their key order.
func canonicalJSON(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return string(raw)
	}
	b, _ := json.Marshal(v)
	return string(b)
}
