package handlers

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/polaris/reportd/auth"
	"github.com/polaris/reportd/logging"
)

// hostileRequest is one request of the barrage.
type hostileRequest struct {
	method, path, body string
	header             http.Header
}

// barrage builds n requests, deterministic for a seed, that mix hostile
// methods, paths, query strings, credentials, headers and bodies (the
// hostile bodies above, mutated valid bodies, random bytes).
func barrage(n int, seed uint64, valid, expired string) []hostileRequest {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	pick := func(s []string) string { return s[r.IntN(len(s))] }
	methods := []string{"GET", "POST", "POST", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "BREW", "TRACE"}
	paths := []string{"/v1/jobs", "/v1/jobs", "/api/reportJobsDb", "/api/reportJobs", "/v1/jobs/job_1_abc", "/v1/jobs/%00",
		"/v1/jobs/..%2F..%2Fetc%2Fpasswd", "/v1/jobs/" + strings.Repeat("a", 5000), "/v1/jobs/x/cancel", "/v1/stats",
		"/v1/stats/active", "/v1/admin/stats", "/v1/admin/cleanup", "/v1/jobs/x/events", "/v1/events", "/openapi.json",
		"/healthz", "/v1", "/", "/v1/jobs/%ZZ", "/api/reportJobsDb/extra"}
	queries := []string{"", "job_id=", "job_id=%27%20or%201%3D1", "limit=-1", "limit=99999999999999999999", "status=queued,bogus",
		"cursor=" + strings.Repeat("%FF", 50), "created_after=yesterday", "summary_id=not-a-uuid", "days=0&top_users=1e9",
		"job_id=" + strings.Repeat("j", 3000), "a=1&a=2&a=3"}
	tokens := []string{"", "garbage", "Bearer", "Bearer ", "Bearer " + valid, "Bearer " + valid, "Bearer " + expired,
		"Bearer " + valid[:len(valid)-4] + "AAAA", "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", "Basic dXNlcjpwYXNz",
		"Bearer " + strings.Repeat("x", 20_000)}
	bodies := make([]string, 0, 64)
	for _, b := range hostileBodies() {
		if len(b) < 1<<20 {
			bodies = append(bodies, b)
		}
	}
	valid1 := `{"prompt":"Tea in Kenya","model":"sonar","temperature":0.2,"max_tokens":100,"metadata":{"report_type":"greeting"}}`
	out := make([]hostileRequest, n)
	for i := range out {
		q := hostileRequest{method: pick(methods), path: pick(paths), header: http.Header{}}
		if qs := pick(queries); qs != "" {
			q.path += "?" + qs
		}
		switch r.IntN(4) {
		case 0:
			q.body = pick(bodies)
		case 1:
			q.body = mutate(r, valid1)
		case 2:
			q.body = randomBytes(r, r.IntN(512))
		}
		if tok := pick(tokens); tok != "" {
			q.header.Set("Authorization", tok)
		}
		q.header.Set("Content-Type", pick([]string{"application/json", "text/plain", "application/json; charset=utf-16", "", "multipart/form-data; boundary=x"}))
		if r.IntN(4) == 0 {
			q.header.Set("X-User-Id", pick([]string{"not-a-uuid", "00000000-0000-0000-0000-000000000000", "' or 1=1 --"}))
		}
		if r.IntN(4) == 0 {
			q.header.Set("X-Request-Id", pick([]string{strings.Repeat("r", 500), "has spaces and \"quotes\"", "ok-id"}))
		}
		if strings.Contains(q.path, "/events") && strings.Contains(q.header.Get("Authorization"), valid) {
			q.header.Del("Authorization") // an accepted stream stays open: not what this test measures
		}
		out[i] = q
	}
	return out
}

// mutate flips, drops or duplicates a few bytes of s, or cuts it short.
func mutate(r *rand.Rand, s string) string {
	b := []byte(s)
	for range 1 + r.IntN(4) {
		i := r.IntN(len(b))
		switch r.IntN(4) {
		case 0:
			b[i] = byte(r.IntN(256))
		case 1:
			b = append(b[:i], b[i+1:]...)
		case 2:
			b = append(b[:i], append([]byte{b[i]}, b[i:]...)...)
		default:
			b = b[:i]
		}
		if len(b) == 0 {
			return ""
		}
	}
	return string(b)
}

func randomBytes(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.IntN(256))
	}
	return string(b)
}

// R3: 10,000 malformed or hostile requests through the real server over
// loopback: zero 5xx, zero panics, and every error a clear 4xx in the one
// JSON shape.
func TestTenThousandHostileRequests(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	a := newAPI(t, func(d *Deps) {
		d.Log = slog.New(logging.Handler(slog.NewJSONHandler(&logs, nil)))
		d.HTTP.RateLimit = RateLimit{PerSecond: 1_000_000, Burst: 1_000_000} // the limiter would answer most of them 429
	})
	id, valid := a.user()
	expired, err := auth.MintUserToken(testSecret, id, "u@example.com", time.Minute, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	const n = 10_000
	statuses := map[int]int{}
	var unclear []string
	beforeRouting := 0 // refused by net/http itself (a request target it cannot parse)
	client := &http.Client{Timeout: 10 * time.Second}
	started := time.Now()
	for i, q := range barrage(n, 3, valid, expired) {
		req, err := http.NewRequest(q.method, a.srv.URL+q.path, strings.NewReader(q.body))
		if err != nil {
			u, _ := url.Parse(a.srv.URL)
			req = &http.Request{Method: q.method, URL: &url.URL{Scheme: "http", Host: u.Host, Opaque: q.path}, Header: http.Header{}}
		}
		req.Header = q.header
		resp, err := client.Do(req)
		if err != nil && unparseable(q.path) {
			// net/http answers 400 to a request target it cannot parse and
			// closes the connection without reading the body: a client still
			// writing it may see the reset instead of the answer.
			beforeRouting++
			continue
		}
		if err != nil {
			t.Fatalf("request %d (%s %.80s): %v", i, q.method, q.path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		statuses[resp.StatusCode]++
		if refusedByServer(resp, body) {
			beforeRouting++
			continue
		}
		if resp.StatusCode >= 400 && q.method != "HEAD" && !clearError(body) {
			unclear = append(unclear, fmt.Sprintf("%s %.60s -> %d %.120q", q.method, q.path, resp.StatusCode, body))
		}
	}
	fivexx, panics := 0, strings.Count(logs.String(), `"msg":"panic"`)
	codes := make([]int, 0, len(statuses))
	for code, count := range statuses {
		codes = append(codes, code)
		if code >= 500 {
			fivexx += count
		}
	}
	sort.Ints(codes)
	summary := make([]string, len(codes))
	for i, c := range codes {
		summary[i] = fmt.Sprintf("%d:%d", c, statuses[c])
	}
	t.Logf("R3: %d hostile requests in %s: %d answered 5xx, %d panics, %d unclear errors, %d refused by net/http before routing; statuses %s",
		n, time.Since(started).Round(time.Millisecond), fivexx, panics, len(unclear), beforeRouting, strings.Join(summary, " "))
	if fivexx > 0 || panics > 0 {
		t.Errorf("%d answers were 5xx and %d requests panicked", fivexx, panics)
	}
	if len(unclear) > 0 {
		t.Errorf("%d errors without the JSON error shape, e.g. %s", len(unclear), unclear[0])
	}
}

// refusedByServer: Go's HTTP server answers a request whose target it
// cannot parse (a bad percent-escape in the path) with its own plain 400
// before any handler runs, so that answer has no request id and no JSON.
func refusedByServer(resp *http.Response, body []byte) bool {
	return resp.StatusCode == http.StatusBadRequest && resp.Header.Get("X-Request-Id") == "" &&
		strings.HasPrefix(string(body), "400 Bad Request")
}

// unparseable reports whether net/http refuses the request target before
// any handler runs.
func unparseable(target string) bool {
	_, err := url.ParseRequestURI(target)
	return err != nil
}

// clearError reports whether an error answer is the one JSON error shape.
func clearError(body []byte) bool {
	var e errorBody
	return json.Unmarshal(body, &e) == nil && e.Error != "" && e.Code != "" && !strings.Contains(e.Error, "goroutine")
}
