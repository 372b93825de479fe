package gemini

import (
	"encoding/json"
	"fmt"

	"switchyard/internal/llm"
)

// This file is the front door's other half: answers, stream chunks and
// errors written for a Gemini API client.

// FinishReasonFromLLM names a canonical finish reason as Gemini does. A
// tool call ends with STOP, as on the API; a refusal is SAFETY.
func FinishReasonFromLLM(r llm.FinishReason) string {
	switch r {
	case llm.FinishLength:
		return "MAX_TOKENS"
	case llm.FinishContentFilter, llm.FinishRefusal:
		return "SAFETY"
	}
	return "STOP"
}

// UsageFromLLM writes canonical usage as usageMetadata: reasoning tokens
// are thoughtsTokenCount, outside candidatesTokenCount.
func UsageFromLLM(u llm.Usage) *UsageMetadata {
	out := u.OutputTokens - u.ReasoningTokens
	if out < 0 {
		out = 0
	}
	return &UsageMetadata{
		PromptTokenCount:        u.InputTokens,
		CandidatesTokenCount:    out,
		ThoughtsTokenCount:      u.ReasoningTokens,
		CachedContentTokenCount: u.CachedInputTokens,
		TotalTokenCount:         u.InputTokens + u.OutputTokens,
	}
}

// ResponseFromLLM renders a whole answer for a Gemini client; model is the
// name the client asked for. Reasoning is sent as thought parts with their
// signatures; a signature on an empty reasoning part goes on the part
// after it, as the API puts it. Redacted reasoning (Anthropic's encrypted
// thinking) has no Gemini form and is not sent. A tool call whose
// arguments are not a JSON object cannot be rendered and is an error.
func ResponseFromLLM(resp *llm.Response, model string) (*GenerateContentResponse, error) {
	var parts []Part
	signature := ""
	add := func(p Part) {
		if signature != "" {
			p.ThoughtSignature, signature = signature, ""
		}
		parts = append(parts, p)
	}
	for i, p := range resp.Message.Parts {
		switch p.Kind {
		case llm.PartText:
			if p.Text != "" {
				add(Part{Text: p.Text})
			}
		case llm.PartReasoning:
			switch {
			case p.Text != "":
				parts = append(parts, Part{Text: p.Text, Thought: true, ThoughtSignature: p.Signature})
			case p.Signature != "":
				signature = p.Signature
			}
		case llm.PartToolCall:
			fc, err := functionCallFromLLM(p.ToolCall)
			if err != nil {
				return nil, fmt.Errorf("parts[%d]: %w", i, err)
			}
			add(Part{FunctionCall: fc})
		default:
			return nil, fmt.Errorf("parts[%d]: %s parts in an answer", i, p.Kind)
		}
	}
	if signature != "" {
		parts = append(parts, Part{ThoughtSignature: signature})
	}
	if len(parts) == 0 {
		parts = []Part{{Text: ""}}
	}
	return &GenerateContentResponse{
		Candidates: []Candidate{{
			Content:      &Content{Role: RoleModel, Parts: parts},
			FinishReason: FinishReasonFromLLM(resp.FinishReason),
		}},
		UsageMetadata: UsageFromLLM(resp.Usage),
		ModelVersion:  model,
		ResponseID:    resp.ID,
	}, nil
}

func functionCallFromLLM(tc *llm.ToolCall) (*FunctionCall, error) {
	if tc == nil {
		return nil, fmt.Errorf("tool call part without a call")
	}
	args, ok := llm.ObjectArguments(tc.Arguments)
	if !ok {
		return nil, fmt.Errorf("tool call %q: arguments are not a JSON object", tc.Name)
	}
	return &FunctionCall{ID: tc.ID, Name: tc.Name, Args: args}, nil
}

// StreamEncoder renders llm events as :streamGenerateContent chunks, each
// a whole GenerateContentResponse with the next fragments. Text and
// thoughts go out as they come; a function call goes out whole, once its
// arguments are complete (when another part starts, or at the stop). The
// last chunk carries the finish reason and usageMetadata. It is not safe
// for concurrent use.
type StreamEncoder struct {
	model, id string
	// call is the function call being assembled, at index callIndex.
	call      *llm.ToolCall
	callIndex int
	// signature waits for the next part (a signature on an empty thought).
	signature string
	// thoughtText records whether the open reasoning part had text.
	thoughtText map[int]bool
	usage       *llm.Usage
}

// NewStreamEncoder returns an encoder for one answer to a client that asked
// for model; id is the responseId of every chunk unless the answer's start
// event names one.
func NewStreamEncoder(model, id string) *StreamEncoder {
	return &StreamEncoder{model: model, id: id, thoughtText: map[int]bool{}}
}

// Encode returns the JSON chunks for one event (none, one or two).
func (e *StreamEncoder) Encode(ev llm.Event) ([][]byte, error) {
	var parts []Part
	if e.call != nil && (ev.Kind == llm.EventStop || ev.Index != e.callIndex) {
		fc, err := functionCallFromLLM(e.call)
		if err != nil {
			return nil, err
		}
		parts = append(parts, e.withSignature(Part{FunctionCall: fc}))
		e.call = nil
	}
	switch ev.Kind {
	case llm.EventStart:
		if ev.ID != "" {
			e.id = ev.ID
		}
		if ev.Usage != nil {
			u := *ev.Usage
			e.usage = &u
		}
		return nil, nil
	case llm.EventTextDelta:
		if ev.Text != "" {
			parts = append(parts, e.withSignature(Part{Text: ev.Text}))
		}
	case llm.EventReasoningDelta:
		switch {
		case ev.Text != "":
			e.thoughtText[ev.Index] = true
			parts = append(parts, Part{Text: ev.Text, Thought: true, ThoughtSignature: ev.Signature})
		case ev.Signature != "" && e.thoughtText[ev.Index]:
			// The signature closes a thought already sent.
			parts = append(parts, Part{Thought: true, ThoughtSignature: ev.Signature})
		case ev.Signature != "":
			e.signature = ev.Signature
		}
	case llm.EventToolCallDelta:
		tc := ev.ToolCall
		if tc == nil {
			return nil, fmt.Errorf("tool call delta without a call")
		}
		if e.call == nil {
			e.call, e.callIndex = &llm.ToolCall{ID: tc.ID, Name: tc.Name}, ev.Index
		}
		e.call.Arguments += tc.Arguments
	case llm.EventStop:
		if e.signature != "" {
			parts = append(parts, e.withSignature(Part{}))
		}
		u := llm.Usage{}
		if ev.Usage != nil {
			u = *ev.Usage
		} else if e.usage != nil {
			u = *e.usage
		}
		c := Candidate{FinishReason: FinishReasonFromLLM(ev.FinishReason)}
		if len(parts) > 0 {
			c.Content = &Content{Role: RoleModel, Parts: parts}
		}
		b, err := json.Marshal(GenerateContentResponse{Candidates: []Candidate{c}, UsageMetadata: UsageFromLLM(u),
			ModelVersion: e.model, ResponseID: e.id})
		if err != nil {
			return nil, fmt.Errorf("encoding stream chunk: %w", err)
		}
		return [][]byte{b}, nil
	}
	if len(parts) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(GenerateContentResponse{
		Candidates:   []Candidate{{Content: &Content{Role: RoleModel, Parts: parts}}},
		ModelVersion: e.model, ResponseID: e.id,
	})
	if err != nil {
		return nil, fmt.Errorf("encoding stream chunk: %w", err)
	}
	return [][]byte{b}, nil
}

func (e *StreamEncoder) withSignature(p Part) Part {
	if e.signature != "" {
		p.ThoughtSignature, e.signature = e.signature, ""
	}
	return p
}

// Canonical status names of Google API errors, with their HTTP codes.
const (
	StatusInvalidArgument    = "INVALID_ARGUMENT"
	StatusUnauthenticated    = "UNAUTHENTICATED"
	StatusPermissionDenied   = "PERMISSION_DENIED"
	StatusNotFound           = "NOT_FOUND"
	StatusResourceExhausted  = "RESOURCE_EXHAUSTED"
	StatusFailedPrecondition = "FAILED_PRECONDITION"
	StatusInternal           = "INTERNAL"
	StatusUnavailable        = "UNAVAILABLE"
	StatusDeadlineExceeded   = "DEADLINE_EXCEEDED"
	StatusUnimplemented      = "UNIMPLEMENTED"
)

// ErrorBody is a Google API error as a client reads it.
func ErrorBody(code int, status, message string) ErrorResponse {
	return ErrorResponse{Error: &Status{Code: code, Message: message, Status: status}}
}
