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

// ExtraScenarios are the API and capacity measurements (targets P4, P5, P7,
// P8), the soak that shows the jobs table's dead tuples, and the
// reliability tests (R1-R4) with the figures they log.
func ExtraScenarios() []Scenario {
	return []Scenario{
		APIThroughput("memory", "status", 1000, ""),
		APIThroughput("memory", "create", 1000, ""),
		APIThroughput("supabase", "status", 200, ""),
		APIThroughput("supabase", "create", 200, ""),
		APIThroughput("memory", "status", 1000, "25"), // what a smaller GC target costs (see P7)
		APIOverhead("memory"),
		APIOverhead("supabase"),
		Capacity("memory", 1000, ""),
		Capacity("supabase", 1000, ""),
		Capacity("memory", 1000, "25"),
		StatusReads("memory"),
		StatusReads("supabase"),
		Soak(),
		Reliability(),
	}
}
