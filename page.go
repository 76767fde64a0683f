package main

import (
	"strings"
	"time"

	"github.com/polaris/reportd/auth"
	"github.com/polaris/reportd/config"
	"github.com/polaris/reportd/handlers"
)

// devTokenTTL is how long a dev sign-in lasts; the page signs in again
// before it ends.
const devTokenTTL = time.Hour

// pageSettings configures the monitor page: the project it signs users in
// to or, in memory mode only, the dev sign-in, whose tokens are signed with
// the secret the verifier trusts. With SUPABASE_URL set there is no dev
// sign-in at all.
func pageSettings(cfg config.Config, secret []byte) handlers.Page {
	p := handlers.Page{SupabaseURL: cfg.Supabase.URL, AnonKey: cfg.Supabase.AnonKey.Reveal()}
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
