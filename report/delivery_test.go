package report

import (
	"encoding/json"
	"testing"
)

func TestDeliverableAndFormat(t *testing.T) {
	t.Parallel()
	cases := []struct {
		meta     string
		endpoint string // "" when not delivered
		format   string
	}{
		{`{"report_type":"greeting","report_id":"r1"}`, EndpointPrelimReport, FormatText},
		{`{"report_type":" Organization ","report_id":7}`, EndpointPrelimReport, FormatText},
		{`{"report_type":"org","report_id":"x"}`, EndpointPrelimReport, FormatText},
		{`{"report_type":"requirement","report_id":"x"}`, EndpointPrelimReport, FormatText},
		{`{"report_type":"requirements","report_id":"x","response_format":"json"}`, EndpointPrelimReport, FormatJSON},
		{`{"report_type":"dynamic_questionnaire","report_id":"s"}`, EndpointQuestionnaire, FormatJSON},
		{`{"report_type":"dynamic_questionnaire","response_format":"text"}`, "", FormatJSON},
		{`{"report_type":"greeting"}`, "", FormatText},
		{`{"report_type":"greeting","report_id":"  "}`, "", FormatText},
		{`{"report_type":"greeting","report_id":true}`, "", FormatText},
		{`{"report_type":"summary","report_id":"x"}`, "", FormatText},
		{`{"report_type":5,"report_id":"x"}`, "", FormatText},
		{`{"response_format":"JSON"}`, "", FormatJSON},
		{`{}`, "", FormatText},
	}
	for _, c := range cases {
		j := Job{Metadata: json.RawMessage(c.meta)}
		endpoint, ok := j.Deliverable()
		if endpoint != c.endpoint || ok != (c.endpoint != "") || j.ResponseFormat() != c.format {
			t.Errorf("%s: delivered to %q (%v), format %s; want %q, %s", c.meta, endpoint, ok, j.ResponseFormat(), c.endpoint, c.format)
		}
	}
	if id := (Job{Metadata: json.RawMessage(`{"report_id":12345678901234567890}`)}).ReportID(); id != "12345678901234567890" {
		t.Errorf("numeric report id %q", id)
	}
}
