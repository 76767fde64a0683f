package handlers

import (
	"net/http"
	"testing"
)

// A finished job that names a delivered report type shows its webhook
// deliveries; another user cannot see them.
func TestJobShowsItsDeliveries(t *testing.T) {
	t.Parallel()
	for _, open := range []func(*testing.T) backend{func(*testing.T) backend { return memoryBackend() }, supabaseBackend} {
		b := open(t)
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			a := newAPIOn(t, b)
			_, token := a.user()
			_, other := a.user()
			id := a.create(token, map[string]any{"prompt": "p", "model": "demo", "report_type": "greeting", "report_id": 7})
			plain := a.create(token, map[string]any{"prompt": "p", "model": "demo"})
			for _, j := range []string{id, plain} {
				if r := a.do("POST", "/v1/jobs/"+j+"/cancel", token, nil); r.status != http.StatusOK {
					t.Fatalf("cancel: %d %s", r.status, r.body)
				}
			}
			r := a.do("GET", "/v1/jobs/"+id, token, nil)
			ds, _ := r.json(t)["deliveries"].([]any)
			if r.status != 200 || len(ds) != 1 {
				t.Fatalf("deliveries of a cancelled greeting: %d %s", r.status, r.body)
			}
			d := ds[0].(map[string]any)
			if d["endpoint"] != "prelim-report" || d["status"] != "pending" || d["attempts"] != float64(0) {
				t.Fatalf("delivery %v", d)
			}
			if r := a.do("GET", "/v1/jobs/"+plain, token, nil); r.json(t)["deliveries"] != nil {
				t.Fatalf("a job without a report type shows deliveries: %s", r.body)
			}
			if r := a.do("GET", "/v1/jobs/"+id, other, nil); r.status != http.StatusNotFound {
				t.Fatalf("another user: %d", r.status)
			}
		})
	}
}
