package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/polaris/reportd/auth"
	"github.com/polaris/reportd/config"
)

func envOf(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestTokenMintsWithTheJWTSecret(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	secret := "mint-secret-0123456789abcdef0123"
	err := run([]string{"token", "-user", "7d3c2b1a-0f9e-4d8c-b7a6-5e4d3c2b1a09"}, envOf(map[string]string{"SUPABASE_JWT_SECRET": secret}), &out, &out)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := auth.New(t.Context(), auth.Config{HS256Secret: []byte(secret)})
	c, err := v.Verify(t.Context(), strings.TrimSpace(out.String()))
	if err != nil || c.UserID != "7d3c2b1a-0f9e-4d8c-b7a6-5e4d3c2b1a09" {
		t.Fatalf("minted token: %+v %v", c, err)
	}
	if err := run([]string{"token"}, envOf(nil), &out, &out); err == nil || !strings.Contains(err.Error(), "SUPABASE_JWT_SECRET") {
		t.Fatalf("without a secret: %v", err)
	}
}

// Signing in goes through supabase-go's Auth client to the project's
// /auth/v1/token endpoint with the anon key.
func TestTokenSignsInThroughSupabaseAuth(t *testing.T) {
	t.Parallel()
	var got struct{ path, apikey, email string }
	auth := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]string
		_ = json.NewDecoder(r.Body).Decode(&body)
		got.path, got.apikey, got.email = r.URL.Path+"?"+r.URL.RawQuery, r.Header.Get("apikey"), body["email"]
		_ = json.NewEncoder(w).Encode(map[string]any{
			"access_token": "the-users-access-token", "token_type": "bearer", "expires_in": 3600,
			"expires_at": time.Now().Add(time.Hour).Unix(), "refresh_token": "r",
		})
	}))
	defer auth.Close()
	var out bytes.Buffer
	env := envOf(map[string]string{"SUPABASE_URL": auth.URL, "SUPABASE_ANON_KEY": "anon-key", "SUPABASE_JWT_SECRET": "s",
		"SUPABASE_SERVICE_ROLE_KEY": "svc"})
	if err := run([]string{"token", "-email", "ada@example.com", "-password", "pw"}, env, &out, &out); err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(out.String()) != "the-users-access-token" || got.path != "/auth/v1/token?grant_type=password" ||
		got.apikey != "anon-key" || got.email != "ada@example.com" {
		t.Fatalf("printed %q; auth saw %+v", out.String(), got)
	}
}

// The router main builds serves each configured provider, with the time
// limits of the configuration, and the worker asks it for them.
func TestRouterWiring(t *testing.T) {
	t.Parallel()
	vars := map[string]string{
		"PERPLEXITY_API_KEY": "k", "OPENAI_API_KEY": "k", "ANTHROPIC_API_KEY": "k", "LLM_BASE_URL": "http://127.0.0.1:11434/v1",
		"PPLX_SERVER_TIMEOUT_MS": "60000", "OPENAI_TIMEOUT": "90s", "OPENAI_CONCURRENCY": "0",
	}
	cfg, err := config.Load(envOf(vars))
	if err != nil {
		t.Fatal(err)
	}
	r := router(cfg)
	for in, want := range map[string]string{"": "sonar", "gpt-4o": "gpt-4o", "claude": "claude-sonnet-4-5", "Llama3": "Llama3", "demo": "demo"} {
		if got, err := r.Resolve(in, false); err != nil || got != want {
			t.Errorf("Resolve(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	w := workerConfig(cfg, r)
	// Perplexity: 60 s, reasoning 90 s, each plus 30 s for a free stream
	// (PERPLEXITY_CONCURRENCY defaults to 16); OpenAI has no stream limit here.
	for model, want := range map[string]time.Duration{"sonar": 90 * time.Second, "sonar-reasoning": 120 * time.Second, "gpt-4o": 90 * time.Second} {
		if got := w.Timeout(model); got != want {
			t.Errorf("timeout of %s: %s, want %s", model, got, want)
		}
	}
}

// The dev sign-in exists in memory mode only, and signs with the secret the
// verifier trusts; "dev" is the user of the token printed at start.
func TestPageSettings(t *testing.T) {
	t.Parallel()
	secret := []byte("page-secret-0123456789abcdef0123")
	project, err := config.Load(envOf(map[string]string{"SUPABASE_URL": "https://abc.supabase.co", "SUPABASE_ANON_KEY": "sb_publishable_x",
		"SUPABASE_SERVICE_ROLE_KEY": "sb_secret_x", "SUPABASE_JWT_SECRET": string(secret)}))
	if err != nil {
		t.Fatal(err)
	}
	if p := pageSettings(project, secret); p.DevSignIn != nil || p.SupabaseURL != "https://abc.supabase.co" || p.AnonKey != "sb_publishable_x" {
		t.Fatalf("with a project: %+v", p)
	}
	memory, err := config.Load(envOf(map[string]string{"DEV_USER_ID": "7d3c2b1a-0f9e-4d8c-b7a6-5e4d3c2b1a09"}))
	if err != nil {
		t.Fatal(err)
	}
	p := pageSettings(memory, secret)
	if p.DevSignIn == nil {
		t.Fatalf("memory mode: %+v", p)
	}
	v, _ := auth.New(t.Context(), auth.Config{HS256Secret: secret})
	for name, want := range map[string]string{"dev": "7d3c2b1a-0f9e-4d8c-b7a6-5e4d3c2b1a09", "ada": auth.DevUserID("ada")} {
		id, token, expires, err := p.DevSignIn(name)
		c, verr := v.Verify(t.Context(), token)
		if err != nil || verr != nil || id != want || c.UserID != want || time.Until(expires) < 59*time.Minute {
			t.Errorf("%s: id %s caller %+v expires %s: %v %v", name, id, c, expires, err, verr)
		}
	}
}
