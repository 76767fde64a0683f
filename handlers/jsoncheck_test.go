package handlers

import (
	"errors"
	"strings"
	"testing"

	"github.com/polaris/reportd/report"
)

func TestCheckJSON(t *testing.T) {
	t.Parallel()
	cases := map[string]string{ // body -> "" (accepted), "dup", or "bad"
		`{"a":1,"b":{"a":2},"c":[{"a":1},{"a":1}]}`: "",
		`{"a":"\ud83d\ude00","b":"\\ud800"}`:        "",
		`{"a":1,"a":2}`:                             "dup",
		`{"m":{"x":[1],"x":[2]}}`:                   "dup",
		`{"a":"\ud800"}`:                            "bad",
		`{"a":"\udc00\ud800"}`:                      "bad",
		`{"a":"\ud800x"}`:                           "bad",
		`{"a":"\ud800\n"}`:                          "bad",
		`{"a":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`: "bad",
		`{"a":1`: "bad",
	}
	for body, want := range cases {
		err := checkJSON([]byte(body))
		var v *report.ValidationError
		var api *apiError
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: refused: %v", body, err)
		case want == "dup" && !errors.As(err, &v):
			t.Errorf("%s: %v, want a duplicate-field error", body, err)
		case want == "bad" && (!errors.As(err, &api) || api.status != 400):
			t.Errorf("%s: %v, want 400", body, err)
		}
	}
}
