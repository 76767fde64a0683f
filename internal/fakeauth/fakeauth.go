// Package fakeauth stands in for Supabase Auth in tests, so that sign-in
// code runs against something real: the password and refresh_token grants
// of POST /auth/v1/token and POST /auth/v1/logout, for users of a stack's
// auth.users, issuing HS256 access tokens signed with the project's secret
// (as a project still on its legacy JWT secret does) and rotating refresh
// tokens. It serves the project URL: /auth/v1 here, everything else (the
// Data API) goes to the stack's gateway, so SUPABASE_URL can point here.
package fakeauth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/polaris/reportd/internal/stack"
)

// Server is the fake Auth in front of one stack.
type Server struct {
	// URL is the project URL to give clients (SUPABASE_URL).
	URL string
	// TTL is the lifetime of the access tokens it issues (default 1 h).
	TTL time.Duration

	project *stack.Stack
	srv     *httptest.Server

	mu        sync.Mutex
	passwords map[string]string  // lower-cased email -> password
	refresh   map[string]account // live refresh tokens
	grants    map[string]int     // grant type -> successful grants
	logouts   int
}

type account struct {
	id, email string
}

// New starts the fake Auth for project p. Close it when done.
func New(p *stack.Stack) *Server {
	f := &Server{TTL: time.Hour, project: p, passwords: map[string]string{},
		refresh: map[string]account{}, grants: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/auth/v1/", f.serveAuth)
	mux.Handle("/", p.Gateway.Gateway)
	f.srv = httptest.NewServer(mux)
	f.URL = f.srv.URL
	return f
}

// Close stops the server.
func (f *Server) Close() { f.srv.Close() }

// AddUser signs a user up: a row in auth.users and a password.
func (f *Server) AddUser(ctx context.Context, email, password string) (string, error) {
	id := uuid.NewString()
	if _, err := f.project.DB.Exec(ctx, `insert into auth.users (id, email, aud, role) values ($1, $2, 'authenticated', 'authenticated')`,
		id, email); err != nil {
		return "", fmt.Errorf("add user: %w", err)
	}
	f.mu.Lock()
	f.passwords[strings.ToLower(email)] = password
	f.mu.Unlock()
	return id, nil
}

// Grants counts the successful grants of a type ("password", "refresh_token").
func (f *Server) Grants(kind string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.grants[kind]
}

// Logouts counts the sign-outs.
func (f *Server) Logouts() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.logouts
}

func (f *Server) serveAuth(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Headers", "apikey, authorization, content-type, x-client-info")
	h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusOK)
		return
	}
	if k := r.Header.Get("apikey"); k != f.project.AnonKey && k != f.project.ServiceKey {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "No API key found in request"})
		return
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/auth/v1/token":
		f.token(w, r)
	case r.Method == http.MethodPost && r.URL.Path == "/auth/v1/logout":
		f.logout(w, r)
	default:
		writeJSON(w, http.StatusNotFound, map[string]any{"code": 404, "error_code": "not_found", "msg": "Not found"})
	}
}

func (f *Server) token(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Email        string `json:"email"`
		Password     string `json:"password"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		authError(w, "bad_json", "Could not parse request body as JSON")
		return
	}
	grant := r.URL.Query().Get("grant_type")
	var acct account
	var err error
	switch grant {
	case "password":
		acct, err = f.checkPassword(r.Context(), body.Email, body.Password)
	case "refresh_token":
		acct, err = f.useRefresh(body.RefreshToken)
	default:
		err = errors.New("unsupported_grant_type")
	}
	if err != nil {
		authError(w, err.Error(), messages[err.Error()])
		return
	}
	session, err := f.session(acct)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]any{"code": 500, "msg": err.Error()})
		return
	}
	f.mu.Lock()
	f.grants[grant]++
	f.mu.Unlock()
	writeJSON(w, http.StatusOK, session)
}

var messages = map[string]string{
	"invalid_credentials":     "Invalid login credentials",
	"refresh_token_not_found": "Invalid Refresh Token: Refresh Token Not Found",
	"unsupported_grant_type":  "unsupported_grant_type",
}

func (f *Server) checkPassword(ctx context.Context, email, password string) (account, error) {
	f.mu.Lock()
	want, ok := f.passwords[strings.ToLower(email)]
	f.mu.Unlock()
	if !ok || want != password {
		return account{}, errors.New("invalid_credentials")
	}
	var id string
	err := f.project.DB.QueryRow(ctx, `select id::text from auth.users where lower(email) = lower($1) and deleted_at is null`, email).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return account{}, errors.New("invalid_credentials")
	}
	return account{id: id, email: email}, err
}

// useRefresh spends a refresh token: each is good once (rotation).
func (f *Server) useRefresh(token string) (account, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	acct, ok := f.refresh[token]
	if !ok {
		return account{}, errors.New("refresh_token_not_found")
	}
	delete(f.refresh, token)
	return acct, nil
}

// session issues an access token and a refresh token, in GoTrue's shape.
func (f *Server) session(a account) (map[string]any, error) {
	now := time.Now()
	exp := now.Add(f.TTL)
	access, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": a.id, "aud": "authenticated", "role": "authenticated", "email": a.email,
		"iat": now.Unix(), "exp": exp.Unix(), "session_id": uuid.NewString(),
	}).SignedString(f.project.JWTSecret)
	if err != nil {
		return nil, err
	}
	raw := make([]byte, 16)
	_, _ = rand.Read(raw)
	refresh := hex.EncodeToString(raw)
	f.mu.Lock()
	f.refresh[refresh] = a
	f.mu.Unlock()
	return map[string]any{
		"access_token": access, "token_type": "bearer", "expires_in": int(f.TTL.Seconds()), "expires_at": exp.Unix(),
		"refresh_token": refresh,
		"user": map[string]any{"id": a.id, "aud": "authenticated", "role": "authenticated", "email": a.email,
			"app_metadata": map[string]any{"provider": "email"}, "user_metadata": map[string]any{}},
	}, nil
}

// logout revokes the caller's refresh tokens (scope=local, the page's).
func (f *Server) logout(w http.ResponseWriter, r *http.Request) {
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	claims := jwt.MapClaims{}
	if _, err := jwt.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return f.project.JWTSecret, nil },
		jwt.WithValidMethods([]string{"HS256"})); err != nil {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"code": 401, "error_code": "bad_jwt", "msg": "invalid JWT"})
		return
	}
	sub, _ := claims["sub"].(string)
	f.mu.Lock()
	for k, a := range f.refresh {
		if a.id == sub {
			delete(f.refresh, k)
		}
	}
	f.logouts++
	f.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func authError(w http.ResponseWriter, code, msg string) {
	writeJSON(w, http.StatusBadRequest, map[string]any{"code": 400, "error_code": code, "msg": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
