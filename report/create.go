package report

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// CreateRequest is a request to create a job, as both APIs take it: the
// old route's fields, before defaults. Pointers tell "absent" from a value.
type CreateRequest struct {
	Prompt         *string
	Model          *string
	Temperature    *float64
	MaxTokens      *int
	SummaryID      *string
	Metadata       json.RawMessage // a JSON object, or empty
	ReportType     *string         // kept in metadata (it may also come inside it)
	ReportID       *string         // kept in metadata
	ResponseFormat *string         // "json" or "text", kept in metadata as response_format
	IdempotencyKey string
	Source         string // the API that took it ("api": the drop-in route, "api/v1"), kept in metadata
}

// Created is what a create did.
type Created struct {
	Job Job
	New bool // false: the caller already had a job with this idempotency key
	// SameRequest: that existing job was created by an identical request (a
	// retry), not a different one reusing the key.
	SameRequest bool
}

// Creator is the one way jobs are created, for both APIs: the old route's
// defaults, metadata and model rules, the limits, the store, and the
// announcement that lets a worker here claim the job at once.
type Creator struct {
	Store       Store
	Models      Models
	Limits      Limits
	MaxAttempts int
	Changes     Changes
	Now         func() time.Time
}

// Create stores the job the request describes for the caller, or returns
// the caller's job that already has the request's idempotency key.
// ValidationError for a bad request; the store's errors otherwise.
func (c Creator) Create(ctx context.Context, caller Caller, r CreateRequest) (Created, error) {
	in, err := c.prepare(r)
	if err != nil {
		return Created{}, err
	}
	job, isNew, err := c.Store.Create(ctx, caller, in)
	if err != nil {
		return Created{}, err
	}
	if isNew && c.Changes != nil {
		c.Changes.Announce(Change{Kind: ChangeCreated, JobID: job.JobID, UserID: job.UserID})
	}
	return Created{Job: job, New: isNew, SameRequest: isNew || job.RequestHash == "" || job.RequestHash == in.RequestHash}, nil
}

// prepare applies the old route's defaults and the limits, and builds the
// job to store, reporting every problem at once.
func (c Creator) prepare(r CreateRequest) (NewJob, error) {
	now := time.Now()
	if c.Now != nil {
		now = c.Now()
	}
	in := NewJob{
		JobID: NewJobID(now), Prompt: deref(r.Prompt), Temperature: DefaultTemperature, MaxTokens: DefaultMaxTokens,
		SummaryID: strings.ToLower(deref(r.SummaryID)), IdempotencyKey: r.IdempotencyKey, MaxAttempts: c.MaxAttempts,
	}
	if in.MaxAttempts <= 0 {
		in.MaxAttempts = DefaultMaxAttempts
	}
	if r.Temperature != nil {
		in.Temperature = *r.Temperature
	}
	if r.MaxTokens != nil {
		in.MaxTokens = *r.MaxTokens
	}
	v := &ValidationError{}
	meta, err := requestMetadata(r)
	if err != nil {
		return NewJob{}, err
	}
	in.Metadata = meta
	model, err := c.Models.Resolve(deref(r.Model), (Job{Metadata: meta}).IsQuestionnaire())
	var pub *Error
	switch {
	case errors.As(err, &pub):
		v.Add("model", "%s", pub.Message)
	case err != nil:
		return NewJob{}, err
	}
	in.Model = model
	var ve *ValidationError
	if errors.As(c.Limits.Check(in), &ve) {
		v.Fields, v.TooLarge = append(ve.Fields, v.Fields...), ve.TooLarge
	}
	if err := v.OrNil(); err != nil {
		return NewJob{}, err
	}
	// The fingerprint is taken before the source and time are added, so a
	// retry of the same request still matches.
	in.RequestHash = Fingerprint(in)
	in.Metadata = withSource(in.Metadata, r.Source, now)
	return in, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// requestMetadata is the request's metadata with report_type, report_id and
// response_format (given at the top level, which wins, or inside metadata)
// kept in it.
func requestMetadata(r CreateRequest) (json.RawMessage, error) {
	m, err := decodeObject(r.Metadata)
	if err != nil {
		return nil, &ValidationError{Fields: []FieldError{{Field: "metadata", Message: "metadata must be a JSON object"}}}
	}
	if r.ReportType != nil {
		m["report_type"] = *r.ReportType
	}
	if r.ReportID != nil {
		m["report_id"] = *r.ReportID
	}
	if err := setResponseFormat(m, r.ResponseFormat); err != nil {
		return nil, err
	}
	return json.Marshal(m)
}

// setResponseFormat stores the requested answer format as response_format.
// Any value but "json" or "text" is refused rather than ignored: a job that
// silently answers in prose would break a caller that parses JSON.
func setResponseFormat(m map[string]any, top *string) error {
	var raw any
	if top != nil {
		raw = *top
	} else if v, ok := m["response_format"]; ok && v != nil {
		raw = v
	}
	if raw == nil {
		return nil
	}
	s, ok := raw.(string)
	f := strings.ToLower(strings.TrimSpace(s))
	if !ok || (f != FormatJSON && f != FormatText) {
		return &ValidationError{Fields: []FieldError{{Field: "response_format", Message: `response_format must be "json" or "text"`}}}
	}
	m["response_format"] = f
	return nil
}

func withSource(meta json.RawMessage, source string, now time.Time) json.RawMessage {
	m, _ := decodeObject(meta) // built by requestMetadata: always an object
	if source != "" {
		m["source"] = source
	}
	m["timestamp"] = now.UTC().Format(time.RFC3339Nano)
	b, _ := json.Marshal(m)
	return b
}

// decodeObject decodes a JSON object keeping numbers exact (json.Number),
// so that re-encoding metadata never rounds a large number.
func decodeObject(raw json.RawMessage) (map[string]any, error) {
	m := map[string]any{}
	if len(raw) == 0 {
		return m, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}
