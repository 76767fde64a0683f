package handlers

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/polaris/reportd/auth"
	"github.com/polaris/reportd/llm"
	"github.com/polaris/reportd/memory"
	"github.com/polaris/reportd/report"
)

// hostileBodies are request bodies an attacker or a broken client sends.
func hostileBodies() map[string]string {
	deep := strings.Repeat(`{"a":`, 10_000) + "1" + strings.Repeat("}", 10_000)
	deepMeta := `{"prompt":"p","model":"demo","metadata":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`
	return map[string]string{
		"wrong types":             `{"prompt":["p"],"model":{},"temperature":"0.2","max_tokens":"9","summary_id":5,"metadata":"x"}`,
		"huge numbers":            `{"prompt":"p","model":"demo","temperature":1e400,"max_tokens":99999999999999999999999}`,
		"negative zero and tiny":  `{"prompt":"p","model":"demo","temperature":-1e-400,"max_tokens":-0}`,
		"deep JSON":               deep,
		"deep metadata":           deepMeta,
		"invalid UTF-8":           "{\"prompt\":\"\xff\xfe\xfd\",\"model\":\"demo\"}",
		"NUL byte raw":            "{\"prompt\":\"a\x00b\",\"model\":\"demo\"}",
		"NUL escaped":             `{"prompt":"a\u0000b","model":"demo"}`,
		"NUL in metadata":         `{"prompt":"p","model":"demo","metadata":{"k":"\u0000"}}`,
		"duplicate keys":          `{"prompt":"p","prompt":"q","model":"demo"}`,
		"duplicate nested keys":   `{"prompt":"p","model":"demo","metadata":{"a":1,"a":2}}`,
		"truncated":               `{"prompt":"p","model":`,
		"trailing data":           `{"prompt":"p","model":"demo"} {"again":1}`,
		"array":                   `[{"prompt":"p"}]`,
		"null":                    `null`,
		"number":                  `42`,
		"string of garbage":       `"not json inside"`,
		"lone surrogate":          `{"prompt":"\ud800","model":"demo","colour":1}`,
		"unknown field":           `{"prompt":"p","model":"demo","role":"service_role"}`,
		"user_id not a uuid":      `{"prompt":"p","model":"demo","summary_id":"'; drop table report_jobs; --"}`,
		"control characters":      "{\"prompt\":\"p\",\"model\":\"de\tmo\"}",
		"BOM":                     "\xef\xbb\xbf{\"prompt\":\"p\",\"model\":\"demo\",\"x\":1}",
		"huge key count":          `{"prompt":"p","model":"demo",` + manyKeys(20_000) + `}`,
		"prompt over the limit":   `{"prompt":"` + strings.Repeat("x", 10_001) + `","model":"demo"}`,
		"10 MB":                   `{"prompt":"` + strings.Repeat("x", 10<<20) + `"}`,
		"metadata over the limit": `{"prompt":"p","model":"demo","metadata":{"k":"` + strings.Repeat("x", 20_000) + `"}}`,
	}
}

func manyKeys(n int) string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = `"k` + strconv.Itoa(i) + `":1`
	}
	return strings.Join(keys, ",")
}

// Every hostile body gets a clear 4xx on /v1 (no 5xx, no panic, the one
// error shape); the drop-in route answers 4xx too, except that it still
// ignores unknown fields, as the old route did.
func TestHostileBodies(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	_, token := a.user()
	for name, body := range hostileBodies() {
		for _, path := range []string{"/v1/jobs", "/api/reportJobsDb"} {
			r := a.do("POST", path, token, body)
			lenient := path == "/api/reportJobsDb" && (name == "unknown field" || name == "huge key count")
			if lenient && r.status == http.StatusAccepted {
				continue
			}
			if r.status < 400 || r.status >= 500 {
				t.Errorf("%s on %s: %d %.200s", name, path, r.status, r.body)
				continue
			}
			var e errorBody
			if err := json.Unmarshal(r.body, &e); err != nil || e.Error == "" || e.Code == "" || strings.Contains(e.Error, "goroutine") {
				t.Errorf("%s on %s: not a clear error: %.200s", name, path, r.body)
			}
		}
	}
	if n := len(a.notify.created); n != 2 {
		t.Errorf("%d jobs were created from hostile bodies, want 2 (the old route ignores unknown fields)", n)
	}
}

// fuzzAPI returns a maker of in-process APIs (no sockets) over a fresh
// memory store, so that the jobs earlier inputs created do not slow later
// ones, and a user token they accept.
func fuzzAPI(f *testing.F) (func() *echo.Echo, string) {
	v, err := auth.New(f.Context(), auth.Config{HS256Secret: testSecret})
	if err != nil {
		f.Fatal(err)
	}
	token, err := auth.MintUserToken(testSecret, uuid.NewString(), "fuzz@example.com", 24*time.Hour, time.Now())
	if err != nil {
		f.Fatal(err)
	}
	return func() *echo.Echo {
		return New(Deps{Store: memory.New(nil), Models: &llm.Router{DefaultModel: "sonar", Demo: llm.Demo{}}, Verifier: v,
			Limits: report.DefaultLimits, MaxAttempts: 3, HTTP: HTTP{MaxBody: 64 << 10}})
	}, token
}

// FuzzCreateJob feeds arbitrary bodies and query strings to the create and
// list endpoints of both APIs: whatever arrives, the answer is never a 5xx
// and never a panic, and every error has the one JSON shape. The seeds run
// in every `go test` (with those in testdata/fuzz); to explore, run
// `go test -run=^$ -fuzz=FuzzCreateJob -fuzzminimizetime=2s ./handlers` (the
// default minute spent minimising each new input looks like a stall).
func FuzzCreateJob(f *testing.F) {
	newEcho, token := fuzzAPI(f)
	for _, body := range hostileBodies() {
		if len(body) < 64<<10 {
			f.Add(body, "status=queued")
		}
	}
	f.Add(`{"prompt":"Tea in Kenya","model":"demo","metadata":{"a":[1,{"b":null}]}}`, "limit=5&cursor=MTcwMDAwMDAwMDAwMDAwMC4wMDAw")
	f.Add(`{"prompt":"p","model":"sonar-pro","temperature":0,"max_tokens":1}`, "created_after=2026-01-01T00:00:00Z")
	f.Add(`"{\"prompt\":\"p\",\"model\":\"demo\"}"`, "status=queued,running&summary_id=00000000-0000-4000-8000-000000000000")
	f.Fuzz(func(t *testing.T, body, query string) {
		q := sanitizeQuery(query)
		e := newEcho()

		for _, req := range []*http.Request{
			httptest.NewRequest("POST", "/v1/jobs", strings.NewReader(body)),
			httptest.NewRequest("POST", "/api/reportJobsDb", strings.NewReader(body)),
			httptest.NewRequest("GET", "/v1/jobs?"+q, nil),
			httptest.NewRequest("GET", "/api/reportJobsDb?"+q, nil),
		} {
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)
			if rec.Code >= 500 {
				t.Fatalf("%s %s: %d %s", req.Method, req.URL, rec.Code, rec.Body)
			}
			if rec.Code >= 400 {
				var eb errorBody
				if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || eb.Error == "" || eb.Code == "" {
					t.Fatalf("%s %s: error %d is not the JSON shape: %q", req.Method, req.URL, rec.Code, rec.Body)
				}
			}
		}
	})
}

// sanitizeQuery keeps a fuzzed query parseable as a request URL (the HTTP
// server would refuse the rest before any handler ran).
func sanitizeQuery(q string) string {
	var b bytes.Buffer
	for _, c := range []byte(q) {
		if c <= ' ' || c >= 0x7f || c == '#' {
			b.WriteString("%" + strings.ToUpper(string("0123456789abcdef"[c>>4])+string("0123456789abcdef"[c&15])))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
