package worker

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/polaris/reportd/report"
)

// beats renews one attempt's lease and writes its progress: at most once per
// ProgressInterval while output arrives, else once per HeartbeatInterval. The
// next beat is timed from the end of the previous one, so writes start at
// least ProgressInterval apart even when one is slow. A refused write ends
// the job, with the reason as its context's cause.
//
// A timer drives the beats rather than a goroutine of the attempt's own: with
// a thousand streams in flight, a parked goroutine per job would hold a
// stack that its writes had grown (8 KiB and more) for nothing, where a timer
// costs a few dozen bytes and the goroutine running a beat lives only while
// it writes.
type beats struct {
	w      *Worker
	ctx    context.Context
	lease  report.Lease
	tr     *tracker
	log    *slog.Logger
	cancel context.CancelCauseFunc

	// Only the beat in progress touches these.
	lastWrite, lastPartial time.Time

	mu      sync.Mutex
	idle    *sync.Cond // signalled when a beat ends
	timer   *time.Timer
	busy    bool // a beat is running
	stopped bool
}

// startBeats schedules the first beat one ProgressInterval from now.
func (w *Worker) startBeats(ctx context.Context, lease report.Lease, tr *tracker, log *slog.Logger) *beats {
	now := w.now()
	b := &beats{w: w, ctx: ctx, lease: lease, tr: tr, log: log, cancel: w.cancelFunc(lease.JobID),
		lastWrite: now, lastPartial: now}
	b.idle = sync.NewCond(&b.mu)
	b.mu.Lock()
	b.timer = time.AfterFunc(w.cfg.ProgressInterval, b.tick)
	b.mu.Unlock()
	return b
}

// stop ends the beats and waits for one in progress to finish, so that no
// progress write races the attempt's outcome.
func (b *beats) stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stopped = true
	b.timer.Stop()
	for b.busy {
		b.idle.Wait()
	}
}

func (b *beats) tick() {
	b.mu.Lock()
	if b.stopped {
		b.mu.Unlock()
		return
	}
	b.busy = true
	b.mu.Unlock()

	more := b.ctx.Err() == nil && b.beat()

	b.mu.Lock()
	b.busy = false
	if more && !b.stopped {
		b.timer.Reset(b.w.cfg.ProgressInterval)
	}
	b.idle.Broadcast()
	b.mu.Unlock()
}

// beat writes progress when there is news or the lease needs renewing; it
// reports whether beats should go on.
func (b *beats) beat() bool {
	w := b.w
	now := w.now()
	withText := w.cfg.PartialInterval > 0 && now.Sub(b.lastPartial) >= w.cfg.PartialInterval
	snap := b.tr.snapshot(withText)
	if !snap.Changed && now.Sub(b.lastWrite) < w.cfg.HeartbeatInterval {
		return true
	}
	p := report.Progress{Lease: w.cfg.Lease, Percent: snap.Percent, ETA: snap.ETA}
	if withText && snap.Text != "" {
		p.Partial = &snap.Text
		b.lastPartial = now
	}
	err := w.write(b.ctx, b.lease, func(ctx context.Context) error { return w.queue.Heartbeat(ctx, b.lease, p) })
	switch {
	case err == nil:
		b.lastWrite = now
	case errors.Is(err, report.ErrCancelled):
		b.cancel(errCancelled)
		return false
	case errors.Is(err, report.ErrLeaseLost):
		b.cancel(errLeaseLost)
		return false
	case b.ctx.Err() != nil:
		return false
	default:
		b.log.Warn("heartbeat failed", "err", err)
		if w.now().Sub(b.lastWrite) >= w.cfg.Lease {
			b.cancel(errLeaseLost) // our lease has surely expired: someone else may run the job now
			return false
		}
	}
	return true
}
