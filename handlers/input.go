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
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/polaris/reportd/report"
)

// createRequest is a create body, on the old route and on /v1/jobs: the
// request as the domain takes it, plus the user a service caller names and
// the fields this service does not know.
type createRequest struct {
	report.CreateRequest
	UserID         *string
	IdempotencyKey *string  // the body's; the Idempotency-Key header wins
	Unknown        []string // fields this service does not know, sorted
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
