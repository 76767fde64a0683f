package fakellm

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// splitText cuts text into n pieces of nearly equal rune counts, or into
// words (each keeping its trailing space) when n <= 0.
func splitText(text string, n int) []string {
	if text == "" {
		return nil
	}
	if n <= 0 {
		return words(text)
	}
	runes := []rune(text)
	n = min(n, len(runes))
	pieces := make([]string, 0, n)
	for i := range n {
		lo, hi := i*len(runes)/n, (i+1)*len(runes)/n
		pieces = append(pieces, string(runes[lo:hi]))
	}
	return pieces
}

// words cuts text after each run of spaces, so joining the pieces gives text.
func words(text string) []string {
	var pieces []string
	start, inSpace := 0, false
	for i, r := range text {
		space := unicode.IsSpace(r)
		if inSpace && !space {
			pieces = append(pieces, text[start:i])
			start = i
		}
		inSpace = space
	}
	return append(pieces, text[start:])
}

// interval is the wait before each chunk after the first.
func (sc Script) interval(chunks int) time.Duration {
	if sc.Interval > 0 || sc.Duration <= 0 || chunks < 2 {
		return sc.Interval
	}
	return sc.Duration / time.Duration(chunks-1)
}

// answer is the text the script streams.
func (sc Script) answer() string {
	if sc.Text == "" {
		return DefaultText
	}
	return sc.Text
}

// sources are the search results the script reports.
func (sc Script) sources() []Source {
	if sc.Sources != nil {
		return sc.Sources
	}
	return []Source{
		{Title: "Example source one", URL: "https://example.com/one", Date: "2026-01-02", Snippet: "The first example snippet."},
		{Title: "Example source two", URL: "https://example.org/two", Date: "2026-01-03", Snippet: "The second example snippet."},
	}
}

// usage is the token counts and cost the script reports.
func (sc Script) usage(prompt, answer string) Usage {
	if sc.Usage != nil {
		return *sc.Usage
	}
	in, out := estimateTokens(prompt), estimateTokens(answer)
	return Usage{InputTokens: in, OutputTokens: out, Cost: Cost{
		Input: float64(in) / 1e6, Output: float64(out) / 1e6, Request: 0.005, ToolCalls: 0.005,
	}}
}

// estimateTokens guesses a token count the way the usual rule of thumb does:
// one token per four characters, at least one.
func estimateTokens(s string) int {
	return max(1, (utf8.RuneCountInString(s)+3)/4)
}

// isReasoningModel reports whether a Perplexity chat model thinks aloud.
func isReasoningModel(model string) bool {
	return strings.HasPrefix(model, "sonar-reasoning") || model == "sonar-deep-research"
}

// thinkPieces wraps the reasoning text in <think> tags, one piece per word.
func thinkPieces(think string) []string {
	if think == "" {
		think = "Let me look at the sources before answering."
	}
	pieces := append([]string{"<think>"}, words(think)...)
	return append(pieces, "</think>\n\n")
}

// promptOf returns the last user text of a chat or responses request body.
func promptOf(ep Endpoint, body map[string]any) string {
	key := "messages"
	if ep == Responses {
		if s, ok := body["input"].(string); ok {
			return s
		}
		key = "input"
	}
	items, _ := body[key].([]any)
	for i := len(items) - 1; i >= 0; i-- {
		item, _ := items[i].(map[string]any)
		if role, _ := item["role"].(string); role == "user" {
			return contentText(item["content"])
		}
	}
	return ""
}

// contentText flattens a message content: a string or a list of text parts.
func contentText(content any) string {
	if s, ok := content.(string); ok {
		return s
	}
	parts, _ := content.([]any)
	var b strings.Builder
	for _, p := range parts {
		part, _ := p.(map[string]any)
		if text, ok := part["text"].(string); ok {
			b.WriteString(text)
		}
	}
	return b.String()
}
