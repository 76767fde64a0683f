package supabase

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// This file is the store's one way to the Data API: table reads, deletes and
// RPC calls alike are a request sent by Store.do, which takes a context,
// sets the caller's headers on that request alone, and turns every non-2xx
// answer into one *APIError, translated once into a domain error.
//
// It is written by hand rather than on postgrest-go (v0.0.12) because that
// library cannot give these guarantees: its Rpc takes no context and ignores
// the HTTP status (an error body comes back as a result), and its table
// executors flatten an error answer to "(code) message", losing the status,
// details and hint (an array of details fails to parse at all), so the store
// needed a recording transport and a second error path beside its own RPC
// client. What the store asks of PostgREST's query syntax is a few filters,
// an order and a limit, which url.Values spell plainly.

// credentials are the headers that say who a request is from.
type credentials struct {
	apikey string
	bearer string // empty: no Authorization header
}

func (c credentials) apply(h http.Header) {
	h.Set("apikey", c.apikey)
	if c.bearer != "" {
		h.Set("Authorization", "Bearer "+c.bearer)
	}
}

// keyCredentials are the headers for acting with an API key alone. Legacy
// keys are JWTs and go in both headers; the new sb_ keys go in apikey only
// (Supabase rejects them in Authorization).
func keyCredentials(key string) credentials {
	if strings.HasPrefix(key, "sb_") {
		return credentials{apikey: key}
	}
	return credentials{apikey: key, bearer: key}
}

// request is one call to the Data API.
type request struct {
	method string
	path   string // below /rest/v1: a table, or rpc/<function>
	query  url.Values
	body   any    // sent as JSON when not nil
	prefer string // the Prefer header, when set
}

// do sends r as who. The JSON of a 2xx answer goes into out (nil ignores
// it; a 204 leaves it as it is); any other status is an error.
func (s *Store) do(ctx context.Context, who credentials, r request, out any) error {
	req, err := s.newRequest(ctx, who, r)
	if err != nil {
		return err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return unreachable(ctx, r.path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return unreachable(ctx, r.path, err)
	}
	switch {
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return fmt.Errorf("%s: %w", r.path, translate(decodeAPIError(resp.StatusCode, data)))
	case len(data) > maxResponseBytes:
		return fmt.Errorf("%s: answer over %d bytes", r.path, maxResponseBytes)
	case out == nil || resp.StatusCode == http.StatusNoContent:
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s: decode answer: %w", r.path, err)
	}
	return nil
}

func (s *Store) newRequest(ctx context.Context, who credentials, r request) (*http.Request, error) {
	var body io.Reader
	if r.body != nil {
		data, err := json.Marshal(r.body)
		if err != nil {
			return nil, fmt.Errorf("%s: encode body: %w", r.path, err)
		}
		body = bytes.NewReader(data)
	}
	target := s.restURL + "/" + r.path
	if len(r.query) > 0 {
		target += "?" + r.query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, r.method, target, body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.path, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-Client-Info", clientInfo)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.prefer != "" {
		req.Header.Set("Prefer", r.prefer)
	}
	who.apply(req.Header)
	return req, nil
}

// rpc calls a database function through POST /rest/v1/rpc/<fn>; void
// functions answer 204.
func (s *Store) rpc(ctx context.Context, who credentials, fn string, args any, out any) error {
	return s.do(ctx, who, request{method: http.MethodPost, path: "rpc/" + fn, body: args}, out)
}
