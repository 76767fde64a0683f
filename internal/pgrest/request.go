package pgrest

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// request is what the handlers need from an HTTP request besides its auth.
type request struct {
	method  string
	path    string // the path PostgREST sees (without BasePath), for request.path
	headers []byte // JSON for request.headers: lower-case names, no cookie
	cookies []byte // JSON for request.cookies
	query   url.Values
	prefer  preferences
	media
}

// media is the response format the Accept header asked for.
type media struct {
	singular   bool // application/vnd.pgrst.object+json: exactly one row, as an object
	stripNulls bool // the nulls=stripped parameter: null fields are left out of objects
}

// preferences are the Prefer tokens the gateway honours.
type preferences struct {
	representation bool   // return=representation (default minimal)
	count          bool   // count=exact (planned and estimated are counted exactly too)
	resolution     string // merge-duplicates or ignore-duplicates
	missingDefault bool   // missing=default: an inserted row's missing keys take the column default
	applied        []string
}

func newRequest(r *http.Request, cfg Config) (*request, error) {
	rq := &request{
		method: r.Method,
		path:   strings.TrimPrefix(r.URL.Path, cfg.BasePath),
		query:  r.URL.Query(),
		prefer: parsePrefer(r.Header.Values("Prefer")),
	}
	var err error
	if rq.media, err = negotiate(r.Header.Values("Accept")); err != nil {
		return nil, err
	}
	if err := checkProfile(r, cfg.Schema); err != nil {
		return nil, err
	}
	rq.headers, rq.cookies = headersJSON(r), cookiesJSON(r)
	return rq, nil
}

func parsePrefer(values []string) preferences {
	var p preferences
	for _, v := range values {
		for _, tok := range strings.Split(v, ",") {
			tok = strings.TrimSpace(tok)
			switch tok {
			case "return=representation":
				p.representation = true
			case "return=minimal", "return=headers-only":
				p.representation = false
			case "count=exact", "count=planned", "count=estimated":
				p.count = true
			case "resolution=merge-duplicates", "resolution=ignore-duplicates":
				p.resolution = strings.TrimPrefix(tok, "resolution=")
			case "missing=default", "missing=null":
				p.missingDefault = tok == "missing=default"
			default:
				continue
			}
			p.applied = append(p.applied, tok)
		}
	}
	return p
}

// negotiate reads the first Accept header, as PostgREST does when several arrive, and takes
// its first media range the gateway can produce. PostgREST's own types take a nulls=stripped
// parameter; vnd.pgrst.array+json without it is plain JSON.
func negotiate(accept []string) (media, error) {
	if len(accept) == 0 || strings.TrimSpace(accept[0]) == "" {
		return media{}, nil
	}
	for _, part := range strings.Split(accept[0], ",") {
		params := strings.Split(part, ";")
		strip := false
		for _, p := range params[1:] {
			name, value, _ := strings.Cut(p, "=")
			if strings.EqualFold(strings.TrimSpace(name), "nulls") && strings.TrimSpace(value) == "stripped" {
				strip = true
			}
		}
		switch strings.ToLower(strings.TrimSpace(params[0])) {
		case "application/vnd.pgrst.object+json", "application/vnd.pgrst.object":
			return media{singular: true, stripNulls: strip}, nil
		case "application/vnd.pgrst.array+json", "application/vnd.pgrst.array":
			return media{stripNulls: strip}, nil
		case "application/json", "application/*", "*/*":
			return media{}, nil
		}
	}
	return media{}, newError(http.StatusNotAcceptable, "PGRST107", "None of these media types are available: "+accept[0])
}

// checkProfile accepts Accept-Profile (reads) or Content-Profile (writes) only when they name
// the exposed schema.
func checkProfile(r *http.Request, schema string) error {
	header := "Content-Profile"
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		header = "Accept-Profile"
	}
	if p := r.Header.Get(header); p != "" && p != schema {
		return newError(http.StatusNotAcceptable, "PGRST106", "The schema must be one of the following: "+schema)
	}
	return nil
}

func headersJSON(r *http.Request) []byte {
	m := make(map[string]string, len(r.Header)+1)
	for k, v := range r.Header {
		k = strings.ToLower(k)
		if k == "cookie" {
			continue
		}
		m[k] = strings.Join(v, ", ")
	}
	if r.Host != "" {
		m["host"] = r.Host
	}
	b, _ := json.Marshal(m)
	return b
}

func cookiesJSON(r *http.Request) []byte {
	cookies := r.Cookies()
	if len(cookies) == 0 {
		return []byte("{}")
	}
	m := make(map[string]string, len(cookies))
	for _, c := range cookies {
		m[c.Name] = c.Value
	}
	b, _ := json.Marshal(m)
	return b
}

// readBody reads the request body; an oversized one is 413.
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(r.Body)
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, newError(http.StatusRequestEntityTooLarge, "PGRST102", "Request body too large")
	}
	if err != nil {
		return nil, newError(http.StatusBadRequest, "PGRST102", "Could not read the request body")
	}
	return b, nil
}

func invalidBody(msg string) *apiError {
	return newError(http.StatusBadRequest, "PGRST102", msg)
}

// response is what a handler writes on success.
type response struct {
	status       int
	contentRange string
	body         []byte // nil: no body
	media
	prefer []string
}

func writeResponse(w http.ResponseWriter, r *http.Request, res response) {
	h := w.Header()
	if res.contentRange != "" {
		h.Set("Content-Range", res.contentRange)
	}
	if len(res.prefer) > 0 {
		h.Set("Preference-Applied", strings.Join(res.prefer, ", "))
	}
	if res.body == nil || res.status == http.StatusNoContent {
		w.WriteHeader(res.status)
		return
	}
	h.Set("Content-Type", res.contentType())
	h.Set("Content-Length", strconv.Itoa(len(res.body)))
	w.WriteHeader(res.status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(res.body)
	}
}

// contentType names the format of a body as PostgREST does, parameters included.
func (m media) contentType() string {
	switch {
	case m.singular && m.stripNulls:
		return "application/vnd.pgrst.object+json;nulls=stripped; charset=utf-8"
	case m.singular:
		return "application/vnd.pgrst.object+json; charset=utf-8"
	case m.stripNulls:
		return "application/vnd.pgrst.array+json;nulls=stripped; charset=utf-8"
	}
	return "application/json; charset=utf-8"
}

// contentRange is PostgREST's Content-Range: "lower-upper/total", with "*" for an unknown total
// and "*/total" for an empty page.
func contentRange(offset, n int64, total *int64) string {
	t := "*"
	if total != nil {
		t = strconv.FormatInt(*total, 10)
	}
	if n <= 0 {
		return "*/" + t
	}
	return strconv.FormatInt(offset, 10) + "-" + strconv.FormatInt(offset+n-1, 10) + "/" + t
}
