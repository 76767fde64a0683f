package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// reliabilityTests are the tests that prove R1-R4, by package; each logs
// the figures that reliabilityFigures reads.
var reliabilityTests = map[string]string{
	"./e2e":      "^(TestKilledWorkerProcess|TestDatabaseRestart|TestCancelSeenByAnotherProcess)$",
	"./handlers": "^TestTenThousandHostileRequests$",
	"./worker":   "^TestCancelStopsTheStreamAtOnce$",
}

// reliabilityFigures pick figures out of the tests' log lines: a name, the
// pattern, and whether the captured value is a duration (else a count).
var reliabilityFigures = []struct {
	name     string
	pattern  *regexp.Regexp
	duration bool
}{
	{"R1 killed worker: second attempt started after the SIGKILL (lease 2 s, poll 100 ms)", regexp.MustCompile(`R1: the second attempt reached the provider (\S+) after the kill`), true},
	{"R1 killed worker: job finished after the SIGKILL", regexp.MustCompile(`rescued and finished (\S+) after the kill`), true},
	{"R2 database restart: outage", regexp.MustCompile(`database was down for (\S+)`), true},
	{"R2 database restart: every job finished after the database returned", regexp.MustCompile(`all jobs finished (\S+) after the database returned`), true},
	{"R3 hostile requests sent", regexp.MustCompile(`R3: (\d+) hostile requests`), false},
	{"R3 answers 5xx", regexp.MustCompile(`R3: .*: (\d+) answered 5xx`), false},
	{"R3 panics", regexp.MustCompile(`R3: .* (\d+) panics`), false},
	{"R3 errors not in the JSON shape", regexp.MustCompile(`R3: .* (\d+) unclear errors`), false},
	{"R4 in process: stream closed after the cancel (memory)", regexp.MustCompile(`R4: the provider saw the stream closed (\S+) after the cancel`), true},
	{"R4 across processes: stream closed after the cancel (heartbeat 1 s)", regexp.MustCompile(`stream closed (\S+) after the cancel \(heartbeat`), true},
}

// Reliability runs the tests behind R1-R4 (`go test -json`) and reports the
// figures they log, and how many of them failed.
func Reliability() Scenario {
	return Scenario{Name: "reliability tests (R1-R4)", Run: func(ctx context.Context, env *Env) ([]Metric, error) {
		lines, failed, err := runReliabilityTests(ctx)
		if err != nil {
			return nil, err
		}
		out := []Metric{{Name: "tests failed", Value: float64(failed), Unit: "tests"}}
		for _, f := range reliabilityFigures {
			v, ok := figure(lines, f.pattern, f.duration)
			if !ok {
				return nil, fmt.Errorf("no figure for %q in the tests' output", f.name)
			}
			unit := "requests"
			if f.duration {
				unit = "ms"
			}
			out = append(out, Metric{Name: f.name, Value: v, Unit: unit})
		}
		return out, nil
	}}
}

// testEvent is one line of `go test -json`.
type testEvent struct {
	Action, Test, Output string
}

// runReliabilityTests returns the output lines of the tests (the memory
// subtest only, where a test runs on both stores) and the number that failed.
func runReliabilityTests(ctx context.Context) ([]string, int, error) {
	var lines []string
	failed := 0
	for pkg, pattern := range reliabilityTests {
		cmd := exec.CommandContext(ctx, "go", "test", "-count=1", "-json", "-run", pattern, pkg)
		var out bytes.Buffer
		cmd.Stdout = &out
		err := cmd.Run()
		sc := bufio.NewScanner(&out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var e testEvent
			if json.Unmarshal(sc.Bytes(), &e) != nil {
				continue
			}
			switch {
			case e.Action == "fail" && e.Test != "":
				failed++
			case e.Action == "output" && !strings.HasSuffix(e.Test, "/supabase"):
				lines = append(lines, e.Output)
			}
		}
		if err != nil && failed == 0 {
			return nil, 0, fmt.Errorf("go test %s: %w", pkg, err)
		}
	}
	return lines, failed, nil
}

func figure(lines []string, re *regexp.Regexp, duration bool) (float64, bool) {
	for _, l := range lines {
		m := re.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		if duration {
			d, err := time.ParseDuration(m[1])
			return float64(d.Microseconds()) / 1000, err == nil
		}
		n, err := strconv.ParseFloat(m[1], 64)
		return n, err == nil
	}
	return 0, false
}
