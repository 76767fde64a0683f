package main

import (
	"fmt"
	"math"
	"strings"

	"github.com/polaris/reportd/internal/bench"
)

// check is one measured figure held against a bound.
type check struct {
	scenario, metric string
	atMost           bool    // the figure must not exceed bound (else: not fall below it)
	bound            float64 // in the metric's unit
	// boundFrom, when set, computes the bound from other results (P7 adds
	// the result text; P3 compares instance counts).
	boundFrom func(results []Result) (float64, bool)
}

// target is one line of the quality bar.
type target struct {
	ID, What, Goal string
	Checks         []check
}

// Verdict is a target's outcome in one benchmark run.
type Verdict struct {
	ID       string `json:"id"`
	What     string `json:"what"`
	Goal     string `json:"goal"`
	Measured string `json:"measured"`
	Met      bool   `json:"met"`
}

const (
	scPickupSame   = "pickup same instance (supabase)"
	scPickupAcross = "pickup across instances, poll 500ms (supabase)"
	scStatusMemory = "API status (memory)"
	scCapacity     = "1000 concurrent streaming jobs in one process (supabase)"
	scCapacityMem  = "1000 concurrent streaming jobs in one process (memory)"
	scReliability  = "reliability tests (R1-R4)"
	scReadsMemory  = "status read vs store size (memory)"
	scReadsPG      = "status read vs store size (supabase)"
)

// statusRatioChecks holds every size of the full run to half the empty
// store's throughput.
func statusRatioChecks() []check {
	var cs []check
	for _, sc := range []struct {
		name, kind string
	}{{scReadsMemory, "memory"}, {scReadsPG, "supabase"}} {
		for _, n := range bench.StatusReadSizes(sc.kind, false) {
			for _, job := range []string{"queued", "finished"} {
				cs = append(cs, check{scenario: sc.name, metric: fmt.Sprintf("%s job ratio to empty, %s jobs", job, sizeName(n)), bound: 0.5})
			}
		}
	}
	return cs
}

func sizeName(n int) string {
	switch {
	case n >= 1_000_000:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1_000:
		return fmt.Sprintf("%dk", n/1_000)
	}
	return fmt.Sprint(n)
}

func throughput(n int) string {
	return fmt.Sprintf("engine throughput, %d worker instance(s) (supabase)", n)
}

// notBelow90 bounds instance count n's throughput at 90% of half as many
// instances' ("does not fall when workers double", with room for noise).
func notBelow90(n int) func([]Result) (float64, bool) {
	return func(rs []Result) (float64, bool) {
		v, ok := lookup(rs, throughput(n/2), "jobs/s")
		return 0.9 * v, ok
	}
}

// plusText is 64 KiB plus the result text of the scenario's jobs.
func plusText(scenario string) func([]Result) (float64, bool) {
	return func(rs []Result) (float64, bool) {
		v, ok := lookup(rs, scenario, "result text per job")
		return 64 + v, ok
	}
}

var targets = []target{
	{"P1", "create → claimed (pickup), idle worker, same instance", "p50 ≤ 20 ms, p99 ≤ 100 ms", []check{
		{scenario: scPickupSame, metric: "p50", atMost: true, bound: 20},
		{scenario: scPickupSame, metric: "p99", atMost: true, bound: 100}}},
	{"P2", "pickup across instances (poll 500 ms)", "≤ poll interval + 50 ms", []check{
		{scenario: scPickupAcross, metric: "p99", atMost: true, bound: 550}}},
	{"P3", "job-engine throughput, instant fake LLM, PostgreSQL", "≥ 500 jobs/s; does not fall when workers double", []check{
		{scenario: throughput(1), metric: "jobs/s", bound: 500},
		{scenario: throughput(2), metric: "jobs/s", boundFrom: notBelow90(2)},
		{scenario: throughput(4), metric: "jobs/s", boundFrom: notBelow90(4)}}},
	{"P4", "API status GET, memory store", "≥ 10k req/s on 2 cores, p99 ≤ 5 ms at 1k req/s", []check{
		{scenario: scStatusMemory, metric: "throughput at saturation (50 connections)", bound: 10_000},
		{scenario: scStatusMemory, metric: "p99 at 1000 req/s", atMost: true, bound: 5}}},
	{"P5", "API overhead over the store call", "≤ 1 ms p50", []check{
		{scenario: "API overhead over the store call (memory)", metric: "status overhead p50 (handler minus store)", atMost: true, bound: 1},
		{scenario: "API overhead over the store call (memory)", metric: "create overhead p50 (handler minus store)", atMost: true, bound: 1},
		{scenario: "API overhead over the store call (supabase)", metric: "status overhead p50 (handler minus store)", atMost: true, bound: 1},
		{scenario: "API overhead over the store call (supabase)", metric: "create overhead p50 (handler minus store)", atMost: true, bound: 1}}},
	{"P6", "progress writes per running job", "≤ 1 per second, ≥ 95% HOT", []check{
		{scenario: "progress writes under streaming load (supabase)", metric: "progress writes per job per second", atMost: true, bound: 1},
		{scenario: "progress writes under streaming load (supabase)", metric: "HOT share of progress writes", bound: 95}}},
	{"P7", "memory per in-flight streaming job (RSS)", "≤ 64 KiB plus the result text", []check{
		{scenario: scCapacity, metric: "RSS per in-flight job as the streams begin (P7)", atMost: true, bound: 64},
		{scenario: scCapacity, metric: "RSS per in-flight job at the peak, every answer streamed (P7)", atMost: true, boundFrom: plusText(scCapacity)},
		{scenario: scCapacityMem, metric: "RSS per in-flight job as the streams begin (P7)", atMost: true, bound: 64},
		{scenario: scCapacityMem, metric: "RSS per in-flight job at the peak, every answer streamed (P7)", atMost: true, boundFrom: plusText(scCapacityMem)}}},
	{"P8", "1,000 concurrent in-flight streaming jobs, one instance", "no errors, RSS ≤ 300 MiB", []check{
		{scenario: scCapacity, metric: "jobs in flight at once", bound: 1000},
		{scenario: scCapacity, metric: "RSS with every job in flight (P8)", atMost: true, bound: 300},
		{scenario: scCapacity, metric: "errors (failed create, failed or retried job, error log line)", atMost: true, bound: 0}}},
	{"S1", "status read of a queued and a finished job as the store grows (memory: 1k, 100k, 1M jobs; PostgreSQL: 1k, 100k)",
		"≥ 0.5 of the empty store's throughput at every size", statusRatioChecks()},
	{"S2", "status read, memory store, 1M jobs stored", "≥ 10k req/s", []check{
		{scenario: scReadsMemory, metric: "queued job, 1M jobs", bound: 10_000},
		{scenario: scReadsMemory, metric: "finished job, 1M jobs", bound: 10_000}}},
	{"R1", "worker killed (SIGKILL) mid-job", "runs again within lease + poll; one final result", []check{
		{scenario: scReliability, metric: "R1 killed worker: second attempt started after the SIGKILL (lease 2 s, poll 100 ms)", atMost: true, bound: 2100},
		{scenario: scReliability, metric: "tests failed", atMost: true, bound: 0}}},
	{"R2", "PostgreSQL restarted mid-load", "stays up, resumes within 30 s, no job lost", []check{
		{scenario: scReliability, metric: "R2 database restart: every job finished after the database returned", atMost: true, bound: 30_000}}},
	{"R3", "10,000 malformed or hostile requests", "zero 5xx, zero panics, every answer a clear 4xx", []check{
		{scenario: scReliability, metric: "R3 hostile requests sent", bound: 10_000},
		{scenario: scReliability, metric: "R3 answers 5xx", atMost: true, bound: 0},
		{scenario: scReliability, metric: "R3 panics", atMost: true, bound: 0},
		{scenario: scReliability, metric: "R3 errors not in the JSON shape", atMost: true, bound: 0}}},
	{"R4", "cancellation of a running job", "aborted within 1 s in process, one heartbeat (1 s) across instances", []check{
		{scenario: scReliability, metric: "R4 in process: stream closed after the cancel (memory)", atMost: true, bound: 1000},
		{scenario: scReliability, metric: "R4 across processes: stream closed after the cancel (heartbeat 1 s)", atMost: true, bound: 1000}}},
}

func lookup(rs []Result, scenario, metric string) (float64, bool) {
	for _, r := range rs {
		if r.Scenario == scenario && r.Metric == metric {
			return r.Median, !math.IsNaN(r.Median)
		}
	}
	return 0, false
}

// verdicts holds every target against the results; a target whose figures
// were not measured in this run (see -only) is left out.
func verdicts(rs []Result) []Verdict {
	var out []Verdict
	for _, t := range targets {
		v := Verdict{ID: t.ID, What: t.What, Goal: t.Goal, Met: true}
		var parts []string
		for _, c := range t.Checks {
			got, ok := lookup(rs, c.scenario, c.metric)
			bound := c.bound
			if ok && c.boundFrom != nil {
				bound, ok = c.boundFrom(rs)
			}
			if !ok {
				parts = nil
				break
			}
			met := got >= bound
			if c.atMost {
				met = got <= bound
			}
			v.Met = v.Met && met
			parts = append(parts, fmt.Sprintf("%s %.4g %s", c.metric, got, unitOf(rs, c.scenario, c.metric)))
		}
		if parts == nil {
			continue
		}
		v.Measured = strings.Join(parts, "; ")
		out = append(out, v)
	}
	return out
}

// unjudged lists the targets with no verdict in vs.
func unjudged(vs []Verdict) []string {
	var out []string
	for _, t := range targets {
		judged := false
		for _, v := range vs {
			judged = judged || v.ID == t.ID
		}
		if !judged {
			out = append(out, t.ID)
		}
	}
	return out
}

func unitOf(rs []Result, scenario, metric string) string {
	for _, r := range rs {
		if r.Scenario == scenario && r.Metric == metric {
			return r.Unit
		}
	}
	return ""
}

func printVerdicts(vs []Verdict) {
	fmt.Println()
	fmt.Println("| target | goal | measured (medians) | verdict |")
	fmt.Println("| --- | --- | --- | --- |")
	for _, v := range vs {
		verdict := "met"
		if !v.Met {
			verdict = "MISSED"
		}
		fmt.Printf("| %s %s | %s | %s | %s |\n", v.ID, v.What, v.Goal, v.Measured, verdict)
	}
}
