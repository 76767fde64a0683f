package llm

import "strings"

const (
	thinkOpen  = "<think>"
	thinkClose = "</think>"
)

// splitThink removes reasoning from an answer: everything through the last
// </think> is reasoning (Perplexity's reasoning models put it first). An
// unclosed <think> at the start makes the whole text reasoning.
func splitThink(text string) (answer, reasoning string) {
	if i := strings.LastIndex(text, thinkClose); i >= 0 {
		reasoning = strings.TrimSpace(strings.ReplaceAll(strings.ReplaceAll(text[:i], thinkOpen, ""), thinkClose, ""))
		return text[i+len(thinkClose):], reasoning
	}
	if t := strings.TrimLeft(text, " \t\r\n"); strings.HasPrefix(t, thinkOpen) {
		return "", strings.TrimSpace(t[len(thinkOpen):])
	}
	return text, ""
}

// thinkFilter hides reasoning from streamed pieces as they arrive, so that
// partial text shown to users never contains it. Tags may be split across
// pieces; text that could be the start of a tag is held back.
type thinkFilter struct {
	inside  bool
	pending string
}

// feed takes the next piece and returns the visible text it completes.
func (f *thinkFilter) feed(piece string) string {
	s := f.pending + piece
	f.pending = ""
	var out strings.Builder
	for s != "" {
		tag := thinkOpen
		if f.inside {
			tag = thinkClose
		}
		i := strings.Index(s, tag)
		if i >= 0 {
			if !f.inside {
				out.WriteString(s[:i])
			}
			f.inside = !f.inside
			s = s[i+len(tag):]
			continue
		}
		keep := partialSuffix(s, tag)
		if !f.inside {
			out.WriteString(s[:len(s)-keep])
		}
		f.pending = s[len(s)-keep:]
		break
	}
	return out.String()
}

// partialSuffix is the length of the longest suffix of s that is a proper
// prefix of tag.
func partialSuffix(s, tag string) int {
	for n := min(len(tag)-1, len(s)); n > 0; n-- {
		if strings.HasSuffix(s, tag[:n]) {
			return n
		}
	}
	return 0
}

// approxTokens estimates the tokens in a piece of text (about four
// characters each in English), for progress while the provider has not yet
// reported usage.
func approxTokens(s string) int {
	if s == "" {
		return 0
	}
	return max(1, (len(s)+2)/4)
}
