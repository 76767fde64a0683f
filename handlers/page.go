package handlers

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/polaris/reportd/report"
	"github.com/polaris/reportd/web"
)

// The monitor page (package web) at /, its assets under /app/, the public
// settings it reads at /v1/config, and, in memory mode only, the dev
// sign-in at /v1/dev/token.

// Page configures the monitor page.
type Page struct {
	// SupabaseURL is the project the page signs users in to; empty in
	// memory mode.
	SupabaseURL string
	// AnonKey is the project's anon or publishable key, which browsers are
	// meant to hold. A secret key here is never published (see publicKey).
	AnonKey string
	// DevSignIn mints tokens for dev user names. Set it in memory mode
	// only: nil leaves POST /v1/dev/token unrouted.
	DevSignIn DevSignIn
}

// DevSignIn mints an access token for a dev user name: the user's id, the
// token and when it expires.
type DevSignIn func(name string) (userID, token string, expires time.Time, err error)

// maxDevName bounds a dev user name, in characters.
const maxDevName = 64

// page is what the page handlers serve, prepared once.
type page struct {
	index  asset
	assets map[string]asset
	csp    string
	config publicConfig
	dev    DevSignIn
}

type asset struct {
	body  []byte
	ctype string
	etag  string
}

// publicConfig is GET /v1/config: what a browser needs to sign in. Nothing
// in it is secret.
type publicConfig struct {
	Auth            string   `json:"auth"` // supabase, dev, or none (sign-in not configured)
	SupabaseURL     string   `json:"supabase_url,omitempty"`
	SupabaseAnonKey string   `json:"supabase_anon_key,omitempty"`
	DefaultModel    string   `json:"default_model"`
	Models          []string `json:"models"`
}

// newPage prepares the page; its model field offers models (their default
// first, the same one a job that names none gets).
func newPage(p Page, models report.Models, log *slog.Logger) (*page, error) {
	pg := &page{assets: map[string]asset{}, dev: p.DevSignIn, csp: pageCSP(p.SupabaseURL)}
	err := fs.WalkDir(web.Files(), ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(web.Files(), name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		a := asset{body: body, ctype: contentType(name), etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		if name == web.Index {
			pg.index = a
		} else {
			pg.assets[name] = a
		}
		return nil
	})
	pg.config = publicConfig{Auth: "none", Models: []string{}}
	if models != nil {
		pg.config.DefaultModel, pg.config.Models = models.Default(), models.Suggested()
	}
	switch {
	case p.SupabaseURL == "" && p.DevSignIn != nil:
		pg.config.Auth = "dev"
	case p.SupabaseURL != "" && publicKey(p.AnonKey):
		pg.config.Auth, pg.config.SupabaseURL, pg.config.SupabaseAnonKey = "supabase", p.SupabaseURL, p.AnonKey
	case p.SupabaseURL != "":
		log.Error("the monitor page cannot offer sign-in: SUPABASE_ANON_KEY is not a public (anon or publishable) key, so it is not published")
	}
	return pg, err
}

// publicKey reports whether a key may be given to browsers: a publishable
// key, or a legacy JWT whose role is anon. A secret key or a service_role
// JWT put in the anon key's place by mistake is refused.
func publicKey(k string) bool {
	if k == "" || strings.HasPrefix(k, "sb_secret_") {
		return false
	}
	if strings.HasPrefix(k, "sb_publishable_") {
		return true
	}
	parts := strings.Split(k, ".")
	if len(parts) != 3 {
		return false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return false
	}
	var claims struct {
		Role string `json:"role"`
	}
	return json.Unmarshal(payload, &claims) == nil && claims.Role == "anon"
}

// pageCSP lets the page run its own modules and nothing else: no inline
// script, no eval, no plugins, no framing, no base or form targets, and
// DOM HTML sinks only through the one Trusted Types policy that copies a
// rendered report through an allow-list. It may call this origin and the
// project's Auth (sign-in).
func pageCSP(supabaseURL string) string {
	connect := "'self'"
	if u, err := url.Parse(supabaseURL); err == nil && u.Scheme != "" && u.Host != "" {
		connect += " " + u.Scheme + "://" + u.Host
	}
	return strings.Join([]string{
		"default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self'", "font-src 'self'",
		"connect-src " + connect, "manifest-src 'self'", "object-src 'none'", "base-uri 'none'",
		"form-action 'none'", "frame-ancestors 'none'",
		"require-trusted-types-for 'script'", "trusted-types reportd-result",
	}, "; ")
}

func contentType(name string) string {
	switch {
	case strings.HasSuffix(name, ".d.ts"):
		return "text/plain; charset=utf-8"
	case strings.HasSuffix(name, ".js"):
		return "text/javascript; charset=utf-8"
	case strings.HasSuffix(name, ".css"):
		return "text/css; charset=utf-8"
	case strings.HasSuffix(name, ".svg"):
		return "image/svg+xml"
	case strings.HasSuffix(name, ".html"):
		return "text/html; charset=utf-8"
	}
	return "application/octet-stream"
}

// servePage handles GET /: the monitor page, with its own CSP.
func (h *handler) servePage(c echo.Context) error {
	c.Response().Header().Set("Content-Security-Policy", h.page.csp)
	c.Response().Header().Set("Cross-Origin-Opener-Policy", "same-origin")
	return serveAsset(c, h.page.index)
}

// serveAsset handles GET /app/{asset}: the page's scripts and styles, by
// exact name (the files are flat; nothing else is reachable).
func (h *handler) serveAsset(c echo.Context) error {
	a, ok := h.page.assets[c.Param("*")]
	if !ok {
		return newAPIError(http.StatusNotFound, "not_found", "Not found")
	}
	return serveAsset(c, a)
}

// serveAsset answers with a file that browsers revalidate on every load
// (no-cache plus an ETag), so a new release is picked up at once.
func serveAsset(c echo.Context, a asset) error {
	h := c.Response().Header()
	h.Set(echo.HeaderCacheControl, "no-cache")
	h.Set("ETag", a.etag)
	if match := c.Request().Header.Get("If-None-Match"); match != "" && strings.Contains(match, a.etag) {
		return c.NoContent(http.StatusNotModified)
	}
	return c.Blob(http.StatusOK, a.ctype, a.body)
}

// publicSettings handles GET /v1/config.
func (h *handler) publicSettings(c echo.Context) error {
	c.Response().Header().Set(echo.HeaderCacheControl, "no-cache")
	return c.JSON(http.StatusOK, h.page.config)
}

// devToken handles POST /v1/dev/token (memory mode only): an access token
// for the user a name stands for, in the shape of a Supabase session.
func (h *handler) devToken(c echo.Context) error {
	body, err := readBody(c, h.HTTP.MaxBody)
	if err != nil {
		return err
	}
	var req struct {
		Name *string `json:"name"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return &report.ValidationError{Fields: []report.FieldError{{Field: "body", Message: "the body must be a JSON object with a name"}}}
	}
	name := ""
	if req.Name != nil {
		name = strings.TrimSpace(*req.Name)
	}
	if err := checkDevName(name); err != nil {
		return err
	}
	id, token, expires, err := h.page.dev(name)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	now := h.Now()
	return c.JSON(http.StatusOK, map[string]any{
		"access_token": token, "token_type": "bearer",
		"expires_in": int(math.Round(expires.Sub(now).Seconds())), "expires_at": expires.Unix(),
		"user": map[string]string{"id": id},
	})
}

func checkDevName(name string) error {
	field := func(msg string) error {
		return &report.ValidationError{Fields: []report.FieldError{{Field: "name", Message: msg}}}
	}
	if name == "" {
		return field("name is required")
	}
	if utf8.RuneCountInString(name) > maxDevName {
		return field("name must be at most 64 characters")
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return field("name must be printable text")
		}
	}
	return nil
}
