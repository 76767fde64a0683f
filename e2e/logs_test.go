package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/polaris/reportd/internal/fakellm"
)

// Acceptance 2: a full run through the binary at LOG_LEVEL=debug. Every
// line is JSON; every request line carries its request id (the caller's
// when it is sane, a generated one otherwise); every line about the job
// carries its id and attempt, every webhook line its delivery id; and the
// prompt, the result, the caller's token and every key and secret the
// process was given appear nowhere in its output.
func TestLogsCarryIdsAndNoSecrets(t *testing.T) {
	t.Parallel()
	p := fork(t)
	marker := "PROMPT-MARKER-" + uuid.NewString()
	resultMarker := "RESULT-MARKER-" + uuid.NewString()
	apiKey := "pplx-" + uuid.NewString()
	fake, err := fakellm.New(fakellm.Perplexity, fakellm.WithAPIKey(apiKey))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	fake.SetDefault(fakellm.Stream(resultMarker+" is the answer to "+marker, 6, 20*time.Millisecond))
	h := newHook(t)
	env := webhookEnv(supabaseEnv(p), h)
	env["PERPLEXITY_API_KEY"], env["PERPLEXITY_BASE_URL"], env["PERPLEXITY_RATE_LIMIT"] = apiKey, fake.URL, "none"
	env["METRICS_ADDR"] = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	env["METRICS_TOKEN"] = "metrics-" + uuid.NewString()
	proc := start(t, env)
	_, token := user(t, p)

	requestID := "e2e-" + uuid.NewString()
	r := call(t, "POST", proc.URL+"/v1/jobs", token, map[string]any{"prompt": "Write about " + marker, "model": "sonar",
		"metadata": map[string]any{"report_type": "greeting", "report_id": "7"}}, "X-Request-Id", requestID)
	if r.status != http.StatusCreated || r.header.Get("X-Request-Id") != requestID {
		t.Fatalf("create: %d %s (request id %q)", r.status, r.raw, r.header.Get("X-Request-Id"))
	}
	jobID := r.body["job_id"].(string)
	odd := call(t, "GET", proc.URL+"/v1/jobs/"+jobID, token, nil, "X-Request-Id", `forged "level":"ERROR" `+strings.Repeat("x", 200))
	generated := odd.header.Get("X-Request-Id")
	if odd.status != 200 || generated == "" || strings.Contains(generated, "forged") {
		t.Fatalf("an odd request id was kept: %q", generated)
	}
	await(t, proc.URL, token, jobID, 20*time.Second)
	h.next(t)
	awaitDeliveryState(t, p, jobID, func(d deliveryRow) bool { return d.status == "delivered" })
	if err := proc.signal(syscall.SIGTERM, 15*time.Second); err != nil {
		t.Fatalf("exit: %v", err)
	}

	out := proc.output()
	secrets := map[string]string{
		"the prompt": marker, "the result": resultMarker, "the caller's token": token, "the provider's API key": apiKey,
		"the webhook secret": hookSecret, "the service key": p.ServiceKey, "the anon key": p.AnonKey,
		"the JWT secret": string(p.JWTSecret), "the metrics token": env["METRICS_TOKEN"],
	}
	for what, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("%s appears in the output", what)
		}
	}
	lines := jsonLines(t, out)
	seen := map[string]bool{}
	for _, l := range lines {
		msg, _ := l["msg"].(string)
		switch {
		case msg == "request":
			if id, _ := l["request_id"].(string); id == "" {
				t.Errorf("a request line without its id: %v", l)
			}
			if l["request_id"] == requestID {
				seen["create request"] = l["route"] == "/v1/jobs"
			}
			if l["request_id"] == generated {
				seen["generated id"] = true
			}
		case l["job_id"] == jobID && l["component"] == "webhook":
			if l["delivery_id"] == nil || l["attempt"] == nil {
				t.Errorf("a webhook line without its delivery id or attempt: %v", l)
			}
			seen["webhook line"] = seen["webhook line"] || msg == "webhook delivered"
		case l["job_id"] == jobID:
			if l["attempt"] != float64(1) {
				t.Errorf("a job line without its attempt: %v", l)
			}
			seen[msg] = true
		case strings.HasPrefix(msg, "job "):
			t.Errorf("a job line without the job's id: %v", l)
		}
	}
	for _, want := range []string{"create request", "generated id", "webhook line", "job started", "job succeeded"} {
		if !seen[want] {
			t.Errorf("no %q line with the right ids", want)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
}

// jsonLines parses every line of a process's output: all of it must be JSON.
func jsonLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, raw := range strings.Split(strings.TrimSpace(out), "\n") {
		l := map[string]any{}
		if err := json.Unmarshal([]byte(raw), &l); err != nil {
			t.Errorf("a line that is not JSON: %q", raw)
			continue
		}
		lines = append(lines, l)
	}
	return lines
}
