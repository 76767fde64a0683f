package main

import (
	"testing"
)

// Every target names scenarios that exist, so that renaming a scenario
// cannot silently drop a target from the verdicts.
func TestTargetsNameRealScenarios(t *testing.T) {
	t.Parallel()
	names := map[string]bool{}
	for _, sc := range scenarios() {
		names[sc.Name] = true
	}
	for _, tg := range targets {
		for _, c := range tg.Checks {
			if !names[c.scenario] {
				t.Errorf("%s checks %q, which is not a scenario", tg.ID, c.scenario)
			}
		}
	}
}

// A figure over an at-most bound misses the target; a missing figure
// leaves the target out rather than passing it.
func TestVerdicts(t *testing.T) {
	t.Parallel()
	rs := []Result{
		{Scenario: scPickupSame, Metric: "p50", Unit: "ms", Median: 5},
		{Scenario: scPickupSame, Metric: "p99", Unit: "ms", Median: 120},
		{Scenario: scPickupAcross, Metric: "p99", Unit: "ms", Median: 500},
	}
	vs := verdicts(rs)
	if len(vs) != 2 || vs[0].ID != "P1" || vs[0].Met || vs[1].ID != "P2" || !vs[1].Met {
		t.Fatalf("verdicts %+v", vs)
	}
}
