package memory

import (
	"context"
	"fmt"
	"testing"

	"github.com/polaris/reportd/report"
)

// BenchmarkStatusRead reads a queued and a finished job, from as many
// goroutines as there are CPUs, with 0 to 1M other jobs stored and waiting
// (100 users; the reader owns a tenth of them, so its queued job is deep in
// its own queue). The store call should cost the same at every size; what
// grows with the store is the garbage collector's work, which the
// allocations of the reads themselves pay for.
//
//	go test ./memory -run '^$' -bench StatusRead -benchmem
func BenchmarkStatusRead(b *testing.B) {
	ctx := context.Background()
	users := make([]report.Caller, 100)
	for i := range users {
		users[i] = report.Caller{UserID: fmt.Sprintf("00000000-0000-0000-0000-%012d", i), Role: report.RoleUser, Token: "unused"}
	}
	s := New(nil)
	if _, err := s.Configure(ctx, report.Limits{MaxQueuedPerUser: 1_000_000}); err != nil {
		b.Fatal(err)
	}
	create := func(u report.Caller, id string) report.Job {
		j, _, err := s.Create(ctx, u, report.NewJob{JobID: id, Prompt: "Write a short report on tea growing in Kenya.",
			Model: "sonar", Temperature: 0.2, MaxTokens: 200, Metadata: []byte(`{"source":"api"}`), RequestHash: "f00d"})
		if err != nil {
			b.Fatal(err)
		}
		return j
	}
	finished := create(users[0], "job_finished")
	if _, err := s.Cancel(ctx, users[0], finished.JobID); err != nil {
		b.Fatal(err)
	}
	stored := 1
	for _, size := range []int{0, 1_000, 100_000, 1_000_000} {
		for ; stored < size; stored++ {
			u := users[0]
			if stored%10 != 0 {
				u = users[1+stored%99]
			}
			create(u, fmt.Sprint("job_", stored))
		}
		queued := create(users[0], fmt.Sprint("job_read_", size))
		for name, j := range map[string]report.Job{"queued": queued, "finished": finished} {
			b.Run(fmt.Sprintf("%s/stored=%d", name, size), func(b *testing.B) {
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						got, err := s.Get(ctx, users[0], j.JobID)
						if err != nil || (got.Status == report.StatusQueued) != (got.ETASeconds != nil) {
							b.Errorf("read %s: %v, eta %v", got.Status, err, got.ETASeconds)
							return
						}
					}
				})
			})
		}
	}
}
