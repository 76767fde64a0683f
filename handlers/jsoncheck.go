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
	type frame struct {
		object  bool
		keys    map[string]bool
		wantKey bool
	}
	var stack []*frame
	v := &report.ValidationError{}
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) && len(stack) == 0 {
			return v.OrNil()
		}
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return newAPIError(http.StatusBadRequest, "invalid_json", "The request body is not valid JSON: "+jsonProblem(err))
		}
		top := (*frame)(nil)
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch t := tok.(type) {
		case json.Delim:
			if t == '{' || t == '[' {
				if len(stack) >= maxJSONDepth {
					return newAPIError(http.StatusBadRequest, "invalid_json",
						"The request body is nested more than "+strconv.Itoa(maxJSONDepth)+" levels deep")
				}
				if top != nil && top.object {
					top.wantKey = true
				}
				stack = append(stack, &frame{object: t == '{', keys: map[string]bool{}, wantKey: true})
				continue
			}
			stack = stack[:len(stack)-1]
			if len(stack) > 0 && stack[len(stack)-1].object {
				stack[len(stack)-1].wantKey = true
			}
		case string:
			if top != nil && top.object && top.wantKey {
				if top.keys[t] {
					v.Add(t, "the field %q appears more than once", t)
				}
				top.keys[t] = true
				top.wantKey = false
				continue
			}
			if top != nil && top.object {
				top.wantKey = true
			}
		default:
			if top != nil && top.object {
				top.wantKey = true
			}
		}
	}
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
