package supabase

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/polaris/reportd/report"
)

// fakeREST records the headers of every request it answers.
type fakeREST struct {
	mu   sync.Mutex
	seen []http.Header
}

func serve(t *testing.T, handle http.HandlerFunc) (*httptest.Server, *fakeREST) {
	t.Helper()
	f := &fakeREST{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.seen = append(f.seen, r.Header.Clone())
		f.mu.Unlock()
		handle(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, f
}

func storeAt(t *testing.T, url, serviceKey string) *Store {
	t.Helper()
	s, err := New(Config{URL: url, AnonKey: "anon-key", ServiceKey: serviceKey})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRequestsCarryTheCallersCredentials(t *testing.T) {
	srv, f := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/rest/v1/rpc/") {
			fmt.Fprint(w, `0`)
			return
		}
		fmt.Fprint(w, `[]`)
	})
	tests := []struct {
		name, serviceKey      string
		call                  func(*Store) error
		apikey, authorization string
	}{
		{"a user: the anon key and the user's token", "sb_secret_x",
			func(s *Store) error {
				_, err := s.List(context.Background(), report.Caller{UserID: "u", Role: report.RoleUser, Token: "user-jwt"}, report.Filter{})
				return err
			}, "anon-key", "Bearer user-jwt"},
		{"the worker with a legacy service_role key: in both headers", "eyJ.legacy.service",
			func(s *Store) error { _, err := s.Cleanup(context.Background()); return err },
			"eyJ.legacy.service", "Bearer eyJ.legacy.service"},
		{"the worker with a secret key: in apikey only", "sb_secret_x",
			func(s *Store) error { _, err := s.Cleanup(context.Background()); return err },
			"sb_secret_x", ""},
		{"a service caller acting for a user: the service key, never a user token", "sb_secret_x",
			func(s *Store) error {
				_, err := s.List(context.Background(), report.Caller{UserID: "u", Role: report.RoleService}, report.Filter{})
				return err
			}, "sb_secret_x", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(f.seen)
			if err := tt.call(storeAt(t, srv.URL, tt.serviceKey)); err != nil {
				t.Fatal(err)
			}
			h := f.seen[before]
			if h.Get("apikey") != tt.apikey || h.Get("Authorization") != tt.authorization {
				t.Fatalf("apikey %q, Authorization %q; want %q, %q", h.Get("apikey"), h.Get("Authorization"), tt.apikey, tt.authorization)
			}
		})
	}
}

// Users' requests run at once on one store: each is answered for its own
// token, so a header set for one user never reaches another's request.
func TestConcurrentUsersKeepTheirOwnTokens(t *testing.T) {
	srv, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		fmt.Fprintf(w, `[{"job_id":%q,"status":"queued"}]`, token)
	})
	s := storeAt(t, srv.URL, "")
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			token := fmt.Sprintf("token-of-user-%d", i%4)
			got, err := s.List(context.Background(), report.Caller{UserID: "u", Token: token}, report.Filter{})
			if err == nil && (len(got) != 1 || got[0].JobID != token) {
				err = fmt.Errorf("%s was answered with %+v", token, got)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// Every failing answer, table or RPC, keeps its status, code, message,
// details and hint, and carries the domain kind.
func TestErrorAnswersAreTypedAndTranslated(t *testing.T) {
	srv, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusConflict)
		fmt.Fprint(w, `{"code":"23505","message":"duplicate key","details":["job_id"],"hint":"pick another id"}`)
	})
	s := storeAt(t, srv.URL, "sb_secret_x")
	user := report.Caller{UserID: "u", Token: "user-jwt"}
	calls := map[string]func() error{
		"table read":   func() error { _, err := s.List(context.Background(), user, report.Filter{}); return err },
		"table delete": func() error { return s.Delete(context.Background(), user, "job_1") },
		"rpc as a user": func() error {
			_, err := s.Cancel(context.Background(), user, "job_1")
			return err
		},
		"rpc as the worker": func() error { _, err := s.Cleanup(context.Background()); return err },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			err := call()
			var api *APIError
			if !errors.Is(err, report.ErrConflict) || !errors.As(err, &api) {
				t.Fatalf("got %v", err)
			}
			if api.Status != 409 || api.Code != "23505" || api.Message != "duplicate key" ||
				api.Hint != "pick another id" || fmt.Sprint(api.Details) != "[job_id]" {
				t.Fatalf("answer lost: %#v", api)
			}
		})
	}
}

func TestACancelledCallIsNotAnOutage(t *testing.T) {
	arrived := make(chan struct{})
	srv, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-r.Context().Done()
	})
	s := storeAt(t, srv.URL, "")
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-arrived; cancel() }()
	_, err := s.List(ctx, report.Caller{UserID: "u", Token: "t"}, report.Filter{})
	if !errors.Is(err, context.Canceled) || errors.Is(err, report.ErrUnavailable) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

func TestAnUnreachableStoreIsUnavailable(t *testing.T) {
	srv, _ := serve(t, func(http.ResponseWriter, *http.Request) {})
	srv.Close()
	s := storeAt(t, srv.URL, "sb_secret_x")
	if _, err := s.Cleanup(context.Background()); !errors.Is(err, report.ErrUnavailable) {
		t.Fatalf("got %v", err)
	}
	if err := s.Ping(context.Background()); !errors.Is(err, report.ErrUnavailable) {
		t.Fatalf("ping got %v", err)
	}
}

// Ping fails only when the database did not answer: a key refused by the
// table still proves it is up.
func TestPing(t *testing.T) {
	for status, wantErr := range map[int]bool{200: false, 401: false, 403: false, 404: true, 500: true, 503: true} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			srv, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(status)
				fmt.Fprint(w, `[]`)
			})
			if err := storeAt(t, srv.URL, "").Ping(context.Background()); (err != nil) != wantErr {
				t.Fatalf("status %d: ping returned %v", status, err)
			}
		})
	}
}
