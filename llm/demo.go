package llm

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/polaris/reportd/report"
)

// DemoModel is the offline model: it needs no key and writes a fixed report,
// so anyone can watch a job's whole lifecycle.
const DemoModel = "demo"

// Demo streams a deterministic Markdown report about the prompt, one piece
// every Delay.
type Demo struct {
	Delay time.Duration
}

// Generate implements report.Generator.
func (d Demo) Generate(ctx context.Context, p report.Prompt, emit func(report.Delta)) (report.Output, error) {
	pieces := demoPieces(p.Text)
	if p.JSON {
		pieces = demoJSONPieces(p.Text)
	}
	var text strings.Builder
	var timer *time.Timer
	for _, piece := range pieces {
		if d.Delay > 0 {
			if timer == nil {
				timer = time.NewTimer(d.Delay)
				defer timer.Stop()
			} else {
				timer.Reset(d.Delay)
			}
			select {
			case <-ctx.Done():
				return report.Output{}, ctx.Err()
			case <-timer.C:
			}
		} else if err := ctx.Err(); err != nil {
			return report.Output{}, err
		}
		text.WriteString(piece)
		emit(report.Delta{Text: piece, Tokens: approxTokens(piece)})
	}
	out := strings.TrimSpace(text.String())
	words := len(strings.Fields(out))
	return report.Output{
		Text: out, Model: DemoModel, Provider: "demo",
		Usage: report.Usage{InputTokens: approxTokens(p.Text), OutputTokens: words, TotalTokens: approxTokens(p.Text) + words},
		Citations: []report.Citation{
			{URL: "https://example.org/reportd/demo-source-1", Title: "Demo source one"},
			{URL: "https://example.org/reportd/demo-source-2", Title: "Demo source two"},
		},
	}, nil
}

// demoPieces splits the demo report into word-sized pieces.
func demoPieces(prompt string) []string {
	topic := strings.TrimSpace(strings.SplitN(prompt, "\n", 2)[0])
	if len([]rune(topic)) > 80 {
		topic = string([]rune(topic)[:80]) + "…"
	}
	body := fmt.Sprintf(`# Demo report: %s

This report was written by the offline demo model. It streams a fixed text so that you can
watch a job move from queued to running to succeeded without any provider account.

## Summary

The request was received, queued, claimed by a worker under a lease, and streamed piece by piece.
Progress and the estimated time left are computed from the text received so far.

## Findings

1. Jobs are stored with their owner, and row-level security keeps them private.
2. A worker renews its lease while it streams; if it stops, another worker takes the job.
3. Cancelling a job stops the stream at once.

## Sources

- [Demo source one](https://example.org/reportd/demo-source-1)
- [Demo source two](https://example.org/reportd/demo-source-2)
`, topic)
	var pieces []string
	for _, line := range strings.SplitAfter(body, "\n") {
		words := strings.SplitAfter(line, " ")
		for i := 0; i < len(words); i += 3 {
			pieces = append(pieces, strings.Join(words[i:min(i+3, len(words))], ""))
		}
	}
	return pieces
}
