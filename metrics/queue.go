package metrics

import (
	"context"
	"time"

	"github.com/polaris/reportd/report"
)

// Claim implements report.Queue.
func (s *Store) Claim(ctx context.Context, r report.ClaimRequest) (c report.Claimed, err error) {
	defer s.observe("claim", time.Now(), &err)
	c, err = s.next.Claim(ctx, r)
	rescued := 0
	for _, j := range c.Jobs {
		if j.Rescued {
			rescued++
		}
	}
	s.m.event(eventClaimed, len(c.Jobs))
	s.m.event(eventRescued, rescued)
	return c, err
}

// Heartbeat implements report.Queue.
func (s *Store) Heartbeat(ctx context.Context, l report.Lease, p report.Progress) (err error) {
	defer s.observe("heartbeat", time.Now(), &err)
	return s.next.Heartbeat(ctx, l, p)
}

// Complete implements report.Queue.
func (s *Store) Complete(ctx context.Context, l report.Lease, c report.Completion) (err error) {
	defer s.observe("complete", time.Now(), &err)
	if err = s.next.Complete(ctx, l, c); err == nil {
		s.m.event(eventSucceeded, 1)
	}
	return err
}

// Fail implements report.Queue.
func (s *Store) Fail(ctx context.Context, l report.Lease, f report.Failure) (st report.Status, err error) {
	defer s.observe("fail", time.Now(), &err)
	st, err = s.next.Fail(ctx, l, f)
	switch {
	case err != nil:
	case st == report.StatusQueued:
		s.m.event(eventRetried, 1)
	case st == report.StatusFailed:
		s.m.event(eventFailed, 1)
	}
	return st, err
}

// Release implements report.Queue.
func (s *Store) Release(ctx context.Context, l report.Lease) (err error) {
	defer s.observe("release", time.Now(), &err)
	if err = s.next.Release(ctx, l); err == nil {
		s.m.event(eventReleased, 1)
	}
	return err
}

// KeepPartial implements report.Queue.
func (s *Store) KeepPartial(ctx context.Context, l report.Lease, text string) (err error) {
	defer s.observe("keep_partial", time.Now(), &err)
	return s.next.KeepPartial(ctx, l, text)
}

// Cleanup implements report.Queue.
func (s *Store) Cleanup(ctx context.Context) (n int, err error) {
	defer s.observe("cleanup", time.Now(), &err)
	n, err = s.next.Cleanup(ctx)
	if err == nil && n > 0 {
		s.m.cleanupDeleted.Add(float64(n))
	}
	return n, err
}

// ClaimDeliveries implements report.Outbox.
func (s *Store) ClaimDeliveries(ctx context.Context, r report.DeliveryClaim) (ds []report.Delivery, err error) {
	defer s.observe("claim_deliveries", time.Now(), &err)
	return s.next.ClaimDeliveries(ctx, r)
}

// RecordDelivery implements report.Outbox; it counts webhook outcomes.
func (s *Store) RecordDelivery(ctx context.Context, l report.DeliveryLease, o report.DeliveryOutcome) (err error) {
	defer s.observe("record_delivery", time.Now(), &err)
	if err = s.next.RecordDelivery(ctx, l, o); err == nil {
		s.m.webhooks.WithLabelValues(webhookOutcome(o.Status)).Inc()
	}
	return err
}

// JobDeliveries implements report.Outbox.
func (s *Store) JobDeliveries(ctx context.Context, c report.Caller, jobID string) (ds []report.Delivery, err error) {
	defer s.observe("job_deliveries", time.Now(), &err)
	return s.next.JobDeliveries(ctx, c, jobID)
}

// QueueDepth implements report.Monitor.
func (s *Store) QueueDepth(ctx context.Context) (d report.QueueDepth, err error) {
	defer s.observe("queue_depth", time.Now(), &err)
	return s.next.QueueDepth(ctx)
}
