package live

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/polaris/reportd/report"
)

// reader reads one user's changed jobs for all of that user's open views.
type reader struct {
	h     *Hub
	user  string
	pokes chan struct{}
	quit  chan struct{} // closed by Hub.leave with the user's last view

	follows map[*follow]struct{} // guarded by h.mu
	cursor  time.Time            // latest updated_at read (reader goroutine only)
}

func newReader(h *Hub, user string) *reader {
	return &reader{h: h, user: user, pokes: make(chan struct{}, 1), quit: make(chan struct{}),
		follows: map[*follow]struct{}{}, cursor: h.cfg.Now().UTC()}
}

// poke asks for a read now; pokes that arrive before it coalesce.
func (r *reader) poke() {
	select {
	case r.pokes <- struct{}{}:
	default:
	}
}

// run reads when poked (no more often than MinInterval) and every Poll,
// until the user's last view closes or the hub stops.
func (r *reader) run() {
	cfg := r.h.cfg
	ticker := time.NewTicker(cfg.Poll)
	defer ticker.Stop()
	var last time.Time
	for {
		select {
		case <-r.quit:
			return
		case <-cfg.Stop:
			r.endAll(report.ErrFollowEnded)
			return
		case <-ticker.C:
		case <-r.pokes:
			if wait := cfg.MinInterval - time.Since(last); wait > 0 {
				select {
				case <-time.After(wait):
				case <-r.quit:
					return
				}
			}
		}
		last = time.Now()
		r.read()
	}
}

// views are the user's open views now, and the caller to read with: the
// one whose credentials last longest (credentials that do not expire win).
func (r *reader) views() ([]*follow, report.Caller, bool) {
	r.h.mu.Lock()
	defer r.h.mu.Unlock()
	out := make([]*follow, 0, len(r.follows))
	var best report.Caller
	found := false
	for f := range r.follows {
		out = append(out, f)
		if f.dead() {
			continue
		}
		if !found || lastsLonger(f.caller, best) {
			best, found = f.caller, true
		}
	}
	return out, best, found
}

func lastsLonger(a, b report.Caller) bool {
	if b.Expires.IsZero() {
		return false
	}
	return a.Expires.IsZero() || a.Expires.After(b.Expires)
}

// read loads the user's jobs changed since the cursor (less the lookback)
// and whether the single jobs watched still exist, then hands both to
// every view.
func (r *reader) read() {
	views, caller, ok := r.views()
	if !ok {
		return
	}
	cfg := r.h.cfg
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	floor := r.cursor.Add(-cfg.Lookback)
	jobs, truncated, err := listPages(ctx, cfg.Store, caller, report.Filter{UpdatedAfter: &floor})
	if err == nil {
		var gone []string
		gone, err = r.deleted(ctx, caller, views)
		if err == nil {
			for _, f := range views {
				f.deliver(jobs, truncated, gone)
			}
		}
	}
	switch {
	case errors.Is(err, report.ErrUnauthenticated):
		// Those credentials were refused: the views opened with them end
		// (their clients reconnect with fresh ones); others go on.
		for _, f := range views {
			if f.caller.Token == caller.Token {
				f.end(report.ErrFollowEnded)
			}
		}
		r.poke()
		return
	case err != nil:
		cfg.Log.Debug("live: reading a user's changes failed; retrying", "user_id", r.user, "err", err)
		return
	}
	for _, j := range jobs {
		if j.UpdatedAt.After(r.cursor) {
			r.cursor = j.UpdatedAt
		}
	}
}

// deleted returns which of the single jobs the views watch no longer exist
// (deleted here or by another instance).
func (r *reader) deleted(ctx context.Context, caller report.Caller, views []*follow) ([]string, error) {
	var watched []string
	for _, f := range views {
		if id := f.watching(); id != "" && !slices.Contains(watched, id) {
			watched = append(watched, id)
		}
	}
	if len(watched) == 0 {
		return nil, nil
	}
	found, err := r.h.cfg.Store.List(ctx, caller, report.Filter{JobIDs: watched, Limit: len(watched)})
	if err != nil {
		return nil, err
	}
	var gone []string
	for _, id := range watched {
		if !slices.ContainsFunc(found, func(j report.Job) bool { return j.JobID == id }) {
			gone = append(gone, id)
		}
	}
	return gone, nil
}

func (r *reader) endAll(err error) {
	views, _, _ := r.views()
	for _, f := range views {
		f.end(err)
	}
}
