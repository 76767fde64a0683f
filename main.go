// Command reportd runs the report-job service: the HTTP API and the worker
// that generates reports with LLMs, over Supabase or, when no project is
// configured, an in-memory store.
//
//	reportd [-mode all|api|worker]   run the service (MODE in the environment works too)
//	reportd token [-user UUID]       print an access token signed with SUPABASE_JWT_SECRET
//	reportd token -email E -password P   sign in to the project's Auth and print the user's token
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	supabasego "github.com/supabase-community/supabase-go"
	"golang.org/x/sync/errgroup"

	"github.com/polaris/reportd/auth"
	"github.com/polaris/reportd/config"
	"github.com/polaris/reportd/handlers"
	"github.com/polaris/reportd/live"
	"github.com/polaris/reportd/llm"
	"github.com/polaris/reportd/logging"
	"github.com/polaris/reportd/memory"
	"github.com/polaris/reportd/metrics"
	"github.com/polaris/reportd/report"
	"github.com/polaris/reportd/supabase"
	"github.com/polaris/reportd/worker"
)

func main() {
	if err := run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "reportd:", err)
		os.Exit(1)
	}
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "token" {
		return printToken(args[1:], getenv, stdout)
	}
	flags := flag.NewFlagSet("reportd", flag.ContinueOnError)
	mode := flags.String("mode", "", "all, api or worker (overrides MODE)")
	if err := flags.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(func(k string) string {
		if k == "MODE" && *mode != "" {
			return *mode
		}
		return getenv(k)
	})
	if err != nil {
		return err
	}
	log := newLogger(cfg.LogLevel, stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serve(ctx, cfg, log, stdout)
}

// newLogger writes JSON lines; lines logged with a request's or a job's
// context carry its ids (package logging).
func newLogger(level string, w io.Writer) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level)) // config validated it
	return logging.New(w, l)
}

// stores opens the Supabase store, or the memory store when no project is
// configured.
func stores(cfg config.Config) (report.Backend, error) {
	if !cfg.Supabase.Enabled() {
		return memory.New(nil), nil
	}
	return supabase.New(supabase.Config{
		URL: cfg.Supabase.URL, AnonKey: cfg.Supabase.AnonKey.Reveal(), ServiceKey: cfg.Supabase.ServiceRoleKey.Reveal(),
	})
}

// verifier returns the token verifier. Memory mode without a configured
// secret gets a random one and prints a token for the dev user; that
// throwaway key is returned too (memory mode's dev sign-in signs with it,
// and exists only then: with SUPABASE_JWT_SECRET set, a dev sign-in would
// mint tokens the project itself accepts).
func verifier(ctx context.Context, cfg config.Config, log *slog.Logger, stdout io.Writer) (*auth.Verifier, []byte, error) {
	secret := []byte(cfg.Supabase.JWTSecret.Reveal())
	var throwaway []byte
	if len(secret) == 0 && !cfg.Supabase.Enabled() {
		secret = make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return nil, nil, err
		}
		token, err := auth.MintUserToken(secret, cfg.Supabase.DevUserID, "dev@localhost", 24*time.Hour, time.Now())
		if err != nil {
			return nil, nil, err
		}
		log.Info("memory mode: no SUPABASE_JWT_SECRET, so tokens are signed with a random key until restart",
			"dev_user_id", cfg.Supabase.DevUserID)
		fmt.Fprintf(stdout, "\nDev access token (user %s, valid 24h, until restart):\n\n  export TOKEN=%s\n\n",
			cfg.Supabase.DevUserID, token)
		throwaway = secret
	}
	sb := cfg.Supabase
	keys := make([]string, len(sb.CallerKeys))
	for i, k := range sb.CallerKeys {
		keys[i] = k.Reveal()
	}
	v, err := auth.New(ctx, auth.Config{
		HS256Secret: secret, JWKSURL: sb.JWKSURL, JWKSRefresh: sb.JWKSRefresh, JWKSUnknownKID: sb.JWKSUnknownKID,
		Issuer: sb.JWTIssuer, ServiceKeys: sb.ServiceJWTKeys, SecretKeys: keys, Log: log,
	})
	return v, throwaway, err
}

func router(cfg config.Config) *llm.Router {
	l := cfg.LLM
	r := &llm.Router{DefaultModel: l.PerplexityModel, AnthropicModel: l.AnthropicModel, QuestionnaireModel: l.QuestionnaireModel,
		Demo: llm.Demo{Delay: l.DemoChunkDelay}}
	if r.DefaultModel == "" {
		r.DefaultModel = report.DefaultModel
	}
	client := llm.NewHTTPClient()
	provider := func(p config.Provider) llm.ProviderConfig {
		return llm.ProviderConfig{
			BaseURL: p.BaseURL, APIKey: p.APIKey.Reveal(), Timeout: p.Timeout, StallTimeout: p.StallTimeout,
			Limits: llm.Limits{
				Concurrency: p.Concurrency,
				Rate:        llm.Rate{Requests: p.RateLimit.Requests, Window: p.RateLimit.Window},
			},
			KeepReasoning: l.KeepReasoning, HTTPClient: client,
		}
	}
	if l.Perplexity.APIKey.Set() {
		pc := provider(l.Perplexity)
		pc.Timeout, pc.ReasoningCap = cfg.Worker.JobTimeout, cfg.Worker.ReasoningTimeout
		r.Perplexity = llm.NewPerplexity(llm.PerplexityAPI(l.PerplexityAPI), pc)
	}
	if l.OpenAI.APIKey.Set() {
		r.OpenAI = llm.NewOpenAI(provider(l.OpenAI))
	}
	if l.Anthropic.APIKey.Set() {
		pc := provider(l.Anthropic)
		pc.MaxTokens = l.AnthropicMaxTokens
		r.Anthropic = llm.NewAnthropic(pc)
	}
	if l.Compatible.BaseURL != "" {
		r.Compatible = llm.NewCompatible(provider(l.Compatible))
	}
	return r
}

func serve(ctx context.Context, cfg config.Config, log *slog.Logger, stdout io.Writer) error {
	raw, err := stores(cfg)
	if err != nil {
		return err
	}
	m := metrics.New()
	store := m.Wrap(raw) // every store call is timed and counted
	models := router(cfg)
	storeKind := "memory"
	if cfg.Supabase.Enabled() {
		storeKind = "supabase"
	}
	log.Info("reportd starting", "mode", cfg.Mode, "store", storeKind, "addr", cfg.Server.Addr)
	if storeKind == "memory" && cfg.Mode != config.ModeAll {
		log.Warn("memory mode keeps jobs inside one process: run MODE=all, or configure SUPABASE_URL to split API and worker")
	}
	exposure(cfg, log)
	lim := applyLimits(ctx, cfg, store, log)

	stop := make(chan struct{}) // closed when the HTTP server shuts down: live streams end
	sc := cfg.Server.Streams
	hub := live.New(live.Config{Store: store, Poll: sc.PollInterval, MaxPerUser: sc.MaxPerUser, Stop: stop, Log: log})
	var w *worker.Worker
	ready := map[string]func(context.Context) error{}
	if cfg.Mode != config.ModeAPI {
		wc := workerConfig(cfg, models)
		wc.Limits, wc.Models = lim, models
		wc.Changes = hub // live views in this process hear of the worker's writes at once
		wc.Recorder = m
		w = worker.New(wc, store, models, log)
		hub.Listen(w.OnChange) // jobs created and cancelled through the API here reach the worker at once
		m.CountRunning(w.Running)
		ready["worker"] = w.Healthy // repeated claim failures: no job of any user starts
	}
	g, gctx := errgroup.WithContext(ctx)
	if err := serveObservability(gctx, g, cfg, m, store, ready, log); err != nil {
		return err
	}
	if w != nil {
		d, err := dispatcher(cfg, store, log)
		if err != nil {
			return err
		}
		g.Go(func() error { return d.Run(gctx) })
		g.Go(func() error { return w.Run(gctx) })
		g.Go(func() error {
			worker.Janitor{Queue: store, Interval: cfg.Worker.CleanupInterval, Log: log}.Run(gctx)
			return nil
		})
	}
	if cfg.Mode != config.ModeWorker {
		v, throwaway, err := verifier(gctx, cfg, log, stdout)
		if err != nil {
			return err
		}
		deps := apiDeps(cfg, store, models, hub, v, stop, log)
		deps.Limits = lim
		for name, check := range ready {
			deps.Ready[name] = check
		}
		deps.Requests = m
		deps.Page = pageSettings(cfg, throwaway)
		api := handlers.New(deps)
		g.Go(func() error { return listen(gctx, cfg.Server, api, log, func() { close(stop) }) })
	}
	err = g.Wait()
	log.Info("reportd stopped")
	return err
}

func apiDeps(cfg config.Config, store report.Backend, models report.Models, hub *live.Hub, v *auth.Verifier,
	stop chan struct{}, log *slog.Logger) handlers.Deps {
	sc := cfg.Server
	d := handlers.Deps{
		Store: store, Models: models, Changes: hub, Live: hub, Maintenance: store, Deliveries: store, Verifier: v,
		Limits: limits(cfg), MaxAttempts: cfg.Worker.MaxAttempts, Stop: stop, Log: log,
		HTTP: handlers.HTTP{
			MaxBody: sc.MaxBodyBytes, CORSOrigins: sc.CORSOrigins, HSTSMaxAge: sc.HSTSMaxAge,
			RateLimit: handlers.RateLimit{PerSecond: sc.RateLimit.PerSecond, Burst: sc.RateLimit.Burst},
			Heartbeat: sc.Streams.HeartbeatInterval,
		},
	}
	d.Ready = map[string]func(context.Context) error{}
	if cfg.Supabase.JWKSURL != "" {
		d.Ready["jwks"] = v.Ready
	}
	return d
}

// applyLimits puts the configured limits in force in the store (for
// Supabase: in the database, where every insert meets them) and returns
// what is in force. Without the service key the database keeps what it has
// and the service checks its own configuration.
func applyLimits(ctx context.Context, cfg config.Config, store report.Backend, log *slog.Logger) report.Limits {
	want := limits(cfg)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	got, err := store.Configure(ctx, want)
	if err != nil {
		log.Warn("the limits could not be written to the store; the API applies its own and the database keeps what it has",
			"err", err)
		return want
	}
	return got
}

// exposure says in the log what the listener exposes.
func exposure(cfg config.Config, log *slog.Logger) {
	if cfg.Mode == config.ModeWorker {
		return
	}
	if !cfg.Supabase.Enabled() && !cfg.Supabase.JWTSecret.Set() {
		log.Info("memory mode: tokens are signed with a key of this process, and the dev sign-in (POST /v1/dev/token) " +
			"lets anyone who reaches it act as any user; it listens on " + cfg.Server.Addr + " (set ADDR to change that)")
		return
	}
	if !cfg.Supabase.Enabled() {
		log.Info("memory mode with SUPABASE_JWT_SECRET: there is no dev sign-in; callers need tokens signed with that secret",
			"addr", cfg.Server.Addr)
	}
}

func limits(cfg config.Config) report.Limits {
	l := report.DefaultLimits
	c := cfg.Limits
	l.MaxPromptChars, l.MaxTokens, l.MaxMetadataBytes = c.MaxPromptChars, c.MaxTokens, c.MaxMetadataBytes
	l.MaxMetadataDepth, l.MaxQueuedPerUser, l.DailyTokens, l.DailyCost = c.MaxMetadataDepth, c.MaxQueuedPerUser, c.DailyTokens, c.DailyCost
	l.MaxAttempts = cfg.Worker.MaxAttempts // no job may ask for more attempts than the service gives
	return l
}

func workerConfig(cfg config.Config, models *llm.Router) worker.Config {
	w := cfg.Worker
	return worker.Config{
		Concurrency: w.Concurrency, PollInterval: w.PollInterval, Lease: w.LeaseDuration,
		HeartbeatInterval: w.HeartbeatInterval, ProgressInterval: w.ProgressInterval,
		PerUserLimit: w.PerUserLimit, JobTimeout: w.JobTimeout,
		ShutdownGrace: cfg.Server.ShutdownGrace, RetryBase: w.RetryBaseDelay, RetryMax: w.RetryMaxDelay,
		Timeout: models.Timeout,
	}
}

// listen serves HTTP until ctx ends, then shuts down gracefully. The
// timeouts apply to ordinary requests; live event streams manage their own
// deadlines, and onShutdown ends them so shutdown need not wait for them.
func listen(ctx context.Context, sc config.Server, h http.Handler, log *slog.Logger, onShutdown func()) error {
	srv := &http.Server{
		Addr: sc.Addr, Handler: h,
		ReadHeaderTimeout: sc.ReadHeaderTimeout, ReadTimeout: sc.ReadTimeout,
		WriteTimeout: sc.WriteTimeout, IdleTimeout: sc.IdleTimeout,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn), // the server's own complaints as JSON lines
	}
	srv.RegisterOnShutdown(onShutdown)
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("listening", "addr", sc.Addr)
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), sc.ShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("http shutdown: %w", err)
	}
	return nil
}

// printToken prints an access token to try the API with: a real user's,
// signed in through the project's Auth (supabase-go) when -email is given,
// else one minted with SUPABASE_JWT_SECRET (projects still signing with
// their legacy secret, and memory mode with a fixed secret).
func printToken(args []string, getenv func(string) string, stdout io.Writer) error {
	flags := flag.NewFlagSet("token", flag.ContinueOnError)
	user := flags.String("user", "00000000-0000-4000-8000-000000000001", "user id (uuid) of a minted token")
	email := flags.String("email", "", "sign in as this user (with -password) instead of minting")
	password := flags.String("password", "", "the user's password")
	ttl := flags.Duration("ttl", time.Hour, "lifetime of a minted token")
	if err := flags.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	token, err := obtainToken(cfg, *email, *password, *user, *ttl)
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	_, err = fmt.Fprintln(stdout, token)
	return err
}

func obtainToken(cfg config.Config, email, password, user string, ttl time.Duration) (string, error) {
	if email != "" {
		if !cfg.Supabase.Enabled() {
			return "", errors.New("signing in needs SUPABASE_URL and SUPABASE_ANON_KEY")
		}
		client, err := supabasego.NewClient(cfg.Supabase.URL, cfg.Supabase.AnonKey.Reveal(), nil)
		if err != nil {
			return "", err
		}
		session, err := client.SignInWithEmailPassword(email, password)
		if err != nil {
			return "", fmt.Errorf("sign in as %s: %w", email, err)
		}
		return session.AccessToken, nil
	}
	if !cfg.Supabase.JWTSecret.Set() {
		return "", errors.New("SUPABASE_JWT_SECRET is not set (or pass -email and -password to sign in)")
	}
	if !report.ValidUUID(user) {
		return "", fmt.Errorf("-user must be a uuid, got %q", user)
	}
	return auth.MintUserToken([]byte(cfg.Supabase.JWTSecret.Reveal()), user, "dev@localhost", ttl, time.Now())
}
