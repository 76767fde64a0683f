package e2e

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/polaris/reportd/internal/stack"
)

const hookSecret = "e2e-webhook-secret"

// hook is the app's webhook receiver: it checks the signature over the raw
// body and answers 500 while failing is set.
type hook struct {
	srv     *httptest.Server
	failing atomic.Bool
	got     chan hookCall

	mu    sync.Mutex
	calls []hookCall
}

type hookCall struct {
	path, id, attempt string
	body              map[string]any
	signed            bool
	status            int
}

func newHook(t *testing.T) *hook {
	h := &hook{got: make(chan hookCall, 100)}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		mac := hmac.New(sha256.New, []byte(hookSecret))
		mac.Write(raw)
		c := hookCall{path: r.URL.Path, id: r.Header.Get("X-Webhook-Id"), attempt: r.Header.Get("X-Webhook-Attempt"),
			signed: hmac.Equal([]byte(r.Header.Get("X-Webhook-Signature")), []byte("sha256="+hex.EncodeToString(mac.Sum(nil)))),
			status: http.StatusOK}
		_ = json.Unmarshal(raw, &c.body)
		if h.failing.Load() || !c.signed {
			c.status = http.StatusInternalServerError
		}
		h.mu.Lock()
		h.calls = append(h.calls, c)
		h.mu.Unlock()
		w.WriteHeader(c.status)
		h.got <- c
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hook) next(t *testing.T) hookCall {
	t.Helper()
	select {
	case c := <-h.got:
		return c
	case <-time.After(20 * time.Second):
		t.Fatal("no webhook arrived")
		return hookCall{}
	}
}

// delivery reads a job's delivery row straight from the database.
type deliveryRow struct {
	id, status string
	attempts   int
	code       *int
}

func deliveryOf(t *testing.T, p *stack.Stack, jobID string) deliveryRow {
	t.Helper()
	var d deliveryRow
	err := p.DB.QueryRow(context.Background(), `select id::text, status, attempts, last_status_code
		from public.report_job_deliveries where job_id = $1`, jobID).Scan(&d.id, &d.status, &d.attempts, &d.code)
	if err != nil {
		t.Fatalf("delivery of %s: %v", jobID, err)
	}
	return d
}

func awaitDeliveryState(t *testing.T, p *stack.Stack, jobID string, ok func(deliveryRow) bool) deliveryRow {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if d := deliveryOf(t, p, jobID); ok(d) {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery of %s: %+v", jobID, deliveryOf(t, p, jobID))
		}
		time.Sleep(20 * time.Millisecond) // polling the database, as an operator would
	}
}

func webhookEnv(env map[string]string, h *hook) map[string]string {
	env["WEBHOOK_BASE_URL"] = h.srv.URL + "/api/webhooks"
	env["WEBHOOK_SECRET"] = hookSecret
	env["WEBHOOK_POLL_INTERVAL"] = "50ms"
	env["DEMO_CHUNK_DELAY"] = "1ms"
	env["LOG_LEVEL"] = "debug"
	return env
}

// Acceptance 3: the first process attempts the delivery and the receiver
// fails; the process stops; a second process delivers it. The delivery is a
// database row, so nothing is lost in between.
func TestWebhookSurvivesARestart(t *testing.T) {
	t.Parallel()
	h := newHook(t)
	h.failing.Store(true)
	proj := fork(t)
	env := webhookEnv(supabaseEnv(proj), h)
	env["WEBHOOK_BACKOFF_BASE_MS"], env["WEBHOOK_BACKOFF_MAX_MS"] = "60000", "60000" // no retry within this process's life
	first := start(t, env)
	_, token := user(t, proj)
	jobID := create(t, first.URL, token, map[string]any{"prompt": "Greet the team", "model": "demo",
		"report_type": "greeting", "report_id": "rep-1"})
	await(t, first.URL, token, jobID, 20*time.Second)

	one := h.next(t)
	if !one.signed || one.status != 500 || one.attempt != "1" {
		t.Fatalf("first attempt %+v", one)
	}
	d := awaitDeliveryState(t, proj, jobID, func(d deliveryRow) bool { return d.status == "pending" && d.attempts == 1 })
	if d.code == nil || *d.code != 500 {
		t.Fatalf("first attempt not recorded: %+v", d)
	}
	if err := first.signal(syscall.SIGTERM, 30*time.Second); err != nil {
		t.Fatalf("first process: %v", err)
	}

	// Time passes: the retry becomes due while no process runs.
	if _, err := proj.DB.Exec(context.Background(),
		`update public.report_job_deliveries set next_attempt_at = now() - interval '1 second' where id = $1`, d.id); err != nil {
		t.Fatal(err)
	}
	h.failing.Store(false)
	delete(env, "WEBHOOK_BACKOFF_BASE_MS")
	delete(env, "WEBHOOK_BACKOFF_MAX_MS")
	env["MODE"] = "worker"
	start(t, env)

	two := h.next(t)
	if !two.signed || two.status != 200 || two.id != one.id || two.attempt != "2" || two.path != "/api/webhooks/prelim-report" {
		t.Fatalf("second attempt %+v (first %+v)", two, one)
	}
	if two.body["job_id"] != jobID || two.body["report_id"] != "rep-1" || two.body["research_status"] != "completed" ||
		two.body["delivery_id"] != one.id || two.body["research_report"] == nil {
		t.Fatalf("payload %v", two.body)
	}
	if d := awaitDeliveryState(t, proj, jobID, func(d deliveryRow) bool { return d.status == "delivered" }); d.attempts != 2 {
		t.Fatalf("delivered after %d attempts, want 2", d.attempts)
	}
}

// A questionnaire through the whole path: the JSON answer is validated and
// stored, and its webhook carries the parsed questionnaire.
func TestQuestionnaireIsDeliveredAsJSON(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			h := newHook(t)
			env, proj := b.env(t)
			p := start(t, webhookEnv(env, h))
			_, token := user(t, proj)
			jobID := create(t, p.URL, token, map[string]any{"prompt": "Onboarding needs", "model": "demo",
				"report_type": "dynamic_questionnaire", "report_id": "sum-1"})
			r := await(t, p.URL, token, jobID, 20*time.Second)
			var stored map[string]any
			if r.body["status"] != "succeeded" || json.Unmarshal([]byte(r.body["result"].(string)), &stored) != nil || stored["stages"] == nil {
				t.Fatalf("questionnaire job: %s", r.raw)
			}
			c := h.next(t)
			q, _ := c.body["questionnaire"].(map[string]any)
			if !c.signed || c.path != "/api/webhooks/dynamic-questionnaire" || c.body["status"] != "completed" || q["stages"] == nil {
				t.Fatalf("questionnaire webhook %+v", c)
			}
		})
	}
}
