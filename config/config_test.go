package config

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Mode != ModeAll || c.Supabase.Enabled() || c.Server.Addr != ":8080" || c.Limits.MaxPromptChars != 10_000 ||
		c.Worker.JobTimeout != 75*time.Second || c.Worker.ReasoningTimeout != 110*time.Second ||
		c.Worker.LeaseDuration != 30*time.Second || c.Worker.HeartbeatInterval != 10*time.Second {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestReportsEveryProblemAtOnce(t *testing.T) {
	t.Parallel()
	_, err := Load(env(map[string]string{
		"MODE": "both", "PPLX_SERVER_TIMEOUT_MS": "soon", "SUPABASE_URL": "ftp://x", "WORKER_CONCURRENCY": "-1",
	}))
	if err == nil {
		t.Fatal("bad configuration accepted")
	}
	for _, want := range []string{"MODE", "PPLX_SERVER_TIMEOUT_MS", "SUPABASE_URL", "WORKER_CONCURRENCY"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s: %v", want, err)
		}
	}
}

func TestSupabaseNeedsItsKeys(t *testing.T) {
	t.Parallel()
	_, err := Load(env(map[string]string{"SUPABASE_URL": "https://ref.supabase.co", "SUPABASE_JWKS_URL": "none"}))
	for _, want := range []string{"SUPABASE_ANON_KEY", "SUPABASE_SERVICE_ROLE_KEY", "SUPABASE_JWT_SECRET"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %s not reported: %v", want, err)
		}
	}
	c, err := Load(env(map[string]string{
		"VITE_SUPABASE_URL": "https://ref.supabase.co/", "SUPABASE_PUBLISHABLE_KEY": "sb_publishable_x",
		"SUPABASE_SECRET_KEY": "sb_secret_y", "SUPABASE_JWT_SECRET": "s",
	}))
	if err != nil || c.Supabase.URL != "https://ref.supabase.co" || c.Supabase.AnonKey.Reveal() != "sb_publishable_x" {
		t.Fatalf("aliases: %+v %v", c.Supabase, err)
	}
}

func TestSecretsNeverPrint(t *testing.T) {
	t.Parallel()
	c, err := Load(env(map[string]string{"PERPLEXITY_API_KEY": "pplx-very-secret", "SUPABASE_JWT_SECRET": "jwt-very-secret"}))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c)} {
		if strings.Contains(s, "very-secret") {
			t.Fatalf("a secret was printed: %s", s)
		}
	}
}

// Every variable Load reads is documented in .env.example, and nothing
// documented there is unknown to Load.
func TestEnvExampleListsEveryVariable(t *testing.T) {
	t.Parallel()
	read := map[string]bool{}
	_, _ = Load(func(k string) string { read[k] = true; return "" })
	f, err := os.Open("../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	documented := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if name, _, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			documented[name] = true
		}
	}
	for name := range read {
		if !documented[name] {
			t.Errorf("%s is read but not in .env.example", name)
		}
	}
	for name := range documented {
		if !read[name] {
			t.Errorf("%s is in .env.example but never read", name)
		}
	}
}

func TestAuthSettings(t *testing.T) {
	t.Parallel()
	c, err := Load(env(map[string]string{
		"SUPABASE_URL": "https://ref.supabase.co", "SUPABASE_ANON_KEY": "sb_publishable_x",
		"SUPABASE_SERVICE_ROLE_KEY": "legacy-jwt", "SUPABASE_SECRET_KEY": "sb_secret_y",
	}))
	if err != nil {
		t.Fatal(err)
	}
	s := c.Supabase
	if s.JWKSURL != "https://ref.supabase.co/auth/v1/.well-known/jwks.json" || s.JWTIssuer != "" ||
		len(s.ServiceJWTKeys) != 1 || s.ServiceJWTKeys[0] != "legacy" || len(s.CallerKeys) != 2 ||
		s.CallerKeys[1].Reveal() != "sb_secret_y" || s.ServiceRoleKey.Reveal() != "legacy-jwt" {
		t.Fatalf("defaults with a project: %+v", s)
	}
	c, err = Load(env(map[string]string{
		"SUPABASE_JWKS_URL": "https://keys.example/jwks.json", "SUPABASE_SERVICE_JWT_KEYS": "none",
		"RATE_LIMIT_PER_SECOND": "0.5", "STREAM_POLL_INTERVAL": "200ms",
	}))
	if err != nil || c.Supabase.JWKSURL != "https://keys.example/jwks.json" || len(c.Supabase.ServiceJWTKeys) != 0 ||
		c.Supabase.ServiceJWTKeys == nil || c.Server.RateLimit.PerSecond != 0.5 || c.Server.Streams.PollInterval != 200*time.Millisecond {
		t.Fatalf("explicit settings: %+v %+v (err %v)", c.Supabase, c.Server, err)
	}
	if _, err := Load(env(map[string]string{"RATE_LIMIT_PER_SECOND": "fast", "SUPABASE_JWKS_URL": "ftp://x"})); err == nil ||
		!strings.Contains(err.Error(), "RATE_LIMIT_PER_SECOND") || !strings.Contains(err.Error(), "SUPABASE_JWKS_URL") {
		t.Fatalf("bad values not reported: %v", err)
	}
}
