package openai

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"switchyard/internal/llm"
)

// passthroughKey is the llm.Request.Passthrough key of OpenAI-only fields.
const passthroughKey = "openai"

// DecodeChatRequest decodes a Chat Completions request body strictly: a
// member of the wrong type, an unknown member inside a message, part, tool
// or format, or malformed JSON is an error that names the member's path
// ("messages[1].content[0].image_url.url: expected string, got number")
// and wraps llm.ErrInvalid. Unknown top-level members are kept in Extra,
// unknown members nested deeper in Unknown (see decodeStrict for why they
// are not refused here).
func DecodeChatRequest(body []byte) (*ChatRequest, error) {
	var r ChatRequest
	if err := decodeStrict(body, &r, &r.Unknown); err != nil {
		return nil, err
	}
	return &r, nil
}

// RequestToLLM translates a client's request into the canonical model.
// System and developer messages become Request.System, in order; tool
// messages become PartToolResult parts of a user message (consecutive tool
// messages, and a user message right after them, share one). Top-level
// members without a canonical field go to Passthrough["openai"] verbatim;
// nested members no wire type declares (ChatRequest.Unknown) go to
// Passthrough["openai.chat"] by JSON path: the fast path carries them in
// the client's bytes, and every channel that translates refuses them by
// name, since dropping them could change the request's meaning. A
// message's annotations are dropped (see Message).
// stream_options is not carried: it shapes the client-facing stream, which
// the front door writes itself. Errors wrap llm.ErrInvalid (the message
// says what to fix) or llm.ErrUnsupported (a feature the gateway does not
// translate). Raw is left for the caller to set.
func RequestToLLM(r *ChatRequest) (*llm.Request, error) {
	if r.Model == "" {
		return nil, invalid("model", "you must provide a model parameter")
	}
	out := &llm.Request{
		Model:             r.Model,
		Stream:            r.Stream,
		ParallelToolCalls: clonePtr(r.ParallelToolCalls),
		Temperature:       clonePtr(r.Temperature),
		TopP:              clonePtr(r.TopP),
		Seed:              clonePtr(r.Seed),
		User:              r.User,
		Metadata:          maps.Clone(r.Metadata),
	}
	if err := messagesToLLM(r.Messages, out); err != nil {
		return nil, err
	}
	var err error
	if out.Tools, err = toolsToLLM(r.Tools); err != nil {
		return nil, err
	}
	if out.ToolChoice, err = toolChoiceToLLM(r.ToolChoice, out.Tools); err != nil {
		return nil, err
	}
	if out.MaxTokens, err = maxTokensToLLM(r.MaxCompletionTokens, r.MaxTokens); err != nil {
		return nil, err
	}
	if r.N != nil {
		if *r.N < 1 {
			return nil, invalid("n", "must be at least 1")
		}
		out.N = *r.N
	}
	switch {
	case r.Stop.OfString != nil:
		out.Stop = []string{*r.Stop.OfString}
	case len(r.Stop.OfList) > 0:
		out.Stop = slices.Clone(r.Stop.OfList)
	}
	if out.Format, err = formatToLLM(r.ResponseFormat); err != nil {
		return nil, err
	}
	if r.ReasoningEffort != "" {
		out.Reasoning = &llm.Reasoning{Effort: r.ReasoningEffort}
	}
	for _, k := range slices.Sorted(maps.Keys(r.Extra)) {
		if k == "functions" || k == "function_call" {
			return nil, unsupported(k, "legacy function calling is not supported; use tools and tool_choice")
		}
	}
	if len(r.Extra) > 0 {
		out.Passthrough = map[string]map[string]json.RawMessage{passthroughKey: maps.Clone(r.Extra)}
	}
	if len(r.Unknown) > 0 {
		if out.Passthrough == nil {
			out.Passthrough = make(map[string]map[string]json.RawMessage, 1)
		}
		out.Passthrough[RawDialectChat] = maps.Clone(r.Unknown)
	}
	return out, nil
}

func messagesToLLM(msgs []Message, out *llm.Request) error {
	if len(msgs) == 0 {
		return invalid("messages", "at least one message is required")
	}
	names := make(map[string]string) // tool call ID → function name
	// toolTurn says the last message of out holds tool results and takes
	// what follows: more results, then at most one user message's parts.
	toolTurn := false
	for i, m := range msgs {
		p := "messages[" + strconv.Itoa(i) + "]"
		if err := checkMessageFields(p, m); err != nil {
			return err
		}
		switch m.Role {
		case "system", "developer":
			parts, err := contentToLLM(p, m.Role, m.Content)
			if err != nil {
				return err
			}
			out.System = append(out.System, parts...)
		case "user":
			parts, err := contentToLLM(p, m.Role, m.Content)
			if err != nil {
				return err
			}
			if toolTurn {
				last := &out.Messages[len(out.Messages)-1]
				last.Parts = append(last.Parts, parts...)
				toolTurn = false
				continue
			}
			out.Messages = append(out.Messages, llm.Message{Role: llm.RoleUser, Parts: parts})
		case "assistant":
			parts, err := assistantPartsToLLM(p, m, names)
			if err != nil {
				return err
			}
			out.Messages = append(out.Messages, llm.Message{Role: llm.RoleAssistant, Parts: parts})
			toolTurn = false
		case "tool":
			content, err := contentToLLM(p, m.Role, m.Content)
			if err != nil {
				return err
			}
			name := m.Name
			if name == "" {
				name = names[m.ToolCallID]
			}
			part := llm.Part{Kind: llm.PartToolResult, ToolResult: &llm.ToolResult{CallID: m.ToolCallID, Name: name, Content: content}}
			if toolTurn {
				last := &out.Messages[len(out.Messages)-1]
				last.Parts = append(last.Parts, part)
				continue
			}
			out.Messages = append(out.Messages, llm.Message{Role: llm.RoleUser, Parts: []llm.Part{part}})
			toolTurn = true
		}
	}
	return nil
}

// checkMessageFields checks a message's role and that it carries only the
// members its role allows.
func checkMessageFields(p string, m Message) error {
	switch m.Role {
	case "system", "developer", "user", "assistant", "tool":
	case "function":
		return unsupported(p+".role", `role "function" (legacy function calling) is not supported; use role "tool"`)
	case "":
		return invalid(p+".role", "required")
	default:
		return invalid(p+".role", "unknown role %q; use system, developer, user, assistant or tool", m.Role)
	}
	switch {
	case m.FunctionCall != nil:
		return unsupported(p+".function_call", "legacy function calling is not supported; use tool_calls")
	case m.Audio != nil:
		return unsupported(p+".audio", "audio is not supported")
	case m.Name != "" && m.Role != "tool":
		return unsupported(p+".name", "participant names are not supported")
	case len(m.ToolCalls) > 0 && m.Role != "assistant":
		return invalid(p+".tool_calls", "only assistant messages carry tool calls")
	case m.Refusal != nil && m.Role != "assistant":
		return invalid(p+".refusal", "only assistant messages carry a refusal")
	case m.ToolCallID != "" && m.Role != "tool":
		return invalid(p+".tool_call_id", "only tool messages carry a tool_call_id")
	case m.ToolCallID == "" && m.Role == "tool":
		return invalid(p+".tool_call_id", "required")
	}
	return nil
}

// contentToLLM reads a message's content. Only user messages take parts
// other than text.
func contentToLLM(p, role string, c Content) ([]llm.Part, error) {
	switch {
	case c.OfString != nil:
		return []llm.Part{llm.Text(*c.OfString)}, nil
	case c.OfParts == nil:
		return nil, invalid(p+".content", "required")
	case len(c.OfParts) == 0:
		return nil, invalid(p+".content", "must not be empty")
	}
	parts := make([]llm.Part, 0, len(c.OfParts))
	for j, cp := range c.OfParts {
		q := p + ".content[" + strconv.Itoa(j) + "]"
		switch {
		case cp.Type == "text":
			if cp.Text == nil {
				return nil, invalid(q+".text", "required")
			}
			parts = append(parts, llm.Text(*cp.Text))
		case role != "user":
			return nil, invalid(q+".type", "%s messages take only text parts, got %q", role, cp.Type)
		case cp.Type == "image_url":
			img, err := imageToLLM(q+".image_url", cp.ImageURL)
			if err != nil {
				return nil, err
			}
			parts = append(parts, llm.Part{Kind: llm.PartImage, Image: img})
		case cp.Type == "input_audio", cp.Type == "file":
			return nil, unsupported(q+".type", "%q parts are not supported", cp.Type)
		case cp.Type == "":
			return nil, invalid(q+".type", "required")
		default:
			return nil, invalid(q+".type", "unknown content part type %q", cp.Type)
		}
	}
	return parts, nil
}

// imageToLLM decodes data URLs; http(s) URLs are kept for the upstream to
// fetch.
func imageToLLM(p string, u *ImageURL) (*llm.Image, error) {
	if u == nil || u.URL == "" {
		return nil, invalid(p+".url", "required")
	}
	switch u.Detail {
	case "", "auto", "low", "high":
	default:
		return nil, invalid(p+".detail", "unknown detail %q; use auto, low or high", u.Detail)
	}
	scheme, rest, _ := strings.Cut(u.URL, ":")
	switch strings.ToLower(scheme) {
	case "http", "https":
		return &llm.Image{URL: u.URL, Detail: u.Detail}, nil
	case "data":
		mime, data, err := parseDataURL(rest)
		if err != nil {
			return nil, invalid(p+".url", "%v", err)
		}
		return &llm.Image{MIMEType: mime, Data: data, Detail: u.Detail}, nil
	}
	return nil, invalid(p+".url", "must be an http(s) URL or a base64 data URL")
}

// parseDataURL reads the part of a data URL after "data:"; only base64
// payloads are accepted, as every image upstream needs bytes.
func parseDataURL(s string) (mime string, data []byte, err error) {
	meta, payload, ok := strings.Cut(s, ",")
	if !ok {
		return "", nil, errors.New("data URL has no comma")
	}
	meta, isBase64 := strings.CutSuffix(meta, ";base64")
	if !isBase64 {
		return "", nil, errors.New("data URL must be base64-encoded")
	}
	mime, _, _ = strings.Cut(meta, ";")
	if mime == "" {
		return "", nil, errors.New("data URL has no media type")
	}
	data, err = base64.StdEncoding.DecodeString(payload)
	if err != nil {
		if data, err = base64.RawStdEncoding.DecodeString(payload); err != nil {
			return "", nil, errors.New("data URL payload is not valid base64")
		}
	}
	return strings.ToLower(mime), data, nil
}

// assistantPartsToLLM reads an assistant turn. A refusal is kept as text:
// it is what the assistant said, and no other dialect has a refusal field.
func assistantPartsToLLM(p string, m Message, names map[string]string) ([]llm.Part, error) {
	var parts []llm.Part
	switch {
	case m.Content.OfString != nil:
		// Clients often send "" next to tool calls; it is no text at all.
		if s := *m.Content.OfString; s != "" || len(m.ToolCalls) == 0 {
			parts = append(parts, llm.Text(s))
		}
	case m.Content.OfParts != nil:
		for j, cp := range m.Content.OfParts {
			q := p + ".content[" + strconv.Itoa(j) + "]"
			switch {
			case cp.Type == "text" && cp.Text != nil:
				parts = append(parts, llm.Text(*cp.Text))
			case cp.Type == "refusal" && cp.Refusal != nil:
				parts = append(parts, llm.Text(*cp.Refusal))
			case cp.Type == "text":
				return nil, invalid(q+".text", "required")
			case cp.Type == "refusal":
				return nil, invalid(q+".refusal", "required")
			default:
				return nil, invalid(q+".type", "assistant messages take only text and refusal parts, got %q", cp.Type)
			}
		}
	}
	if m.Refusal != nil && *m.Refusal != "" {
		parts = append(parts, llm.Text(*m.Refusal))
	}
	for j, tc := range m.ToolCalls {
		q := p + ".tool_calls[" + strconv.Itoa(j) + "]"
		switch tc.Type {
		case "function", "":
		case "custom":
			return nil, unsupported(q+".type", `"custom" tool calls are not supported`)
		default:
			return nil, invalid(q+".type", "unknown tool call type %q", tc.Type)
		}
		if tc.ID == "" {
			return nil, invalid(q+".id", "required")
		}
		if tc.Function == nil || tc.Function.Name == "" {
			return nil, invalid(q+".function.name", "required")
		}
		names[tc.ID] = tc.Function.Name
		parts = append(parts, llm.Part{Kind: llm.PartToolCall, ToolCall: &llm.ToolCall{
			ID: tc.ID, Name: tc.Function.Name, Arguments: tc.Function.Arguments,
		}})
	}
	if len(parts) == 0 {
		return nil, invalid(p+".content", "required unless tool_calls is set")
	}
	return parts, nil
}

func toolsToLLM(tools []Tool) ([]llm.Tool, error) {
	if len(tools) == 0 {
		return nil, nil
	}
	out := make([]llm.Tool, 0, len(tools))
	for i, t := range tools {
		p := "tools[" + strconv.Itoa(i) + "]"
		switch t.Type {
		case "function":
		case "custom":
			return nil, unsupported(p+".type", `"custom" tools are not supported`)
		case "":
			return nil, invalid(p+".type", "required")
		default:
			return nil, unsupported(p+".type", "tool type %q is not supported", t.Type)
		}
		f := t.Function
		if f == nil {
			return nil, invalid(p+".function", "required")
		}
		if f.Name == "" {
			return nil, invalid(p+".function.name", "required")
		}
		if f.Parameters != nil && kindOf(f.Parameters) != kindObject {
			return nil, invalid(p+".function.parameters", "must be a JSON Schema object")
		}
		out = append(out, llm.Tool{
			Name:        f.Name,
			Description: f.Description,
			Parameters:  f.Parameters,
			Strict:      f.Strict != nil && *f.Strict,
		})
	}
	return out, nil
}

func toolChoiceToLLM(c ToolChoice, tools []llm.Tool) (llm.ToolChoice, error) {
	switch {
	case c.OfMode != nil:
		switch *c.OfMode {
		case "auto":
			return llm.ToolChoice{Mode: llm.ToolChoiceAuto}, nil
		case "none":
			return llm.ToolChoice{Mode: llm.ToolChoiceNone}, nil
		case "required":
			if len(tools) == 0 {
				return llm.ToolChoice{}, invalid("tool_choice", `"required" needs tools`)
			}
			return llm.ToolChoice{Mode: llm.ToolChoiceRequired}, nil
		}
		return llm.ToolChoice{}, invalid("tool_choice", "unknown mode %q; use none, auto or required", *c.OfMode)
	case c.OfObject != nil:
		o := c.OfObject
		switch o.Type {
		case "function":
		case "allowed_tools", "custom":
			return llm.ToolChoice{}, unsupported("tool_choice.type", "%q is not supported", o.Type)
		case "":
			return llm.ToolChoice{}, invalid("tool_choice.type", "required")
		default:
			return llm.ToolChoice{}, invalid("tool_choice.type", "unknown type %q", o.Type)
		}
		if o.Function == nil || o.Function.Name == "" {
			return llm.ToolChoice{}, invalid("tool_choice.function.name", "required")
		}
		if !slices.ContainsFunc(tools, func(t llm.Tool) bool { return t.Name == o.Function.Name }) {
			return llm.ToolChoice{}, invalid("tool_choice.function.name", "no tool named %q is declared", o.Function.Name)
		}
		return llm.ToolChoice{Mode: llm.ToolChoiceTool, Name: o.Function.Name}, nil
	}
	return llm.ToolChoice{}, nil
}

func maxTokensToLLM(maxCompletion, legacy *int) (int, error) {
	if maxCompletion != nil && *maxCompletion < 1 {
		return 0, invalid("max_completion_tokens", "must be at least 1")
	}
	if legacy != nil && *legacy < 1 {
		return 0, invalid("max_tokens", "must be at least 1")
	}
	switch {
	case maxCompletion != nil && legacy != nil && *maxCompletion != *legacy:
		return 0, invalid("max_tokens", "conflicts with max_completion_tokens; send only max_completion_tokens")
	case maxCompletion != nil:
		return *maxCompletion, nil
	case legacy != nil:
		return *legacy, nil
	}
	return 0, nil
}

func formatToLLM(f *ResponseFormat) (*llm.ResponseFormat, error) {
	if f == nil {
		return nil, nil
	}
	switch f.Type {
	case "text":
		return &llm.ResponseFormat{Kind: llm.FormatText}, nil
	case "json_object":
		return &llm.ResponseFormat{Kind: llm.FormatJSONObject}, nil
	case "json_schema":
	case "":
		return nil, invalid("response_format.type", "required")
	default:
		return nil, unsupported("response_format.type", "%q is not supported", f.Type)
	}
	s := f.JSONSchema
	switch {
	case s == nil:
		return nil, invalid("response_format.json_schema", "required")
	case s.Name == "":
		return nil, invalid("response_format.json_schema.name", "required")
	case s.Description != "":
		return nil, unsupported("response_format.json_schema.description", "schema descriptions are not supported")
	case s.Schema != nil && kindOf(s.Schema) != kindObject:
		return nil, invalid("response_format.json_schema.schema", "must be a JSON Schema object")
	}
	return &llm.ResponseFormat{Kind: llm.FormatJSONSchema, Name: s.Name, Schema: s.Schema, Strict: s.Strict != nil && *s.Strict}, nil
}

// RequestFromLLM translates a canonical request for an OpenAI upstream.
// Passthrough["openai"] members are written back at the top level. It
// fails, wrapping llm.ErrUnsupported, for what Chat Completions cannot
// express: several choices, top_k, images in system prompts or tool
// results, and fields passed through for another dialect. Reasoning parts
// of earlier assistant turns are not sent: Chat Completions takes no
// reasoning input, and OpenAI itself discards reasoning between turns.
// Cache hints are not sent either: OpenAI caches prompt prefixes by
// itself. Raw is ignored; the adapter decides about the fast path.
func RequestFromLLM(r *llm.Request) (*ChatRequest, error) {
	return requestFromLLM(r, passthroughKey)
}

// requestFromLLM is RequestFromLLM naming the channel's dialect in errors.
func requestFromLLM(r *llm.Request, dialect string) (*ChatRequest, error) {
	if r.N > 1 {
		return nil, unsupported("", "%s: several choices (n > 1) are not supported", dialect)
	}
	if r.TopK != nil {
		return nil, unsupported("", "%s: top_k is not supported", dialect)
	}
	if fields := r.Passthrough[RawDialectChat]; len(fields) > 0 {
		return nil, unsupported("", "%s: members only the client's own request can carry are not supported: %s",
			dialect, strings.Join(slices.Sorted(maps.Keys(fields)), ", "))
	}
	for _, name := range slices.Sorted(maps.Keys(r.Passthrough)) {
		if fields := r.Passthrough[name]; name != passthroughKey && len(fields) > 0 {
			return nil, unsupported("", "%s: fields only %s understands are not supported: %s",
				dialect, name, strings.Join(slices.Sorted(maps.Keys(fields)), ", "))
		}
	}
	out := &ChatRequest{
		Model:             r.Model,
		Stream:            r.Stream,
		ParallelToolCalls: clonePtr(r.ParallelToolCalls),
		Temperature:       clonePtr(r.Temperature),
		TopP:              clonePtr(r.TopP),
		Seed:              clonePtr(r.Seed),
		User:              r.User,
		Metadata:          maps.Clone(r.Metadata),
	}
	if r.Stream {
		out.StreamOptions = &StreamOptions{IncludeUsage: true}
	}
	if r.N == 1 {
		out.N = new(1)
	}
	if r.MaxTokens > 0 {
		out.MaxCompletionTokens = new(r.MaxTokens)
	}
	if len(r.Stop) > 0 {
		out.Stop = Stop{OfList: slices.Clone(r.Stop)}
	}
	if len(r.System) > 0 {
		c, err := textContentFromLLM(r.System, dialect, "the system prompt")
		if err != nil {
			return nil, err
		}
		out.Messages = append(out.Messages, Message{Role: "system", Content: c})
	}
	for i, m := range r.Messages {
		msgs, err := messageFromLLM(m, dialect, "messages["+strconv.Itoa(i)+"]")
		if err != nil {
			return nil, err
		}
		out.Messages = append(out.Messages, msgs...)
	}
	for _, t := range r.Tools {
		f := &FunctionDefinition{Name: t.Name, Description: t.Description, Parameters: t.Parameters}
		if t.Strict {
			f.Strict = new(true)
		}
		out.Tools = append(out.Tools, Tool{Type: "function", Function: f})
	}
	switch r.ToolChoice.Mode {
	case llm.ToolChoiceNone:
		out.ToolChoice = ToolChoice{OfMode: new("none")}
	case llm.ToolChoiceRequired:
		out.ToolChoice = ToolChoice{OfMode: new("required")}
	case llm.ToolChoiceTool:
		out.ToolChoice = ToolChoice{OfObject: &ToolChoiceObject{Type: "function", Function: &ToolChoiceFunction{Name: r.ToolChoice.Name}}}
	}
	if f := r.Format; f != nil {
		switch f.Kind {
		case llm.FormatText:
			out.ResponseFormat = &ResponseFormat{Type: "text"}
		case llm.FormatJSONObject:
			out.ResponseFormat = &ResponseFormat{Type: "json_object"}
		case llm.FormatJSONSchema:
			s := &JSONSchema{Name: f.Name, Schema: f.Schema}
			if s.Name == "" {
				s.Name = "response" // required by OpenAI; other dialects name no schema
			}
			if f.Strict {
				s.Strict = new(true)
			}
			out.ResponseFormat = &ResponseFormat{Type: "json_schema", JSONSchema: s}
		}
	}
	if rs := r.Reasoning; rs != nil {
		out.ReasoningEffort = rs.Effort
		if out.ReasoningEffort == "" {
			out.ReasoningEffort = effortForBudget(rs.BudgetTokens)
		}
	}
	if extra := r.Passthrough[passthroughKey]; len(extra) > 0 {
		for _, k := range slices.Sorted(maps.Keys(extra)) {
			if fieldIndex(reflect.TypeFor[ChatRequest](), k) >= 0 {
				return nil, invalid("", "%s: passthrough field %q collides with a translated field", dialect, k)
			}
		}
		out.Extra = maps.Clone(extra)
	}
	return out, nil
}

// effortForBudget maps a thinking budget (Anthropic, Gemini) to the
// nearest reasoning effort.
func effortForBudget(budget int) string {
	switch {
	case budget <= 0:
		return ""
	case budget < 4096:
		return "low"
	case budget < 16384:
		return "medium"
	}
	return "high"
}

// messageFromLLM writes one canonical message as one or more OpenAI
// messages. A user message's tool results become tool messages, placed
// before the rest of its content: OpenAI wants them right after the
// assistant turn that made the calls.
func messageFromLLM(m llm.Message, dialect, p string) ([]Message, error) {
	switch m.Role {
	case llm.RoleUser:
		var out []Message
		var rest []ContentPart
		for _, part := range m.Parts {
			switch part.Kind {
			case llm.PartToolResult:
				msg, err := toolResultFromLLM(part.ToolResult, dialect, p)
				if err != nil {
					return nil, err
				}
				out = append(out, msg)
			case llm.PartText, llm.PartImage:
				cp, err := contentPartFromLLM(part, dialect, p)
				if err != nil {
					return nil, err
				}
				rest = append(rest, cp)
			default:
				return nil, invalid("", "%s: %s: user messages cannot hold %s parts", dialect, p, part.Kind)
			}
		}
		if len(rest) > 0 || len(out) == 0 {
			out = append(out, Message{Role: "user", Content: partsContent(rest)})
		}
		return out, nil
	case llm.RoleAssistant:
		msg := Message{Role: "assistant"}
		var text []ContentPart
		for _, part := range m.Parts {
			switch part.Kind {
			case llm.PartText:
				text = append(text, ContentPart{Type: "text", Text: new(part.Text)})
			case llm.PartToolCall:
				tc := part.ToolCall
				args := tc.Arguments
				if args == "" {
					args = "{}"
				}
				msg.ToolCalls = append(msg.ToolCalls, ToolCall{ID: tc.ID, Type: "function", Function: &FunctionCall{Name: tc.Name, Arguments: args}})
			case llm.PartReasoning:
				// Not sent; see RequestFromLLM.
			case llm.PartImage:
				return nil, unsupported("", "%s: %s: images in assistant messages are not supported", dialect, p)
			default:
				return nil, invalid("", "%s: %s: assistant messages cannot hold %s parts", dialect, p, part.Kind)
			}
		}
		if len(text) > 0 || len(msg.ToolCalls) == 0 {
			msg.Content = partsContent(text)
		}
		return []Message{msg}, nil
	}
	return nil, invalid("", "%s: %s: unknown role %q", dialect, p, m.Role)
}

// toolResultFromLLM writes a tool result as a tool message. Chat
// Completions has no error flag for tool results, so a failed call's
// content is prefixed with "Error: ": the model is told, in the only way
// this dialect allows, that the call failed.
func toolResultFromLLM(tr *llm.ToolResult, dialect, p string) (Message, error) {
	c, err := textContentFromLLM(tr.Content, dialect, "tool results ("+p+")")
	if err != nil {
		return Message{}, err
	}
	if tr.IsError {
		if c.OfString != nil {
			c = TextContent("Error: " + *c.OfString)
		} else {
			c.OfParts = append([]ContentPart{{Type: "text", Text: new("Error: ")}}, c.OfParts...)
		}
	}
	return Message{Role: "tool", ToolCallID: tr.CallID, Content: c}, nil
}

// textContentFromLLM writes text parts as a string (one part) or a list of
// text parts.
func textContentFromLLM(parts []llm.Part, dialect, where string) (Content, error) {
	cps := make([]ContentPart, 0, len(parts))
	for _, part := range parts {
		if part.Kind != llm.PartText {
			return Content{}, unsupported("", "%s: %s parts in %s are not supported", dialect, part.Kind, where)
		}
		cps = append(cps, ContentPart{Type: "text", Text: new(part.Text)})
	}
	return partsContent(cps), nil
}

// partsContent writes a single text part as a plain string, no part as an
// empty string, and anything else as a list of parts.
func partsContent(cps []ContentPart) Content {
	switch {
	case len(cps) == 0:
		return TextContent("")
	case len(cps) == 1 && cps[0].Type == "text":
		return Content{OfString: cps[0].Text}
	}
	return Content{OfParts: cps}
}

func contentPartFromLLM(part llm.Part, dialect, p string) (ContentPart, error) {
	if part.Kind == llm.PartText {
		return ContentPart{Type: "text", Text: new(part.Text)}, nil
	}
	img := part.Image
	if img == nil {
		return ContentPart{}, invalid("", "%s: %s: image part without an image", dialect, p)
	}
	u := img.URL
	if len(img.Data) > 0 {
		if img.MIMEType == "" {
			return ContentPart{}, invalid("", "%s: %s: inline image without a media type", dialect, p)
		}
		u = "data:" + img.MIMEType + ";base64," + base64.StdEncoding.EncodeToString(img.Data)
	}
	if u == "" {
		return ContentPart{}, invalid("", "%s: %s: image without a URL or data", dialect, p)
	}
	return ContentPart{Type: "image_url", ImageURL: &ImageURL{URL: u, Detail: img.Detail}}, nil
}

// ResponseToLLM reads an upstream's answer. Exactly one choice is
// expected, since the gateway never asks for more. Reasoning text that
// OpenAI-compatible servers return (reasoning_content, reasoning) becomes
// a reasoning part; a refusal becomes text with FinishRefusal. An answer
// with audio is refused (llm.ErrUnsupported). A tool call whose arguments
// are neither empty nor a JSON object is refused (an argumentsError),
// except the last call of an answer cut off by the output limit
// (finish_reason "length"), which may stop mid-arguments. Logprobs and
// annotations have no canonical field and are not carried.
func ResponseToLLM(r *ChatResponse) (*llm.Response, error) {
	switch len(r.Choices) {
	case 1:
	case 0:
		return nil, errors.New("openai response: no choices")
	default:
		return nil, fmt.Errorf("openai response: %d choices, expected one", len(r.Choices))
	}
	c := r.Choices[0]
	m := c.Message
	switch {
	case m.Audio != nil:
		return nil, fmt.Errorf("%w: openai response: audio output", llm.ErrUnsupported)
	case m.FunctionCall != nil:
		return nil, errors.New("openai response: legacy function_call")
	}
	var parts []llm.Part
	if s := firstString(m.ReasoningContent, m.Reasoning); s != "" {
		parts = append(parts, llm.Part{Kind: llm.PartReasoning, Text: s})
	}
	switch {
	case m.Content.OfString != nil:
		if *m.Content.OfString != "" {
			parts = append(parts, llm.Text(*m.Content.OfString))
		}
	case m.Content.OfParts != nil:
		for _, cp := range m.Content.OfParts {
			if cp.Type != "text" || cp.Text == nil {
				return nil, fmt.Errorf("openai response: content part of type %q", cp.Type)
			}
			parts = append(parts, llm.Text(*cp.Text))
		}
	}
	refused := m.Refusal != nil && *m.Refusal != ""
	if refused {
		parts = append(parts, llm.Text(*m.Refusal))
	}
	for i, tc := range m.ToolCalls {
		if (tc.Type != "function" && tc.Type != "") || tc.Function == nil {
			return nil, fmt.Errorf("openai response: tool call %d is not a function call", i)
		}
		cutOff := c.FinishReason == "length" && i == len(m.ToolCalls)-1
		if _, ok := llm.ObjectArguments(tc.Function.Arguments); !cutOff && !ok {
			return nil, &argumentsError{id: tc.ID, name: tc.Function.Name, args: tc.Function.Arguments}
		}
		parts = append(parts, llm.Part{Kind: llm.PartToolCall, ToolCall: &llm.ToolCall{
			ID: tc.ID, Name: tc.Function.Name, Arguments: tc.Function.Arguments,
		}})
	}
	out := &llm.Response{
		ID:           r.ID,
		Model:        r.Model,
		Message:      llm.Message{Role: llm.RoleAssistant, Parts: parts},
		FinishReason: finishToLLM(c.FinishReason, len(m.ToolCalls) > 0, refused),
	}
	if r.Usage != nil {
		out.Usage = usageToLLM(r.Usage)
	}
	return out, nil
}

// argumentsError is a tool call in an upstream answer whose arguments are
// not a JSON object. The Client reports it as a KindBadResponse
// *provider.Error that names the call (badArguments).
type argumentsError struct {
	id, name, args string
}

func (e *argumentsError) Error() string {
	return fmt.Sprintf("tool call %q (%s): arguments are not a JSON object: %q", e.id, e.name, redact(e.args, 256))
}

// finishToLLM maps a finish_reason. A forced tool choice may report "stop"
// with tool calls; the canonical reason is then tool_calls. An empty
// reason (some servers omit it) is a stop; an unknown one is kept as is.
func finishToLLM(reason string, toolCalls, refused bool) llm.FinishReason {
	f := llm.FinishReason(reason)
	switch reason {
	case "stop", "":
		f = llm.FinishStop
	case "length":
		f = llm.FinishLength
	case "tool_calls", "function_call":
		f = llm.FinishToolCalls
	case "content_filter":
		f = llm.FinishContentFilter
	}
	switch {
	case f == llm.FinishStop && toolCalls:
		return llm.FinishToolCalls
	case f == llm.FinishStop && refused:
		return llm.FinishRefusal
	}
	return f
}

func usageToLLM(u *Usage) llm.Usage {
	out := llm.Usage{InputTokens: u.PromptTokens, OutputTokens: u.CompletionTokens}
	if d := u.PromptTokensDetails; d != nil {
		out.CachedInputTokens, out.CacheWriteTokens = d.CachedTokens, d.CacheWriteTokens
	}
	if d := u.CompletionTokensDetails; d != nil {
		out.ReasoningTokens = d.ReasoningTokens
	}
	return out
}

// ResponseFromLLM writes a canonical answer for an OpenAI client; model is
// the name the client asked for. Text parts are joined into content.
// Reasoning text is not written: Chat Completions has no field for it (its
// token count stays in usage).
func ResponseFromLLM(r *llm.Response, model string, created time.Time) *ChatResponse {
	// The answer and the values it points to, in one allocation.
	a := new(struct {
		resp    ChatResponse
		choices [1]Choice
		usage   Usage
		prompt  PromptTokensDetails
		output  CompletionTokensDetails
		text    string
	})
	msg := ResponseMessage{Role: "assistant", Annotations: json.RawMessage("[]")}
	texts := 0
	for _, p := range r.Message.Parts {
		switch p.Kind {
		case llm.PartText:
			if texts++; texts == 1 {
				a.text = p.Text
			}
		case llm.PartToolCall:
			args := p.ToolCall.Arguments
			if args == "" {
				args = "{}"
			}
			msg.ToolCalls = append(msg.ToolCalls, ToolCall{ID: p.ToolCall.ID, Type: "function",
				Function: &FunctionCall{Name: p.ToolCall.Name, Arguments: args}})
		}
	}
	if texts > 1 {
		var text strings.Builder
		for _, p := range r.Message.Parts {
			if p.Kind == llm.PartText {
				text.WriteString(p.Text)
			}
		}
		a.text = text.String()
	}
	if texts > 0 {
		msg.Content = Content{OfString: &a.text}
	}
	a.usage = usageInto(r.Usage, &a.prompt, &a.output)
	a.choices[0] = Choice{Index: 0, Message: msg, FinishReason: finishFromLLM(r.FinishReason)}
	a.resp = ChatResponse{
		ID:      chatID(r.ID),
		Object:  "chat.completion",
		Created: created.Unix(),
		Model:   model,
		Choices: a.choices[:],
		Usage:   &a.usage,
	}
	return &a.resp
}

func finishFromLLM(f llm.FinishReason) string {
	switch f {
	case llm.FinishLength:
		return "length"
	case llm.FinishToolCalls:
		return "tool_calls"
	case llm.FinishContentFilter, llm.FinishRefusal:
		return "content_filter"
	}
	return "stop"
}

func usageFromLLM(u llm.Usage) Usage {
	return usageInto(u, new(PromptTokensDetails), new(CompletionTokensDetails))
}

// usageInto is usageFromLLM with the details written into prompt and
// output.
func usageInto(u llm.Usage, prompt *PromptTokensDetails, output *CompletionTokensDetails) Usage {
	*prompt = PromptTokensDetails{CachedTokens: u.CachedInputTokens, CacheWriteTokens: u.CacheWriteTokens}
	*output = CompletionTokensDetails{ReasoningTokens: u.ReasoningTokens}
	return Usage{
		PromptTokens:            u.InputTokens,
		CompletionTokens:        u.OutputTokens,
		TotalTokens:             u.Total(),
		PromptTokensDetails:     prompt,
		CompletionTokensDetails: output,
	}
}

// chatID gives an answer the "chatcmpl-" prefix OpenAI clients expect.
func chatID(id string) string {
	if strings.HasPrefix(id, "chatcmpl-") {
		return id
	}
	return "chatcmpl-" + id
}

// firstString returns the first of raws that is a non-empty JSON string.
func firstString(raws ...json.RawMessage) string {
	for _, raw := range raws {
		if kindOf(raw) != kindString {
			continue
		}
		var s string
		if json.Unmarshal(raw, &s) == nil && s != "" {
			return s
		}
	}
	return ""
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
