package memory

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/polaris/reportd/internal/storetest"
	"github.com/polaris/reportd/report"
)

func TestConformance(t *testing.T) {
	s := New(nil)
	storetest.Run(t, storetest.Harness{
		Store: s,
		Queue: s,
		NewUser: func(*testing.T) report.Caller {
			return report.Caller{UserID: uuid.NewString(), Role: report.RoleUser, Token: "unused"}
		},
		Service: func(u report.Caller) report.Caller {
			return report.Caller{UserID: u.UserID, Role: report.RoleService}
		},
		Shift: func(t *testing.T, jobID, column string, d time.Duration) {
			s.shift(t, jobID, column, d)
		},
		Outbox:        s,
		ShiftDelivery: s.shiftDelivery,
		Monitor:       s,
		SetBudget: func(_ *testing.T, u report.Caller, tokens int64, cost float64, queued int) {
			s.SetBudget(u.UserID, tokens, cost, queued)
		},
	})
}

// shift moves a job's timestamp as if time had passed.
func (s *Store) shift(t *testing.T, jobID, column string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.byJob[jobID]
	if !ok {
		t.Fatalf("shift: no job %s", jobID)
	}
	move := func(p *time.Time) *time.Time {
		if p == nil {
			t.Fatalf("shift: %s of %s is not set", column, jobID)
		}
		v := p.Add(d)
		return &v
	}
	switch column {
	case "created_at":
		// A waiting job keeps its place in its owner's queue by age.
		if j.Status == report.StatusQueued {
			s.est.dequeue(j)
			defer s.est.enqueue(j)
		}
		j.CreatedAt = j.CreatedAt.Add(d)
	case "run_after":
		j.RunAfter = j.RunAfter.Add(d)
	case "completed_at":
		j.CompletedAt = move(j.CompletedAt)
	case "started_at":
		j.StartedAt = move(j.StartedAt)
	case "expires_at":
		j.ExpiresAt = move(j.ExpiresAt)
	case "lease_expires_at":
		j.LeaseExpiresAt = move(j.LeaseExpiresAt)
	default:
		t.Fatalf("shift: unknown column %s", column)
	}
}

// shiftDelivery moves a delivery's timestamp as if time had passed.
func (s *Store) shiftDelivery(t *testing.T, id, column string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	del, ok := s.deliveries[id]
	if !ok {
		t.Fatalf("shift: no delivery %s", id)
	}
	switch column {
	case "next_attempt_at":
		del.NextAttemptAt = del.NextAttemptAt.Add(d)
	case "lease_expires_at":
		if del.LeaseExpiresAt == nil {
			t.Fatalf("shift: delivery %s holds no lease", id)
		}
		v := del.LeaseExpiresAt.Add(d)
		del.LeaseExpiresAt = &v
	default:
		t.Fatalf("shift: unknown delivery column %s", column)
	}
}
