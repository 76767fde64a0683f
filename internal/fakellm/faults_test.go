package fakellm_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/polaris/reportd/internal/fakellm"
	"github.com/sashabaranov/go-openai"
)

// closedWithin checks that the server saw the client hang up, no later than
// limit after the client gave up at gaveUp.
func closedWithin(t *testing.T, rec fakellm.Request, gaveUp time.Time, limit time.Duration) {
	t.Helper()
	if !rec.ClientClosed {
		t.Fatalf("server did not see the client close: %+v", rec)
	}
	if lag := rec.ClientClosedAt.Sub(gaveUp); lag > limit {
		t.Errorf("client close seen %v after the client gave up", lag)
	}
}

func TestStallBeforeHeadersTimesOutClient(t *testing.T) {
	t.Parallel()
	s := start(t, fakellm.OpenAI)
	s.Push(fakellm.StallBeforeHeaders(0))
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	_, err := newClient(s.BaseURL(), nil).CreateChatCompletionStream(ctx, chatRequest("m"))
	gaveUp := time.Now()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want a deadline error, got %v", err)
	}
	rec := finished(t, s, 1)
	closedWithin(t, rec, gaveUp, time.Second)
	if rec.Status != 0 || !rec.HeadersAt.IsZero() {
		t.Errorf("no headers should have been sent: %+v", rec)
	}
}

func TestStallBeforeHeadersThenAnswers(t *testing.T) {
	t.Parallel()
	s := start(t, fakellm.OpenAI)
	s.Push(fakellm.StallBeforeHeaders(50 * time.Millisecond))
	res, err := streamChat(timeout(t, 5*time.Second), newClient(s.BaseURL(), nil), chatRequest("m"))
	if err != nil || res.text != fakellm.DefaultText {
		t.Fatalf("got %v %q", err, res.text)
	}
	if rec := finished(t, s, 1); rec.HeadersAt.Sub(rec.Start) < 50*time.Millisecond {
		t.Errorf("headers came after %v", rec.HeadersAt.Sub(rec.Start))
	}
}

func TestStallMidStreamIsDetectableAndCancelRecorded(t *testing.T) {
	t.Parallel()
	for _, f := range []fakellm.Flavor{fakellm.OpenAI, fakellm.Perplexity, fakellm.Anthropic} {
		t.Run(f.String(), func(t *testing.T) {
			t.Parallel()
			s := start(t, f)
			s.Push(fakellm.StallMidStream(2))
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			stream, err := newClient(chatBase(s), nil).CreateChatCompletionStream(ctx, chatRequest("m"))
			if err != nil {
				t.Fatal(err)
			}
			defer stream.Close()
			got, gaveUp := recvUntilStall(t, stream, cancel, 300*time.Millisecond)
			if got != "The quick " {
				t.Errorf("text before the stall %q", got)
			}
			rec := finished(t, s, 1)
			closedWithin(t, rec, gaveUp, time.Second)
			if rec.Chunks != 2 {
				t.Errorf("chunks sent %d", rec.Chunks)
			}
		})
	}
}

// recvUntilStall reads chunks until none arrives for quiet, then cancels the
// request the way a worker's stall detector would, and returns the text and
// when it gave up.
func recvUntilStall(t *testing.T, stream *openai.ChatCompletionStream, cancel context.CancelFunc, quiet time.Duration) (string, time.Time) {
	t.Helper()
	type recv struct {
		chunk openai.ChatCompletionStreamResponse
		err   error
	}
	next := make(chan recv)
	go func() {
		for {
			chunk, err := stream.Recv()
			next <- recv{chunk, err}
			if err != nil {
				return
			}
		}
	}()
	var text strings.Builder
	for {
		select {
		case r := <-next:
			if r.err != nil {
				t.Fatalf("stream ended instead of stalling: %v", r.err)
			}
			for _, ch := range r.chunk.Choices {
				text.WriteString(ch.Delta.Content)
			}
		case <-time.After(quiet):
			gaveUp := time.Now()
			cancel()
			if r := <-next; r.err == nil {
				t.Fatal("stalled stream still delivered a chunk")
			}
			return text.String(), gaveUp
		}
	}
}

func TestResetGivesAnError(t *testing.T) {
	t.Parallel()
	s := start(t, fakellm.OpenAI)
	s.Push(fakellm.Reset(2), fakellm.Reset(fakellm.BeforeHeaders))
	c := newClient(s.BaseURL(), nil)
	res, err := streamChat(timeout(t, 5*time.Second), c, chatRequest("m"))
	t.Logf("go-openai after a mid-stream reset: %v", res.err)
	if err != nil || res.err == nil || res.text != "The quick " {
		t.Errorf("mid-stream reset: create %v, stream %v, text %q", err, res.err, res.text)
	}
	if _, err := streamChat(timeout(t, 5*time.Second), c, chatRequest("m")); err == nil {
		t.Error("reset before headers should fail the request")
	}
	if rec := finished(t, s, 1); rec.Status != http.StatusOK || rec.Chunks != 2 || rec.ClientClosed {
		t.Errorf("recorded %+v", rec)
	}
}

// TestKeepAliveLimit pins go-openai's EmptyMessagesLimit (300): every
// non-data line counts, including the blank line that ends each event, and
// the count restarts at each data line.
func TestKeepAliveLimit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		script fakellm.Script
		fails  bool
	}{
		{"300 before the first chunk pass", fakellm.KeepAlives(300), false},
		{"301 before the first chunk fail", fakellm.KeepAlives(301), true},
		{"299 between chunks pass", fakellm.Script{KeepAlivesBetween: 299}, false},
		{"300 between chunks fail", fakellm.Script{KeepAlivesBetween: 300}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := start(t, fakellm.OpenAI)
			s.Push(tt.script)
			res, err := streamChat(timeout(t, 5*time.Second), newClient(s.BaseURL(), nil), chatRequest("m"))
			if err != nil {
				t.Fatal(err)
			}
			if failed := errors.Is(res.err, openai.ErrTooManyEmptyStreamMessages); failed != tt.fails {
				t.Errorf("stream error %v, want failure %v", res.err, tt.fails)
			}
		})
	}
}

func TestKeepAliveLimitOnResponses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		flavor  fakellm.Flavor
		between int
		fails   bool
	}{
		{fakellm.OpenAI, 298, false}, // "event:" lines count as empty messages too
		{fakellm.OpenAI, 299, true},
		{fakellm.Perplexity, 299, false},
		{fakellm.Perplexity, 300, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d", tt.flavor, tt.between), func(t *testing.T) {
			t.Parallel()
			s := start(t, tt.flavor)
			s.Push(fakellm.Script{KeepAlivesBetween: tt.between})
			res, err := streamEvents(timeout(t, 5*time.Second), newClient(s.BaseURL(), nil), agentRequest())
			if err != nil {
				t.Fatal(err)
			}
			if failed := errors.Is(res.err, openai.ErrTooManyEmptyStreamMessages); failed != tt.fails {
				t.Errorf("stream error %v, want failure %v", res.err, tt.fails)
			}
		})
	}
}

func TestThousandsOfKeepAlives(t *testing.T) {
	t.Parallel()
	s := start(t, fakellm.OpenAI)
	s.Push(fakellm.Script{KeepAlivesBefore: 5000, KeepAlivesBetween: 2000})
	cfg := openai.DefaultConfig(fakellm.DefaultAPIKey)
	cfg.BaseURL = s.BaseURL()
	cfg.EmptyMessagesLimit = 10000 // a worker that expects keep-alives must raise it
	res, err := streamChat(timeout(t, 5*time.Second), openai.NewClientWithConfig(cfg), chatRequest("m"))
	if err != nil || res.err != nil || res.text != fakellm.DefaultText {
		t.Fatalf("got %v / %v %q", err, res.err, res.text)
	}

	s.Push(fakellm.KeepAlives(3000))
	_, _, body := post(t, s.BaseURL()+"/chat/completions", fakellm.DefaultAPIKey, `{"model":"m","stream":true,"messages":[]}`)
	if n := strings.Count(body, ": keep-alive\n"); n != 3000 {
		t.Errorf("%d keep-alive lines on the wire", n)
	}
}

func TestErrorMidStream(t *testing.T) {
	t.Parallel()
	for _, f := range []fakellm.Flavor{fakellm.OpenAI, fakellm.Perplexity} {
		t.Run(f.String(), func(t *testing.T) {
			t.Parallel()
			s := start(t, f)
			s.Push(fakellm.ErrorMidStream(3, "upstream exploded"))
			res, err := streamChat(timeout(t, 5*time.Second), newClient(chatBase(s), nil), chatRequest("m"))
			if err != nil {
				t.Fatal(err)
			}
			var apiErr *openai.APIError
			if !errors.As(res.err, &apiErr) || apiErr.Message != "upstream exploded" || apiErr.HTTPStatusCode != 0 {
				t.Errorf("want an in-stream APIError, got %T %v", res.err, res.err)
			}
			if res.text != "The quick brown " {
				t.Errorf("text before the error %q", res.text)
			}
		})
	}
}

// TestAnthropicErrorMidStreamLooksLikeSuccess documents a go-openai blind
// spot: Anthropic's {"type":"error",...} frame does not start with
// {"error":, so go-openai decodes it as an empty chunk and then reports a
// clean io.EOF. Only the missing finish_reason (or the raw frame) tells.
func TestAnthropicErrorMidStreamLooksLikeSuccess(t *testing.T) {
	t.Parallel()
	s := start(t, fakellm.Anthropic)
	s.Push(fakellm.ErrorMidStream(2, "Overloaded"))
	res, err := streamChat(timeout(t, 5*time.Second), newClient(s.BaseURL(), nil), chatRequest("claude"))
	if err != nil || res.err != nil {
		t.Fatalf("go-openai now reports it: %v / %v", err, res.err)
	}
	last := string(res.raw[len(res.raw)-1])
	if res.finish != "" || !strings.Contains(last, `"type":"error"`) || !strings.Contains(last, "Overloaded") {
		t.Errorf("finish %q, last frame %s", res.finish, last)
	}
}

// TestKeepAlivesHideInStreamError documents another go-openai quirk: comment
// lines are kept in its error accumulator, so after keep-alives an in-stream
// error no longer parses and Recv returns a JSON syntax error instead.
func TestKeepAlivesHideInStreamError(t *testing.T) {
	t.Parallel()
	s := start(t, fakellm.OpenAI)
	sc := fakellm.ErrorMidStream(1, "boom")
	sc.KeepAlivesBefore = 1
	s.Push(sc)
	stream, err := newClient(s.BaseURL(), nil).CreateChatCompletionStream(timeout(t, 5*time.Second), chatRequest("m"))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	var streamErr error
	for streamErr == nil {
		_, streamErr = stream.Recv()
	}
	t.Logf("go-openai after keep-alives + in-stream error: %v", streamErr)
	var apiErr *openai.APIError
	if errors.Is(streamErr, io.EOF) || errors.As(streamErr, &apiErr) {
		t.Errorf("go-openai now surfaces the error properly: %v", streamErr)
	}
}

func TestMissingTerminalLooksLikeEOF(t *testing.T) {
	t.Parallel()
	for _, f := range []fakellm.Flavor{fakellm.OpenAI, fakellm.Perplexity, fakellm.Anthropic} {
		t.Run(f.String(), func(t *testing.T) {
			t.Parallel()
			s := start(t, f)
			s.Push(fakellm.MissingTerminal())
			res, err := streamChat(timeout(t, 5*time.Second), newClient(chatBase(s), nil), chatRequest("m"))
			if err != nil || res.err != nil {
				t.Fatalf("go-openai reports a clean end: %v / %v", err, res.err)
			}
			if res.finish != "" || res.text != fakellm.DefaultText {
				t.Errorf("finish %q text %q: only the missing finish_reason shows the cut", res.finish, res.text)
			}
		})
	}
}

func TestNonStreamingFaults(t *testing.T) {
	t.Parallel()
	s := start(t, fakellm.OpenAI)
	s.Push(fakellm.MissingTerminal(), fakellm.Reset(1), fakellm.ErrorMidStream(1, "nope"),
		fakellm.Script{Terminal: fakellm.Incomplete})
	c := newClient(s.BaseURL(), nil)
	for i, want := range []string{"unexpected EOF", "", "nope", ""} {
		resp, err := c.CreateChatCompletion(timeout(t, 5*time.Second), chatRequest("m"))
		switch {
		case i == 3:
			if err != nil || resp.Choices[0].FinishReason != openai.FinishReasonLength {
				t.Errorf("incomplete: %v %+v", err, resp)
			}
		case err == nil || !strings.Contains(err.Error(), want):
			t.Errorf("call %d: got %v, want an error containing %q", i, err, want)
		}
	}
}

func TestTimedStreamTakesItsDuration(t *testing.T) {
	t.Parallel()
	s := start(t, fakellm.OpenAI)
	s.Push(fakellm.Script{
		Text: "a b c d e", Duration: 200 * time.Millisecond, Delay: 50 * time.Millisecond,
		KeepAlivesBefore: 5, KeepAliveEvery: 20 * time.Millisecond,
	})
	if _, err := streamChat(timeout(t, 5*time.Second), newClient(s.BaseURL(), nil), chatRequest("m")); err != nil {
		t.Fatal(err)
	}
	rec := finished(t, s, 1)
	if first := rec.HeadersAt.Sub(rec.Start); first < 50*time.Millisecond {
		t.Errorf("headers after %v", first)
	}
	if body := rec.End.Sub(rec.HeadersAt); body < 300*time.Millisecond || body > 3*time.Second {
		t.Errorf("stream took %v", body)
	}
}
