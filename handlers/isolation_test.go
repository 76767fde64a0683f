package handlers

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// The isolation matrix, on both stores: for every endpoint, user B gets 404
// for user A's job (never 403: no existence leak), and A's job never shows
// in B's lists, statistics or streams, nor changes.
func TestIsolationMatrix(t *testing.T) {
	t.Parallel()
	for _, b := range []func(*testing.T) backend{
		func(*testing.T) backend { return memoryBackend() },
		supabaseBackend,
	} {
		b := b(t)
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			isolation(t, newAPIOn(t, b))
		})
	}
}

func isolation(t *testing.T, a *api) {
	idA, tokenA := a.user()
	idB, tokenB := a.user()
	key := []string{"Idempotency-Key", "shared:1"}
	jobA := a.create(tokenA, map[string]any{"prompt": "A's secret prompt", "model": "demo"}, key...)
	legacyA := a.do("POST", "/api/reportJobsDb", tokenA, map[string]any{"prompt": "A again", "model": "demo"}).json(t)["job_id"].(string)
	streamB := a.stream("/v1/events", tokenB)

	for _, id := range []string{jobA, legacyA} {
		for _, e := range []struct{ method, path string }{
			{"GET", "/api/reportJobsDb?job_id=" + id}, {"GET", "/api/reportJobs?job_id=" + id},
			{"GET", "/v1/jobs/" + id}, {"POST", "/v1/jobs/" + id + "/cancel"}, {"DELETE", "/v1/jobs/" + id},
			{"GET", "/v1/jobs/" + id + "/events"},
		} {
			for who, creds := range map[string][]string{
				"user B":               {"Authorization", "Bearer " + tokenB},
				"user B naming A":      {"Authorization", "Bearer " + tokenB, "X-User-Id", idA},
				"service acting for B": {"Authorization", "Bearer " + a.service(), "X-User-Id", idB},
			} {
				r := a.do(e.method, e.path, "", nil, creds...)
				if r.status != http.StatusNotFound || strings.Contains(string(r.body), "secret") {
					t.Errorf("%s: %s %s: %s", who, e.method, e.path, r)
				}
			}
		}
	}
	// B's own job with the same idempotency key is B's, not A's.
	jobB := a.create(tokenB, map[string]any{"prompt": "B's prompt", "model": "demo"}, key...)
	legacyB := a.do("POST", "/api/reportJobsDb", tokenB, map[string]any{"prompt": "p", "model": "demo"}, key...).json(t)["job_id"]
	if jobB == jobA || legacyB != jobB {
		t.Fatalf("B's idempotency key returned %s / %v (A's job is %s)", jobB, legacyB, jobA)
	}
	var page jobPage
	list := a.do("GET", "/v1/jobs?limit=100", tokenB, nil)
	if err := json.Unmarshal(list.body, &page); err != nil || len(page.Jobs) != 1 || page.Jobs[0].JobID != jobB {
		t.Fatalf("B's list: %s", list)
	}
	if r := a.do("GET", "/v1/stats", tokenB, nil); !strings.Contains(string(r.body), `"total":1,`) {
		t.Fatalf("B's stats: %s", r)
	}
	if r := a.do("GET", "/v1/stats/active", tokenB, nil); !strings.Contains(string(r.body), `"activeCount":1`) {
		t.Fatalf("B's active jobs: %s", r)
	}
	// B's stream shows B's job and nothing of A's.
	for _, e := range streamB.until(t, "B's own job", func(e event) bool { return e.job["job_id"] == jobB }) {
		if e.job["user_id"] != idB {
			t.Fatalf("B's stream carried %v", e.job)
		}
	}
	// A still has both jobs, untouched.
	for _, id := range []string{jobA, legacyA} {
		if r := a.do("GET", "/v1/jobs/"+id, tokenA, nil); r.status != 200 || r.json(t)["status"] != "queued" {
			t.Fatalf("A's job %s after B's attempts: %s", id, r)
		}
	}
}
