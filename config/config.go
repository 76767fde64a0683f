// Package config loads the service's configuration from the environment once,
// applies defaults, validates every value and reports all problems together.
// Secrets are typed so that they print as [redacted]. Every variable read here
// is listed, with a comment, in .env.example.
package config

import (
	"errors"
	"strings"
	"time"
)

// Mode selects which parts of the service run in this process.
type Mode string

// Modes: the API and the worker together (default), or either alone.
const (
	ModeAll    Mode = "all"
	ModeAPI    Mode = "api"
	ModeWorker Mode = "worker"
)

// Config is the whole configuration.
type Config struct {
	Mode     Mode
	Server   Server
	Supabase Supabase
	Limits   Limits
	Worker   Worker
	LLM      LLM
	Webhook  Webhook
	LogLevel string
	// Observability: the metrics and profiling listeners.
	Observability Observability
}

// Server configures the HTTP listener.
type Server struct {
	Addr              string
	CORSOrigins       []string
	MaxBodyBytes      int64
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	ShutdownGrace     time.Duration
	HSTSMaxAge        int // seconds; 0: no Strict-Transport-Security header
	RateLimit         CallerRateLimit
	Streams           Streams
}

// CallerRateLimit bounds each caller's request rate (0 per second: unlimited).
type CallerRateLimit struct {
	PerSecond float64
	Burst     int
}

// Streams tunes the live event streams.
type Streams struct {
	PollInterval      time.Duration // re-read the store this often (changes made by other instances)
	HeartbeatInterval time.Duration // keep-alive comment this often
	MaxPerUser        int           // open streams per user on one instance (0: no limit)
}

// Supabase locates the project. With no URL the service uses its in-memory
// store, as the old route fell back to its in-memory twin.
type Supabase struct {
	URL            string
	AnonKey        Secret // anon JWT or sb_publishable_... key, sent as apikey for users
	ServiceRoleKey Secret // service_role JWT or sb_secret_... key, for the worker only
	JWTSecret      Secret // legacy HS256 secret that signs user tokens
	DevUserID      string // memory mode: the user the printed dev token is for
	// CallerKeys are the secret keys that make a service caller when a
	// request presents one (SUPABASE_SERVICE_ROLE_KEY and SUPABASE_SECRET_KEY).
	CallerKeys []Secret
	// JWKSURL is the project's JWKS (ES256/RS256 keys); empty: none.
	JWKSURL        string
	JWKSRefresh    time.Duration
	JWKSUnknownKID time.Duration
	JWTIssuer      string   // iss user tokens must carry; empty: not checked
	ServiceJWTKeys []string // keys trusted to sign service_role tokens: "legacy" and/or JWKS kids
}

// Enabled reports whether a Supabase project is configured.
func (s Supabase) Enabled() bool { return s.URL != "" }

// Limits bound requests and what one user may have waiting or spend. The
// service writes them into the database at start-up, where they apply to
// every insert into report_jobs.
type Limits struct {
	MaxPromptChars   int
	MaxTokens        int
	MaxMetadataBytes int
	MaxMetadataDepth int
	MaxQueuedPerUser int
	DailyTokens      int64   // per user per UTC day; 0: no budget
	DailyCost        float64 // per user per UTC day, in the providers' currency; 0: no budget
}

// Worker configures the job engine.
type Worker struct {
	Concurrency       int
	PollInterval      time.Duration
	LeaseDuration     time.Duration
	HeartbeatInterval time.Duration
	ProgressInterval  time.Duration
	PerUserLimit      int
	MaxAttempts       int
	JobTimeout        time.Duration // PPLX_SERVER_TIMEOUT_MS
	ReasoningTimeout  time.Duration // cap for reasoning models (1.5x JobTimeout)
	RetryBaseDelay    time.Duration
	RetryMaxDelay     time.Duration
	CleanupInterval   time.Duration
}

// LLM configures the providers. Perplexity's attempt timeout stays in
// Worker.JobTimeout (PPLX_SERVER_TIMEOUT_MS), as in the old route.
type LLM struct {
	Perplexity         Provider
	PerplexityAPI      string // agent (default) or chat
	PerplexityModel    string // model of requests that name none
	OpenAI             Provider
	Anthropic          Provider
	AnthropicModel     string // what the model name "claude" means
	AnthropicMaxTokens int    // max_tokens for Claude prompts that set none
	// QuestionnaireModel is the model of questionnaire jobs that name none:
	// QUESTIONNAIRE_MODEL, else ANTHROPIC_MODEL when set (the old route's
	// questionnaire model, so its settings keep working); empty: the
	// default model.
	QuestionnaireModel string
	Compatible         Provider
	KeepReasoning      bool // keep removed <think> text in metadata.reasoning
	DemoChunkDelay     time.Duration
}

// Provider configures one LLM service. Limits are per process.
type Provider struct {
	APIKey       Secret
	BaseURL      string
	Timeout      time.Duration // one attempt (Perplexity: Worker.JobTimeout)
	StallTimeout time.Duration // silence that aborts a stream
	Concurrency  int           // streams at once (0: no limit)
	RateLimit    RateLimit
}

// RateLimit is at most Requests requests in any Window; the zero value is
// no limit.
type RateLimit struct {
	Requests int
	Window   time.Duration
}

// Load reads the configuration through getenv (os.Getenv in main).
func Load(getenv func(string) string) (Config, error) {
	r := &reader{getenv: getenv}
	c := Config{
		Mode:     Mode(r.oneOf("MODE", string(ModeAll), string(ModeAll), string(ModeAPI), string(ModeWorker))),
		Server:   loadServer(r),
		Supabase: loadSupabase(r),
		Limits: Limits{
			MaxPromptChars:   r.integer("MAX_PROMPT_CHARS", 10_000, 1, 1_000_000),
			MaxTokens:        r.integer("MAX_TOKENS_LIMIT", 32_000, 1, 1_000_000),
			MaxMetadataBytes: r.integer("MAX_METADATA_BYTES", 16<<10, 2, 1<<20),
			MaxMetadataDepth: r.integer("MAX_METADATA_DEPTH", 32, 1, 1000),
			MaxQueuedPerUser: r.integer("MAX_QUEUED_PER_USER", 100, 1, 1_000_000),
			DailyTokens:      int64(r.integer("DAILY_TOKEN_BUDGET", 0, 0, 2_000_000_000)),
			DailyCost:        r.number("DAILY_COST_BUDGET", 0, 0, 1_000_000),
		},
		Worker:   loadWorker(r),
		LLM:      loadLLM(r),
		Webhook:  loadWebhook(r),
		LogLevel: r.oneOf("LOG_LEVEL", "info", "debug", "info", "warn", "error"),

		Observability: loadObservability(r),
	}
	// In memory mode the service serves on loopback only unless ADDR says
	// otherwise: it signs its own tokens, and anyone who reached it could use
	// its dev sign-in.
	if r.str("", "ADDR") == "" && !c.Supabase.Enabled() {
		c.Server.Addr = "127.0.0.1" + c.Server.Addr
	}
	c.check(r)
	if len(r.problems) > 0 {
		return Config{}, errors.New("configuration: " + strings.Join(r.problems, "; "))
	}
	return c, nil
}

func loadServer(r *reader) Server {
	addr := r.str("", "ADDR")
	if addr == "" {
		addr = ":" + r.str("8080", "PORT")
	}
	return Server{
		Addr:              addr,
		CORSOrigins:       r.list("CORS_ORIGINS", []string{"*"}),
		MaxBodyBytes:      int64(r.integer("MAX_BODY_BYTES", 1<<20, 1<<10, 64<<20)),
		ReadHeaderTimeout: r.duration("READ_HEADER_TIMEOUT", 5*time.Second, time.Second, time.Minute),
		ReadTimeout:       r.duration("READ_TIMEOUT", 15*time.Second, time.Second, 10*time.Minute),
		WriteTimeout:      r.duration("WRITE_TIMEOUT", 30*time.Second, time.Second, 10*time.Minute),
		IdleTimeout:       r.duration("IDLE_TIMEOUT", 120*time.Second, time.Second, time.Hour),
		ShutdownGrace:     r.duration("SHUTDOWN_GRACE", 25*time.Second, 0, 10*time.Minute),
		HSTSMaxAge:        r.integer("HSTS_MAX_AGE", 0, 0, 2*365*24*3600),
		RateLimit: CallerRateLimit{
			PerSecond: r.number("RATE_LIMIT_PER_SECOND", 10, 0, 100_000),
			Burst:     r.integer("RATE_LIMIT_BURST", 40, 1, 1_000_000),
		},
		Streams: Streams{
			PollInterval:      r.duration("STREAM_POLL_INTERVAL", time.Second, 10*time.Millisecond, time.Minute),
			HeartbeatInterval: r.duration("STREAM_HEARTBEAT_INTERVAL", 15*time.Second, 100*time.Millisecond, 10*time.Minute),
			MaxPerUser:        r.integer("STREAM_MAX_PER_USER", 20, 0, 100_000),
		},
	}
}

func loadSupabase(r *reader) Supabase {
	s := Supabase{
		URL:            r.baseURL("", "SUPABASE_URL", "VITE_SUPABASE_URL", "NEXT_PUBLIC_SUPABASE_URL"),
		AnonKey:        r.secret("SUPABASE_ANON_KEY", "SUPABASE_PUBLISHABLE_KEY", "VITE_SUPABASE_ANON_KEY"),
		ServiceRoleKey: r.secret("SUPABASE_SERVICE_ROLE_KEY", "SUPABASE_SECRET_KEY"),
		JWTSecret:      r.secret("SUPABASE_JWT_SECRET"),
		DevUserID:      r.str("00000000-0000-4000-8000-000000000001", "DEV_USER_ID"),
		JWKSRefresh:    r.duration("JWKS_REFRESH_INTERVAL", 10*time.Minute, time.Second, 24*time.Hour),
		JWKSUnknownKID: r.duration("JWKS_UNKNOWN_KID_INTERVAL", 2*time.Minute, time.Second, 24*time.Hour),
		JWTIssuer:      r.str("", "SUPABASE_JWT_ISSUER"),
		ServiceJWTKeys: r.list("SUPABASE_SERVICE_JWT_KEYS", []string{"legacy"}),
	}
	for _, name := range []string{"SUPABASE_SERVICE_ROLE_KEY", "SUPABASE_SECRET_KEY"} {
		if k := r.secret(name); k.Set() {
			s.CallerKeys = append(s.CallerKeys, k)
		}
	}
	if len(s.ServiceJWTKeys) == 1 && s.ServiceJWTKeys[0] == "none" {
		s.ServiceJWTKeys = []string{}
	}
	// The project's JWKS by default; "none" turns it off.
	switch jwks := r.str("", "SUPABASE_JWKS_URL"); {
	case jwks == "none":
	case jwks != "":
		s.JWKSURL = r.baseURL("", "SUPABASE_JWKS_URL")
	case s.URL != "":
		s.JWKSURL = s.URL + "/auth/v1/.well-known/jwks.json"
	}
	return s
}

func loadWorker(r *reader) Worker {
	timeout := r.duration("PPLX_SERVER_TIMEOUT_MS", 75*time.Second, time.Second, time.Hour)
	return Worker{
		Concurrency:       r.integer("WORKER_CONCURRENCY", 16, 0, 10_000),
		PollInterval:      r.duration("WORKER_POLL_INTERVAL", time.Second, 10*time.Millisecond, time.Minute),
		LeaseDuration:     r.duration("LEASE_DURATION", 30*time.Second, time.Second, time.Hour),
		HeartbeatInterval: r.duration("HEARTBEAT_INTERVAL", 10*time.Second, 100*time.Millisecond, 30*time.Minute),
		ProgressInterval:  r.duration("PROGRESS_INTERVAL", time.Second, 100*time.Millisecond, time.Minute),
		PerUserLimit:      r.integer("PER_USER_RUNNING_LIMIT", 4, 0, 10_000),
		MaxAttempts:       r.integer("MAX_ATTEMPTS", 3, 1, 20),
		JobTimeout:        timeout,
		ReasoningTimeout:  r.duration("REASONING_TIMEOUT_CAP_MS", 110*time.Second, time.Second, time.Hour),
		RetryBaseDelay:    r.duration("RETRY_BASE_DELAY", 2*time.Second, 0, time.Hour),
		RetryMaxDelay:     r.duration("RETRY_MAX_DELAY", 60*time.Second, 0, 24*time.Hour),
		CleanupInterval:   r.duration("CLEANUP_INTERVAL", time.Hour, 0, 7*24*time.Hour),
	}
}

func loadLLM(r *reader) LLM {
	stall := r.duration("STALL_TIMEOUT", 30*time.Second, time.Second, time.Hour)
	return LLM{
		Perplexity:         loadProvider(r, "PERPLEXITY", "https://api.perplexity.ai", 0, stall, 16, "50/1m"),
		PerplexityAPI:      r.oneOf("PERPLEXITY_API", "agent", "agent", "chat"),
		PerplexityModel:    r.str("", "PERPLEXITY_MODEL"),
		OpenAI:             loadProvider(r, "OPENAI", "https://api.openai.com/v1", 180*time.Second, 2*time.Minute, 16, "500/1m"),
		Anthropic:          loadProvider(r, "ANTHROPIC", "https://api.anthropic.com/v1/", 120*time.Second, stall, 16, "50/1m"),
		AnthropicModel:     strings.ToLower(r.str("claude-sonnet-4-5", "ANTHROPIC_MODEL")),
		AnthropicMaxTokens: r.integer("ANTHROPIC_MAX_TOKENS", 4000, 1, 1_000_000),
		QuestionnaireModel: r.str("", "QUESTIONNAIRE_MODEL", "ANTHROPIC_MODEL"),
		Compatible:         loadProvider(r, "LLM", "", 300*time.Second, 2*time.Minute, 4, "none"),
		KeepReasoning:      r.boolean("KEEP_REASONING", false),
		DemoChunkDelay:     r.duration("DEMO_CHUNK_DELAY", 100*time.Millisecond, 0, 10*time.Second),
	}
}

// loadProvider reads NAME_API_KEY, NAME_BASE_URL, NAME_TIMEOUT (unless
// timeout is 0: Perplexity keeps PPLX_SERVER_TIMEOUT_MS), NAME_STALL_TIMEOUT,
// NAME_CONCURRENCY and NAME_RATE_LIMIT, with the given defaults.
func loadProvider(r *reader, name, baseURL string, timeout, stall time.Duration, concurrency int, limit string) Provider {
	p := Provider{
		APIKey:       r.secret(name + "_API_KEY"),
		BaseURL:      r.baseURL(baseURL, name+"_BASE_URL"),
		StallTimeout: r.duration(name+"_STALL_TIMEOUT", stall, time.Second, time.Hour),
		Concurrency:  r.integer(name+"_CONCURRENCY", concurrency, 0, 10_000),
		RateLimit:    r.rateLimit(name+"_RATE_LIMIT", limit),
	}
	if timeout > 0 {
		p.Timeout = r.duration(name+"_TIMEOUT", timeout, time.Second, 24*time.Hour)
	}
	return p
}

// check reports problems that involve several variables.
func (c Config) check(r *reader) {
	if c.Supabase.Enabled() {
		if !c.Supabase.AnonKey.Set() {
			r.fail("SUPABASE_ANON_KEY (or SUPABASE_PUBLISHABLE_KEY) is required with SUPABASE_URL")
		}
		if !c.Supabase.ServiceRoleKey.Set() && c.Mode != ModeAPI {
			r.fail("SUPABASE_SERVICE_ROLE_KEY (or SUPABASE_SECRET_KEY) is required with SUPABASE_URL unless MODE=api")
		}
		if !c.Supabase.JWTSecret.Set() && c.Supabase.JWKSURL == "" {
			r.fail("SUPABASE_JWT_SECRET or SUPABASE_JWKS_URL is required with SUPABASE_URL to verify user tokens")
		}
	}
	c.Webhook.check(r)
	c.Observability.check(r, c)
	if c.Worker.HeartbeatInterval >= c.Worker.LeaseDuration {
		r.fail("HEARTBEAT_INTERVAL (%s) must be shorter than LEASE_DURATION (%s)", c.Worker.HeartbeatInterval, c.Worker.LeaseDuration)
	}
}
