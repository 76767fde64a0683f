package pgrest_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/polaris/reportd/internal/jwttest"
)

// benchClient keeps enough idle connections for parallel benchmarks.
var benchClient = &http.Client{Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256}}

func benchRequests(b *testing.B, method, path, body, token string) {
	b.Helper()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r, err := http.NewRequest(method, api.URL+path, strings.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			r.Header.Set("Authorization", "Bearer "+token)
			r.Header.Set("Content-Type", "application/json")
			resp, err := benchClient.Do(r)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode >= 300 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}

func BenchmarkRPCScalar(b *testing.B) {
	token := jwttest.UserToken(b, secret, uuid.NewString())
	benchRequests(b, http.MethodPost, "/rpc/add", `{"a":1,"b":2}`, token)
}

func BenchmarkReadUnderRLS(b *testing.B) {
	token := jwttest.UserToken(b, secret, uuid.NewString())
	rows := strings.Repeat(`{"title":"bench"},`, 30)
	seed, _ := http.NewRequest(http.MethodPost, api.URL+"/notes", strings.NewReader("["+strings.TrimSuffix(rows, ",")+"]"))
	seed.Header.Set("Authorization", "Bearer "+token)
	resp, err := benchClient.Do(seed)
	if err != nil || resp.StatusCode != http.StatusCreated {
		b.Fatalf("seed: %v %v", err, resp)
	}
	resp.Body.Close()
	benchRequests(b, http.MethodGet, "/notes?select=id,title,done&order=id.desc&limit=20", "", token)
}

func BenchmarkInsert(b *testing.B) {
	token := jwttest.UserToken(b, secret, uuid.NewString())
	benchRequests(b, http.MethodPost, "/notes", `{"title":"bench"}`, token)
}
