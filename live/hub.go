// Package live is the in-process view of job changes: the API and the
// worker announce every change they make (report.Changes), the worker hears
// of new and stopped jobs, and live views (report.Live, the event streams)
// show each caller their jobs as they change.
//
// Reads are shared. Every user with open views has one reader that re-reads
// the user's changed jobs through the store, as that user (row-level
// security decides what it sees), when this process announces a change of
// theirs and at least every Poll interval (changes made by other
// instances), and hands the result to each of the user's views. A thousand
// open views of one user cost the store as many reads as one.
package live

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/polaris/reportd/report"
)

// Config tunes the hub.
type Config struct {
	// Store is read, as each view's caller, for the views' initial state and
	// the users' changes.
	Store report.Store
	// Poll is how often a user's reader re-reads while nothing announced a
	// change: changes made by other instances appear within it. Default 1 s.
	Poll time.Duration
	// MinInterval spaces a reader's reads when announcements come in
	// quick succession (many running jobs). Default 100 ms (at most Poll).
	MinInterval time.Duration
	// Lookback is how far behind its cursor a read starts, so a change
	// committed late (or stamped by another clock) is not missed. Default 30 s.
	Lookback time.Duration
	// MaxPerUser bounds the views one user may hold open (0: no bound).
	MaxPerUser int
	// Stop ends every view when closed (server shutdown).
	Stop <-chan struct{}
	Now  func() time.Time
	Log  *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Poll <= 0 {
		c.Poll = time.Second
	}
	if c.MinInterval <= 0 {
		c.MinInterval = min(100*time.Millisecond, c.Poll)
	}
	if c.Lookback <= 0 {
		c.Lookback = 30 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return c
}

// Hub announces changes and serves live views. The zero value is not
// usable; call New.
type Hub struct {
	cfg Config

	mu        sync.Mutex
	listeners []func(report.Change)
	readers   map[string]*reader // by user id
}

var (
	_ report.Changes = (*Hub)(nil)
	_ report.Live    = (*Hub)(nil)
)

// New returns a hub over cfg.Store.
func New(cfg Config) *Hub {
	return &Hub{cfg: cfg.withDefaults(), readers: map[string]*reader{}}
}

// Listen registers fn to hear every announced change (the worker: claim a
// new job now, stop a cancelled one). fn must not block.
func (h *Hub) Listen(fn func(report.Change)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.listeners = append(h.listeners, fn)
}

// Announce implements report.Changes: listeners hear of the change, and the
// owner's reader, if the owner has open views, reads at once.
func (h *Hub) Announce(c report.Change) {
	h.mu.Lock()
	listeners := h.listeners
	r := h.readers[c.UserID]
	h.mu.Unlock()
	for _, fn := range listeners {
		fn(c)
	}
	if r != nil {
		r.poke()
	}
}

// Open counts the live views open now.
func (h *Hub) Open() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, r := range h.readers {
		n += len(r.follows)
	}
	return n
}

// join registers f with its user's reader, starting the reader for the
// user's first view. ErrLimited past MaxPerUser.
func (h *Hub) join(f *follow) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	user := f.caller.UserID
	r := h.readers[user]
	if r != nil && h.cfg.MaxPerUser > 0 && len(r.follows) >= h.cfg.MaxPerUser {
		return &report.LimitError{Message: "Too many open event streams for this user: close one (each browser tab " +
			"keeps one) or follow several jobs with GET /v1/events", RetryAfter: 10 * time.Second}
	}
	if r == nil {
		r = newReader(h, user)
		h.readers[user] = r
		go r.run()
	}
	r.follows[f] = struct{}{}
	f.r = r
	return nil
}

// leave unregisters f; the reader stops with the user's last view.
func (h *Hub) leave(f *follow) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := f.r
	if r == nil {
		return
	}
	delete(r.follows, f)
	if len(r.follows) == 0 && h.readers[r.user] == r {
		delete(h.readers, r.user)
		close(r.quit)
	}
}

// maxCatchUp bounds the jobs one read loads.
const maxCatchUp = 1000

// listPages lists every job matching f, newest first, page by page, up to
// maxCatchUp jobs; truncated says some were left out.
func listPages(ctx context.Context, s report.Store, c report.Caller, f report.Filter) (jobs []report.Job, truncated bool, err error) {
	const page = 100
	f.Limit = page
	for {
		got, err := s.List(ctx, c, f)
		if err != nil {
			return nil, false, err
		}
		jobs = append(jobs, got...)
		if len(got) < page {
			return jobs, false, nil
		}
		if len(jobs) >= maxCatchUp {
			return jobs, true, nil
		}
		last := got[len(got)-1]
		f.After = &report.Cursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
}
