package report

import (
	"context"
	"encoding/json"
	"strings"
	"time"
)

// Report types that the app names in a job's metadata. They decide whether
// a finished job is delivered to the app's webhook, and where.
const (
	ReportTypeQuestionnaire = "dynamic_questionnaire"
)

// Webhook endpoints, appended to the configured base URL. These are the only
// paths a delivery can go to: nothing in a request chooses a URL.
const (
	EndpointPrelimReport  = "prelim-report"
	EndpointQuestionnaire = "dynamic-questionnaire"
)

// deliveryEndpoints maps a report_type (lower-cased, trimmed) to its
// endpoint. The trigger in migrations/ holds the same table.
var deliveryEndpoints = map[string]string{
	"greeting":              EndpointPrelimReport,
	"org":                   EndpointPrelimReport,
	"organization":          EndpointPrelimReport,
	"requirement":           EndpointPrelimReport,
	"requirements":          EndpointPrelimReport,
	ReportTypeQuestionnaire: EndpointQuestionnaire,
}

// DeliveryEndpoint returns the webhook endpoint of a report type, and false
// when results of that type are not delivered.
func DeliveryEndpoint(reportType string) (string, bool) {
	e, ok := deliveryEndpoints[strings.ToLower(strings.TrimSpace(reportType))]
	return e, ok
}

// ReportType is the job's metadata.report_type, lower-cased and trimmed.
func (j Job) ReportType() string {
	return strings.ToLower(strings.TrimSpace(j.MetadataString("report_type")))
}

// ReportID is the job's metadata.report_id as text (a number is written as
// it was given), or "" when there is none.
func (j Job) ReportID() string {
	var m map[string]json.RawMessage
	if json.Unmarshal(j.Metadata, &m) != nil {
		return ""
	}
	raw := m["report_id"]
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return strings.TrimSpace(s)
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

// Deliverable reports whether the job's result goes to a webhook when it
// finishes, and to which endpoint: it names a delivered report type and a
// report id. The enqueue trigger in migrations/ applies the same rule.
func (j Job) Deliverable() (string, bool) {
	endpoint, ok := DeliveryEndpoint(j.ReportType())
	if !ok || j.ReportID() == "" {
		return "", false
	}
	return endpoint, true
}

// DeliveryStatus is the state of one webhook delivery.
type DeliveryStatus string

// Delivery states. Pending deliveries wait for their next attempt;
// Delivering ones are leased by a dispatcher; the other three are final.
const (
	DeliveryPending    DeliveryStatus = "pending"
	DeliveryDelivering DeliveryStatus = "delivering"
	DeliveryDelivered  DeliveryStatus = "delivered"
	DeliveryFailed     DeliveryStatus = "failed"
	DeliverySkipped    DeliveryStatus = "skipped"
)

// Delivery is one webhook notification of a finished job, recorded in the
// same transaction that finished the job (a transactional outbox), so it
// survives crashes and restarts until a dispatcher delivers it.
type Delivery struct {
	ID             string         // uuid; sent to receivers as the delivery id
	JobRowID       string         // the job's row id
	JobID          string         // the job's public id
	UserID         string         // the job's owner
	ReportType     string         //
	ReportID       string         //
	Endpoint       string         // EndpointPrelimReport or EndpointQuestionnaire
	JobStatus      Status         // the final status that caused it
	Status         DeliveryStatus //
	Attempts       int            // attempts started so far
	NextAttemptAt  time.Time      // not attempted before this
	LeaseToken     string         // fencing token of the attempt in flight
	LeaseExpiresAt *time.Time     //
	LastAttemptAt  *time.Time     // when the latest attempt started
	LastStatusCode int            // HTTP status of the last attempt (0: none)
	LastError      string         // why the last attempt failed, or why it was skipped
	DeliveredAt    *time.Time     //
	CreatedAt      time.Time      //
	UpdatedAt      time.Time      //
	// Job is the job as it is when the delivery is claimed (filled by
	// ClaimDeliveries only): the payload is built from it.
	Job *Job
}

// DeliveryLease identifies one attempt's hold on a delivery; the outcome
// of the attempt is recorded only while it still holds it (fencing).
type DeliveryLease struct {
	ID      string // delivery uuid
	JobID   string // the job's public id, for logs
	Token   string // lease token handed out by ClaimDeliveries
	Attempt int    // attempt number the token belongs to
}

// Lease is the fencing handle of a claimed delivery's attempt.
func (d Delivery) Lease() DeliveryLease {
	return DeliveryLease{ID: d.ID, JobID: d.JobID, Token: d.LeaseToken, Attempt: d.Attempts}
}

// DeliveryClaim asks for up to Limit due deliveries.
type DeliveryClaim struct {
	Worker      string        // id of the claiming dispatcher
	Limit       int           // at most this many
	Lease       time.Duration // how long an attempt may take before another dispatcher may retry it
	MaxAttempts int           // an interrupted attempt that was the last one fails the delivery
	// PerUserPerMinute bounds the attempts started per job owner in any
	// minute, across dispatchers (0: no bound); the rest wait their turn.
	PerUserPerMinute int
}

// DeliveryOutcome is what one attempt came to.
type DeliveryOutcome struct {
	Status     DeliveryStatus // Delivered, Pending (try again), Failed or Skipped
	StatusCode int            // the receiver's HTTP status (0: no answer)
	Error      string         // why it failed or was skipped
	RetryAfter time.Duration  // Pending: the next attempt is not before this
}

// Outbox is the durable queue of webhook deliveries. Deliveries are created
// by the store itself when a deliverable job reaches a final state; a
// dispatcher claims them under a lease and records each attempt.
type Outbox interface {
	// ClaimDeliveries leases up to r.Limit due deliveries (pending ones whose
	// next attempt is due, and attempts whose lease expired), oldest due
	// first, each with its job. Service authority.
	ClaimDeliveries(ctx context.Context, r DeliveryClaim) ([]Delivery, error)
	// RecordDelivery stores an attempt's outcome. ErrLeaseLost when the
	// attempt no longer holds the delivery. ErrInvalid for an outcome
	// status that is not Delivered, Pending, Failed or Skipped.
	RecordDelivery(ctx context.Context, l DeliveryLease, o DeliveryOutcome) error
	// JobDeliveries returns the deliveries of one of the caller's jobs,
	// oldest first. ErrNotFound when the job is not the caller's.
	JobDeliveries(ctx context.Context, c Caller, jobID string) ([]Delivery, error)
}
