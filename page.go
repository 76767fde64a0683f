package main

import (
	"strings"
	"time"

	"github.com/polaris/reportd/auth"
	"github.com/polaris/reportd/config"
	"github.com/polaris/reportd/handlers"
	"github.com/polaris/reportd/llm"
	"github.com/polaris/reportd/report"
)

// devTokenTTL is how long a dev sign-in lasts; the page signs in again
// before it ends.
const devTokenTTL = time.Hour

// pageSettings configures the monitor page: the project it signs users in
// to or, in memory mode only, the dev sign-in, whose tokens are signed with
// the secret the verifier trusts. With SUPABASE_URL set there is no dev
// sign-in at all.
func pageSettings(cfg config.Config, secret []byte) handlers.Page {
	def, models := pageModels(cfg)
	p := handlers.Page{SupabaseURL: cfg.Supabase.URL, AnonKey: cfg.Supabase.AnonKey.Reveal(), DefaultModel: def, Models: models}
	if cfg.Supabase.Enabled() || len(secret) == 0 {
		return p
	}
	p.DevSignIn = func(name string) (string, string, time.Time, error) {
		id := auth.DevUserID(name)
		if strings.EqualFold(strings.TrimSpace(name), "dev") {
			id = cfg.Supabase.DevUserID // the user of the token printed at start
		}
		now := time.Now()
		token, err := auth.MintUserToken(secret, id, "", devTokenTTL, now)
		return id, token, now.Add(devTokenTTL), err
	}
	return p
}

// pageModels suggests models for the page's form: those of the configured
// providers, and the demo model, which needs none. The default is the
// service's default model when its provider is configured, else demo.
func pageModels(cfg config.Config) (string, []string) {
	var models []string
	l := cfg.LLM
	if l.Perplexity.APIKey.Set() {
		models = append(models, "sonar", "sonar-pro", "sonar-reasoning", "sonar-reasoning-pro")
	}
	if l.Anthropic.APIKey.Set() {
		models = append(models, "claude")
	}
	models = append(models, llm.DemoModel)
	def := llm.DemoModel
	if l.Perplexity.APIKey.Set() {
		def = l.PerplexityModel
		if def == "" {
			def = report.DefaultModel
		}
	}
	return def, models
}
