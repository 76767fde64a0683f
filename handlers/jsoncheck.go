package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/polaris/reportd/report"
)

// maxJSONDepth bounds the nesting of request bodies: a job needs a few
// levels of metadata, not thousands (which cost stack and time to decode).
const maxJSONDepth = 32

// checkJSON walks a JSON document once, before it is decoded, and refuses
// what encoding/json would accept silently: an object with the same key
// twice (json keeps the last one, other parsers the first, so two readers of
// one body could disagree), nesting deeper than maxJSONDepth, and a \u
// escape of half a surrogate pair (json turns it into U+FFFD, changing the
// text without a word).
func checkJSON(body []byte) error {
	if err := walkJSON(body); err != nil {
		return err
	}
	if loneSurrogate(body) {
		return newAPIError(http.StatusBadRequest, "invalid_json",
			"The request body has a \\u escape of half a UTF-16 surrogate pair")
	}
	return nil
}

func walkJSON(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	w := &jsonWalker{dups: &report.ValidationError{}}
	for {
		tok, err := dec.Token()
		if err != nil {
			return w.end(err)
		}
		if err := w.token(tok); err != nil {
			return err
		}
	}
}

// jsonWalker follows the nesting of a token stream: in an object, a string
// token is a key when a key is due.
type jsonWalker struct {
	stack []*jsonFrame
	dups  *report.ValidationError
}

type jsonFrame struct {
	object  bool
	wantKey bool
	keys    map[string]bool
}

func (w *jsonWalker) top() *jsonFrame {
	if len(w.stack) == 0 {
		return nil
	}
	return w.stack[len(w.stack)-1]
}

func (w *jsonWalker) token(tok json.Token) error {
	if d, ok := tok.(json.Delim); ok {
		if d == '{' || d == '[' {
			if len(w.stack) >= maxJSONDepth {
				return newAPIError(http.StatusBadRequest, "invalid_json",
					"The request body is nested more than "+strconv.Itoa(maxJSONDepth)+" levels deep")
			}
			w.stack = append(w.stack, &jsonFrame{object: d == '{', wantKey: true, keys: map[string]bool{}})
			return nil
		}
		w.stack = w.stack[:len(w.stack)-1]
		w.valueDone()
		return nil
	}
	if key, ok := tok.(string); ok {
		if f := w.top(); f != nil && f.object && f.wantKey {
			if f.keys[key] {
				w.dups.Add(key, "the field %q appears more than once", key)
			}
			f.keys[key], f.wantKey = true, false
			return nil
		}
	}
	w.valueDone()
	return nil
}

// valueDone: after a value inside an object, a key is due.
func (w *jsonWalker) valueDone() {
	if f := w.top(); f != nil && f.object {
		f.wantKey = true
	}
}

// end turns the decoder's last error into the walk's answer: io.EOF after a
// complete document is success (or the duplicate fields found).
func (w *jsonWalker) end(err error) error {
	if errors.Is(err, io.EOF) && len(w.stack) == 0 {
		return w.dups.OrNil()
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return newAPIError(http.StatusBadRequest, "invalid_json", "The request body is not valid JSON: "+jsonProblem(err))
}

// loneSurrogate reports whether a string in a (syntactically valid) JSON
// document escapes a high surrogate not followed by a low one, or a low one
// not preceded by a high one.
func loneSurrogate(body []byte) bool {
	inString, pendingHigh := false, false
	for i := 0; i < len(body); i++ {
		c := body[i]
		if !inString {
			inString = c == '"'
			continue
		}
		if c != '\\' {
			if pendingHigh {
				return true
			}
			inString = c != '"'
			continue
		}
		i++ // the escaped character
		if i >= len(body) || body[i] != 'u' || i+4 >= len(body) {
			if pendingHigh {
				return true
			}
			continue
		}
		r, err := strconv.ParseUint(string(body[i+1:i+5]), 16, 16)
		i += 4
		switch {
		case err != nil:
			return true
		case r >= 0xD800 && r <= 0xDBFF:
			if pendingHigh {
				return true
			}
			pendingHigh = true
		case r >= 0xDC00 && r <= 0xDFFF:
			if !pendingHigh {
				return true
			}
			pendingHigh = false
		default:
			if pendingHigh {
				return true
			}
		}
	}
	return pendingHigh
}
