package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/polaris/reportd/report"
)

// createRequest is the body that creates a job, on the old route and on
// /v1/jobs. Pointers tell "absent or null" from a value.
type createRequest struct {
	Prompt         *string
	Model          *string
	Temperature    *float64
	MaxTokens      *int
	SummaryID      *string
	UserID         *string
	Metadata       json.RawMessage
	ReportType     *string
	ReportID       *string
	ResponseFormat *string
	IdempotencyKey *string
	Unknown        []string // fields this service does not know
}

// readBody reads a request body, answering 413 past the limit and 400 for
// bytes that are not UTF-8 (decoding would silently replace them).
func readBody(c echo.Context, limit int64) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, limit+1))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, newAPIError(http.StatusRequestEntityTooLarge, "body_too_large", "The request body is too large")
		}
		return nil, newAPIError(http.StatusBadRequest, "invalid_body", "The request body could not be read")
	}
	if int64(len(body)) > limit {
		return nil, newAPIError(http.StatusRequestEntityTooLarge, "body_too_large",
			"The request body is larger than "+strconv.FormatInt(limit, 10)+" bytes")
	}
	if !utf8.Valid(body) {
		return nil, newAPIError(http.StatusBadRequest, "invalid_json", "The request body is not valid UTF-8")
	}
	return body, nil
}

// parseCreate decodes a create body. A body that is a JSON string holding
// JSON is decoded twice, as the old route did with string bodies. Every
// field of the wrong type is reported.
func parseCreate(body []byte) (createRequest, error) {
	fields, err := decodeObject(body)
	if err != nil {
		return createRequest{}, err
	}
	var r createRequest
	v := &report.ValidationError{}
	r.Prompt = stringField(v, fields, "prompt")
	r.Model = stringField(v, fields, "model")
	r.Temperature = numberField(v, fields, "temperature")
	r.MaxTokens = intField(v, fields, "max_tokens")
	r.SummaryID = stringField(v, fields, "summary_id")
	r.UserID = stringField(v, fields, "user_id")
	r.Metadata = objectField(v, fields, "metadata")
	r.ReportType = idField(v, fields, "report_type")
	r.ReportID = idField(v, fields, "report_id")
	r.ResponseFormat = stringField(v, fields, "response_format")
	r.IdempotencyKey = stringField(v, fields, "idempotency_key")
	for k := range fields {
		if !knownCreateFields[k] {
			r.Unknown = append(r.Unknown, k)
		}
	}
	sort.Strings(r.Unknown)
	return r, v.OrNil()
}

var knownCreateFields = map[string]bool{
	"prompt": true, "model": true, "temperature": true, "max_tokens": true, "summary_id": true,
	"user_id": true, "metadata": true, "report_type": true, "report_id": true, "idempotency_key": true,
	"response_format": true,
}

func decodeObject(body []byte) (map[string]json.RawMessage, error) {
	bad := func(msg string) error { return newAPIError(http.StatusBadRequest, "invalid_json", msg) }
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return map[string]json.RawMessage{}, nil
	}
	if trimmed[0] == '"' { // a string body: the old route parsed it as JSON
		var inner string
		if err := json.Unmarshal(trimmed, &inner); err != nil {
			return nil, bad("The request body is not valid JSON")
		}
		trimmed = bytes.TrimSpace([]byte(inner))
	}
	if len(trimmed) == 0 || trimmed[0] != '{' {
		if !json.Valid(trimmed) {
			return nil, bad("The request body is not valid JSON")
		}
		return nil, bad("The request body must be a JSON object")
	}
	if err := checkJSON(trimmed); err != nil {
		return nil, err
	}
	var fields map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	if err := dec.Decode(&fields); err != nil {
		return nil, bad("The request body is not valid JSON: " + jsonProblem(err))
	}
	if dec.More() {
		return nil, bad("The request body has data after the JSON object")
	}
	return fields, nil
}

// jsonProblem describes a decoding error without echoing the input.
func jsonProblem(err error) string {
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) {
		return "syntax error at byte " + strconv.FormatInt(syntax.Offset, 10)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "it ends too early"
	}
	return "it cannot be decoded"
}

func isNull(raw json.RawMessage) bool { return len(raw) == 0 || string(raw) == "null" }

func stringField(v *report.ValidationError, f map[string]json.RawMessage, name string) *string {
	raw, ok := f[name]
	if !ok || isNull(raw) {
		return nil
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		v.Add(name, "%s must be a string", name)
		return nil
	}
	return &s
}

// idField accepts a string or a number (report ids are sometimes numeric).
func idField(v *report.ValidationError, f map[string]json.RawMessage, name string) *string {
	raw, ok := f[name]
	if !ok || isNull(raw) {
		return nil
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		s := n.String()
		return &s
	}
	return stringField(v, f, name)
}

func numberField(v *report.ValidationError, f map[string]json.RawMessage, name string) *float64 {
	raw, ok := f[name]
	if !ok || isNull(raw) {
		return nil
	}
	var x float64
	if json.Unmarshal(raw, &x) != nil || math.IsInf(x, 0) || math.IsNaN(x) {
		v.Add(name, "%s must be a number", name)
		return nil
	}
	return &x
}

func intField(v *report.ValidationError, f map[string]json.RawMessage, name string) *int {
	raw, ok := f[name]
	if !ok || isNull(raw) {
		return nil
	}
	var n json.Number
	if json.Unmarshal(raw, &n) != nil {
		v.Add(name, "%s must be an integer", name)
		return nil
	}
	i, err := strconv.ParseInt(n.String(), 10, 32)
	if err != nil {
		v.Add(name, "%s must be a whole number within range", name)
		return nil
	}
	x := int(i)
	return &x
}

func objectField(v *report.ValidationError, f map[string]json.RawMessage, name string) json.RawMessage {
	raw, ok := f[name]
	if !ok || isNull(raw) {
		return nil
	}
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' {
		v.Add(name, "%s must be a JSON object", name)
		return nil
	}
	return raw
}

// newJob applies the old route's defaults and builds the job to store.
// source says which API created it; it goes into metadata with a timestamp,
// after the request's fingerprint is taken (so a retry still matches).
func (h *handler) newJob(r createRequest, key, source string, now time.Time) (report.NewJob, error) {
	in := report.NewJob{
		JobID: report.NewJobID(now), Prompt: deref(r.Prompt), Temperature: report.DefaultTemperature,
		MaxTokens: report.DefaultMaxTokens, SummaryID: strings.ToLower(deref(r.SummaryID)),
		IdempotencyKey: key, MaxAttempts: h.maxAttempts,
	}
	if r.Temperature != nil {
		in.Temperature = *r.Temperature
	}
	if r.MaxTokens != nil {
		in.MaxTokens = *r.MaxTokens
	}
	meta, err := userMetadata(r)
	if err != nil {
		return report.NewJob{}, err
	}
	in.Metadata = meta
	v := &report.ValidationError{}
	model, err := h.models.Resolve(h.modelFor(r, meta))
	if err != nil {
		var pub *report.Error
		if !errors.As(err, &pub) {
			return report.NewJob{}, err
		}
		v.Add("model", "%s", pub.Message)
	}
	in.Model = model
	if err := h.limits.Check(in); err != nil {
		var ve *report.ValidationError
		if errors.As(err, &ve) {
			v.Fields, v.TooLarge = append(ve.Fields, v.Fields...), ve.TooLarge
		}
	}
	if err := v.OrNil(); err != nil {
		return report.NewJob{}, err
	}
	in.RequestHash = report.Fingerprint(in)
	in.Metadata = withSource(in.Metadata, source, now)
	return in, nil
}

// userMetadata is the request's metadata with report_type and report_id
// (given at the top level or inside metadata) kept in it.
func userMetadata(r createRequest) (json.RawMessage, error) {
	m, err := decodeMap(r.Metadata)
	if err != nil {
		return nil, &report.ValidationError{Fields: []report.FieldError{{Field: "metadata", Message: "metadata must be a JSON object"}}}
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

func withSource(meta json.RawMessage, source string, now time.Time) json.RawMessage {
	m, _ := decodeMap(meta) // built by userMetadata: always an object
	m["source"] = source
	m["timestamp"] = now.UTC().Format(time.RFC3339Nano)
	b, _ := json.Marshal(m)
	return b
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// decodeMap decodes a JSON object keeping numbers exact (json.Number), so
// that re-encoding metadata never rounds a large number.
func decodeMap(raw json.RawMessage) (map[string]any, error) {
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
