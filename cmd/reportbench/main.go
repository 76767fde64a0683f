// Command reportbench runs the benchmarks behind docs/benchmarks.md and
// writes their results: every scenario runs -runs times (round by round)
// and the median of every figure is reported, with the machine it ran on,
// and every target of the quality bar is held against the medians. It
// starts its own PostgreSQL and builds and runs the reportd binary itself.
//
//	go run ./cmd/reportbench                 # everything, 3 runs, a 10-minute soak, results to docs/benchmarks/results.json
//	go run ./cmd/reportbench -quick -runs 1  # a smoke run (smaller sizes, 1-minute soak)
//	go run ./cmd/reportbench -only pickup    # scenarios whose name contains "pickup"
//	go run ./cmd/reportbench -only concurrent -profile /tmp/prof   # pprof profiles of 1,000 streams
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
	if *quick && !flagSet("out") {
		// A smoke run's figures are not the recorded ones.
		*out = filepath.Join(os.TempDir(), "reportbench-quick.json")
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

	var chosen []bench.Scenario
	for _, sc := range scenarios() {
		if *only == "" || strings.Contains(sc.Name, *only) {
			chosen = append(chosen, sc)
		}
	}
	loadBefore := loadAverage()
	results, err := measure(ctx, env, chosen, *runs)
	if err != nil {
		return err
	}
	printTable(results)
	vs := verdicts(results)
	printVerdicts(vs)
	if missing := unjudged(vs); len(missing) > 0 {
		fmt.Printf("\nNot judged in this run (their figures were not measured%s): %s\n",
			map[bool]string{true: "; -quick measures smaller sizes and fewer rounds", false: ""}[*quick], strings.Join(missing, ", "))
	}
	fmt.Fprintf(os.Stderr, "results written to %s\n", *out)
	return save(*out, results, vs, *runs, *quick, *soak, loadBefore)
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

// measure runs the scenarios round by round (every scenario once per
// round, rather than each one runs times in a row), so that a noisy spell
// on the machine spreads over all of them and the figures compared as
// ratios (instances against instances, store against store) were measured
// under the same conditions. Each figure's median over the rounds is kept.
func measure(ctx context.Context, env *bench.Env, scenarios []bench.Scenario, runs int) ([]Result, error) {
	byKey := map[[2]string]*Result{}
	var order [][2]string
	for round := range runs {
		for _, sc := range scenarios {
			if sc.Runs > 0 && round >= sc.Runs {
				continue
			}
			fmt.Fprintf(os.Stderr, "%s (run %d/%d, load %s)\n", sc.Name, round+1, runs, loadAverage())
			ms, err := sc.Run(ctx, env)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", sc.Name, err)
			}
			for _, m := range ms {
				key := [2]string{sc.Name, m.Name}
				r, ok := byKey[key]
				if !ok {
					r = &Result{Scenario: sc.Name, Metric: m.Name, Unit: m.Unit}
					byKey[key] = r
					order = append(order, key)
				}
				r.Runs = append(r.Runs, m.Value)
			}
		}
	}
	var out []Result
	for _, key := range order {
		r := byKey[key]
		r.Median = bench.Median(r.Runs)
		out = append(out, *r)
	}
	return out, nil
}

// loadAverage is the machine's 1, 5 and 15 minute load averages: other work
// on the machine shows up in the figures.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
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

func save(path string, results []Result, vs []Verdict, runs int, quick bool, soak time.Duration, loadBefore string) error {
	machine := bench.Machine()
	machine["load average before"], machine["load average after"] = loadBefore, loadAverage()
	doc := map[string]any{"machine": machine, "runs": runs, "quick": quick, "soak": soak.String(),
		"command": "go run ./cmd/reportbench " + strings.Join(os.Args[1:], " "), "results": results, "targets": vs}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
