package metrics

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/polaris/reportd/report"
)

func (m *Metrics) registerQueue() {
	m.queueJobs = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "queue_jobs",
		Help: "Jobs in the queue at the last sample, by state: queued (all), ready (claimable now), running (lease current), expired (lease lapsed, awaiting rescue).",
	}, []string{"state"})
	m.queueOldest = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "queue_oldest_ready_seconds",
		Help: "How long the longest-waiting claimable job had waited at the last sample (0 when none was waiting).",
	})
	m.queueSampledAt = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "queue_last_sample_timestamp_seconds",
		Help: "Unix time of the last successful queue sample (0: none yet); the queue gauges are as old as this.",
	})
	m.queueSampleErrs = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "queue_sample_errors_total",
		Help: "Queue samples that failed (the store was unreachable).",
	})
	m.reg.MustRegister(m.queueJobs, m.queueOldest, m.queueSampledAt, m.queueSampleErrs)
}

// SampleQueue reads the queue depth from mon now and then every interval
// until ctx ends, and sets the queue gauges. A failure is logged once until
// a sample succeeds again; the gauges keep their last values meanwhile, and
// queue_last_sample_timestamp_seconds says how old they are.
func (m *Metrics) SampleQueue(ctx context.Context, mon report.Monitor, interval time.Duration, log *slog.Logger) {
	if interval <= 0 {
		return
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	failing := false
	for {
		sctx, cancel := context.WithTimeout(ctx, max(interval, time.Second))
		d, err := mon.QueueDepth(sctx)
		cancel()
		switch {
		case err == nil:
			m.setQueue(d, time.Now())
			if failing {
				log.Info("queue sampling works again")
			}
			failing = false
		case ctx.Err() == nil:
			m.queueSampleErrs.Inc()
			if !failing {
				log.Warn("sampling the queue depth failed; the queue gauges keep their last values", "err", err)
			}
			failing = true
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (m *Metrics) setQueue(d report.QueueDepth, at time.Time) {
	m.queueJobs.WithLabelValues("queued").Set(float64(d.Queued))
	m.queueJobs.WithLabelValues("ready").Set(float64(d.Ready))
	m.queueJobs.WithLabelValues("running").Set(float64(d.Running))
	m.queueJobs.WithLabelValues("expired").Set(float64(d.Expired))
	m.queueOldest.Set(d.OldestReady.Seconds())
	m.queueSampledAt.Set(float64(at.UnixNano()) / 1e9)
}
