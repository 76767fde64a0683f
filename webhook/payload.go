package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"time"

	"github.com/polaris/reportd/report"
)

// The old route's research_status values.
const (
	statusCompleted = "completed"
	statusFailed    = "failed"
)

// envelope is what every payload carries besides the old fields, inside the
// signed body, so that a receiver checking only the old signature can still
// recognise a replay (same delivery_id) or a stale capture (old timestamp).
type envelope struct {
	DeliveryID string `json:"delivery_id"`
	Timestamp  int64  `json:"timestamp"` // Unix seconds when this attempt was sent
	// UserID is the job's owner, signed with the rest: anyone can name any
	// report_id or summary_id in a job, so the receiver checks that the
	// report it updates belongs to this user.
	UserID string `json:"user_id"`
}

// prelimPayload is the old prelim-report body.
type prelimPayload struct {
	envelope
	JobID            string          `json:"job_id"`
	ReportID         json.RawMessage `json:"report_id"`
	ReportType       string          `json:"report_type"`
	ResearchReport   *string         `json:"research_report"`
	ResearchStatus   string          `json:"research_status"`
	ResearchMetadata map[string]any  `json:"research_metadata"`
	Error            *string         `json:"error,omitempty"`
}

// questionnairePayload is the old dynamic-questionnaire body, plus the
// report id.
type questionnairePayload struct {
	envelope
	JobID         string          `json:"job_id"`
	SummaryID     *string         `json:"summary_id"`
	ReportID      json.RawMessage `json:"report_id"`
	Questionnaire json.RawMessage `json:"questionnaire"`
	Status        string          `json:"status"`
	Error         *string         `json:"error"`
}

var errNoJob = errors.New("the delivery was claimed without its job")

// payload builds the body of one attempt from the delivery and its job as
// it is now.
func payload(d report.Delivery, sentAt time.Time) ([]byte, error) {
	if d.Job == nil {
		return nil, errNoJob
	}
	env := envelope{DeliveryID: d.ID, Timestamp: sentAt.Unix(), UserID: d.Job.UserID}
	if d.Endpoint == report.EndpointQuestionnaire {
		return marshal(questionnaireBody(env, d))
	}
	return marshal(prelimBody(env, d))
}

// marshal encodes v without json.Marshal's HTML escaping, so a report's
// <, > and & arrive as written.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func prelimBody(env envelope, d report.Delivery) prelimPayload {
	j := d.Job
	meta := metadata(*j)
	meta["job_id"] = j.JobID
	meta["model"] = j.Model
	meta["job_status"] = j.Status
	if _, ok := meta["provider"]; !ok {
		meta["provider"] = nil // the worker records it on success
	}
	meta["completed_at"] = nil
	if j.CompletedAt != nil {
		meta["completed_at"] = j.CompletedAt.UTC().Format(time.RFC3339Nano)
	}
	p := prelimPayload{
		envelope: env, JobID: j.JobID, ReportID: reportID(d), ReportType: d.ReportType,
		ResearchStatus: statusCompleted, ResearchMetadata: meta,
	}
	if j.Status == report.StatusSucceeded {
		p.ResearchReport = j.Result
	} else {
		p.ResearchStatus, p.Error = statusFailed, failure(*j)
	}
	return p
}

func questionnaireBody(env envelope, d report.Delivery) questionnairePayload {
	j := d.Job
	p := questionnairePayload{envelope: env, JobID: j.JobID, SummaryID: summaryID(*j), ReportID: reportID(d),
		Questionnaire: json.RawMessage("null"), Status: statusCompleted}
	switch {
	case j.Status != report.StatusSucceeded:
		p.Status, p.Error = statusFailed, failure(*j)
	case j.Result == nil || !json.Valid([]byte(*j.Result)):
		msg := "The stored result is not a JSON questionnaire"
		p.Status, p.Error = statusFailed, &msg
	default:
		var buf bytes.Buffer
		_ = json.Compact(&buf, []byte(*j.Result)) // valid, checked above
		p.Questionnaire = buf.Bytes()
	}
	return p
}

// failure is the error a failed or cancelled job reports.
func failure(j report.Job) *string {
	if j.Status == report.StatusCancelled {
		msg := "The job was cancelled"
		return &msg
	}
	if j.Error != nil {
		return j.Error
	}
	msg := "The job failed"
	return &msg
}

// metadata decodes the job's metadata keeping numbers exact.
func metadata(j report.Job) map[string]any {
	m := map[string]any{}
	dec := json.NewDecoder(bytes.NewReader(j.Metadata))
	dec.UseNumber()
	_ = dec.Decode(&m) // stores hold a JSON object; anything else leaves it empty
	return m
}

// reportID is metadata.report_id as the caller gave it (a string or a
// number), falling back to the delivery's text copy.
func reportID(d report.Delivery) json.RawMessage {
	var m map[string]json.RawMessage
	if json.Unmarshal(d.Job.Metadata, &m) == nil {
		if raw := bytes.TrimSpace(m["report_id"]); len(raw) > 0 && (raw[0] == '"' || raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9') {
			return raw
		}
	}
	b, _ := json.Marshal(d.ReportID)
	return b
}

// summaryID is the job's summary, else metadata.summary_id, else null.
func summaryID(j report.Job) *string {
	if j.SummaryID != "" {
		return &j.SummaryID
	}
	if s := j.MetadataString("summary_id"); s != "" {
		return &s
	}
	return nil
}
