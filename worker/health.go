package worker

import (
	"fmt"
	"sync"
	"time"
)

// unhealthyAfter is how many claims in a row must fail before the worker
// says it is unhealthy: one failure is a blip (a restart of the database, a
// network hiccup) that the next poll rides out; several in a row mean no job
// of any user is being started.
const unhealthyAfter = 3

// claimHealth follows the outcome of the worker's claims.
type claimHealth struct {
	mu        sync.Mutex
	failed    int       // claims failed in a row
	since     time.Time // when the current run of failures started
	lastErr   error
	wasFailed bool // the previous claim failed (for the recovery log line)
}

// claimed records one claim's outcome. A claim cut short by shutdown is
// not the store's fault and is not counted.
func (h *claimHealth) claimed(now time.Time, err error, shuttingDown bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if shuttingDown {
		return
	}
	h.wasFailed = h.failed > 0
	if err == nil {
		h.failed, h.lastErr = 0, nil
		return
	}
	if h.failed == 0 {
		h.since = now
	}
	h.failed++
	h.lastErr = err
}

func (h *claimHealth) failures() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.failed
}

// recovered reports whether the last claim succeeded after failures.
func (h *claimHealth) recovered() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.wasFailed && h.failed == 0
}

func (h *claimHealth) check() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.failed < unhealthyAfter {
		return nil
	}
	return fmt.Errorf("the last %d claims failed (since %s): %w", h.failed, h.since.UTC().Format(time.RFC3339), h.lastErr)
}
