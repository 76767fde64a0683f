package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/polaris/reportd/auth"
	"github.com/polaris/reportd/internal/stack"
	"github.com/polaris/reportd/live"
	"github.com/polaris/reportd/llm"
	"github.com/polaris/reportd/memory"
	"github.com/polaris/reportd/report"
	"github.com/polaris/reportd/supabase"
)

var testSecret = []byte("handlers-test-secret-0123456789abcdef")

const testServiceKey = "sb_secret_handlers-test-service-key"

func TestMain(m *testing.M) {
	code := m.Run()
	closeProject()
	os.Exit(code)
}

// backend is a store the API runs on, with the keys that go with it.
type backend struct {
	name       string
	store      report.Store
	queue      report.Queue
	secret     []byte // signs user tokens and the legacy service key
	serviceKey string // presented by service callers
	newUser    func(t *testing.T) (id, token string)
}

func memoryBackend() backend {
	s := memory.New(nil)
	return backend{name: "memory", store: s, queue: s, secret: testSecret, serviceKey: testServiceKey,
		newUser: func(t *testing.T) (string, string) {
			id := uuid.NewString()
			token, err := auth.MintUserToken(testSecret, id, "u@example.com", time.Hour, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			return id, token
		}}
}

// The local Supabase stand-in, started by the first test that needs it.
var (
	projectOnce sync.Once
	project     *stack.Stack
	projectErr  error
)

func closeProject() {
	if project != nil {
		_ = project.Close()
	}
}

func supabaseBackend(t *testing.T) backend {
	t.Helper()
	projectOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		project, projectErr = stack.Start(ctx, stack.Options{})
	})
	if projectErr != nil {
		t.Fatalf("local Supabase: %v", projectErr)
	}
	s, err := supabase.New(supabase.Config{URL: project.URL, AnonKey: project.AnonKey, ServiceKey: project.ServiceKey})
	if err != nil {
		t.Fatal(err)
	}
	return backend{name: "supabase", store: s, queue: s, secret: project.JWTSecret, serviceKey: project.ServiceKey,
		newUser: func(t *testing.T) (string, string) {
			id, token, err := project.NewUser(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			return id, token
		}}
}

// api is an Echo instance over a store, with a recorder of what the
// notifier heard.
type api struct {
	t       *testing.T
	srv     *httptest.Server
	store   report.Store
	backend backend
	hub     *live.Hub
	notify  *recordingNotifier
	// recorded, when not nil, keeps every exchange (see openapi_test.go).
	recorded *[]exchange
}

// recordingNotifier hears what a local worker would: new and stopped jobs.
type recordingNotifier struct {
	created   chan string
	cancelled chan string
}

func (n *recordingNotifier) hear(c report.Change) {
	switch c.Kind {
	case report.ChangeCreated:
		n.created <- c.JobID
	case report.ChangeStopped:
		n.cancelled <- c.JobID
	}
}

func newAPI(t *testing.T, mods ...func(*Deps)) *api {
	t.Helper()
	return newAPIOn(t, memoryBackend(), mods...)
}

func newAPIOn(t *testing.T, b backend, mods ...func(*Deps)) *api {
	t.Helper()
	v, err := auth.New(t.Context(), auth.Config{HS256Secret: b.secret, SecretKeys: []string{b.serviceKey}})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	hub := live.New(live.Config{Store: b.store, Poll: 50 * time.Millisecond, Stop: stop})
	n := &recordingNotifier{created: make(chan string, 1000), cancelled: make(chan string, 1000)}
	hub.Listen(n.hear)
	d := Deps{
		Store: b.store, Models: &llm.Router{DefaultModel: "sonar", Demo: llm.Demo{}}, Changes: hub, Live: hub,
		Maintenance: b.queue, Verifier: v, Limits: report.DefaultLimits, MaxAttempts: 3, Stop: stop,
		HTTP: HTTP{MaxBody: 1 << 20, CORSOrigins: []string{"*"}, Heartbeat: time.Second},
	}
	if ds, ok := b.queue.(Deliveries); ok {
		d.Deliveries = ds
	}
	for _, m := range mods {
		m(&d)
	}
	srv := httptest.NewServer(New(d))
	t.Cleanup(srv.Close)
	return &api{t: t, srv: srv, store: b.store, backend: b, hub: hub, notify: n}
}

// withOpenAIOnly configures OpenAI (at an address nothing answers) and no
// other provider, so the default model (sonar) is one this service cannot
// serve.
func withOpenAIOnly(d *Deps) {
	d.Models = &llm.Router{DefaultModel: "sonar", Demo: llm.Demo{}, OpenAI: openAINowhere()}
}

func openAINowhere() *llm.Provider {
	return llm.NewOpenAI(llm.ProviderConfig{BaseURL: "http://127.0.0.1:9", APIKey: "unused"})
}

// pollEvery gives the API a hub whose readers re-read the store only every
// poll (so only this process's announcements wake its streams sooner).
func pollEvery(poll time.Duration) func(*Deps) {
	return func(d *Deps) {
		hub := live.New(live.Config{Store: d.Store, Poll: poll, Stop: d.Stop})
		d.Live, d.Changes = hub, hub
	}
}

// user returns a fresh user's id and bearer token.
func (a *api) user() (id, token string) { return a.backend.newUser(a.t) }

// service is the bearer credential of a service caller.
func (a *api) service() string { return a.backend.serviceKey }

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (r answer) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("answer %d is not a JSON object: %q", r.status, r.body)
	}
	return m
}

func (r answer) String() string { return fmt.Sprintf("%d %s", r.status, r.body) }

func (a *api) do(method, path, token string, body any, headers ...string) answer {
	a.t.Helper()
	req := a.request(method, path, token, body, headers...)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	ans := answer{status: resp.StatusCode, header: resp.Header, body: data}
	if a.recorded != nil {
		*a.recorded = append(*a.recorded, exchange{req: req, ans: ans})
	}
	return ans
}

func (a *api) request(method, path, token string, body any, headers ...string) *http.Request {
	a.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, _ := json.Marshal(b)
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, a.srv.URL+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return req
}

// create makes a job through /v1 and returns its id.
func (a *api) create(token string, body map[string]any, headers ...string) string {
	a.t.Helper()
	r := a.do("POST", "/v1/jobs", token, body, headers...)
	if r.status != http.StatusCreated {
		a.t.Fatalf("create: %s", r)
	}
	return r.json(a.t)["job_id"].(string)
}

func callerFor(id, token string) report.Caller {
	return report.Caller{UserID: id, Role: report.RoleUser, Token: token}
}

// exchange is one request and its answer.
type exchange struct {
	req *http.Request
	ans answer
}
