package handlers

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/polaris/reportd/auth"
	"github.com/polaris/reportd/llm"
	"github.com/polaris/reportd/memory"
	"github.com/polaris/reportd/report"
)

var testSecret = []byte("handlers-test-secret-0123456789abcdef")

const testServiceKey = "sb_secret_handlers-test-service-key"

// api is an Echo instance over a memory store, with a recorder of what the
// notifier heard.
type api struct {
	t      *testing.T
	srv    *httptest.Server
	store  *memory.Store
	notify *recordingNotifier
}

type recordingNotifier struct {
	created   chan string
	cancelled chan string
}

func (n *recordingNotifier) JobCreated(id string)   { n.created <- id }
func (n *recordingNotifier) JobCancelled(id string) { n.cancelled <- id }

func newAPI(t *testing.T, mods ...func(*Deps)) *api {
	t.Helper()
	v, err := auth.New(t.Context(), auth.Config{HS256Secret: testSecret, SecretKeys: []string{testServiceKey}})
	if err != nil {
		t.Fatal(err)
	}
	store := memory.New(nil)
	n := &recordingNotifier{created: make(chan string, 100), cancelled: make(chan string, 100)}
	d := Deps{
		Store: store, Models: &llm.Router{DefaultModel: "sonar", Demo: llm.Demo{}}, Notifier: n,
		Verifier: v, Limits: report.DefaultLimits, MaxAttempts: 3, MaxBody: 1 << 20, CORSOrigins: []string{"*"},
	}
	for _, m := range mods {
		m(&d)
	}
	srv := httptest.NewServer(New(d))
	t.Cleanup(srv.Close)
	return &api{t: t, srv: srv, store: store, notify: n}
}

// user returns a fresh user's bearer token.
func (a *api) user() (id, token string) {
	id = uuid.NewString()
	token, err := auth.MintUserToken(testSecret, id, "u@example.com", time.Hour, time.Now())
	if err != nil {
		a.t.Fatal(err)
	}
	return id, token
}

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

func (a *api) do(method, path, token string, body any, headers ...string) answer {
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
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: data}
}

func callerFor(id, token string) report.Caller {
	return report.Caller{UserID: id, Role: report.RoleUser, Token: token}
}
