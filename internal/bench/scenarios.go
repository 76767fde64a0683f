package bench

import "time"

// EngineScenarios are the job engine's measurements (targets P1, P2, P3, P6).
func EngineScenarios() []Scenario {
	return []Scenario{
		Pickup("memory", true, time.Second),
		Pickup("supabase", true, time.Second),
		Pickup("supabase", false, 500*time.Millisecond),
		Throughput("memory", 1),
		Throughput("supabase", 1),
		Throughput("supabase", 2),
		Throughput("supabase", 4),
		Progress("supabase"),
	}
}

// ExtraScenarios are the API and capacity measurements (targets P4, P5, P7, P8).
func ExtraScenarios() []Scenario { return nil }
