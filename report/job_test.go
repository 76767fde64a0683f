package report

import (
	"encoding/json"
	"testing"
)

// TestMetadataStringAgreesWithDecoding: the fast path that skips decoding
// must give what decoding the whole metadata gives, escaped keys included.
func TestMetadataStringAgreesWithDecoding(t *testing.T) {
	for _, meta := range []string{
		``, `{}`, `null`, `[]`, `not json`, `{"report_type":"questionnaire"}`, `{"report_type":7}`,
		`{"report_type":null}`, `{"nested":{"report_type":"questionnaire"}}`, `{"note":"report_type"}`,
		`{"report\u005ftype":"questionnaire"}`, `{"report_type":"a","report_type":"b"}`,
		`{"report_type":"questionn\u0061ire"}`, `{"REPORT_TYPE":"questionnaire"}`, `{"report_type":"x"`,
	} {
		j := Job{Metadata: json.RawMessage(meta)}
		want, _ := j.MetadataMap()["report_type"].(string)
		if got := j.MetadataString("report_type"); got != want {
			t.Errorf("metadata %s: MetadataString = %q, decoding gives %q", meta, got, want)
		}
	}
}
