package llm

import (
	"strings"
	"testing"
)

func TestSplitThink(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, answer, reasoning string }{
		{"<think>hmm</think>\nThe answer.", "\nThe answer.", "hmm"},
		{"<think>a</think>mid<think>b</think>end", "end", "amidb"},
		{"no reasoning", "no reasoning", ""},
		{"  <think>never closed", "", "never closed"},
	}
	for _, c := range cases {
		a, r := splitThink(c.in)
		if a != c.answer || r != c.reasoning {
			t.Errorf("splitThink(%q) = %q, %q; want %q, %q", c.in, a, r, c.answer, c.reasoning)
		}
	}
}

func TestThinkFilterAcrossPieces(t *testing.T) {
	t.Parallel()
	text := "<think>secret plan</think>Visible <b>text</b> here."
	for size := 1; size <= len(text); size++ {
		var f thinkFilter
		var out strings.Builder
		for i := 0; i < len(text); i += size {
			out.WriteString(f.feed(text[i:min(i+size, len(text))]))
		}
		if got := out.String(); got != "Visible <b>text</b> here." {
			t.Fatalf("piece size %d: %q", size, got)
		}
	}
}
