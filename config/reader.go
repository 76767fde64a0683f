package config

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// reader reads variables through getenv and collects every problem, so Load
// can report them all at once.
type reader struct {
	getenv   func(string) string
	problems []string
}

func (r *reader) fail(format string, args ...any) {
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
}

// str returns the first non-empty value among names (aliases), else def.
func (r *reader) str(def string, names ...string) string {
	for _, n := range names {
		if v := strings.TrimSpace(r.getenv(n)); v != "" {
			return v
		}
	}
	return def
}

func (r *reader) secret(names ...string) Secret { return Secret(r.str("", names...)) }

func (r *reader) integer(name string, def, min, max int) int {
	v := r.str("", name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min || n > max {
		r.fail("%s must be an integer between %d and %d, got %q", name, min, max, v)
		return def
	}
	return n
}

func (r *reader) number(name string, def, min, max float64) float64 {
	v := r.str("", name)
	if v == "" {
		return def
	}
	n, err := strconv.ParseFloat(v, 64)
	if err != nil || n < min || n > max {
		r.fail("%s must be a number between %g and %g, got %q", name, min, max, v)
		return def
	}
	return n
}

// duration accepts Go durations ("30s", "1m"); names ending in _MS take
// milliseconds, as the old system's variables did.
func (r *reader) duration(name string, def, min, max time.Duration) time.Duration {
	v := r.str("", name)
	if v == "" {
		return def
	}
	var d time.Duration
	var err error
	if strings.HasSuffix(name, "_MS") {
		var ms int64
		ms, err = strconv.ParseInt(v, 10, 64)
		d = time.Duration(ms) * time.Millisecond
	} else {
		d, err = time.ParseDuration(v)
	}
	if err != nil || d < min || d > max {
		r.fail("%s must be a duration between %s and %s, got %q", name, min, max, v)
		return def
	}
	return d
}

func (r *reader) boolean(name string, def bool) bool {
	v := r.str("", name)
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.fail("%s must be true or false, got %q", name, v)
		return def
	}
	return b
}

func (r *reader) oneOf(name, def string, allowed ...string) string {
	v := strings.ToLower(r.str(def, name))
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	r.fail("%s must be one of %s, got %q", name, strings.Join(allowed, ", "), v)
	return def
}

// baseURL reads an absolute http(s) URL without a trailing slash.
func (r *reader) baseURL(def string, names ...string) string {
	v := r.str(def, names...)
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		r.fail("%s must be an absolute http(s) URL, got %q", names[0], v)
		return ""
	}
	return strings.TrimRight(v, "/")
}

func (r *reader) list(name string, def []string) []string {
	v := r.str("", name)
	if v == "" {
		return def
	}
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// rateLimit reads a request budget written N/duration ("50/1m": at most 50
// requests in any minute), or "none" for no limit.
func (r *reader) rateLimit(name, def string) RateLimit {
	v := strings.ToLower(r.str(def, name))
	if v == "none" || v == "off" {
		return RateLimit{}
	}
	count, window, ok := strings.Cut(v, "/")
	n, err := strconv.Atoi(strings.TrimSpace(count))
	d, derr := time.ParseDuration(strings.TrimSpace(window))
	if !ok || err != nil || derr != nil || n < 1 || n > 10_000 || d < time.Millisecond || d > 24*time.Hour {
		r.fail("%s must be requests per window such as 50/1m (1 to 10000 requests, a window from 1ms to 24h) or none, got %q", name, v)
		return RateLimit{}
	}
	return RateLimit{Requests: n, Window: d}
}
