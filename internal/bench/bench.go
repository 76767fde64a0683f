// Package bench measures the service against the targets in
// docs/benchmarks.md: each scenario runs against the real code paths (the
// worker, the stores, the HTTP API) with fake LLM providers, on the memory
// store and on PostgreSQL behind the PostgREST-compatible gateway, and
// reports figures that cmd/reportbench aggregates over repeated runs.
package bench

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/polaris/reportd/internal/stack"
)

// Metric is one measured figure.
type Metric struct {
	Name  string  `json:"name"`  // e.g. "P1 pickup p50 (supabase)"
	Value float64 `json:"value"` // in Unit
	Unit  string  `json:"unit"`  // ms, jobs/s, req/s, MiB, %, ...
}

// Scenario is one measurement. Run may return several metrics.
type Scenario struct {
	Name string
	Run  func(ctx context.Context, env *Env) ([]Metric, error)
	// Runs caps the repetitions of a long scenario (0: as many as asked).
	Runs int
}

// Env is what scenarios share within one run (a PostgreSQL server, flags).
type Env struct {
	Quick   bool         // smaller sizes, for a smoke run
	Project *stack.Stack // PostgreSQL + gateway; scenarios fork a database each
	Log     func(format string, args ...any)
	// ProfileDir, when set, receives pprof profiles (heap, goroutines) of
	// the reportd processes the capacity scenarios run, taken at their peak.
	ProfileDir string
	// Soak is how long the soak scenario runs.
	Soak time.Duration
}

func (e *Env) logf(format string, args ...any) {
	if e.Log != nil {
		e.Log(format, args...)
	}
}

// size picks the full or the quick size.
func (e *Env) size(full, quick int) int {
	if e.Quick {
		return quick
	}
	return full
}

// Percentile returns the p-th percentile (0..100) of durations, in ms.
func Percentile(d []time.Duration, p float64) float64 {
	if len(d) == 0 {
		return math.NaN()
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(a, b int) bool { return s[a] < s[b] })
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	i = min(max(i, 0), len(s)-1)
	return float64(s[i].Microseconds()) / 1000
}

// Median of values.
func Median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Machine describes where the figures were measured.
func Machine() map[string]string {
	m := map[string]string{
		"go":    runtime.Version(),
		"os":    runtime.GOOS + "/" + runtime.GOARCH,
		"cores": fmt.Sprint(runtime.NumCPU()),
		"date":  time.Now().UTC().Format(time.RFC3339),
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "model name") {
				m["cpu"] = strings.TrimSpace(strings.SplitN(line, ":", 2)[1])
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		m["memory"] = strings.TrimSpace(strings.SplitN(strings.SplitN(string(b), "\n", 2)[0], ":", 2)[1])
	}
	if out, err := exec.Command("postgres", "--version").Output(); err == nil {
		m["postgresql"] = strings.TrimSpace(string(out))
	} else if out, err := exec.Command("psql", "--version").Output(); err == nil {
		m["postgresql"] = strings.TrimSpace(string(out))
	}
	return m
}
