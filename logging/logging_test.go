package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

func lines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		m := map[string]any{}
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not a JSON line: %q", l)
		}
		out = append(out, m)
	}
	return out
}

func TestContextAttributesReachEveryLineLoggedWithTheContext(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := New(&buf, slog.LevelInfo)
	ctx := With(context.Background(), slog.String("request_id", "r1"))
	ctx = With(ctx, slog.String("job_id", "j1"), slog.Int("attempt", 2))

	log.InfoContext(ctx, "deep line")
	log.With("component", "x").WarnContext(ctx, "derived logger")
	log.Info("no context")
	log.DebugContext(ctx, "below the level")

	got := lines(t, &buf)
	if len(got) != 3 {
		t.Fatalf("%d lines, want 3: %s", len(got), buf.String())
	}
	for _, l := range got[:2] {
		if l["request_id"] != "r1" || l["job_id"] != "j1" || l["attempt"] != float64(2) {
			t.Fatalf("line lacks the context's ids: %v", l)
		}
	}
	if _, ok := got[2]["request_id"]; ok {
		t.Fatalf("a line logged without the context has its id: %v", got[2])
	}
}

func TestKeysAreNeverRepeated(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := New(&buf, slog.LevelInfo)
	ctx := With(context.Background(), slog.String("job_id", "from-context"), slog.String("request_id", "r"))
	log.With("job_id", "from-with").InfoContext(ctx, "a")
	log.InfoContext(ctx, "b", "request_id", "explicit")
	ctx = With(ctx, slog.String("request_id", "replaced"))
	log.InfoContext(ctx, "c")

	raw := strings.Split(strings.TrimSpace(buf.String()), "\n")
	for _, l := range raw {
		if strings.Count(l, `"job_id"`) > 1 || strings.Count(l, `"request_id"`) > 1 {
			t.Fatalf("a key appears twice: %s", l)
		}
	}
	got := lines(t, &buf)
	if got[0]["job_id"] != "from-with" || got[1]["request_id"] != "explicit" || got[2]["request_id"] != "replaced" {
		t.Fatalf("wrong values kept: %v", got)
	}
}

func TestWrappingTwiceIsWrappingOnce(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	h := Handler(Handler(slog.NewJSONHandler(&buf, nil)))
	if _, ok := h.(*handler).next.(*handler); ok {
		t.Fatal("the handler was wrapped twice")
	}
	slog.New(Handler(h)).InfoContext(With(context.Background(), slog.String("k", "v")), "x")
	if strings.Count(buf.String(), `"k"`) != 1 {
		t.Fatalf("got %s", buf.String())
	}
}
