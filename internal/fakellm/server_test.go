package fakellm_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/polaris/reportd/internal/fakellm"
	"github.com/sashabaranov/go-openai"
)

func TestScriptSelectionOrder(t *testing.T) {
	t.Parallel()
	s := start(t, fakellm.OpenAI)
	s.SetDefault(fakellm.Instant("default"))
	s.Push(fakellm.Instant("first"), fakellm.Instant("second"))
	s.Handle(func(r *fakellm.Request) *fakellm.Script {
		if strings.Contains(r.Prompt, "[marker]") {
			sc := fakellm.Instant("hooked " + r.Model)
			return &sc
		}
		return nil
	})
	c := newClient(s.BaseURL(), nil)
	ask := func(prompt string) string {
		req := chatRequest("gpt-x")
		req.Messages[0].Content = prompt
		res, err := streamChat(timeout(t, 5*time.Second), c, req)
		if err != nil {
			t.Fatal(err)
		}
		return res.text
	}
	got := []string{ask("a"), ask("b [marker]"), ask("c"), ask("d")}
	want := []string{"first", "hooked gpt-x", "second", "default"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("answers %q, want %q", got, want)
			break
		}
	}
}

func TestRequestsAreRecorded(t *testing.T) {
	t.Parallel()
	s := start(t, fakellm.Perplexity)
	status, _, _ := post(t, s.URL+"/chat/completions", fakellm.DefaultAPIKey,
		`{"model":"sonar","messages":[{"role":"user","content":[{"type":"text","text":"parts"}]}]}`)
	if status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	reqs := s.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	r := reqs[0]
	if r.ID != 1 || r.Method != http.MethodPost || r.Endpoint != fakellm.ChatCompletions || r.Flavor != fakellm.Perplexity {
		t.Errorf("recorded %+v", r)
	}
	if r.Prompt != "parts" || r.Stream || r.JSON["model"] != "sonar" || !strings.Contains(string(r.Body), "parts") {
		t.Errorf("recorded body %q prompt %q json %v", r.Body, r.Prompt, r.JSON)
	}
	if !r.Finished() || r.Chunks == 0 {
		t.Errorf("recorded %+v", r)
	}
}

func TestFinishedDropsOldest(t *testing.T) {
	t.Parallel()
	s := start(t, fakellm.OpenAI, fakellm.WithFinishedBuffer(2))
	for range 5 {
		post(t, s.BaseURL()+"/chat/completions", fakellm.DefaultAPIKey, `{"model":"m","messages":[]}`)
	}
	finished(t, s, 5)
	var ids []int
	for len(ids) < 2 {
		select {
		case r := <-s.Finished():
			ids = append(ids, r.ID)
		case <-timeout(t, 5*time.Second).Done():
			t.Fatalf("got %v", ids)
		}
	}
	if ids[0] != 4 || ids[1] != 5 {
		t.Errorf("kept %v, want the newest two", ids)
	}
}

func TestWaitForHonoursContext(t *testing.T) {
	t.Parallel()
	s := start(t, fakellm.OpenAI)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if _, err := s.WaitFor(ctx, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v", err)
	}
}

func TestMaxInWindow(t *testing.T) {
	t.Parallel()
	s := start(t, fakellm.OpenAI)
	for range 5 {
		post(t, s.BaseURL()+"/chat/completions", fakellm.DefaultAPIKey, `{"model":"m","messages":[]}`)
	}
	if n := s.MaxInWindow(time.Minute); n != 5 {
		t.Errorf("max per minute %d", n)
	}
	if n := s.MaxInWindow(time.Nanosecond); n != 1 {
		t.Errorf("max per nanosecond %d", n)
	}
}

func TestRecordLimit(t *testing.T) {
	t.Parallel()
	s := start(t, fakellm.OpenAI, fakellm.WithRecordLimit(3))
	for range 10 {
		post(t, s.BaseURL()+"/chat/completions", fakellm.DefaultAPIKey, `{"model":"m","messages":[]}`)
	}
	reqs := s.Requests()
	if len(reqs) != 3 || reqs[2].ID != 10 {
		t.Errorf("kept %d requests, last %d", len(reqs), reqs[len(reqs)-1].ID)
	}
}

// TestBytesAreDeterministic runs the same scripts on two servers and
// compares the raw bodies byte for byte.
func TestBytesAreDeterministic(t *testing.T) {
	t.Parallel()
	bodies := func() []string {
		var out []string
		for _, f := range []fakellm.Flavor{fakellm.OpenAI, fakellm.Perplexity} {
			s := start(t, f)
			s.Push(fakellm.Script{Text: "same every time", KeepAlivesBetween: 2}, fakellm.ResponseFailed("x"))
			_, _, chat := post(t, s.BaseURL()+"/chat/completions", fakellm.DefaultAPIKey,
				`{"model":"sonar-reasoning","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"q"}]}`)
			_, _, resp := post(t, s.BaseURL()+"/responses", fakellm.DefaultAPIKey, `{"model":"m","input":"q","stream":true}`)
			out = append(out, chat, resp)
		}
		return out
	}
	first, second := bodies(), bodies()
	for i := range first {
		if first[i] != second[i] || first[i] == "" {
			t.Errorf("body %d differs:\n%s\n%s", i, first[i], second[i])
		}
	}
}

// TestThousandConcurrentStreams holds 1,000 go-openai streams open at once,
// then cancels them all and checks the server saw every cancellation.
func TestThousandConcurrentStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 1,000 connections")
	}
	const n = 1000
	s := start(t, fakellm.OpenAI)
	s.SetDefault(fakellm.Script{Fault: fakellm.FaultStall, FaultAfter: 1})
	transport := &http.Transport{MaxIdleConnsPerHost: -1}
	defer transport.CloseIdleConnections()
	cfg := openai.DefaultConfig(fakellm.DefaultAPIKey)
	cfg.BaseURL = s.BaseURL()
	cfg.HTTPClient = &http.Client{Transport: transport}
	c := openai.NewClientWithConfig(cfg)

	ctx, cancel := context.WithCancel(timeout(t, 60*time.Second))
	var opened, done sync.WaitGroup
	errs := make(chan error, n)
	opened.Add(n)
	done.Add(n)
	for range n {
		go func() {
			defer done.Done()
			errs <- firstChunkThenWait(ctx, c, opened.Done)
		}()
	}
	opened.Wait()
	if peak := s.PeakInFlight(); peak != n {
		t.Errorf("peak in flight %d, want %d", peak, n)
	}
	cancel()
	done.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i <= n; i++ {
		if r := finished(t, s, i); !r.ClientClosed || r.Chunks != 1 {
			t.Fatalf("request %d: %+v", i, r)
		}
	}
}

// firstChunkThenWait opens a stream, reads its first text chunk, reports it,
// and waits for ctx to end, which must then end the stream.
func firstChunkThenWait(ctx context.Context, c *openai.Client, opened func()) error {
	stream, err := c.CreateChatCompletionStream(ctx, chatRequest("m"))
	if err != nil {
		opened()
		return err
	}
	defer stream.Close()
	for text := ""; text == ""; {
		chunk, err := stream.Recv()
		if err != nil {
			opened()
			return err
		}
		if len(chunk.Choices) > 0 {
			text = chunk.Choices[0].Delta.Content
		}
	}
	opened()
	if _, err := stream.Recv(); err == nil || ctx.Err() == nil {
		return errors.New("a stalled stream delivered more or ended by itself")
	}
	return nil
}

func TestRawBodyAndHeaders(t *testing.T) {
	t.Parallel()
	s := start(t, fakellm.OpenAI)
	s.Push(fakellm.Script{
		Status: http.StatusAccepted, Body: "data: {\"odd\":true}\n\n",
		Header: http.Header{"Content-Type": {"text/event-stream"}, "X-Custom": {"yes"}},
	})
	status, h, body := post(t, s.BaseURL()+"/chat/completions", fakellm.DefaultAPIKey, `{"model":"m","messages":[]}`)
	if status != http.StatusAccepted || h.Get("X-Custom") != "yes" || h.Get("Content-Type") != "text/event-stream" || body != "data: {\"odd\":true}\n\n" {
		t.Errorf("got %d %v %q", status, h, body)
	}
}

func TestAgentOptions(t *testing.T) {
	t.Parallel()
	s := start(t, fakellm.Perplexity, fakellm.WithPreset("mine", "xai/grok-4"), fakellm.WithAgentFields("temperature"))
	status, _, body := post(t, s.BaseURL()+"/responses", fakellm.DefaultAPIKey, `{"preset":"mine","input":"x","temperature":0.1}`)
	if status != http.StatusOK || !strings.Contains(body, `"model":"xai/grok-4"`) {
		t.Errorf("got %d %s", status, body)
	}
}

// BenchmarkChatStream measures one go-openai stream of nine chunks through
// the fake, end to end.
func BenchmarkChatStream(b *testing.B) {
	s, err := fakellm.New(fakellm.OpenAI, fakellm.WithRecordLimit(1000))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	c := newClient(s.BaseURL(), nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			res, err := streamChat(b.Context(), c, chatRequest("m"))
			if err != nil || res.err != nil {
				b.Fatal(err, res.err)
			}
		}
	})
}
