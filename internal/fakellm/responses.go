package fakellm

import (
	"fmt"
	"strings"
)

// responsesEncoder renders OpenAI's Responses API ("event:" + "data:"
// frames) and Perplexity's Agent API (data-only frames, reasoning events and
// a search_results output item). Neither sends [DONE].
type responsesEncoder struct {
	flavor  Flavor
	sc      Script
	failure providerError
	seq     int
	id      string
	msgID   string
	model   string
	prompt  string
	text    []string
	usage   Usage
	sources []Source
	sent    strings.Builder
}

func newResponsesEncoder(s *Server, rec *Request, sc Script, failure providerError) *responsesEncoder {
	e := &responsesEncoder{
		flavor: s.flavor, sc: sc, failure: failure, model: rec.Model, prompt: rec.Prompt,
		id:    fmt.Sprintf("resp_fake_%d", rec.ID),
		msgID: fmt.Sprintf("msg_fake_%d", rec.ID),
		text:  splitText(sc.answer(), sc.Chunks),
	}
	if s.flavor == Perplexity {
		e.model = s.agentModel(rec.JSON)
		e.sources = sc.sources()
	}
	if sc.Model != "" {
		e.model = sc.Model
	}
	e.usage = sc.usage(rec.Prompt, strings.Join(e.text, ""))
	return e
}

func (e *responsesEncoder) pieces() []string { return e.text }

// head opens the response; Perplexity reports its searches before the text.
func (e *responsesEncoder) head() []byte {
	out := e.frame(respEvent{Type: "response.created", Response: e.object("in_progress", false)})
	out = append(out, e.frame(respEvent{Type: "response.in_progress", Response: e.object("in_progress", false)})...)
	if e.flavor == Perplexity && len(e.sources) > 0 {
		out = append(out, e.searchEvents()...)
	}
	out = append(out, e.frame(respEvent{
		Type: "response.output_item.added", OutputIndex: ptr(e.msgIndex()), Item: e.message("in_progress", false),
	})...)
	if e.flavor == OpenAI {
		out = append(out, e.frame(respEvent{
			Type: "response.content_part.added", ItemID: e.msgID, OutputIndex: ptr(0), ContentIndex: ptr(0),
			Part: &contentPart{Type: "output_text", Annotations: []any{}},
		})...)
	}
	return out
}

// searchEvents are Perplexity's reasoning events and search_results item.
func (e *responsesEncoder) searchEvents() []byte {
	out := e.frame(respEvent{Type: "response.reasoning.started", Thought: "Searching the web."})
	out = append(out, e.frame(respEvent{Type: "response.reasoning.search_queries", Queries: []string{e.prompt}})...)
	out = append(out, e.frame(respEvent{Type: "response.reasoning.search_results", Results: e.results()})...)
	out = append(out, e.frame(respEvent{Type: "response.reasoning.stopped"})...)
	out = append(out, e.frame(respEvent{Type: "response.output_item.added", OutputIndex: ptr(0), Item: e.searchItem()})...)
	return append(out, e.frame(respEvent{Type: "response.output_item.done", OutputIndex: ptr(0), Item: e.searchItem()})...)
}

func (e *responsesEncoder) chunk(piece string) []byte {
	e.sent.WriteString(piece)
	return e.frame(respEvent{
		Type: "response.output_text.delta", ItemID: e.msgID,
		OutputIndex: ptr(e.msgIndex()), ContentIndex: ptr(0), Delta: piece,
	})
}

// tail sends exactly one terminal event (after closing the message item
// when the text is complete).
func (e *responsesEncoder) tail() []byte {
	switch e.sc.Terminal {
	case Failed:
		ev := respEvent{Type: "response.failed", Response: e.object("failed", true)}
		if e.flavor == Perplexity { // Perplexity also puts the error beside the response
			ev.Error = e.failureInfo()
		}
		return e.frame(ev)
	case Cancelled:
		return e.frame(respEvent{Type: "response.cancelled", Response: e.object("cancelled", true)})
	case ErrorEvent:
		return e.fault()
	case Incomplete:
		return append(e.closeMessage("incomplete"),
			e.frame(respEvent{Type: "response.incomplete", Response: e.object("incomplete", true)})...)
	default:
		return append(e.closeMessage("completed"),
			e.frame(respEvent{Type: "response.completed", Response: e.object("completed", true)})...)
	}
}

// closeMessage ends the text, its content part (OpenAI) and the message item.
func (e *responsesEncoder) closeMessage(status string) []byte {
	text := e.sent.String()
	out := e.frame(respEvent{
		Type: "response.output_text.done", ItemID: e.msgID,
		OutputIndex: ptr(e.msgIndex()), ContentIndex: ptr(0), Text: &text,
	})
	if e.flavor == OpenAI {
		out = append(out, e.frame(respEvent{
			Type: "response.content_part.done", ItemID: e.msgID, OutputIndex: ptr(0), ContentIndex: ptr(0),
			Part: &contentPart{Type: "output_text", Text: text, Annotations: []any{}},
		})...)
	}
	return append(out, e.frame(respEvent{
		Type: "response.output_item.done", OutputIndex: ptr(e.msgIndex()), Item: e.message(status, true),
	})...)
}

// fault is the bare "error" event, which is also terminal.
func (e *responsesEncoder) fault() []byte {
	return e.frame(respEvent{Type: "error", Code: e.failure.code(e.flavor), Message: e.failure.message})
}

func (e *responsesEncoder) whole() ([]byte, bool) {
	e.sent.WriteString(strings.Join(e.text, ""))
	status := map[Terminal]string{Failed: "failed", Cancelled: "cancelled", Incomplete: "incomplete"}[e.sc.Terminal]
	switch {
	case e.sc.Terminal == ErrorEvent:
		return nil, true
	case status == "":
		status = "completed"
	}
	return mustJSON(e.object(status, true)), false
}

// frame numbers an event and renders it in the flavour's SSE framing.
func (e *responsesEncoder) frame(ev respEvent) []byte {
	ev.SequenceNumber = e.seq
	e.seq++
	data := dataFrame(mustJSON(ev))
	if e.flavor == Perplexity {
		return data
	}
	return append([]byte("event: "+ev.Type+"\n"), data...)
}

// object is the response object in a given status; final ones carry the
// output, usage and, when failed or incomplete, why.
func (e *responsesEncoder) object(status string, final bool) *respObject {
	o := &respObject{
		ID: e.id, Object: "response", CreatedAt: created, Status: status, Model: e.model, Output: []any{},
	}
	if !final {
		return o
	}
	if e.flavor == Perplexity && len(e.sources) > 0 {
		o.Output = append(o.Output, e.searchItem())
	}
	o.Output = append(o.Output, e.message(status, true))
	if e.flavor == Perplexity {
		o.OutputText = e.sent.String()
	}
	switch status {
	case "failed":
		o.Error = e.failureInfo()
	case "incomplete":
		o.IncompleteDetails = &incompleteDetails{Reason: "max_output_tokens"}
	}
	o.Usage = e.usageJSON()
	return o
}

// message is the assistant message item with the text sent so far.
func (e *responsesEncoder) message(status string, withText bool) messageItem {
	m := messageItem{Type: "message", ID: e.msgID, Status: status, Role: "assistant", Content: []contentPart{}}
	if withText {
		m.Content = append(m.Content, contentPart{Type: "output_text", Text: e.sent.String(), Annotations: []any{}})
	}
	return m
}

func (e *responsesEncoder) searchItem() searchItem {
	return searchItem{Type: "search_results", Queries: []string{e.prompt}, Results: e.results()}
}

func (e *responsesEncoder) results() []searchResult {
	out := make([]searchResult, len(e.sources))
	for i, s := range e.sources {
		out[i] = searchResult{ID: i + 1, Title: s.Title, URL: s.URL, Date: s.Date, Snippet: s.Snippet, Source: "web"}
	}
	return out
}

// msgIndex is the message's place in output: after Perplexity's search item.
func (e *responsesEncoder) msgIndex() int {
	if e.flavor == Perplexity && len(e.sources) > 0 {
		return 1
	}
	return 0
}

func (e *responsesEncoder) failureInfo() *respError {
	return &respError{Code: e.failure.code(e.flavor), Message: e.failure.message}
}

func (e *responsesEncoder) usageJSON() *respUsage {
	u := &respUsage{
		InputTokens: e.usage.InputTokens, OutputTokens: e.usage.OutputTokens,
		TotalTokens: e.usage.InputTokens + e.usage.OutputTokens,
	}
	if e.flavor == Perplexity {
		c := e.usage.Cost
		u.Cost = &agentCost{Currency: "USD", InputCost: c.Input, OutputCost: c.Output, ToolCallsCost: c.ToolCalls,
			TotalCost: orSum(c.Total, c.Input, c.Output, c.ToolCalls)}
	}
	return u
}

type respEvent struct {
	Type           string         `json:"type"`
	SequenceNumber int            `json:"sequence_number"`
	Response       *respObject    `json:"response,omitempty"`
	OutputIndex    *int           `json:"output_index,omitempty"`
	ContentIndex   *int           `json:"content_index,omitempty"`
	ItemID         string         `json:"item_id,omitempty"`
	Item           any            `json:"item,omitempty"`
	Part           *contentPart   `json:"part,omitempty"`
	Delta          string         `json:"delta,omitempty"`
	Text           *string        `json:"text,omitempty"`
	Thought        string         `json:"thought,omitempty"`
	Queries        []string       `json:"queries,omitempty"`
	Results        []searchResult `json:"results,omitempty"`
	Code           string         `json:"code,omitempty"`
	Message        string         `json:"message,omitempty"`
	Error          *respError     `json:"error,omitempty"`
}

type respObject struct {
	ID                string             `json:"id"`
	Object            string             `json:"object"`
	CreatedAt         int64              `json:"created_at"`
	Status            string             `json:"status"`
	Model             string             `json:"model"`
	Output            []any              `json:"output"`
	OutputText        string             `json:"output_text,omitempty"`
	Error             *respError         `json:"error"`
	IncompleteDetails *incompleteDetails `json:"incomplete_details"`
	Usage             *respUsage         `json:"usage"`
}

type respError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type incompleteDetails struct {
	Reason string `json:"reason"`
}

type respUsage struct {
	InputTokens  int        `json:"input_tokens"`
	OutputTokens int        `json:"output_tokens"`
	TotalTokens  int        `json:"total_tokens"`
	Cost         *agentCost `json:"cost,omitempty"`
}

type agentCost struct {
	Currency      string  `json:"currency"`
	InputCost     float64 `json:"input_cost"`
	OutputCost    float64 `json:"output_cost"`
	ToolCallsCost float64 `json:"tool_calls_cost"`
	TotalCost     float64 `json:"total_cost"`
}

type messageItem struct {
	Type    string        `json:"type"`
	ID      string        `json:"id"`
	Status  string        `json:"status"`
	Role    string        `json:"role"`
	Content []contentPart `json:"content"`
}

type contentPart struct {
	Type        string `json:"type"`
	Text        string `json:"text"`
	Annotations []any  `json:"annotations"`
}

type searchItem struct {
	Type    string         `json:"type"`
	Queries []string       `json:"queries,omitempty"`
	Results []searchResult `json:"results"`
}
