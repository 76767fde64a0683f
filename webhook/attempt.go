package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/polaris/reportd/logging"
	"github.com/polaris/reportd/report"
)

// recordTimeout bounds the store write after each attempt.
const recordTimeout = 10 * time.Second

// maxRetryAfter caps how long a receiver's Retry-After may delay a retry.
const maxRetryAfter = 5 * time.Minute

// sent is what one HTTP attempt came to.
type sent struct {
	status     int           // 0 when no answer arrived
	err        string        // why it failed; "" on a 2xx answer
	retryAfter time.Duration // the receiver's Retry-After, when given
	took       time.Duration
}

// deliver makes one attempt of a claimed delivery and records its outcome.
func (d *Dispatcher) deliver(ctx context.Context, del report.Delivery) {
	ctx = logging.With(ctx, slog.String("delivery_id", del.ID), slog.String("job_id", del.JobID))
	log := d.log.With("delivery_id", del.ID, "job_id", del.JobID, "endpoint", del.Endpoint, "attempt", del.Attempts)
	if d.base == "" {
		d.record(ctx, del, report.DeliveryOutcome{Status: report.DeliverySkipped, Error: NotConfigured}, log)
		return
	}
	sentAt := d.now()
	body, err := payload(del, sentAt)
	if err != nil {
		d.record(ctx, del, report.DeliveryOutcome{Status: report.DeliveryFailed, Error: "The payload could not be built: " + err.Error()}, log)
		return
	}
	res := d.send(ctx, del, body, sentAt)
	d.record(ctx, del, d.outcome(del, res), log.With("status_code", res.status, "duration_ms", res.took.Milliseconds()))
}

// send POSTs body to the delivery's endpoint with the old headers plus the
// replay-protection ones.
func (d *Dispatcher) send(ctx context.Context, del report.Delivery, body []byte, sentAt time.Time) sent {
	start := d.now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.base+"/"+del.Endpoint, bytes.NewReader(body))
	if err != nil {
		return sent{err: "The request could not be built: " + err.Error()}
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", UserAgent)
	h.Set(HeaderSignature, Sign([]byte(d.cfg.Secret), body))
	h.Set(HeaderID, del.ID)
	h.Set(HeaderTimestamp, strconv.FormatInt(sentAt.Unix(), 10))
	h.Set(HeaderAttempt, strconv.Itoa(del.Attempts))
	resp, err := d.cfg.Client.Do(req)
	if err != nil {
		return sent{err: transportError(err, d.cfg.Timeout), took: d.now().Sub(start)}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	resp.Body.Close()
	res := sent{status: resp.StatusCode, took: d.now().Sub(start)}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		res.err = fmt.Sprintf("The receiver answered HTTP %d, a redirect, which is not followed", resp.StatusCode)
	default:
		res.err = fmt.Sprintf("The receiver answered HTTP %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
		res.retryAfter = retryAfter(resp.Header.Get("Retry-After"), d.now())
	}
	return res
}

// transportError says why no answer arrived, without the URL.
func transportError(err error, timeout time.Duration) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return fmt.Sprintf("The receiver did not answer within %s", timeout)
		}
		err = ue.Err
	}
	return "The receiver could not be reached: " + err.Error()
}

// retryAfter reads a Retry-After header (seconds or an HTTP date), capped.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	var d time.Duration
	if s, err := strconv.Atoi(v); err == nil {
		d = time.Duration(s) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}

// outcome decides what an attempt means for the delivery: delivered, another
// attempt after a backoff, or given up once the retries are spent.
func (d *Dispatcher) outcome(del report.Delivery, res sent) report.DeliveryOutcome {
	if res.err == "" {
		return report.DeliveryOutcome{Status: report.DeliveryDelivered, StatusCode: res.status}
	}
	if del.Attempts > d.cfg.MaxRetries {
		return report.DeliveryOutcome{Status: report.DeliveryFailed, StatusCode: res.status,
			Error: fmt.Sprintf("Gave up after %d attempts: %s", del.Attempts, res.err)}
	}
	return report.DeliveryOutcome{Status: report.DeliveryPending, StatusCode: res.status, Error: res.err,
		RetryAfter: max(d.backoff(del.Attempts), res.retryAfter)}
}

// backoff is the delay after the attempt-th attempt: BackoffBase doubled per
// attempt (1 s, 2 s, 4 s ... as before), capped at BackoffMax, with jitter
// taking it down by up to half so that deliveries that failed together do
// not retry together.
func (d *Dispatcher) backoff(attempt int) time.Duration {
	ceiling := min(d.cfg.BackoffBase<<min(max(attempt-1, 0), 20), d.cfg.BackoffMax)
	half := ceiling / 2
	return half + time.Duration(rand.Int64N(int64(ceiling-half)+1))
}

// record stores the outcome and logs it: the log lines are the delivery
// history an operator sees (the owner reads it through the store).
func (d *Dispatcher) record(ctx context.Context, del report.Delivery, o report.DeliveryOutcome, log *slog.Logger) {
	rctx, cancel := context.WithTimeout(ctx, recordTimeout)
	defer cancel()
	err := d.outbox.RecordDelivery(rctx, del.Lease(), o)
	switch {
	case errors.Is(err, report.ErrLeaseLost):
		log.Warn("webhook outcome not recorded: the attempt's lease expired and another dispatcher took the delivery", "outcome", o.Status)
		return
	case err != nil:
		log.Error("recording a webhook outcome failed; the delivery is retried when its lease expires", "outcome", o.Status, "err", err)
		return
	}
	switch o.Status {
	case report.DeliveryDelivered:
		log.Info("webhook delivered")
	case report.DeliveryPending:
		log.Warn("webhook attempt failed", "err", o.Error, "retry_in_ms", o.RetryAfter.Milliseconds())
	case report.DeliveryFailed:
		log.Error("webhook delivery failed", "err", o.Error)
	case report.DeliverySkipped:
		log.Info("webhook delivery skipped", "reason", o.Error)
	}
}
