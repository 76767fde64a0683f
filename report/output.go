package report

import "strings"

// Response formats a job may ask for in metadata.response_format.
const (
	FormatText = "text" // the default: Markdown or plain text
	FormatJSON = "json" // one JSON document, validated before it is stored
)

// ResponseFormat is the format the job's answer must have: FormatJSON when
// metadata.response_format is "json" or the job is a questionnaire (the old
// route always asked for JSON there), else FormatText.
func (j Job) ResponseFormat() string {
	if j.IsQuestionnaire() {
		return FormatJSON
	}
	if strings.EqualFold(strings.TrimSpace(j.MetadataString("response_format")), FormatJSON) {
		return FormatJSON
	}
	return FormatText
}

// IsQuestionnaire reports whether the job is a dynamic questionnaire, whose
// answer must be a JSON object with a "stages" array.
func (j Job) IsQuestionnaire() bool { return j.ReportType() == ReportTypeQuestionnaire }
