package config

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestObservabilityIsOffByDefaultAndNeverPublic(t *testing.T) {
	t.Parallel()
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if o := c.Observability; o.MetricsAddr != "" || o.PprofAddr != "" || o.QueueInterval != 15*time.Second {
		t.Fatalf("defaults: %+v", o)
	}
	c, err = Load(env(map[string]string{"METRICS_ADDR": ":9464", "METRICS_TOKEN": "scrape-secret", "PPROF_ADDR": "127.0.0.1:6060"}))
	if err != nil || c.Observability.MetricsToken.Reveal() != "scrape-secret" || strings.Contains(fmt.Sprintf("%+v", c), "scrape-secret") {
		t.Fatalf("settings: %+v %v", c.Observability, err)
	}
	for vars, want := range map[[2]string]string{
		{"METRICS_ADDR", "9464"}:    "METRICS_ADDR must be host:port",
		{"METRICS_ADDR", ":8080"}:   "METRICS_ADDR must differ from the API's listen address",
		{"PPROF_ADDR", ":8080"}:     "PPROF_ADDR must differ from the API's listen address",
		{"METRICS_TOKEN", "t"}:      "METRICS_TOKEN is set but METRICS_ADDR is not",
		{"PPROF_ADDR", "localhost"}: "PPROF_ADDR must be host:port",
	} {
		_, err := Load(env(map[string]string{vars[0]: vars[1]}))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s=%s: %v, want %q", vars[0], vars[1], err, want)
		}
	}
	// A worker has no public listener: its metrics may use the API's port.
	if _, err := Load(env(map[string]string{"MODE": "worker", "METRICS_ADDR": ":8080"})); err != nil {
		t.Errorf("worker with metrics on :8080: %v", err)
	}
	if _, err := Load(env(map[string]string{"METRICS_ADDR": ":9464", "PPROF_ADDR": ":9464"})); err == nil {
		t.Error("profiles and metrics on one listener were accepted")
	}
}
