// Package live tells the parts of one process that a job changed: the worker
// (through report.Observer) and the API's own writes publish, live event
// streams subscribe. It carries topic names only, never job data: a woken
// stream re-reads the job through the store as its own caller, so row-level
// security decides what it may see. Changes made by other processes do not
// pass through here; streams find those by polling the store.
package live

import (
	"sync"

	"github.com/polaris/reportd/report"
)

// Hub is an in-process report.Feed and report.Observer. The zero value is
// not usable; call New.
type Hub struct {
	mu     sync.Mutex
	topics map[string]map[*Subscription]struct{}
}

var (
	_ report.Feed     = (*Hub)(nil)
	_ report.Observer = (*Hub)(nil)
)

// New returns an empty hub.
func New() *Hub { return &Hub{topics: map[string]map[*Subscription]struct{}{}} }

// JobChanged implements report.Observer: it publishes the job's topic.
func (h *Hub) JobChanged(jobID string) { h.Publish(report.JobTopic(jobID)) }

// Publish implements report.Feed. Waking never blocks: a subscriber that has
// not yet consumed its last wake-up simply stays woken (changes coalesce).
func (h *Hub) Publish(topics ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, t := range topics {
		for s := range h.topics[t] {
			select {
			case s.c <- struct{}{}:
			default:
			}
		}
	}
}

// Subscribe implements report.Feed.
func (h *Hub) Subscribe(topics ...string) report.Subscription {
	s := &Subscription{hub: h, c: make(chan struct{}, 1), watched: map[string]bool{}}
	s.Watch(topics...)
	return s
}

// Subscribers counts the subscriptions watching topic (for tests and metrics).
func (h *Hub) Subscribers(topic string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.topics[topic])
}

// Subscription is one subscriber's set of topics and its wake-up channel.
type Subscription struct {
	hub     *Hub
	c       chan struct{}
	watched map[string]bool // guarded by hub.mu
	closed  bool            // guarded by hub.mu
}

// Changed implements report.Subscription.
func (s *Subscription) Changed() <-chan struct{} { return s.c }

// Watch implements report.Subscription.
func (s *Subscription) Watch(topics ...string) {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.closed {
		return
	}
	for _, t := range topics {
		if s.watched[t] {
			continue
		}
		s.watched[t] = true
		subs := h.topics[t]
		if subs == nil {
			subs = map[*Subscription]struct{}{}
			h.topics[t] = subs
		}
		subs[s] = struct{}{}
	}
}

// Unwatch implements report.Subscription.
func (s *Subscription) Unwatch(topics ...string) {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	for _, t := range topics {
		s.drop(t)
	}
}

// Close implements report.Subscription. It is safe to call more than once.
func (s *Subscription) Close() {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	for t := range s.watched {
		s.drop(t)
	}
	s.closed = true
}

// drop removes one topic (caller holds hub.mu); empty topics are deleted so
// the hub's memory follows the live subscriptions.
func (s *Subscription) drop(t string) {
	if !s.watched[t] {
		return
	}
	delete(s.watched, t)
	subs := s.hub.topics[t]
	delete(subs, s)
	if len(subs) == 0 {
		delete(s.hub.topics, t)
	}
}
