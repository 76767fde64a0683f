// Command reportbench runs the benchmarks behind docs/benchmarks.md and
// writes their results: each scenario runs -runs times and the median of
// every figure is reported, with the machine it ran on.
//
//	go run ./cmd/reportbench                 # everything, 3 runs, results to docs/benchmarks/results.json
//	go run ./cmd/reportbench -quick -runs 1  # a smoke run
//	go run ./cmd/reportbench -only pickup    # scenarios whose name contains "pickup"
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/polaris/reportd/internal/bench"
	"github.com/polaris/reportd/internal/stack"
)

// Result is one figure's median over the runs, with every run's value.
type Result struct {
	Scenario string    `json:"scenario"`
	Metric   string    `json:"metric"`
	Unit     string    `json:"unit"`
	Median   float64   `json:"median"`
	Runs     []float64 `json:"runs"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "reportbench:", err)
		os.Exit(1)
	}
}

func run() error {
	runs := flag.Int("runs", 3, "repetitions of each scenario (medians are reported)")
	quick := flag.Bool("quick", false, "smaller sizes, for a smoke run")
	only := flag.String("only", "", "run only scenarios whose name contains this")
	out := flag.String("out", "docs/benchmarks/results.json", "results file")
	profiles := flag.String("profile", "", "save pprof profiles of the capacity scenarios' reportd processes to this directory")
	soak := flag.Duration("soak", 10*time.Minute, "how long the soak scenario runs (-quick: 1m unless set)")
	flag.Parse()
	if *quick && !flagSet("soak") {
		*soak = time.Minute
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	sctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	project, err := stack.Start(sctx, stack.Options{})
	cancel()
	if err != nil {
		return err
	}
	defer project.Close()
	defer bench.Cleanup()
	env := &bench.Env{Quick: *quick, Project: project, ProfileDir: *profiles, Soak: *soak,
		Log: func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }}

	var results []Result
	for _, sc := range scenarios() {
		if *only != "" && !strings.Contains(sc.Name, *only) {
			continue
		}
		rs, err := measure(ctx, env, sc, *runs)
		if err != nil {
			return fmt.Errorf("%s: %w", sc.Name, err)
		}
		results = append(results, rs...)
	}
	printTable(results)
	return save(*out, results, *runs, *quick)
}

// flagSet reports whether the named flag was given on the command line.
func flagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func scenarios() []bench.Scenario {
	return append(bench.EngineScenarios(), bench.ExtraScenarios()...)
}

func measure(ctx context.Context, env *bench.Env, sc bench.Scenario, runs int) ([]Result, error) {
	byName := map[string]*Result{}
	var order []string
	for i := range runs {
		fmt.Fprintf(os.Stderr, "%s (run %d/%d)\n", sc.Name, i+1, runs)
		ms, err := sc.Run(ctx, env)
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			r, ok := byName[m.Name]
			if !ok {
				r = &Result{Scenario: sc.Name, Metric: m.Name, Unit: m.Unit}
				byName[m.Name] = r
				order = append(order, m.Name)
			}
			r.Runs = append(r.Runs, m.Value)
		}
	}
	var out []Result
	for _, name := range order {
		r := byName[name]
		r.Median = bench.Median(r.Runs)
		out = append(out, *r)
	}
	return out, nil
}

func printTable(results []Result) {
	fmt.Println("| scenario | metric | median | runs |")
	fmt.Println("| --- | --- | --- | --- |")
	for _, r := range results {
		runs := make([]string, len(r.Runs))
		for i, v := range r.Runs {
			runs[i] = fmt.Sprintf("%.4g", v)
		}
		fmt.Printf("| %s | %s | %.4g %s | %s |\n", r.Scenario, r.Metric, r.Median, r.Unit, strings.Join(runs, ", "))
	}
}

func save(path string, results []Result, runs int, quick bool) error {
	doc := map[string]any{"machine": bench.Machine(), "runs": runs, "quick": quick, "results": results}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
