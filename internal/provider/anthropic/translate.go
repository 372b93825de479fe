package anthropic

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"switchyard/internal/llm"
)

// version20261021 is the first API version that refuses sampling
// parameters (temperature, top_p, top_k).
const version20261021 = "2026-10-21"

// minThinkingBudget is the smallest budget_tokens Anthropic accepts.
const minThinkingBudget = 1024

// effortBudget is the thinking budget used when a request asks for
// reasoning by effort.
func effortBudget(effort string) (int, bool) {
	switch effort {
	case "minimal", "low":
		return minThinkingBudget, true
	case "medium":
		return 4096, true
	case "high":
		return 16384, true
	}
	return 0, false
}

// RequestToLLM translates a decoded client request. version is the
// client's anthropic-version header: a YYYY-MM-DD date, where versions
// from 2026-10-21 on refuse temperature, top_p and top_k. Problems the
// client can fix wrap llm.ErrInvalid; features the gateway cannot carry
// wrap llm.ErrUnsupported.
//
// Fields without a canonical counterpart travel in
// Passthrough["anthropic"]: every unknown top-level field, a thinking
// config other than {type: enabled, budget_tokens} (adaptive, display),
// and output_config's effort. thinking {type: disabled} is the default
// and maps to no Reasoning.
func RequestToLLM(r *MessagesRequest, version string) (*llm.Request, error) {
	if !validVersion(version) {
		return nil, invalidf("anthropic-version: want a date like %s, got %q", DefaultVersion, version)
	}
	if r.Model == "" {
		return nil, invalidf("model: required")
	}
	if r.MaxTokens < 1 {
		return nil, invalidf("max_tokens: required, at least 1")
	}
	if len(r.Messages) == 0 {
		return nil, invalidf("messages: at least one message required")
	}
	if version >= version20261021 {
		for _, f := range []struct {
			name string
			set  bool
		}{{"temperature", r.Temperature != nil}, {"top_p", r.TopP != nil}, {"top_k", r.TopK != nil}} {
			if f.set {
				return nil, invalidf("%s: not accepted with anthropic-version %s", f.name, version)
			}
		}
	}
	out := &llm.Request{
		Model:       r.Model,
		MaxTokens:   r.MaxTokens,
		Temperature: r.Temperature,
		TopP:        r.TopP,
		TopK:        r.TopK,
		Stop:        r.StopSequences,
		Stream:      r.Stream,
	}
	pass := map[string]json.RawMessage{}
	for k, v := range r.Extra {
		pass[k] = v
	}
	var err error
	if out.System, err = systemToLLM(r.System); err != nil {
		return nil, err
	}
	callNames := map[string]string{}
	out.Messages = make([]llm.Message, 0, len(r.Messages))
	for i, m := range r.Messages {
		msg, err := messageToLLM(fmt.Sprintf("messages[%d]", i), m, callNames)
		if err != nil {
			return nil, err
		}
		out.Messages = append(out.Messages, msg)
	}
	for i, t := range r.Tools {
		tool, err := toolToLLM(fmt.Sprintf("tools[%d]", i), t)
		if err != nil {
			return nil, err
		}
		out.Tools = append(out.Tools, tool)
	}
	if c := r.ToolChoice; c != nil {
		if out.ToolChoice, out.ParallelToolCalls, err = toolChoiceToLLM(c); err != nil {
			return nil, err
		}
	}
	if r.Metadata != nil {
		out.User = r.Metadata.UserID
	}
	if t := r.Thinking; t != nil {
		switch {
		case t.Type == "enabled" && t.Display == "":
			if t.BudgetTokens < 1 {
				return nil, invalidf("thinking.budget_tokens: required with type enabled")
			}
			out.Reasoning = &llm.Reasoning{BudgetTokens: t.BudgetTokens}
		case t.Type == "disabled" && t.Display == "":
		case t.Type == "":
			return nil, invalidf("thinking.type: required")
		default:
			b, err := json.Marshal(t)
			if err != nil {
				return nil, fmt.Errorf("encoding thinking: %w", err)
			}
			pass["thinking"] = b
		}
	}
	if c := r.OutputConfig; c != nil {
		if f := c.Format; f != nil {
			if f.Type != "json_schema" {
				return nil, invalidf("output_config.format.type: want json_schema, got %q", f.Type)
			}
			if len(f.Schema) == 0 {
				return nil, invalidf("output_config.format.schema: required")
			}
			out.Format = &llm.ResponseFormat{Kind: llm.FormatJSONSchema, Schema: f.Schema, Strict: true}
		}
		if c.Effort != "" {
			b, err := json.Marshal(OutputConfig{Effort: c.Effort})
			if err != nil {
				return nil, fmt.Errorf("encoding output_config: %w", err)
			}
			pass["output_config"] = b
		}
	}
	if len(pass) > 0 {
		out.Passthrough = map[string]map[string]json.RawMessage{"anthropic": pass}
	}
	if len(r.Unknown) > 0 {
		if out.Passthrough == nil {
			out.Passthrough = make(map[string]map[string]json.RawMessage, 1)
		}
		out.Passthrough[Dialect] = maps.Clone(r.Unknown)
	}
	return out, nil
}

// validVersion reports whether v looks like an API version date.
func validVersion(v string) bool {
	if len(v) != len("2006-01-02") || v[4] != '-' || v[7] != '-' {
		return false
	}
	for i, c := range v {
		if i != 4 && i != 7 && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

func systemToLLM(blocks []ContentBlock) ([]llm.Part, error) {
	var parts []llm.Part
	for i, b := range blocks {
		hint, err := cacheHint(fmt.Sprintf("system[%d]", i), b.CacheControl)
		if err != nil {
			return nil, err
		}
		parts = append(parts, llm.Part{Kind: llm.PartText, Text: b.Text, CacheHint: hint})
	}
	return parts, nil
}

// messageToLLM translates one turn. callNames maps the tool_use ids seen
// so far to their tool names, so tool results can carry the name (Gemini
// needs it).
func messageToLLM(path string, m Message, callNames map[string]string) (llm.Message, error) {
	var role llm.Role
	switch m.Role {
	case "user":
		role = llm.RoleUser
	case "assistant":
		role = llm.RoleAssistant
	default:
		return llm.Message{}, invalidf("%s.role: want user or assistant, got %q", path, m.Role)
	}
	msg := llm.Message{Role: role, Parts: make([]llm.Part, 0, len(m.Content))}
	for i, b := range m.Content {
		p := fmt.Sprintf("%s.content[%d]", path, i)
		part, err := blockToLLM(p, b, callNames)
		if err != nil {
			return llm.Message{}, err
		}
		switch {
		case part.Kind == llm.PartToolResult && role != llm.RoleUser:
			return llm.Message{}, invalidf("%s: tool_result blocks belong in user messages", p)
		case (part.Kind == llm.PartToolCall || part.Kind == llm.PartReasoning) && role != llm.RoleAssistant:
			return llm.Message{}, invalidf("%s: %s blocks belong in assistant messages", p, b.Type)
		}
		msg.Parts = append(msg.Parts, part)
	}
	return msg, nil
}

func blockToLLM(path string, b ContentBlock, callNames map[string]string) (llm.Part, error) {
	hint, err := cacheHint(path, b.CacheControl)
	if err != nil {
		return llm.Part{}, err
	}
	switch b.Type {
	case BlockText:
		return llm.Part{Kind: llm.PartText, Text: b.Text, CacheHint: hint}, nil
	case BlockImage:
		img, err := imageToLLM(path+".source", b.Source)
		if err != nil {
			return llm.Part{}, err
		}
		return llm.Part{Kind: llm.PartImage, Image: img, CacheHint: hint}, nil
	case BlockToolUse:
		if b.ID == "" || b.Name == "" {
			return llm.Part{}, invalidf("%s: id and name are required", path)
		}
		args, err := compactObject(b.Input)
		if err != nil {
			return llm.Part{}, invalidf("%s.input: %v", path, err)
		}
		callNames[b.ID] = b.Name
		return llm.Part{Kind: llm.PartToolCall, ToolCall: &llm.ToolCall{ID: b.ID, Name: b.Name, Arguments: args}, CacheHint: hint}, nil
	case BlockToolResult:
		if b.ToolUseID == "" {
			return llm.Part{}, invalidf("%s.tool_use_id: required", path)
		}
		res := &llm.ToolResult{CallID: b.ToolUseID, Name: callNames[b.ToolUseID], IsError: b.IsError}
		for i, c := range b.Content {
			part, err := blockToLLM(fmt.Sprintf("%s.content[%d]", path, i), c, callNames)
			if err != nil {
				return llm.Part{}, err
			}
			res.Content = append(res.Content, part)
		}
		return llm.Part{Kind: llm.PartToolResult, ToolResult: res, CacheHint: hint}, nil
	case BlockThinking:
		return llm.Part{Kind: llm.PartReasoning, Text: b.Thinking, Signature: b.Signature}, nil
	case BlockRedactedThinking:
		if b.Data == "" {
			return llm.Part{}, invalidf("%s.data: required", path)
		}
		return llm.Part{Kind: llm.PartReasoning, Redacted: b.Data}, nil
	}
	return llm.Part{}, unsupportedf("%s: %q blocks", path, b.Type)
}

// cacheHint maps cache_control. The canonical hint has no lifetime, so
// only the default five-minute cache is carried.
func cacheHint(path string, c *CacheControl) (bool, error) {
	if c == nil {
		return false, nil
	}
	if c.Type != "ephemeral" {
		return false, invalidf("%s.cache_control.type: want ephemeral, got %q", path, c.Type)
	}
	if c.TTL != "" && c.TTL != "5m" {
		return false, unsupportedf("%s.cache_control.ttl %q (only the default 5m cache is carried)", path, c.TTL)
	}
	return true, nil
}

func imageToLLM(path string, s *ImageSource) (*llm.Image, error) {
	if s == nil {
		return nil, invalidf("%s: required", path)
	}
	switch s.Type {
	case "base64":
		data, err := base64.StdEncoding.DecodeString(s.Data)
		if err != nil {
			return nil, invalidf("%s.data: invalid base64", path)
		}
		if s.MediaType == "" {
			return nil, invalidf("%s.media_type: required", path)
		}
		return &llm.Image{MIMEType: s.MediaType, Data: data}, nil
	case "url":
		if !strings.HasPrefix(s.URL, "https://") && !strings.HasPrefix(s.URL, "http://") {
			return nil, invalidf("%s.url: want an http(s) URL", path)
		}
		return &llm.Image{URL: s.URL}, nil
	}
	return nil, unsupportedf("%s: %s image sources (Files API)", path, s.Type)
}

func toolToLLM(path string, t Tool) (llm.Tool, error) {
	if t.Name == "" {
		return llm.Tool{}, invalidf("%s.name: required", path)
	}
	if t.CacheControl != nil {
		return llm.Tool{}, unsupportedf("%s.cache_control (tool definitions carry no cache hint)", path)
	}
	if len(t.InputSchema) == 0 {
		return llm.Tool{}, invalidf("%s.input_schema: required", path)
	}
	return llm.Tool{Name: t.Name, Description: t.Description, Parameters: t.InputSchema, Strict: t.Strict}, nil
}

func toolChoiceToLLM(c *ToolChoice) (llm.ToolChoice, *bool, error) {
	var tc llm.ToolChoice
	switch c.Type {
	case "auto":
		tc.Mode = llm.ToolChoiceAuto
	case "any":
		tc.Mode = llm.ToolChoiceRequired
	case "none":
		tc.Mode = llm.ToolChoiceNone
	case "tool":
		if c.Name == "" {
			return tc, nil, invalidf("tool_choice.name: required with type tool")
		}
		tc = llm.ToolChoice{Mode: llm.ToolChoiceTool, Name: c.Name}
	default:
		return tc, nil, invalidf("tool_choice.type: want auto, any, none or tool, got %q", c.Type)
	}
	var parallel *bool
	if c.DisableParallelToolUse != nil {
		p := !*c.DisableParallelToolUse
		parallel = &p
	}
	return tc, parallel, nil
}

// compactObject returns a JSON object as compact text; empty input is {}.
func compactObject(raw json.RawMessage) (string, error) {
	if len(raw) == 0 {
		return "{}", nil
	}
	if !isObject(raw) {
		return "", fmt.Errorf("expected a JSON object")
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// RequestFromLLM translates a canonical request for the Messages API.
// When r.MaxTokens is 0, max_tokens is DefaultMaxTokens (raised past the
// thinking budget, which Anthropic requires to be smaller).
//
// Reasoning maps to extended thinking: BudgetTokens is sent as is; an
// Effort becomes a budget ("minimal" and "low" 1024, "medium" 4096,
// "high" 16384 tokens, capped below max_tokens), and "none" turns
// thinking off. BudgetTokens wins when both are set.
//
// Reasoning parts without a signature (another vendor's reasoning) are
// not sent, since Anthropic accepts only thinking it signed. User becomes
// metadata.user_id; Metadata has no Anthropic field and is not sent.
// Passthrough["anthropic"] fields are written back as they came.
func RequestFromLLM(r *llm.Request) (*MessagesRequest, error) {
	return requestFromLLM(r, DefaultMaxTokens)
}

func requestFromLLM(r *llm.Request, defaultMaxTokens int) (*MessagesRequest, error) {
	if err := checkForeignPassthrough(r.Passthrough); err != nil {
		return nil, err
	}
	if r.N > 1 {
		return nil, unsupportedf("n=%d (Messages returns one answer)", r.N)
	}
	if r.Seed != nil {
		return nil, unsupportedf("seed")
	}
	out := &MessagesRequest{
		Model:         r.Model,
		Stream:        r.Stream,
		StopSequences: r.Stop,
		Temperature:   r.Temperature,
		TopP:          r.TopP,
		TopK:          r.TopK,
	}
	var err error
	for i, p := range r.System {
		if p.Kind != llm.PartText {
			return nil, unsupportedf("system[%d]: %s parts (system prompts are text)", i, p.Kind)
		}
		out.System = append(out.System, ContentBlock{Type: BlockText, Text: p.Text, CacheControl: cacheControl(p.CacheHint)})
	}
	for i, m := range r.Messages {
		msg, err := messageFromLLM(partPath{msg: i, part: -1, content: -1}, m)
		if err != nil {
			return nil, err
		}
		if len(msg.Content) > 0 {
			out.Messages = append(out.Messages, msg)
		}
	}
	for _, t := range r.Tools {
		schema := t.Parameters
		if len(schema) == 0 {
			schema = json.RawMessage(`{"type":"object"}`)
		}
		out.Tools = append(out.Tools, Tool{Name: t.Name, Description: t.Description, InputSchema: schema, Strict: t.Strict})
	}
	out.ToolChoice = toolChoiceFromLLM(r.ToolChoice, r.ParallelToolCalls, len(r.Tools) > 0)
	if r.User != "" {
		out.Metadata = &Metadata{UserID: r.User}
	}
	if out.Thinking, err = thinkingFromLLM(r); err != nil {
		return nil, err
	}
	out.MaxTokens = r.MaxTokens
	if out.MaxTokens == 0 {
		out.MaxTokens = defaultMaxTokens
		if out.Thinking != nil && out.Thinking.BudgetTokens >= out.MaxTokens {
			out.MaxTokens += out.Thinking.BudgetTokens
		}
	}
	if f := r.Format; f != nil {
		switch f.Kind {
		case llm.FormatText:
		case llm.FormatJSONSchema:
			if len(f.Schema) == 0 {
				return nil, invalidf("response format: json_schema needs a schema")
			}
			out.OutputConfig = &OutputConfig{Format: &OutputFormat{Type: "json_schema", Schema: f.Schema}}
		default:
			return nil, unsupportedf("json_object response format (structured output needs a schema)")
		}
	}
	if err := applyPassthrough(out, r.Passthrough["anthropic"]); err != nil {
		return nil, err
	}
	return out, nil
}

// checkForeignPassthrough refuses fields meant for another dialect's
// channel: sending the request without them would change its meaning.
func checkForeignPassthrough(pass map[string]map[string]json.RawMessage) error {
	if fields := pass[Dialect]; len(fields) > 0 {
		return unsupportedf("fields only the client's own request can carry: %s", strings.Join(sortedKeys(fields), ", "))
	}
	var names []string
	for dialect, fields := range pass {
		if dialect == "anthropic" {
			continue
		}
		for k := range fields {
			names = append(names, dialect+"."+k)
		}
	}
	if len(names) == 0 {
		return nil
	}
	slices.Sort(names)
	return unsupportedf("fields of another API: %s", strings.Join(names, ", "))
}

// applyPassthrough writes Passthrough["anthropic"] back into the request.
// A field that the canonical request also set is a conflict, not an
// override.
func applyPassthrough(out *MessagesRequest, pass map[string]json.RawMessage) error {
	for _, k := range sortedKeys(pass) {
		v := pass[k]
		if !json.Valid(v) {
			return invalidf("passthrough anthropic.%s: invalid JSON", k)
		}
		switch k {
		case "thinking":
			if out.Thinking != nil {
				return invalidf("passthrough anthropic.thinking conflicts with the request's reasoning settings")
			}
			d := &decoder{}
			t, err := d.decodeThinking("passthrough anthropic.thinking", v)
			if err == nil {
				err = d.refuseUnknown()
			}
			if err != nil {
				return err
			}
			out.Thinking = t
		case "output_config":
			d := &decoder{}
			c, err := d.decodeOutputConfig("passthrough anthropic.output_config", v)
			if err == nil {
				err = d.refuseUnknown()
			}
			if err != nil {
				return err
			}
			if out.OutputConfig != nil {
				if c.Format != nil {
					return invalidf("passthrough anthropic.output_config.format conflicts with the request's response format")
				}
				c.Format = out.OutputConfig.Format
			}
			out.OutputConfig = c
		default:
			if modelledField(k) {
				return invalidf("passthrough anthropic.%s conflicts with a translated field", k)
			}
			if out.Extra == nil {
				out.Extra = make(map[string]json.RawMessage, len(pass))
			}
			out.Extra[k] = v
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func cacheControl(hint bool) *CacheControl {
	if !hint {
		return nil
	}
	return &CacheControl{Type: "ephemeral"}
}

// partPath is where a message or a part sits in a request, for error
// messages: messages[msg], then .parts[part] and .content[content] when
// they are not negative. It is rendered only when an error names it,
// instead of formatted for every message and part of every request.
type partPath struct{ msg, part, content int }

func (p partPath) String() string {
	b := append(strconv.AppendInt([]byte("messages["), int64(p.msg), 10), ']')
	if p.part >= 0 {
		b = append(strconv.AppendInt(append(b, ".parts["...), int64(p.part), 10), ']')
	}
	if p.content >= 0 {
		b = append(strconv.AppendInt(append(b, ".content["...), int64(p.content), 10), ']')
	}
	return string(b)
}

func messageFromLLM(path partPath, m llm.Message) (Message, error) {
	var msg Message
	switch m.Role {
	case llm.RoleUser:
		msg.Role = "user"
	case llm.RoleAssistant:
		msg.Role = "assistant"
	default:
		return msg, invalidf("%s: role %q", path, m.Role)
	}
	for i, p := range m.Parts {
		b, ok, err := partFromLLM(partPath{msg: path.msg, part: i, content: -1}, p)
		if err != nil {
			return msg, err
		}
		if ok {
			msg.Content = append(msg.Content, b)
		}
	}
	return msg, nil
}

// partFromLLM translates one part; ok is false for a part deliberately not
// sent (unsigned reasoning).
func partFromLLM(path partPath, p llm.Part) (b ContentBlock, ok bool, err error) {
	cc := cacheControl(p.CacheHint)
	switch p.Kind {
	case llm.PartText:
		return ContentBlock{Type: BlockText, Text: p.Text, CacheControl: cc}, true, nil
	case llm.PartImage:
		src, err := imageFromLLM(path, p.Image)
		if err != nil {
			return b, false, err
		}
		return ContentBlock{Type: BlockImage, Source: src, CacheControl: cc}, true, nil
	case llm.PartToolCall:
		tc := p.ToolCall
		if tc == nil {
			return b, false, invalidf("%s: tool call part without a call", path)
		}
		input := json.RawMessage(`{}`)
		if strings.TrimSpace(tc.Arguments) != "" {
			if !isObject(json.RawMessage(tc.Arguments)) {
				return b, false, invalidf("%s: tool call %q arguments are not a JSON object", path, tc.Name)
			}
			input = json.RawMessage(tc.Arguments)
		}
		return ContentBlock{Type: BlockToolUse, ID: tc.ID, Name: tc.Name, Input: input, CacheControl: cc}, true, nil
	case llm.PartToolResult:
		tr := p.ToolResult
		if tr == nil {
			return b, false, invalidf("%s: tool result part without a result", path)
		}
		out := ContentBlock{Type: BlockToolResult, ToolUseID: tr.CallID, IsError: tr.IsError, CacheControl: cc}
		for i, c := range tr.Content {
			cp := path
			cp.content = i
			if c.Kind != llm.PartText && c.Kind != llm.PartImage {
				return b, false, unsupportedf("%s: %s parts in a tool result", cp, c.Kind)
			}
			cb, _, err := partFromLLM(cp, c)
			if err != nil {
				return b, false, err
			}
			out.Content = append(out.Content, cb)
		}
		return out, true, nil
	case llm.PartReasoning:
		if p.Redacted != "" {
			return ContentBlock{Type: BlockRedactedThinking, Data: p.Redacted}, true, nil
		}
		if p.Signature == "" {
			return b, false, nil
		}
		return ContentBlock{Type: BlockThinking, Thinking: p.Text, Signature: p.Signature}, true, nil
	}
	return b, false, invalidf("%s: unknown part kind %d", path, p.Kind)
}

func imageFromLLM(path partPath, img *llm.Image) (*ImageSource, error) {
	if img == nil {
		return nil, invalidf("%s: image part without an image", path)
	}
	if img.Detail != "" && img.Detail != "auto" {
		return nil, unsupportedf("%s: image detail %q", path, img.Detail)
	}
	if len(img.Data) > 0 {
		mt := img.MIMEType
		if mt == "" {
			mt = http.DetectContentType(img.Data)
		}
		return &ImageSource{Type: "base64", MediaType: mt, Data: base64.StdEncoding.EncodeToString(img.Data)}, nil
	}
	if strings.HasPrefix(img.URL, "https://") || strings.HasPrefix(img.URL, "http://") {
		return &ImageSource{Type: "url", URL: img.URL}, nil
	}
	if img.URL == "" {
		return nil, invalidf("%s: image without data or URL", path)
	}
	scheme, _, _ := strings.Cut(img.URL, ":")
	return nil, unsupportedf("%s: %s image URLs (want http or https)", path, scheme)
}

func toolChoiceFromLLM(c llm.ToolChoice, parallel *bool, haveTools bool) *ToolChoice {
	var out ToolChoice
	switch c.Mode {
	case llm.ToolChoiceNone:
		if !haveTools {
			return nil
		}
		return &ToolChoice{Type: "none"}
	case llm.ToolChoiceRequired:
		out.Type = "any"
	case llm.ToolChoiceTool:
		out = ToolChoice{Type: "tool", Name: c.Name}
	default:
		if parallel == nil || *parallel || !haveTools {
			return nil
		}
		out.Type = "auto"
	}
	if parallel != nil && !*parallel {
		t := true
		out.DisableParallelToolUse = &t
	}
	return &out
}

func thinkingFromLLM(r *llm.Request) (*Thinking, error) {
	rs := r.Reasoning
	if rs == nil {
		return nil, nil
	}
	if rs.BudgetTokens > 0 {
		return &Thinking{Type: "enabled", BudgetTokens: rs.BudgetTokens}, nil
	}
	if rs.Effort == "" || rs.Effort == "none" {
		return nil, nil
	}
	budget, ok := effortBudget(rs.Effort)
	if !ok {
		return nil, unsupportedf("reasoning effort %q", rs.Effort)
	}
	if r.MaxTokens > 0 && budget >= r.MaxTokens {
		budget = r.MaxTokens - 1
		if budget < minThinkingBudget {
			return nil, invalidf("reasoning effort %q needs max tokens above %d on this channel", rs.Effort, minThinkingBudget)
		}
	}
	return &Thinking{Type: "enabled", BudgetTokens: budget}, nil
}

// ResponseToLLM translates an upstream answer. pause_turn (a server-tool
// turn the caller may resume) and model_context_window_exceeded both
// report an incomplete answer and map to llm.FinishLength; an unknown stop
// reason maps to llm.FinishStop.
func ResponseToLLM(r *MessagesResponse) (*llm.Response, error) {
	out := &llm.Response{
		ID:           r.ID,
		Model:        r.Model,
		Message:      llm.Message{Role: llm.RoleAssistant, Parts: make([]llm.Part, 0, len(r.Content))},
		FinishReason: finishToLLM(string(r.StopReason)),
		Usage:        usageToLLM(r.Usage),
	}
	if r.StopSequence != nil {
		out.StopSequence = *r.StopSequence
	}
	for i, b := range r.Content {
		switch b.Type {
		case BlockText:
			out.Message.Parts = append(out.Message.Parts, llm.Text(b.Text))
		case BlockThinking:
			out.Message.Parts = append(out.Message.Parts, llm.Part{Kind: llm.PartReasoning, Text: b.Thinking, Signature: b.Signature})
		case BlockRedactedThinking:
			out.Message.Parts = append(out.Message.Parts, llm.Part{Kind: llm.PartReasoning, Redacted: b.Data})
		case BlockToolUse:
			args, err := compactObject(b.Input)
			if err != nil {
				return nil, fmt.Errorf("content[%d]: tool_use input: %w", i, err)
			}
			out.Message.Parts = append(out.Message.Parts, llm.Part{Kind: llm.PartToolCall, ToolCall: &llm.ToolCall{ID: b.ID, Name: b.Name, Arguments: args}})
		default:
			return nil, fmt.Errorf("content[%d]: %w", i, unsupportedf("%q blocks in an answer", b.Type))
		}
	}
	return out, nil
}

func finishToLLM(reason string) llm.FinishReason {
	switch reason {
	case StopMaxTokens, StopPauseTurn, StopModelContextWindowExceeded:
		return llm.FinishLength
	case StopStopSequence:
		return llm.FinishStopSequence
	case StopToolUse:
		return llm.FinishToolCalls
	case StopRefusal:
		return llm.FinishRefusal
	}
	return llm.FinishStop
}

func usageToLLM(u Usage) llm.Usage {
	out := llm.Usage{
		InputTokens:       u.InputTokens + u.CacheCreationInputTokens + u.CacheReadInputTokens,
		OutputTokens:      u.OutputTokens,
		CachedInputTokens: u.CacheReadInputTokens,
		CacheWriteTokens:  u.CacheCreationInputTokens,
	}
	if u.OutputTokensDetails != nil {
		out.ReasoningTokens = u.OutputTokensDetails.ThinkingTokens
	}
	return out
}

// ResponseFromLLM encodes a canonical answer for an Anthropic client;
// model is the name the client asked for. llm.FinishContentFilter has no
// Anthropic stop reason of its own and is reported as refusal. A tool
// call whose arguments are not a JSON object is left out: it cannot be
// run, and tool_use.input must be an object, so any input written for it
// (such as {}) would invite the client to run a call the model never
// made. The gateway serves such a call only as the last one of an answer
// cut off by the output limit, whose stop reason (max_tokens) tells the
// client; it refuses any other as a bad upstream answer.
func ResponseFromLLM(r *llm.Response, model string) *MessagesResponse {
	out := &MessagesResponse{
		ID:         MessageID(r.ID),
		Type:       "message",
		Role:       "assistant",
		Model:      model,
		Content:    make([]ContentBlock, 0, len(r.Message.Parts)),
		StopReason: StopReason(finishFromLLM(r.FinishReason)),
		Usage:      usageFromLLM(r.Usage),
	}
	if r.FinishReason == llm.FinishStopSequence && r.StopSequence != "" {
		s := r.StopSequence
		out.StopSequence = &s
	}
	for _, p := range r.Message.Parts {
		switch p.Kind {
		case llm.PartText:
			out.Content = append(out.Content, ContentBlock{Type: BlockText, Text: p.Text})
		case llm.PartReasoning:
			if p.Redacted != "" {
				out.Content = append(out.Content, ContentBlock{Type: BlockRedactedThinking, Data: p.Redacted})
			} else {
				out.Content = append(out.Content, ContentBlock{Type: BlockThinking, Thinking: p.Text, Signature: p.Signature})
			}
		case llm.PartToolCall:
			tc := p.ToolCall
			if tc == nil {
				continue
			}
			input, ok := llm.ObjectArguments(tc.Arguments)
			if !ok {
				continue
			}
			out.Content = append(out.Content, ContentBlock{Type: BlockToolUse, ID: tc.ID, Name: tc.Name, Input: input})
		}
	}
	return out
}

func finishFromLLM(f llm.FinishReason) string {
	switch f {
	case llm.FinishLength:
		return StopMaxTokens
	case llm.FinishStopSequence:
		return StopStopSequence
	case llm.FinishToolCalls:
		return StopToolUse
	case llm.FinishRefusal, llm.FinishContentFilter:
		return StopRefusal
	}
	return StopEndTurn
}

func usageFromLLM(u llm.Usage) Usage {
	out := Usage{
		InputTokens:              max(u.InputTokens-u.CachedInputTokens-u.CacheWriteTokens, 0),
		OutputTokens:             u.OutputTokens,
		CacheCreationInputTokens: u.CacheWriteTokens,
		CacheReadInputTokens:     u.CachedInputTokens,
	}
	if u.ReasoningTokens > 0 {
		out.OutputTokensDetails = &OutputTokensDetails{ThinkingTokens: u.ReasoningTokens}
	}
	return out
}

// Token estimate weights for CountTokens.
const (
	bytesPerToken    = 4
	tokensPerMessage = 3
	tokensPerTool    = 8
	tokensPerImage   = 1600 // a 1092×1092 image; Anthropic bills about width×height/750
)

// CountTokens estimates the input tokens of r without calling an upstream,
// for the token counts no channel can make: about four bytes
// of text per token, plus a small overhead per message and tool, and a
// fixed cost per image. The estimate is deterministic, not exact.
func CountTokens(r *llm.Request) int {
	var n, bytes int
	countParts := func(parts []llm.Part) {
		for _, p := range parts {
			bytes += len(p.Text) + len(p.Redacted)
			switch {
			case p.Image != nil:
				n += tokensPerImage
			case p.ToolCall != nil:
				bytes += len(p.ToolCall.ID) + len(p.ToolCall.Name) + len(p.ToolCall.Arguments)
			case p.ToolResult != nil:
				bytes += len(p.ToolResult.CallID)
				for _, c := range p.ToolResult.Content {
					bytes += len(c.Text)
					if c.Image != nil {
						n += tokensPerImage
					}
				}
			}
		}
	}
	countParts(r.System)
	for _, m := range r.Messages {
		n += tokensPerMessage
		countParts(m.Parts)
	}
	for _, t := range r.Tools {
		n += tokensPerTool
		bytes += len(t.Name) + len(t.Description) + len(t.Parameters)
	}
	return n + (bytes+bytesPerToken-1)/bytesPerToken
}

// MessageID gives an answer the "msg_" id Anthropic clients expect,
// whichever channel served it: an id with the prefix is kept; another
// channel's (a Bedrock request UUID, an OpenAI "chatcmpl-" id, a Gemini
// response id) is prefixed, with every character outside [A-Za-z0-9_]
// dropped, so it stays recognisable in logs. "" stays "".
func MessageID(id string) string {
	if id == "" || strings.HasPrefix(id, "msg_") {
		return id
	}
	b := make([]byte, 0, len("msg_")+len(id))
	b = append(b, "msg_"...)
	for i := range len(id) {
		switch c := id[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_':
			b = append(b, c)
		}
	}
	return string(b)
}

// MessagesBody is RequestFromLLM's request as JSON: the body a channel
// that speaks Messages under another API (Claude on Bedrock's
// InvokeModel) sends, after its own edits.
func MessagesBody(r *llm.Request) ([]byte, error) {
	mr, err := RequestFromLLM(r)
	if err != nil {
		return nil, err
	}
	return json.Marshal(mr)
}
