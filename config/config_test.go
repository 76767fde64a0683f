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
	if c.Mode != ModeAll || c.Supabase.Enabled() || c.Server.Addr != "127.0.0.1:8080" || c.Limits.MaxPromptChars != 10_000 ||
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
	c, err := Load(env(map[string]string{
		"PERPLEXITY_API_KEY": "pplx-very-secret", "SUPABASE_JWT_SECRET": "jwt-very-secret", "OPENAI_API_KEY": "sk-very-secret",
		"ANTHROPIC_API_KEY": "ant-very-secret", "LLM_API_KEY": "or-very-secret",
	}))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c)} {
		if strings.Contains(s, "very-secret") {
			t.Fatalf("a secret was printed: %s", s)
		}
	}
}

// definition is one NAME=value line of .env.example.
type definition struct {
	name, value string
	line        int
}

// envExample returns the variables .env.example defines, in order.
func envExample(t *testing.T) []definition {
	t.Helper()
	f, err := os.Open("../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var defs []definition
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if name, value, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			defs = append(defs, definition{name: name, value: value, line: n})
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return defs
}

// Every variable Load reads is documented in .env.example, and nothing
// documented there is unknown to Load.
func TestEnvExampleListsEveryVariable(t *testing.T) {
	t.Parallel()
	read := map[string]bool{}
	_, _ = Load(func(k string) string { read[k] = true; return "" })
	documented := map[string]bool{}
	for _, d := range envExample(t) {
		documented[d.name] = true
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

// Sourced, a file that defines a variable twice keeps only the later value,
// whatever the earlier one's comment says.
func TestEnvExampleDefinesEachVariableOnce(t *testing.T) {
	t.Parallel()
	first := map[string]int{}
	for _, d := range envExample(t) {
		if line, seen := first[d.name]; seen {
			t.Errorf("%s is defined twice, on lines %d and %d", d.name, line, d.line)
			continue
		}
		first[d.name] = d.line
	}
}

// .env.example, copied as it is, configures what its comments and the
// defaults say.
func TestEnvExampleLoads(t *testing.T) {
	t.Parallel()
	vars := map[string]string{}
	for _, d := range envExample(t) {
		vars[d.name] = d.value
	}
	c, err := Load(env(vars))
	if err != nil {
		t.Fatal(err)
	}
	if c.LLM.AnthropicModel != "claude-sonnet-4-5" || c.LLM.QuestionnaireModel != "" {
		t.Fatalf(`"claude" = %q, questionnaires = %q; want claude-sonnet-4-5 and the default model`,
			c.LLM.AnthropicModel, c.LLM.QuestionnaireModel)
	}
}

// Questionnaires use QUESTIONNAIRE_MODEL, else ANTHROPIC_MODEL as the old
// route did, else the default model; ANTHROPIC_MODEL still names "claude".
func TestQuestionnaireModel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		vars                  map[string]string
		claude, questionnaire string
	}{
		{nil, "claude-sonnet-4-5", ""},
		{map[string]string{"ANTHROPIC_MODEL": "claude-opus-4-1"}, "claude-opus-4-1", "claude-opus-4-1"},
		{map[string]string{"QUESTIONNAIRE_MODEL": "sonar-pro"}, "claude-sonnet-4-5", "sonar-pro"},
		{map[string]string{"QUESTIONNAIRE_MODEL": "sonar-pro", "ANTHROPIC_MODEL": "claude-opus-4-1"}, "claude-opus-4-1", "sonar-pro"},
	}
	for _, tt := range tests {
		c, err := Load(env(tt.vars))
		if err != nil {
			t.Fatal(err)
		}
		if c.LLM.AnthropicModel != tt.claude || c.LLM.QuestionnaireModel != tt.questionnaire {
			t.Errorf("%v: claude = %q, questionnaires = %q; want %q, %q",
				tt.vars, c.LLM.AnthropicModel, c.LLM.QuestionnaireModel, tt.claude, tt.questionnaire)
		}
	}
}

func TestWebhookSettings(t *testing.T) {
	t.Parallel()
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	w := c.Webhook
	if w.Enabled() || w.Timeout != 10*time.Second || w.MaxRetries != 3 || w.BackoffBase != time.Second ||
		w.BackoffMax != 10*time.Second || w.PollInterval != time.Second {
		t.Fatalf("webhook defaults (the old route's): %+v", w)
	}
	c, err = Load(env(map[string]string{"WEBHOOK_BASE_URL": "https://app.example.com/api/webhooks/", "WEBHOOK_SECRET": "whsec",
		"WEBHOOK_TIMEOUT_MS": "2500", "WEBHOOK_MAX_RETRIES": "5"}))
	if err != nil || c.Webhook.BaseURL != "https://app.example.com/api/webhooks" || c.Webhook.Timeout != 2500*time.Millisecond ||
		c.Webhook.MaxRetries != 5 || fmt.Sprint(c.Webhook) == "" || strings.Contains(fmt.Sprintf("%+v", c), "whsec") {
		t.Fatalf("webhook settings: %+v %v", c.Webhook, err)
	}
	for vars, want := range map[[2]string]string{
		{"https://app.example.com", ""}:             "WEBHOOK_SECRET is required",
		{"https://u:p@app.example.com", "s"}:        "credentials",
		{"https://app.example.com/hooks?x=1", "s"}:  "a query",
		{"javascript:alert(1)", "s"}:                "absolute http(s) URL",
		{"https://app.example.com/hooks#frag", "s"}: "a fragment",
	} {
		_, err := Load(env(map[string]string{"WEBHOOK_BASE_URL": vars[0], "WEBHOOK_SECRET": vars[1]}))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: %v, want %q", vars, err, want)
		}
	}
	if _, err := Load(env(map[string]string{"WEBHOOK_BACKOFF_BASE_MS": "20000"})); err == nil {
		t.Error("a backoff base above its cap was accepted")
	}
}

func TestProviderDefaults(t *testing.T) {
	t.Parallel()
	c, err := Load(env(map[string]string{"STALL_TIMEOUT": "45s"}))
	if err != nil {
		t.Fatal(err)
	}
	l := c.LLM
	if l.PerplexityAPI != "agent" || l.Perplexity.BaseURL != "https://api.perplexity.ai" ||
		l.Perplexity.RateLimit != (RateLimit{50, time.Minute}) || l.Perplexity.StallTimeout != 45*time.Second {
		t.Errorf("perplexity: %+v %s", l.Perplexity, l.PerplexityAPI)
	}
	if l.Anthropic.BaseURL != "https://api.anthropic.com/v1" || l.Anthropic.StallTimeout != 45*time.Second ||
		l.AnthropicModel != "claude-sonnet-4-5" || l.AnthropicMaxTokens != 4000 {
		t.Errorf("anthropic: %+v", l)
	}
	if l.OpenAI.BaseURL != "https://api.openai.com/v1" || l.OpenAI.StallTimeout != 2*time.Minute || l.OpenAI.Timeout != 3*time.Minute {
		t.Errorf("openai: %+v", l.OpenAI)
	}
	if l.Compatible.BaseURL != "" || l.Compatible.RateLimit != (RateLimit{}) || l.Compatible.Concurrency != 4 || l.KeepReasoning {
		t.Errorf("compatible: %+v", l.Compatible)
	}
}

func TestRateLimits(t *testing.T) {
	t.Parallel()
	good := map[string]RateLimit{"50/1m": {50, time.Minute}, " 5 / 1m ": {5, time.Minute}, "1000/2s": {1000, 2 * time.Second},
		"none": {}, "OFF": {}}
	for v, want := range good {
		c, err := Load(env(map[string]string{"OPENAI_RATE_LIMIT": v}))
		if err != nil || c.LLM.OpenAI.RateLimit != want {
			t.Errorf("%q: %v %v, want %v", v, c.LLM.OpenAI.RateLimit, err, want)
		}
	}
	for _, v := range []string{"50", "50/", "/1m", "fifty/1m", "0/1m", "-5/1m", "50/0s", "50/soon", "100000/1m"} {
		_, err := Load(env(map[string]string{"PERPLEXITY_RATE_LIMIT": v}))
		if err == nil || !strings.Contains(err.Error(), "PERPLEXITY_RATE_LIMIT must be requests per window such as 50/1m") {
			t.Errorf("%q accepted or badly reported: %v", v, err)
		}
	}
	_, err := Load(env(map[string]string{"PERPLEXITY_API": "responses", "LLM_CONCURRENCY": "-1", "LLM_BASE_URL": "localhost:11434"}))
	for _, want := range []string{"PERPLEXITY_API", "LLM_CONCURRENCY", "LLM_BASE_URL"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("bad %s not reported: %v", want, err)
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

// Memory mode signs its own tokens and offers a dev sign-in: it listens on
// loopback unless ADDR says otherwise. With a Supabase project, PORT alone
// listens on every interface, as platforms expect.
func TestMemoryModeListensOnLoopback(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		vars map[string]string
		want string
	}{
		{map[string]string{"PORT": "9000"}, "127.0.0.1:9000"},
		{map[string]string{"ADDR": ":9000"}, ":9000"},
		{map[string]string{"ADDR": "0.0.0.0:9000"}, "0.0.0.0:9000"},
		{map[string]string{"PORT": "9000", "SUPABASE_URL": "https://abc.supabase.co", "SUPABASE_ANON_KEY": "sb_publishable_x", "MODE": "api"}, ":9000"},
	} {
		cfg, err := Load(env(c.vars))
		if err != nil || cfg.Server.Addr != c.want {
			t.Errorf("%v: listens on %q (%v), want %q", c.vars, cfg.Server.Addr, err, c.want)
		}
	}
}
