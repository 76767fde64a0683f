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

// Limits bound what a caller may ask for.
type Limits struct {
	MaxPromptChars    int // characters (not bytes); the old route cut at 10,000 silently
	MaxTokens         int // upper bound of max_tokens
	MaxMetadataBytes  int // encoded size of the metadata object
	MaxIdempotencyKey int // characters
}

// DefaultLimits are the limits used when configuration leaves them unset.
var DefaultLimits = Limits{
	MaxPromptChars:    10_000,
	MaxTokens:         32_000,
	MaxMetadataBytes:  16 << 10,
	MaxIdempotencyKey: 255,
}

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
