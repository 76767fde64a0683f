package config

import (
	"net"
	"time"
)

// Observability configures the listeners that serve metrics and profiles.
// Both are separate from the public API listener and off unless set.
type Observability struct {
	MetricsAddr   string        // METRICS_ADDR: where /metrics is served; "" serves none
	MetricsToken  Secret        // METRICS_TOKEN: bearer token /metrics requires; "" requires none
	QueueInterval time.Duration // METRICS_QUEUE_INTERVAL: how often the queue gauges are sampled (0: never)
	PprofAddr     string        // PPROF_ADDR: where /debug/pprof/ is served; "" (the default) serves none
}

func loadObservability(r *reader) Observability {
	o := Observability{
		MetricsAddr:   r.str("", "METRICS_ADDR"),
		MetricsToken:  r.secret("METRICS_TOKEN"),
		QueueInterval: r.duration("METRICS_QUEUE_INTERVAL", 15*time.Second, 0, time.Hour),
		PprofAddr:     r.str("", "PPROF_ADDR"),
	}
	for name, addr := range map[string]string{"METRICS_ADDR": o.MetricsAddr, "PPROF_ADDR": o.PprofAddr} {
		if _, _, err := net.SplitHostPort(addr); addr != "" && err != nil {
			r.fail("%s must be host:port or :port, got %q", name, addr)
		}
	}
	return o
}

// collide reports whether two listen addresses would take the same port:
// the same port on the same host, or on all interfaces (":8080" collides
// with "127.0.0.1:8080").
func collide(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	ha, pa, errA := net.SplitHostPort(a)
	hb, pb, errB := net.SplitHostPort(b)
	if errA != nil || errB != nil {
		return a == b
	}
	any := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	return pa == pb && (ha == hb || any(ha) || any(hb))
}

// check reports listeners that would collide: profiles and metrics never
// share the public listener, nor each other's.
func (o Observability) check(r *reader, c Config) {
	public := ""
	if c.Mode != ModeWorker {
		public = c.Server.Addr
	}
	switch {
	case collide(o.MetricsAddr, public):
		r.fail("METRICS_ADDR must differ from the API's listen address %s: metrics have a listener of their own", public)
	case collide(o.PprofAddr, public):
		r.fail("PPROF_ADDR must differ from the API's listen address %s: profiles are never served publicly", public)
	case collide(o.PprofAddr, o.MetricsAddr):
		r.fail("PPROF_ADDR must differ from METRICS_ADDR")
	}
	if o.MetricsToken.Set() && o.MetricsAddr == "" {
		r.fail("METRICS_TOKEN is set but METRICS_ADDR is not: metrics are not served")
	}
}
