package bedrock

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"switchyard/internal/llm"
)

// How the canonical model maps onto Converse, in both directions:
//
//   - System parts are system [{text}] blocks; Messages are messages with
//     text, image (inline bytes only), toolUse, toolResult and
//     reasoningContent blocks. A part's CacheHint is a {cachePoint} block
//     right after it (type "default", the 5-minute cache). On egress,
//     empty text parts are left out (Converse rejects blank text) and
//     consecutive messages of one role are merged (Converse wants the
//     roles to alternate).
//   - Tools are toolConfig.tools[].toolSpec. ToolChoice auto is the
//     default and is not sent; required is {any:{}}; a named tool is
//     {tool:{name}}. Converse has no "none": with tools and ToolChoice none
//     the tools are left out, which is what "none" means, unless the
//     conversation already holds tool blocks (Bedrock then requires
//     toolConfig) and the request is refused.
//   - MaxTokens, Temperature, TopP and Stop are inferenceConfig. TopK is
//     additionalModelRequestFields.top_k. A reasoning budget is
//     additionalModelRequestFields.thinking {type: enabled, budget_tokens}
//     for Anthropic models (model ids containing "anthropic.") and
//     reasoning_config of the same shape otherwise; a reasoning effort is
//     outputConfig.effort. FormatJSONSchema is outputConfig.textFormat
//     json_schema (always enforced); FormatJSONObject is the same with the
//     schema {"type":"object"}, since Converse has no plain JSON mode.
//   - Metadata and User are requestMetadata (User under the key "user"):
//     the key/value pairs Bedrock records in its invocation logs.
//   - Passthrough["bedrock"] carries every other top-level member
//     (guardrailConfig, additionalModelResponseFieldPaths, promptVariables,
//     performanceConfig, serviceTier, unknown members) and whatever part
//     of additionalModelRequestFields, outputConfig and requestMetadata the
//     canonical fields do not express. Members that appear both there and
//     in the canonical fields are refused rather than overwritten.
//   - N > 1, Seed, ParallelToolCalls false, image URLs and other dialects'
//     passthrough fields cannot be expressed and are refused.
//
// Usage: Bedrock's inputTokens counts only the uncached input, and
// totalTokens adds the cache reads and writes (as Anthropic's API does), so
// llm InputTokens = inputTokens + cacheReadInputTokens +
// cacheWriteInputTokens. A response whose totalTokens shows that inputTokens
// already included the cache tokens is read that way instead.

const (
	memberAdditionalFields = "additionalModelRequestFields"
	memberOutputConfig     = "outputConfig"
	memberRequestMetadata  = "requestMetadata"
)

// DecodeConverseRequest decodes a Converse or ConverseStream request body.
// It is strict: a member of the wrong type or an unknown member inside a
// known structure fails with an error that names it and wraps
// llm.ErrInvalid. Unknown top-level members are kept in Extra, so they can
// be forwarded to Bedrock.
func DecodeConverseRequest(body []byte) (*ConverseRequest, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, invalidf("bedrock: decoding converse request: %v", err)
	}
	if top == nil {
		return nil, invalidf("bedrock: request body must be a JSON object")
	}
	r := &ConverseRequest{}
	for _, k := range slices.Sorted(maps.Keys(top)) {
		v := top[k]
		if isNull(v) {
			continue
		}
		var err error
		switch k {
		case "messages":
			err = strictUnmarshal(v, &r.Messages)
		case "system":
			err = strictUnmarshal(v, &r.System)
		case "inferenceConfig":
			err = strictUnmarshal(v, &r.InferenceConfig)
		case "toolConfig":
			err = strictUnmarshal(v, &r.ToolConfig)
		case memberOutputConfig:
			r.OutputConfig, err = object(v)
		case memberAdditionalFields:
			r.AdditionalModelRequestFields, err = object(v)
		case "guardrailConfig":
			r.GuardrailConfig, err = object(v)
		case "promptVariables":
			r.PromptVariables, err = object(v)
		case "performanceConfig":
			r.PerformanceConfig, err = object(v)
		case "serviceTier":
			r.ServiceTier, err = object(v)
		case "additionalModelResponseFieldPaths":
			var paths []string
			if err = strictUnmarshal(v, &paths); err == nil {
				r.AdditionalModelResponseFieldPaths = v
			}
		case memberRequestMetadata:
			var md map[string]string
			if err = strictUnmarshal(v, &md); err == nil {
				r.RequestMetadata = v
			}
		default:
			if r.Extra == nil {
				r.Extra = map[string]json.RawMessage{}
			}
			r.Extra[k] = v
		}
		if err != nil {
			return nil, invalidf("bedrock: %s: %v", k, err)
		}
	}
	return r, nil
}

// RequestToLLM turns a decoded Converse request into the canonical model.
// The model id comes from the URL and streaming from the operation
// (converse or converse-stream): the caller sets Model and Stream. Content
// the canonical model cannot carry (documents, video, guard content, S3
// sources, tool cache points...) fails with an error wrapping
// llm.ErrUnsupported; malformed content wraps llm.ErrInvalid.
func RequestToLLM(r *ConverseRequest) (*llm.Request, error) {
	out := &llm.Request{}
	for i, b := range r.System {
		switch m := systemMembers(&b); {
		case len(m) != 1:
			return nil, invalidf("bedrock: system[%d]: want exactly one member, got %v", i, m)
		case b.Text != nil:
			out.System = append(out.System, llm.Text(*b.Text))
		case b.CachePoint != nil:
			if err := checkCachePoint(b.CachePoint); err != nil {
				return nil, fmt.Errorf("system[%d]: %w", i, err)
			}
			if len(out.System) == 0 {
				return nil, invalidf("bedrock: system[%d]: cachePoint must follow a block", i)
			}
			out.System[len(out.System)-1].CacheHint = true
		default:
			return nil, unsupportedf("system[%d]: %s block", i, m[0])
		}
	}

	var last *llm.Part // the latest part, which a cachePoint marks
	for i, m := range r.Messages {
		role := llm.Role(m.Role)
		if role != llm.RoleUser && role != llm.RoleAssistant {
			return nil, invalidf("bedrock: messages[%d].role: want user or assistant, got %q", i, m.Role)
		}
		msg := llm.Message{Role: role, Parts: make([]llm.Part, 0, len(m.Content))}
		for j := range m.Content {
			b := &m.Content[j]
			where := fmt.Sprintf("messages[%d].content[%d]", i, j)
			if b.CachePoint != nil && len(b.members()) == 1 {
				if err := checkCachePoint(b.CachePoint); err != nil {
					return nil, fmt.Errorf("%s: %w", where, err)
				}
				if last == nil {
					return nil, invalidf("bedrock: %s: cachePoint must follow a block", where)
				}
				last.CacheHint = true
				continue
			}
			p, err := partToLLM(b, where)
			if err != nil {
				return nil, err
			}
			msg.Parts = append(msg.Parts, p)
			last = &msg.Parts[len(msg.Parts)-1]
		}
		out.Messages = append(out.Messages, msg)
		if n := len(out.Messages[len(out.Messages)-1].Parts); n > 0 {
			last = &out.Messages[len(out.Messages)-1].Parts[n-1]
		}
	}

	if ic := r.InferenceConfig; ic != nil {
		if ic.MaxTokens != nil {
			out.MaxTokens = *ic.MaxTokens
		}
		out.Temperature, out.TopP, out.Stop = ic.Temperature, ic.TopP, ic.StopSequences
	}
	if tc := r.ToolConfig; tc != nil {
		if err := toolConfigToLLM(tc, out); err != nil {
			return nil, err
		}
	}

	pass := map[string]json.RawMessage{}
	for k, v := range map[string]json.RawMessage{
		"guardrailConfig":                   r.GuardrailConfig,
		"additionalModelResponseFieldPaths": r.AdditionalModelResponseFieldPaths,
		"promptVariables":                   r.PromptVariables,
		memberRequestMetadata:               r.RequestMetadata,
		"performanceConfig":                 r.PerformanceConfig,
		"serviceTier":                       r.ServiceTier,
	} {
		if v != nil {
			pass[k] = v
		}
	}
	maps.Copy(pass, r.Extra)
	if r.OutputConfig != nil {
		rest, err := outputConfigToLLM(r.OutputConfig, out)
		if err != nil {
			return nil, err
		}
		if rest != nil {
			pass[memberOutputConfig] = rest
		}
	}
	if r.AdditionalModelRequestFields != nil {
		rest, err := additionalFieldsToLLM(r.AdditionalModelRequestFields, out)
		if err != nil {
			return nil, err
		}
		if rest != nil {
			pass[memberAdditionalFields] = rest
		}
	}
	if len(pass) > 0 {
		out.Passthrough = map[string]map[string]json.RawMessage{"bedrock": pass}
	}
	return out, nil
}

func systemMembers(b *SystemBlock) []string {
	var m []string
	if b.Text != nil {
		m = append(m, "text")
	}
	if b.CachePoint != nil {
		m = append(m, "cachePoint")
	}
	if b.GuardContent != nil {
		m = append(m, "guardContent")
	}
	return m
}

// checkCachePoint accepts the cache points a CacheHint can stand for: the
// default type with the default (5-minute) lifetime.
func checkCachePoint(c *CachePointBlock) error {
	if c.Type != "default" {
		return invalidf("bedrock: cachePoint.type: want \"default\", got %q", c.Type)
	}
	if c.TTL != "" && c.TTL != "5m" {
		return unsupportedf("cachePoint ttl %q (only the default 5m cache)", c.TTL)
	}
	return nil
}

// partToLLM converts one content block other than a cache point.
func partToLLM(b *ContentBlock, where string) (llm.Part, error) {
	m := b.members()
	if len(m) != 1 {
		return llm.Part{}, invalidf("bedrock: %s: want exactly one member, got %v", where, m)
	}
	switch {
	case b.Text != nil:
		return llm.Text(*b.Text), nil
	case b.Image != nil:
		img, err := imageToLLM(b.Image, where+".image")
		if err != nil {
			return llm.Part{}, err
		}
		return llm.Part{Kind: llm.PartImage, Image: img}, nil
	case b.ToolUse != nil:
		tu := b.ToolUse
		if tu.ToolUseID == "" || tu.Name == "" {
			return llm.Part{}, invalidf("bedrock: %s.toolUse: toolUseId and name are required", where)
		}
		if tu.Type != "" {
			return llm.Part{}, unsupportedf("%s.toolUse type %q", where, tu.Type)
		}
		args, err := compactJSON(tu.Input, "{}")
		if err != nil {
			return llm.Part{}, invalidf("bedrock: %s.toolUse.input: %v", where, err)
		}
		return llm.Part{Kind: llm.PartToolCall, ToolCall: &llm.ToolCall{ID: tu.ToolUseID, Name: tu.Name, Arguments: args}}, nil
	case b.ToolResult != nil:
		return toolResultToLLM(b.ToolResult, where+".toolResult")
	case b.ReasoningContent != nil:
		rc := b.ReasoningContent
		switch {
		case rc.ReasoningText != nil && rc.RedactedContent == nil:
			return llm.Part{Kind: llm.PartReasoning, Text: rc.ReasoningText.Text, Signature: rc.ReasoningText.Signature}, nil
		case rc.RedactedContent != nil && rc.ReasoningText == nil:
			if _, err := base64.StdEncoding.DecodeString(*rc.RedactedContent); err != nil {
				return llm.Part{}, invalidf("bedrock: %s.reasoningContent.redactedContent: %v", where, err)
			}
			return llm.Part{Kind: llm.PartReasoning, Redacted: *rc.RedactedContent}, nil
		}
		return llm.Part{}, invalidf("bedrock: %s.reasoningContent: want exactly one of reasoningText and redactedContent", where)
	case b.CachePoint != nil:
		return llm.Part{}, invalidf("bedrock: %s: cachePoint cannot share a block", where)
	}
	return llm.Part{}, unsupportedf("%s: %s block", where, m[0])
}

func imageToLLM(im *ImageBlock, where string) (*llm.Image, error) {
	switch im.Format {
	case "png", "jpeg", "gif", "webp":
	default:
		return nil, invalidf("bedrock: %s.format: want png, jpeg, gif or webp, got %q", where, im.Format)
	}
	switch {
	case im.Source.S3Location != nil:
		return nil, unsupportedf("%s: S3 image source", where)
	case len(im.Source.Bytes) == 0:
		return nil, invalidf("bedrock: %s.source: bytes are required", where)
	}
	return &llm.Image{MIMEType: "image/" + im.Format, Data: im.Source.Bytes}, nil
}

func toolResultToLLM(tr *ToolResultBlock, where string) (llm.Part, error) {
	if tr.ToolUseID == "" {
		return llm.Part{}, invalidf("bedrock: %s.toolUseId is required", where)
	}
	if tr.Type != "" {
		return llm.Part{}, unsupportedf("%s type %q", where, tr.Type)
	}
	res := &llm.ToolResult{CallID: tr.ToolUseID}
	switch tr.Status {
	case "", "success":
	case "error":
		res.IsError = true
	default:
		return llm.Part{}, invalidf("bedrock: %s.status: want success or error, got %q", where, tr.Status)
	}
	for k, c := range tr.Content {
		cw := fmt.Sprintf("%s.content[%d]", where, k)
		var members []string
		for _, f := range []struct {
			name string
			set  bool
		}{{"json", c.JSON != nil}, {"text", c.Text != nil}, {"image", c.Image != nil},
			{"document", c.Document != nil}, {"video", c.Video != nil}, {"searchResult", c.SearchResult != nil}} {
			if f.set {
				members = append(members, f.name)
			}
		}
		if len(members) != 1 {
			return llm.Part{}, invalidf("bedrock: %s: want exactly one member, got %v", cw, members)
		}
		switch {
		case c.Text != nil:
			res.Content = append(res.Content, llm.Text(*c.Text))
		case c.JSON != nil:
			// The canonical model has no JSON part: the JSON travels as its
			// text, which is what the model reads either way.
			s, err := compactJSON(c.JSON, "")
			if err != nil {
				return llm.Part{}, invalidf("bedrock: %s.json: %v", cw, err)
			}
			res.Content = append(res.Content, llm.Text(s))
		case c.Image != nil:
			img, err := imageToLLM(c.Image, cw+".image")
			if err != nil {
				return llm.Part{}, err
			}
			res.Content = append(res.Content, llm.Part{Kind: llm.PartImage, Image: img})
		default:
			return llm.Part{}, unsupportedf("%s: %s tool result content", cw, members[0])
		}
	}
	return llm.Part{Kind: llm.PartToolResult, ToolResult: res}, nil
}

func toolConfigToLLM(tc *ToolConfig, out *llm.Request) error {
	for i, t := range tc.Tools {
		switch {
		case t.ToolSpec != nil && t.CachePoint == nil && t.SystemTool == nil:
			s := t.ToolSpec
			if s.Name == "" {
				return invalidf("bedrock: toolConfig.tools[%d].toolSpec.name is required", i)
			}
			params, err := compactJSON(s.InputSchema.JSON, "")
			if err != nil {
				return invalidf("bedrock: toolConfig.tools[%d].toolSpec.inputSchema.json: %v", i, err)
			}
			tool := llm.Tool{Name: s.Name, Description: s.Description, Strict: s.Strict != nil && *s.Strict}
			if params != "" {
				tool.Parameters = json.RawMessage(params)
			}
			out.Tools = append(out.Tools, tool)
		case t.CachePoint != nil && t.ToolSpec == nil && t.SystemTool == nil:
			return unsupportedf("toolConfig.tools[%d]: cachePoint after tools", i)
		case t.SystemTool != nil && t.ToolSpec == nil && t.CachePoint == nil:
			return unsupportedf("toolConfig.tools[%d]: systemTool", i)
		default:
			return invalidf("bedrock: toolConfig.tools[%d]: want exactly one of toolSpec, cachePoint and systemTool", i)
		}
	}
	if c := tc.ToolChoice; c != nil {
		switch {
		case c.Auto != nil && c.Any == nil && c.Tool == nil:
			out.ToolChoice = llm.ToolChoice{Mode: llm.ToolChoiceAuto}
		case c.Any != nil && c.Auto == nil && c.Tool == nil:
			out.ToolChoice = llm.ToolChoice{Mode: llm.ToolChoiceRequired}
		case c.Tool != nil && c.Auto == nil && c.Any == nil:
			if c.Tool.Name == "" {
				return invalidf("bedrock: toolConfig.toolChoice.tool.name is required")
			}
			out.ToolChoice = llm.ToolChoice{Mode: llm.ToolChoiceTool, Name: c.Tool.Name}
		default:
			return invalidf("bedrock: toolConfig.toolChoice: want exactly one of auto, any and tool")
		}
	}
	return nil
}

// outputConfigToLLM lifts outputConfig's effort and a plain json_schema
// textFormat into out, and returns what is left (nil if nothing).
func outputConfigToLLM(raw json.RawMessage, out *llm.Request) (json.RawMessage, error) {
	var oc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &oc); err != nil {
		return nil, invalidf("bedrock: outputConfig: %v", err)
	}
	if v, ok := oc["effort"]; ok {
		var effort string
		if err := json.Unmarshal(v, &effort); err != nil {
			return nil, invalidf("bedrock: outputConfig.effort: %v", err)
		}
		out.Reasoning = &llm.Reasoning{Effort: effort}
		delete(oc, "effort")
	}
	if v, ok := oc["textFormat"]; ok {
		if f := jsonSchemaFormat(v); f != nil {
			out.Format = f
			delete(oc, "textFormat")
		}
	}
	return remainder(oc)
}

// jsonSchemaFormat reads {type: json_schema, structure: {jsonSchema:
// {schema, name}}}; any other shape (a description, unknown members) stays
// in the passthrough.
func jsonSchemaFormat(raw json.RawMessage) *llm.ResponseFormat {
	var tf struct {
		Type      string `json:"type"`
		Structure struct {
			JSONSchema struct {
				Schema string `json:"schema"`
				Name   string `json:"name"`
			} `json:"jsonSchema"`
		} `json:"structure"`
	}
	if strictUnmarshal(raw, &tf) != nil || tf.Type != "json_schema" || !json.Valid([]byte(tf.Structure.JSONSchema.Schema)) {
		return nil
	}
	js := tf.Structure.JSONSchema
	return &llm.ResponseFormat{Kind: llm.FormatJSONSchema, Name: js.Name, Schema: json.RawMessage(js.Schema), Strict: true}
}

// additionalFieldsToLLM lifts top_k and an enabled thinking budget
// (thinking or reasoning_config) into out and returns what is left.
func additionalFieldsToLLM(raw json.RawMessage, out *llm.Request) (json.RawMessage, error) {
	var af map[string]json.RawMessage
	if err := json.Unmarshal(raw, &af); err != nil {
		return nil, invalidf("bedrock: additionalModelRequestFields: %v", err)
	}
	if v, ok := af["top_k"]; ok {
		var k int
		if strictUnmarshal(v, &k) == nil {
			out.TopK = &k
			delete(af, "top_k")
		}
	}
	for _, key := range []string{"thinking", "reasoning_config"} {
		v, ok := af[key]
		if !ok {
			continue
		}
		var t struct {
			Type         string `json:"type"`
			BudgetTokens int    `json:"budget_tokens"`
		}
		if strictUnmarshal(v, &t) != nil || t.Type != "enabled" || t.BudgetTokens <= 0 {
			continue
		}
		if out.Reasoning == nil {
			out.Reasoning = &llm.Reasoning{}
		}
		if out.Reasoning.BudgetTokens != 0 {
			continue // both keys: the second stays in the passthrough
		}
		out.Reasoning.BudgetTokens = t.BudgetTokens
		delete(af, key)
	}
	return remainder(af)
}

func remainder(m map[string]json.RawMessage) (json.RawMessage, error) {
	if len(m) == 0 {
		return nil, nil
	}
	return json.Marshal(m)
}

// RequestFromLLM builds the Converse request for a canonical request.
func RequestFromLLM(r *llm.Request) (*ConverseRequest, error) {
	if r.N > 1 {
		return nil, unsupportedf("n>1 (%d choices)", r.N)
	}
	if r.Seed != nil {
		return nil, unsupportedf("seed")
	}
	if r.ParallelToolCalls != nil && !*r.ParallelToolCalls {
		return nil, unsupportedf("parallel_tool_calls=false")
	}
	var foreign []string
	for d, fields := range r.Passthrough {
		if d != "bedrock" && len(fields) > 0 {
			foreign = append(foreign, d+" ("+strings.Join(slices.Sorted(maps.Keys(fields)), ", ")+")")
		}
	}
	if len(foreign) > 0 {
		slices.Sort(foreign)
		return nil, unsupportedf("passthrough fields of another dialect: %s", strings.Join(foreign, "; "))
	}

	out := &ConverseRequest{}
	for i, p := range r.System {
		if p.Kind != llm.PartText {
			return nil, unsupportedf("system[%d]: %s part", i, p.Kind)
		}
		// Converse rejects blank text blocks; an empty part carries nothing.
		if p.Text != "" {
			out.System = append(out.System, SystemBlock{Text: ptr(p.Text)})
		}
		if p.CacheHint && len(out.System) > 0 {
			out.System = append(out.System, SystemBlock{CachePoint: defaultCachePoint()})
		}
	}
	toolBlocks := false
	for i, m := range r.Messages {
		if m.Role != llm.RoleUser && m.Role != llm.RoleAssistant {
			return nil, invalidf("bedrock: messages[%d].role: want user or assistant, got %q", i, m.Role)
		}
		// Converse wants the roles to alternate; consecutive turns of one
		// role (one user turn per tool result, say) become one message,
		// in order.
		if n := len(out.Messages); n == 0 || out.Messages[n-1].Role != string(m.Role) {
			out.Messages = append(out.Messages, Message{Role: string(m.Role), Content: make([]ContentBlock, 0, len(m.Parts))})
		}
		msg := &out.Messages[len(out.Messages)-1]
		for j, p := range m.Parts {
			if p.Kind == llm.PartText && p.Text == "" {
				if p.CacheHint && len(msg.Content) > 0 {
					msg.Content = append(msg.Content, ContentBlock{CachePoint: defaultCachePoint()})
				}
				continue
			}
			b, err := partFromLLM(p, fmt.Sprintf("messages[%d].parts[%d]", i, j))
			if err != nil {
				return nil, err
			}
			toolBlocks = toolBlocks || b.ToolUse != nil || b.ToolResult != nil
			msg.Content = append(msg.Content, b)
			if p.CacheHint {
				msg.Content = append(msg.Content, ContentBlock{CachePoint: defaultCachePoint()})
			}
		}
	}

	if err := toolsFromLLM(r, toolBlocks, out); err != nil {
		return nil, err
	}
	if r.MaxTokens < 0 {
		return nil, invalidf("bedrock: max tokens %d is negative", r.MaxTokens)
	}
	if r.MaxTokens > 0 || r.Temperature != nil || r.TopP != nil || len(r.Stop) > 0 {
		ic := &InferenceConfig{Temperature: r.Temperature, TopP: r.TopP, StopSequences: r.Stop}
		if r.MaxTokens > 0 {
			ic.MaxTokens = ptr(r.MaxTokens)
		}
		out.InferenceConfig = ic
	}

	pass := r.Passthrough["bedrock"]
	af := map[string]any{}
	if r.TopK != nil {
		af["top_k"] = *r.TopK
	}
	oc := map[string]any{}
	if re := r.Reasoning; re != nil {
		if re.BudgetTokens < 0 {
			return nil, invalidf("bedrock: reasoning budget %d is negative", re.BudgetTokens)
		}
		if re.BudgetTokens > 0 {
			thinking := map[string]any{"type": "enabled", "budget_tokens": re.BudgetTokens}
			if isAnthropicModel(r.Model) {
				af["thinking"] = thinking
			} else {
				af["reasoning_config"] = thinking
			}
		}
		if re.Effort != "" {
			switch re.Effort {
			case "low", "medium", "high", "xhigh", "max":
				oc["effort"] = re.Effort
			default:
				return nil, unsupportedf("reasoning effort %q (want low, medium, high, xhigh or max)", re.Effort)
			}
		}
	}
	if f := r.Format; f != nil {
		switch f.Kind {
		case llm.FormatText:
		case llm.FormatJSONObject:
			oc["textFormat"] = textFormat("json_object", json.RawMessage(`{"type":"object"}`))
		case llm.FormatJSONSchema:
			schema, err := compactJSON(f.Schema, "")
			if err != nil || schema == "" {
				return nil, invalidf("bedrock: response format schema is not valid JSON")
			}
			name := f.Name
			if name == "" {
				name = "response"
			}
			oc["textFormat"] = textFormat(name, json.RawMessage(schema))
		default:
			return nil, unsupportedf("response format kind %d", f.Kind)
		}
	}
	md := map[string]any{}
	for k, v := range r.Metadata {
		md[k] = v
	}
	if r.User != "" {
		if _, dup := md["user"]; dup {
			return nil, invalidf("bedrock: both user and metadata[\"user\"] are set")
		}
		md["user"] = r.User
	}
	var err error
	if out.AdditionalModelRequestFields, err = mergeObject(memberAdditionalFields, af, pass[memberAdditionalFields]); err != nil {
		return nil, err
	}
	if out.OutputConfig, err = mergeObject(memberOutputConfig, oc, pass[memberOutputConfig]); err != nil {
		return nil, err
	}
	if out.RequestMetadata, err = mergeObject(memberRequestMetadata, md, pass[memberRequestMetadata]); err != nil {
		return nil, err
	}
	for _, k := range slices.Sorted(maps.Keys(pass)) {
		v := pass[k]
		var dst *json.RawMessage
		switch k {
		case memberAdditionalFields, memberOutputConfig, memberRequestMetadata:
			continue
		case "messages", "system", "inferenceConfig", "toolConfig":
			return nil, invalidf("bedrock: passthrough member %q conflicts with the translated request", k)
		case "guardrailConfig":
			dst = &out.GuardrailConfig
		case "additionalModelResponseFieldPaths":
			dst = &out.AdditionalModelResponseFieldPaths
		case "promptVariables":
			dst = &out.PromptVariables
		case "performanceConfig":
			dst = &out.PerformanceConfig
		case "serviceTier":
			dst = &out.ServiceTier
		default:
			if out.Extra == nil {
				out.Extra = map[string]json.RawMessage{}
			}
			out.Extra[k] = v
			continue
		}
		if !json.Valid(v) {
			return nil, invalidf("bedrock: passthrough member %q is not valid JSON", k)
		}
		*dst = v
	}
	return out, nil
}

// isAnthropicModel reports whether a model id, inference profile id or ARN
// names an Anthropic model. Application inference profile ARNs are opaque
// and read as not Anthropic; Claude accepts reasoning_config too.
func isAnthropicModel(id string) bool { return strings.Contains(id, "anthropic.") }

func textFormat(name string, schema json.RawMessage) map[string]any {
	return map[string]any{
		"type": "json_schema",
		"structure": map[string]any{"jsonSchema": map[string]any{
			"name":   name,
			"schema": string(schema),
		}},
	}
}

// mergeObject combines the members the translation produced with a
// passthrough object of the same name; a member set by both is refused.
func mergeObject(name string, gen map[string]any, pass json.RawMessage) (json.RawMessage, error) {
	if len(pass) > 0 {
		var pm map[string]json.RawMessage
		if err := json.Unmarshal(pass, &pm); err != nil || pm == nil {
			return nil, invalidf("bedrock: passthrough %s must be a JSON object", name)
		}
		for k, v := range pm {
			if _, dup := gen[k]; dup {
				return nil, invalidf("bedrock: %s.%s is set both by the request and by its bedrock passthrough", name, k)
			}
			gen[k] = v
		}
	}
	if len(gen) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(gen)
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", name, err)
	}
	return b, nil
}

func toolsFromLLM(r *llm.Request, toolBlocks bool, out *ConverseRequest) error {
	if len(r.Tools) == 0 {
		switch r.ToolChoice.Mode {
		case llm.ToolChoiceRequired, llm.ToolChoiceTool:
			return invalidf("bedrock: a tool choice needs tools")
		}
		return nil
	}
	var choice *ToolChoice
	switch r.ToolChoice.Mode {
	case llm.ToolChoiceAuto:
	case llm.ToolChoiceNone:
		if toolBlocks {
			return unsupportedf("tool choice none in a conversation that holds tool calls (Converse then requires the tools)")
		}
		return nil // no tools: the model cannot call one
	case llm.ToolChoiceRequired:
		choice = &ToolChoice{Any: &struct{}{}}
	case llm.ToolChoiceTool:
		if !slices.ContainsFunc(r.Tools, func(t llm.Tool) bool { return t.Name == r.ToolChoice.Name }) {
			return invalidf("bedrock: tool choice %q names no declared tool", r.ToolChoice.Name)
		}
		choice = &ToolChoice{Tool: &SpecificToolChoice{Name: r.ToolChoice.Name}}
	default:
		return unsupportedf("tool choice mode %d", r.ToolChoice.Mode)
	}
	tc := &ToolConfig{ToolChoice: choice}
	for _, t := range r.Tools {
		schema := t.Parameters
		if len(schema) == 0 {
			schema = json.RawMessage(`{"type":"object","properties":{}}`)
		} else if !json.Valid(schema) {
			return invalidf("bedrock: tool %q parameters are not valid JSON", t.Name)
		}
		spec := &ToolSpec{Name: t.Name, Description: t.Description, InputSchema: ToolInputSchema{JSON: schema}}
		if t.Strict {
			spec.Strict = ptr(true)
		}
		tc.Tools = append(tc.Tools, Tool{ToolSpec: spec})
	}
	out.ToolConfig = tc
	return nil
}

func partFromLLM(p llm.Part, where string) (ContentBlock, error) {
	switch p.Kind {
	case llm.PartText:
		return ContentBlock{Text: ptr(p.Text)}, nil
	case llm.PartImage:
		img, err := imageFromLLM(p.Image, where)
		if err != nil {
			return ContentBlock{}, err
		}
		return ContentBlock{Image: img}, nil
	case llm.PartToolCall:
		tc := p.ToolCall
		if tc == nil {
			return ContentBlock{}, invalidf("bedrock: %s: tool call part without a call", where)
		}
		input, err := compactJSON(json.RawMessage(tc.Arguments), "{}")
		if err != nil {
			return ContentBlock{}, invalidf("bedrock: %s: tool call %q arguments: %v", where, tc.Name, err)
		}
		return ContentBlock{ToolUse: &ToolUseBlock{ToolUseID: tc.ID, Name: tc.Name, Input: json.RawMessage(input)}}, nil
	case llm.PartToolResult:
		tr := p.ToolResult
		if tr == nil {
			return ContentBlock{}, invalidf("bedrock: %s: tool result part without a result", where)
		}
		block := &ToolResultBlock{ToolUseID: tr.CallID, Content: make([]ToolResultContent, 0, len(tr.Content))}
		if tr.IsError {
			// Sent only for errors: some models reject the member.
			block.Status = "error"
		}
		for k, c := range tr.Content {
			switch c.Kind {
			case llm.PartText:
				block.Content = append(block.Content, ToolResultContent{Text: ptr(c.Text)})
			case llm.PartImage:
				img, err := imageFromLLM(c.Image, fmt.Sprintf("%s.content[%d]", where, k))
				if err != nil {
					return ContentBlock{}, err
				}
				block.Content = append(block.Content, ToolResultContent{Image: img})
			default:
				return ContentBlock{}, unsupportedf("%s.content[%d]: %s part in a tool result", where, k, c.Kind)
			}
		}
		return ContentBlock{ToolResult: block}, nil
	case llm.PartReasoning:
		if p.Redacted != "" {
			if p.Text != "" {
				return ContentBlock{}, invalidf("bedrock: %s: reasoning part with both text and redacted content", where)
			}
			if _, err := base64.StdEncoding.DecodeString(p.Redacted); err != nil {
				return ContentBlock{}, invalidf("bedrock: %s: redacted reasoning is not base64: %v", where, err)
			}
			return ContentBlock{ReasoningContent: &ReasoningContentBlock{RedactedContent: ptr(p.Redacted)}}, nil
		}
		return ContentBlock{ReasoningContent: &ReasoningContentBlock{ReasoningText: &ReasoningText{Text: p.Text, Signature: p.Signature}}}, nil
	}
	return ContentBlock{}, unsupportedf("%s: %s part", where, p.Kind)
}

func imageFromLLM(im *llm.Image, where string) (*ImageBlock, error) {
	if im == nil {
		return nil, invalidf("bedrock: %s: image part without an image", where)
	}
	mime, data := im.MIMEType, im.Data
	if im.URL != "" {
		var ok bool
		if mime, data, ok = parseDataURL(im.URL); !ok {
			return nil, unsupportedf("%s: image URL (Converse takes inline image bytes only)", where)
		}
	}
	switch im.Detail {
	case "", "auto":
	default:
		return nil, unsupportedf("%s: image detail %q", where, im.Detail)
	}
	format, ok := imageFormats[strings.ToLower(mime)]
	if !ok {
		return nil, unsupportedf("%s: image type %q (want png, jpeg, gif or webp)", where, mime)
	}
	if len(data) == 0 {
		return nil, invalidf("bedrock: %s: image has no data", where)
	}
	return &ImageBlock{Format: format, Source: ImageSource{Bytes: data}}, nil
}

var imageFormats = map[string]string{
	"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg", "image/gif": "gif", "image/webp": "webp",
}

// parseDataURL decodes data:<mime>;base64,<data>.
func parseDataURL(u string) (mime string, data []byte, ok bool) {
	rest, found := strings.CutPrefix(u, "data:")
	if !found {
		return "", nil, false
	}
	meta, payload, found := strings.Cut(rest, ",")
	if !found {
		return "", nil, false
	}
	mime, found = strings.CutSuffix(meta, ";base64")
	if !found {
		return "", nil, false
	}
	data, err := base64.StdEncoding.DecodeString(payload)
	if err != nil {
		return "", nil, false
	}
	return mime, data, true
}

// ResponseToLLM turns a Converse response into the canonical model. The
// caller sets ID (Bedrock's x-amzn-RequestId) and Model. A content block
// the canonical model cannot carry, or a response the model itself
// reported as malformed, is an error.
func ResponseToLLM(r *ConverseResponse) (*llm.Response, error) {
	if r.Output.Message == nil {
		return nil, fmt.Errorf("bedrock: response has no output message")
	}
	out := &llm.Response{Message: llm.Message{Role: llm.RoleAssistant}}
	for i := range r.Output.Message.Content {
		b := &r.Output.Message.Content[i]
		m := b.members()
		if len(m) != 1 {
			return nil, fmt.Errorf("bedrock: response content[%d]: want exactly one member, got %v", i, m)
		}
		var p llm.Part
		switch {
		case b.Text != nil:
			p = llm.Text(*b.Text)
		case b.ToolUse != nil:
			args, err := compactJSON(b.ToolUse.Input, "{}")
			if err != nil {
				return nil, fmt.Errorf("bedrock: response content[%d].toolUse.input: %w", i, err)
			}
			p = llm.Part{Kind: llm.PartToolCall, ToolCall: &llm.ToolCall{ID: b.ToolUse.ToolUseID, Name: b.ToolUse.Name, Arguments: args}}
		case b.ReasoningContent != nil && b.ReasoningContent.ReasoningText != nil:
			rt := b.ReasoningContent.ReasoningText
			p = llm.Part{Kind: llm.PartReasoning, Text: rt.Text, Signature: rt.Signature}
		case b.ReasoningContent != nil && b.ReasoningContent.RedactedContent != nil:
			p = llm.Part{Kind: llm.PartReasoning, Redacted: *b.ReasoningContent.RedactedContent}
		default:
			return nil, unsupportedf("response content[%d]: %s block", i, m[0])
		}
		out.Message.Parts = append(out.Message.Parts, p)
	}
	fr, err := finishToLLM(r.StopReason)
	if err != nil {
		return nil, err
	}
	out.FinishReason = fr
	out.StopSequence = stopSequence(r.AdditionalModelResponseFields)
	if r.Usage != nil {
		out.Usage = usageToLLM(r.Usage)
	}
	return out, nil
}

// finishToLLM maps a stopReason. A reason added to the API after this code
// reads as a plain stop: it describes why the output ended, not content.
func finishToLLM(reason string) (llm.FinishReason, error) {
	switch reason {
	case "end_turn", "":
		return llm.FinishStop, nil
	case "tool_use":
		return llm.FinishToolCalls, nil
	case "max_tokens", "model_context_window_exceeded":
		return llm.FinishLength, nil
	case "stop_sequence":
		return llm.FinishStopSequence, nil
	case "guardrail_intervened", "content_filtered":
		return llm.FinishContentFilter, nil
	case "malformed_model_output", "malformed_tool_use":
		return "", fmt.Errorf("bedrock: model stopped with %s", reason)
	}
	return llm.FinishStop, nil
}

func finishFromLLM(fr llm.FinishReason) string {
	switch fr {
	case llm.FinishToolCalls:
		return "tool_use"
	case llm.FinishLength:
		return "max_tokens"
	case llm.FinishStopSequence:
		return "stop_sequence"
	case llm.FinishContentFilter, llm.FinishRefusal:
		return "content_filtered"
	}
	return "end_turn"
}

// stopSequence reads the stop_sequence field Anthropic models return when
// asked for with additionalModelResponseFieldPaths ["/stop_sequence"].
func stopSequence(fields json.RawMessage) string {
	var f struct {
		StopSequence *string `json:"stop_sequence"`
	}
	if len(fields) == 0 || json.Unmarshal(fields, &f) != nil || f.StopSequence == nil {
		return ""
	}
	return *f.StopSequence
}

func usageToLLM(u *TokenUsage) llm.Usage {
	var read, write int64
	if u.CacheReadInputTokens != nil {
		read = *u.CacheReadInputTokens
	}
	if u.CacheWriteInputTokens != nil {
		write = *u.CacheWriteInputTokens
	}
	in := u.InputTokens + read + write
	if read+write > 0 && u.TotalTokens == u.InputTokens+u.OutputTokens {
		in = u.InputTokens // this total says inputTokens already counted the cache
	}
	return llm.Usage{InputTokens: in, OutputTokens: u.OutputTokens, CachedInputTokens: read, CacheWriteTokens: write}
}

func usageFromLLM(u llm.Usage) *TokenUsage {
	out := &TokenUsage{
		InputTokens:  max(u.InputTokens-u.CachedInputTokens-u.CacheWriteTokens, 0),
		OutputTokens: u.OutputTokens,
		TotalTokens:  u.InputTokens + u.OutputTokens,
	}
	if u.CachedInputTokens > 0 {
		out.CacheReadInputTokens = ptr(u.CachedInputTokens)
	}
	if u.CacheWriteTokens > 0 {
		out.CacheWriteInputTokens = ptr(u.CacheWriteTokens)
	}
	return out
}

// ResponseFromLLM builds the Converse response a Bedrock client expects for
// a canonical response. latency becomes metrics.latencyMs. A tool call
// whose arguments are not a JSON object is left out: it cannot be run, and
// any input written for it ({} or the text as a JSON string) would invite
// the client to run a call the model never made. The gateway serves such
// a call only as the last one of an answer cut off by the output limit,
// whose stop reason (max_tokens) tells the client; it refuses any other as
// a bad upstream answer. An image given only by URL becomes a text block
// holding the URL, since Converse images are inline bytes.
func ResponseFromLLM(r *llm.Response, latency time.Duration) *ConverseResponse {
	msg := &Message{Role: "assistant", Content: make([]ContentBlock, 0, len(r.Message.Parts))}
	for _, p := range r.Message.Parts {
		if p.Kind == llm.PartToolCall && p.ToolCall != nil {
			if _, ok := toolInput(p.ToolCall.Arguments); !ok {
				continue
			}
		}
		msg.Content = append(msg.Content, blockFromLLMOutput(p))
	}
	out := &ConverseResponse{
		Output:     ConverseOutput{Message: msg},
		StopReason: finishFromLLM(r.FinishReason),
		Usage:      usageFromLLM(r.Usage),
		Metrics:    &Metrics{LatencyMs: latency.Milliseconds()},
	}
	if r.StopSequence != "" {
		out.AdditionalModelResponseFields, _ = json.Marshal(map[string]string{"stop_sequence": r.StopSequence})
	}
	return out
}

func blockFromLLMOutput(p llm.Part) ContentBlock {
	switch p.Kind {
	case llm.PartToolCall:
		if p.ToolCall == nil {
			break
		}
		input, _ := toolInput(p.ToolCall.Arguments) // ResponseFromLLM left out calls without one
		return ContentBlock{ToolUse: &ToolUseBlock{ToolUseID: p.ToolCall.ID, Name: p.ToolCall.Name, Input: input}}
	case llm.PartReasoning:
		if p.Redacted != "" {
			return ContentBlock{ReasoningContent: &ReasoningContentBlock{RedactedContent: ptr(p.Redacted)}}
		}
		return ContentBlock{ReasoningContent: &ReasoningContentBlock{ReasoningText: &ReasoningText{Text: p.Text, Signature: p.Signature}}}
	case llm.PartToolResult:
		if b, err := partFromLLM(p, "output"); err == nil {
			return b
		}
	case llm.PartImage:
		if p.Image == nil {
			break
		}
		if f, ok := imageFormats[strings.ToLower(p.Image.MIMEType)]; ok && len(p.Image.Data) > 0 {
			return ContentBlock{Image: &ImageBlock{Format: f, Source: ImageSource{Bytes: p.Image.Data}}}
		}
		return ContentBlock{Text: ptr(p.Image.URL)}
	}
	return ContentBlock{Text: ptr(p.Text)}
}

// toolInput returns a complete tool call's arguments as toolUse.input:
// llm.ObjectArguments' object, compacted, or false.
func toolInput(args string) (json.RawMessage, bool) {
	raw, ok := llm.ObjectArguments(args)
	if !ok {
		return nil, false
	}
	s, _ := compactJSON(raw, "{}") // raw is a valid object
	return json.RawMessage(s), true
}

// compactJSON validates raw and returns it without insignificant space;
// empty input returns def.
func compactJSON(raw json.RawMessage, def string) (string, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return def, nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// strictUnmarshal decodes one JSON value, refusing unknown members and
// trailing data.
func strictUnmarshal(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data after JSON value")
	}
	return nil
}

// object returns raw if it is a JSON object.
func object(raw json.RawMessage) (json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("want a JSON object: %w", err)
	}
	return raw, nil
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

func ptr[T any](v T) *T { return &v }

func defaultCachePoint() *CachePointBlock { return &CachePointBlock{Type: "default"} }

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{llm.ErrInvalid}, args...)...)
}

// unsupportedf reports a feature Bedrock's Converse API (or the canonical
// model, for ingress) cannot express.
func unsupportedf(format string, args ...any) error {
	return fmt.Errorf("%w: bedrock: "+format, append([]any{llm.ErrUnsupported}, args...)...)
}
