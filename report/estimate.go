package report

import (
	"math"
	"time"
)

// QueueSnapshot is the whole queue, as much of it as a queued job's
// estimate needs: how many jobs run, how many jobs each user has waiting
// (as a histogram), and how long recent jobs of each model took. It is
// independent of how many jobs are stored, so an estimate costs the same
// with a thousand jobs or a million.
type QueueSnapshot struct {
	Running int // jobs running now: the parallelism
	// Lengths counts users by how many jobs they have waiting: Lengths[3]
	// is the number of users with exactly three.
	Lengths map[int]int
	// Durations is the average run of a model's recent successes; "" is
	// every model's. A model with none takes the overall average, else
	// DefaultDuration.
	Durations map[string]time.Duration
}

// DefaultDuration is what a job is expected to take when no job has
// succeeded recently.
const DefaultDuration = 60 * time.Second

// Place is where a queued job stands among its owner's waiting jobs.
type Place struct {
	Rank int // 1 for the owner's oldest waiting job
}

// Estimate is the seconds until a queued job is done. Claims go in rounds
// across users (every user's oldest job, then every user's second...), so
// the jobs ahead of the owner's r-th job are the owner's r-1 older ones and
// up to r of every other user's; they share the running slots, then the job
// runs for one duration of its model. Counting every other user's r-th job
// as ahead makes it an upper bound by at most one job per waiting user.
func (q QueueSnapshot) Estimate(j Job, p Place, now time.Time) int {
	avg := q.duration(j.Model).Seconds()
	r := max(p.Rank, 1)
	// Every user's jobs up to round r (the owner's own included, since the
	// owner is one of the users counted), less the job itself.
	ahead := -1
	for length, users := range q.Lengths {
		ahead += min(length, r) * users
	}
	wait := math.Max(j.RunAfter.Sub(now).Seconds(), 0)
	return int(math.Ceil(wait + float64(max(ahead, 0))/float64(max(q.Running, 1))*avg + avg))
}

func (q QueueSnapshot) duration(model string) time.Duration {
	if d, ok := q.Durations[model]; ok && d > 0 {
		return d
	}
	if d, ok := q.Durations[""]; ok && d > 0 {
		return d
	}
	return DefaultDuration
}
