package fakecloud

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"switchyard/internal/sse"
)

// Anthropic API versions: the Go SDK v1 sends the first, the Go SDK v2
// and the TypeScript SDK the second, which refuses sampling parameters.
const (
	anthropicVersion2023 = "2023-06-01"
	anthropicVersion2026 = "2026-10-21"
	// bedrockAnthropicVersion is what InvokeModel bodies carry instead.
	bedrockAnthropicVersion = "bedrock-2023-05-31"
	// vertexAnthropicVersion is what Vertex AI rawPredict bodies carry.
	vertexAnthropicVersion = "vertex-2023-10-16"
	// maxCacheBreakpoints is Anthropic's limit on cache_control blocks.
	maxCacheBreakpoints = 4
	// minThinkingBudget is Anthropic's smallest thinking budget.
	minThinkingBudget = 1024
)

// anthropicField reports whether a Messages request may carry a top-level
// field. Parameters without an effect on the simulated model are accepted
// and have none.
func anthropicField(k string) bool {
	switch k {
	case "model", "max_tokens", "messages", "system", "stream", "tools", "tool_choice", "stop_sequences",
		"thinking", "temperature", "top_p", "top_k", "metadata", "service_tier", "output_config",
		"output_format", "container", "context_management", "mcp_servers", "inference_geo", "cache_control",
		"speed", "diagnostics":
		return true
	}
	return false
}

// anthropicRequest is the part of a Messages request fakecloud reads.
type anthropicRequest struct {
	Model      string             `json:"model"`
	MaxTokens  *int               `json:"max_tokens"`
	Messages   []anthropicMessage `json:"messages"`
	System     json.RawMessage    `json:"system"`
	Stream     bool               `json:"stream"`
	Tools      []anthropicTool    `json:"tools"`
	ToolChoice *struct {
		Type                   string `json:"type"`
		Name                   string `json:"name"`
		DisableParallelToolUse bool   `json:"disable_parallel_tool_use"`
	} `json:"tool_choice"`
	StopSequences []string `json:"stop_sequences"`
	Thinking      *struct {
		Type         string `json:"type"`
		BudgetTokens int    `json:"budget_tokens"`
	} `json:"thinking"`
	Temperature  json.RawMessage  `json:"temperature"`
	TopP         json.RawMessage  `json:"top_p"`
	TopK         json.RawMessage  `json:"top_k"`
	OutputFormat *anthropicFormat `json:"output_format"`
	OutputConfig *struct {
		Format *anthropicFormat `json:"format"`
	} `json:"output_config"`
	CacheControl     json.RawMessage `json:"cache_control"`
	MCPServers       json.RawMessage `json:"mcp_servers"`
	Container        json.RawMessage `json:"container"`
	AnthropicVersion string          `json:"anthropic_version"`
}

type anthropicFormat struct {
	Type   string          `json:"type"`
	Schema json.RawMessage `json:"schema"`
}

type anthropicMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type anthropicTool struct {
	Type         string          `json:"type"`
	Name         string          `json:"name"`
	Description  string          `json:"description"`
	InputSchema  json.RawMessage `json:"input_schema"`
	CacheControl json.RawMessage `json:"cache_control"`
}

// anthropicBlock is any content block; Type says which fields apply.
type anthropicBlock struct {
	Type         string           `json:"type"`
	Text         string           `json:"text"`
	Source       *anthropicSource `json:"source"`
	Title        string           `json:"title"`
	ID           string           `json:"id"`
	Name         string           `json:"name"`
	Input        json.RawMessage  `json:"input"`
	ToolUseID    string           `json:"tool_use_id"`
	Content      json.RawMessage  `json:"content"`
	IsError      bool             `json:"is_error"`
	Thinking     string           `json:"thinking"`
	Signature    string           `json:"signature"`
	Citations    json.RawMessage  `json:"citations"`
	CacheControl json.RawMessage  `json:"cache_control"`
}

type anthropicSource struct {
	Type      string          `json:"type"`
	MediaType string          `json:"media_type"`
	Data      string          `json:"data"`
	URL       string          `json:"url"`
	Content   json.RawMessage `json:"content"`
}

// anthropicOptions says where a Messages body came from.
type anthropicOptions struct {
	// version is the anthropic-version header (empty on Bedrock).
	version string
	// bedrock marks an InvokeModel body: no model or stream, an
	// anthropic_version field instead of the header.
	bedrock bool
	// vertex marks a Vertex AI rawPredict body: no model (the URL names
	// it), an anthropic_version field instead of the header, and stream
	// as in the Messages API.
	vertex bool
	// countOnly marks a count_tokens body, which needs no max_tokens.
	countOnly bool
}

// anthropicConversation normalizes a Messages request body.
func anthropicConversation(body []byte, o anthropicOptions) (*conversation, *anthropicRequest, error) {
	known := anthropicField
	switch {
	case o.bedrock:
		known = func(k string) bool {
			return k == "anthropic_version" || k == "anthropic_beta" || (k != "model" && k != "stream" && anthropicField(k))
		}
	case o.vertex:
		known = func(k string) bool {
			return k == "anthropic_version" || (k != "model" && anthropicField(k))
		}
	}
	if err := checkFieldsFunc(body, known, "%s: Extra inputs are not permitted"); err != nil {
		return nil, nil, err
	}
	var req anthropicRequest
	if err := decodeJSON(body, &req); err != nil {
		return nil, nil, err
	}
	switch {
	case o.bedrock && req.AnthropicVersion != bedrockAnthropicVersion:
		return nil, nil, &requestError{msg: "anthropic_version: must be " + strconv.Quote(bedrockAnthropicVersion), param: "anthropic_version"}
	case o.vertex && req.AnthropicVersion != vertexAnthropicVersion:
		return nil, nil, &requestError{msg: "anthropic_version: must be " + strconv.Quote(vertexAnthropicVersion), param: "anthropic_version"}
	case !o.bedrock && !o.vertex && req.Model == "":
		return nil, nil, &requestError{msg: "model: Field required", param: "model"}
	case len(req.Messages) == 0:
		return nil, nil, &requestError{msg: "messages: Field required", param: "messages"}
	case !o.countOnly && req.MaxTokens == nil:
		return nil, nil, &requestError{msg: "max_tokens: Field required", param: "max_tokens"}
	case !o.countOnly && *req.MaxTokens < 1:
		return nil, nil, &requestError{msg: "max_tokens: Input should be greater than or equal to 1", param: "max_tokens"}
	case len(req.MCPServers) > 0 && string(req.MCPServers) != "null":
		return nil, nil, &requestError{msg: "mcp_servers: fakecloud does not simulate MCP servers", param: "mcp_servers"}
	case len(req.Container) > 0 && string(req.Container) != "null":
		return nil, nil, &requestError{msg: "container: fakecloud does not simulate containers", param: "container"}
	}
	if o.version == anthropicVersion2026 {
		sampling := []struct {
			name string
			raw  json.RawMessage
		}{{"temperature", req.Temperature}, {"top_p", req.TopP}, {"top_k", req.TopK}}
		for _, f := range sampling {
			if len(f.raw) > 0 {
				return nil, nil, &requestError{msg: f.name + ": not supported in API version " + anthropicVersion2026, param: f.name}
			}
		}
	}
	c := &conversation{model: req.Model}
	if req.MaxTokens != nil {
		c.maxTokens = *req.MaxTokens
	}
	c.stop = req.StopSequences
	for i, t := range req.Tools {
		field := "tools." + strconv.Itoa(i)
		if t.Type != "" && t.Type != "custom" {
			return nil, nil, &requestError{msg: field + ": fakecloud does not simulate server tool " + strconv.Quote(t.Type), param: field}
		}
		if len(t.InputSchema) == 0 {
			return nil, nil, &requestError{msg: field + ".input_schema: Field required", param: field}
		}
		schema, err := decodeSchema(t.InputSchema, field+".input_schema")
		if err != nil {
			return nil, nil, err
		}
		c.addTool(toolDef{name: t.Name, description: t.Description, schema: schema})
		if err := anthropicCache(c, t.CacheControl); err != nil {
			return nil, nil, err
		}
	}
	if err := anthropicSystem(c, req.System); err != nil {
		return nil, nil, err
	}
	for i, m := range req.Messages {
		if err := anthropicMessageParts(c, m, i); err != nil {
			return nil, nil, err
		}
	}
	// A top-level cache_control caches the whole prompt automatically.
	if err := anthropicCache(c, req.CacheControl); err != nil {
		return nil, nil, err
	}
	if tc := req.ToolChoice; tc != nil {
		switch tc.Type {
		case "auto":
		case "none":
			c.choice = choiceNone
		case "any":
			c.choice = choiceAny
		case "tool":
			c.choice, c.choiceName = choiceTool, tc.Name
		default:
			return nil, nil, &requestError{msg: "tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'", param: "tool_choice"}
		}
		c.serial = tc.DisableParallelToolUse
	}
	if th := req.Thinking; th != nil {
		switch th.Type {
		case "disabled":
		case "adaptive":
			c.reasoning = true
		case "enabled":
			switch {
			case th.BudgetTokens < minThinkingBudget:
				return nil, nil, &requestError{msg: "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024", param: "thinking"}
			case !o.countOnly && th.BudgetTokens >= c.maxTokens:
				return nil, nil, &requestError{msg: "`max_tokens` must be greater than `thinking.budget_tokens`", param: "max_tokens"}
			}
			c.reasoning = true
		default:
			return nil, nil, &requestError{msg: "thinking.type: Input should be 'enabled', 'disabled' or 'adaptive'", param: "thinking"}
		}
		if c.reasoning && (c.choice == choiceAny || c.choice == choiceTool) {
			return nil, nil, &requestError{msg: "Thinking may not be enabled when tool_choice forces tool use.", param: "tool_choice"}
		}
	}
	format := req.OutputFormat
	if req.OutputConfig != nil && req.OutputConfig.Format != nil {
		format = req.OutputConfig.Format
	}
	if format != nil {
		if format.Type != "json_schema" {
			return nil, nil, &requestError{msg: "output_config.format.type: Input should be 'json_schema'", param: "output_config"}
		}
		schema, err := decodeSchema(format.Schema, "output_config.format.schema")
		if err != nil {
			return nil, nil, err
		}
		if schema == nil {
			return nil, nil, &requestError{msg: "output_config.format.schema: Field required", param: "output_config"}
		}
		c.format = &outputFormat{schema: schema}
	}
	if len(c.marks) > maxCacheBreakpoints {
		return nil, nil, &requestError{msg: "A maximum of 4 blocks with cache_control may be provided. Found " + strconv.Itoa(len(c.marks)) + "."}
	}
	if err := c.validate(validateOptions{}); err != nil {
		return nil, nil, err
	}
	return c, &req, nil
}

// anthropicCache places a cache breakpoint when a block carries
// cache_control.
func anthropicCache(c *conversation, raw json.RawMessage) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var cc struct {
		Type string `json:"type"`
		TTL  string `json:"ttl"`
	}
	if err := json.Unmarshal(raw, &cc); err != nil || cc.Type != "ephemeral" {
		return &requestError{msg: "cache_control.type: Input should be 'ephemeral'"}
	}
	switch cc.TTL {
	case "", "5m", "1h":
	default:
		return &requestError{msg: "cache_control.ttl: Input should be '5m' or '1h'"}
	}
	c.markCache()
	return nil
}

// anthropicSystem reads system: a string or text blocks.
func anthropicSystem(c *conversation, raw json.RawMessage) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		c.addSystem(s)
		return nil
	}
	var blocks []anthropicBlock
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return &requestError{msg: "system: Input should be a valid string or list of text blocks", param: "system"}
	}
	for i, b := range blocks {
		if b.Type != "text" {
			return &requestError{msg: "system." + strconv.Itoa(i) + ".type: Input should be 'text'", param: "system"}
		}
		c.addSystem(b.Text)
		if err := anthropicCache(c, b.CacheControl); err != nil {
			return err
		}
	}
	return nil
}

// anthropicMessageParts adds one message.
func anthropicMessageParts(c *conversation, m anthropicMessage, i int) error {
	field := "messages." + strconv.Itoa(i)
	var role string
	switch m.Role {
	case "user":
		role = roleUser
	case "assistant":
		role = roleAssistant
	default:
		return &requestError{msg: field + ".role: Input should be 'user' or 'assistant'", param: field}
	}
	var s string
	if json.Unmarshal(m.Content, &s) == nil {
		if s == "" && role == roleUser {
			return &requestError{msg: field + ": user messages must have non-empty content", param: field}
		}
		c.add(role, part{kind: partText, text: s})
		return nil
	}
	var blocks []anthropicBlock
	if err := json.Unmarshal(m.Content, &blocks); err != nil {
		return &requestError{msg: field + ".content: Input should be a valid string or list of blocks", param: field}
	}
	if len(blocks) == 0 && role == roleUser {
		return &requestError{msg: field + ": user messages must have non-empty content", param: field}
	}
	for k, b := range blocks {
		bf := field + ".content." + strconv.Itoa(k)
		p, ok, err := anthropicPart(b, role, bf)
		if err != nil {
			return err
		}
		// The API refuses a history that repeats a tool_use id anywhere.
		if p.kind == partToolCall && c.callTurn(p.callID) >= 0 {
			return &requestError{msg: bf + ": `tool_use` ids must be unique", param: bf}
		}
		if ok {
			c.add(role, p)
		}
		if err := anthropicCache(c, b.CacheControl); err != nil {
			return err
		}
	}
	return nil
}

// anthropicPart converts one block; ok is false for blocks that do not
// enter the conversation (thinking).
func anthropicPart(b anthropicBlock, role, field string) (part, bool, error) {
	userOnly := func() error {
		if role != roleUser {
			return &requestError{msg: field + ": " + b.Type + " blocks are only allowed in user messages", param: field}
		}
		return nil
	}
	assistantOnly := func() error {
		if role != roleAssistant {
			return &requestError{msg: field + ": " + b.Type + " blocks are only allowed in assistant messages", param: field}
		}
		return nil
	}
	switch b.Type {
	case "text":
		if role == roleUser && len(b.Citations) > 0 && string(b.Citations) != "null" && string(b.Citations) != "[]" {
			return part{}, false, &requestError{msg: field + ".citations: not allowed on user text blocks", param: field}
		}
		return part{kind: partText, text: b.Text}, true, nil
	case "image", "document":
		if err := userOnly(); err != nil {
			return part{}, false, err
		}
		return anthropicAttachment(b, field)
	case "tool_use":
		if err := assistantOnly(); err != nil {
			return part{}, false, err
		}
		if b.ID == "" || b.Name == "" {
			return part{}, false, &requestError{msg: field + ": tool_use needs id and name", param: field}
		}
		args, err := canonicalArgs(b.Input, field+".input")
		if err != nil {
			return part{}, false, err
		}
		return part{kind: partToolCall, callID: b.ID, name: b.Name, args: args}, true, nil
	case "tool_result":
		if err := userOnly(); err != nil {
			return part{}, false, err
		}
		text, err := anthropicResultText(b.Content, field)
		if err != nil {
			return part{}, false, err
		}
		return part{kind: partToolResult, callID: b.ToolUseID, result: text, isError: b.IsError}, true, nil
	case "thinking":
		if err := assistantOnly(); err != nil {
			return part{}, false, err
		}
		if b.Signature != thinkingSignature(b.Thinking) {
			return part{}, false, &requestError{msg: field + ": Invalid `signature` in `thinking` block", param: field}
		}
		return part{}, false, nil
	case "redacted_thinking":
		if err := assistantOnly(); err != nil {
			return part{}, false, err
		}
		return part{}, false, nil
	}
	return part{}, false, &requestError{msg: field + ": fakecloud does not simulate content blocks of type " + strconv.Quote(b.Type), param: field}
}

// anthropicAttachment converts an image or document block.
func anthropicAttachment(b anthropicBlock, field string) (part, bool, error) {
	src := b.Source
	if src == nil {
		return part{}, false, &requestError{msg: field + ".source: Field required", param: field}
	}
	kind := partImage
	if b.Type == "document" {
		kind = partDocument
	}
	switch src.Type {
	case "base64":
		data, err := decodeBase64(src.Data, field+".source.data")
		if err != nil {
			return part{}, false, err
		}
		if src.MediaType == "" {
			return part{}, false, &requestError{msg: field + ".source.media_type: Field required", param: field}
		}
		return part{kind: kind, mime: src.MediaType, data: data, text: b.Title}, true, nil
	case "url":
		if src.URL == "" {
			return part{}, false, &requestError{msg: field + ".source.url: Field required", param: field}
		}
		return part{kind: kind, url: src.URL, text: b.Title}, true, nil
	case "text":
		if kind != partDocument {
			break
		}
		return part{kind: partDocument, mime: "text/plain", text: b.Title + "\n" + src.Data}, true, nil
	case "content":
		if kind != partDocument {
			break
		}
		text, err := anthropicResultText(src.Content, field+".source")
		if err != nil {
			return part{}, false, err
		}
		return part{kind: partDocument, mime: "text/plain", text: b.Title + "\n" + text}, true, nil
	}
	return part{}, false, &requestError{msg: field + ".source.type: fakecloud does not simulate source type " + strconv.Quote(src.Type), param: field}
}

// anthropicResultText flattens tool result content (a string or blocks)
// to text; images become "[image]".
func anthropicResultText(raw json.RawMessage, field string) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var blocks []anthropicBlock
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return "", &requestError{msg: field + ".content: Input should be a valid string or list of blocks", param: field}
	}
	var texts []string
	for _, b := range blocks {
		switch b.Type {
		case "text":
			texts = append(texts, b.Text)
		case "image":
			texts = append(texts, "[image]")
		case "document":
			texts = append(texts, "[document]")
		default:
			return "", &requestError{msg: field + ".content: fakecloud does not simulate blocks of type " + strconv.Quote(b.Type) + " in tool results", param: field}
		}
	}
	return strings.Join(texts, "\n"), nil
}

// anthropicAuth checks x-api-key or a bearer token, then the version
// header.
func (c *call) anthropicAuth() (version string, err error) {
	key := c.r.Header.Get("X-Api-Key")
	if key == "" {
		key, _ = strings.CutPrefix(c.r.Header.Get("Authorization"), "Bearer ")
	}
	switch {
	case key == "":
		return "", &apiError{status: http.StatusUnauthorized, message: "x-api-key header is required"}
	case key != c.s.key:
		return "", &apiError{status: http.StatusUnauthorized, message: "invalid x-api-key"}
	}
	version = c.r.Header.Get("Anthropic-Version")
	switch version {
	case "":
		return "", &apiError{status: http.StatusBadRequest, message: "anthropic-version: header is required"}
	case anthropicVersion2023, anthropicVersion2026, "2023-01-01":
		return version, nil
	}
	return "", &apiError{status: http.StatusBadRequest, message: "anthropic-version: " + strconv.Quote(version) + " is not a valid version"}
}

// anthropicMessages serves POST v1/messages.
func (s *Server) anthropicMessages(c *call) error {
	version, err := c.anthropicAuth()
	if err != nil {
		return err
	}
	var peek struct {
		Model  string `json:"model"`
		Stream bool   `json:"stream"`
	}
	_ = json.Unmarshal(c.body, &peek)
	c.rec.Model, c.rec.Stream = peek.Model, peek.Stream
	conv, req, err := anthropicConversation(c.body, anthropicOptions{version: version})
	if err != nil {
		return err
	}
	if err := c.admit(); err != nil {
		return err
	}
	a := c.respond(conv)
	c.w.Header().Set("Request-Id", "req_"+a.id)
	if !req.Stream {
		if err := c.pace(a.usage.output); err != nil {
			return err
		}
		writeJSON(c.w, http.StatusOK, anthropicResponse(conv.model, a))
		return nil
	}
	sw := sse.NewWriter(c.w)
	emit := func(typ string, payload map[string]any) error {
		b, err := json.Marshal(payload)
		if err != nil {
			return err
		}
		if err := sw.Event(typ, b); err != nil {
			return errClientGone
		}
		return nil
	}
	return anthropicStream(c, conv.model, a, emit, true)
}

// anthropicStopReason names why the answer ended.
func anthropicStopReason(f finish) string {
	switch f {
	case finishLength:
		return "max_tokens"
	case finishToolUse:
		return "tool_use"
	case finishStopSequence:
		return "stop_sequence"
	}
	return "end_turn"
}

// anthropicUsage reports input excluding the cached parts, as Anthropic
// does. At the start of a stream the output is not known yet: it counts 1.
func anthropicUsage(u usage, final bool) map[string]any {
	out := map[string]any{
		"input_tokens":                u.input - u.cacheRead - u.cacheWrite,
		"cache_creation_input_tokens": u.cacheWrite,
		"cache_read_input_tokens":     u.cacheRead,
		"output_tokens":               1,
		"service_tier":                "standard",
	}
	if final {
		out["output_tokens"] = u.output
		if u.reasoning > 0 {
			out["output_tokens_details"] = map[string]any{"thinking_tokens": u.reasoning}
		}
	}
	return out
}

// anthropicResponse is the non-streamed answer.
func anthropicResponse(model string, a answer) map[string]any {
	var content []any
	if a.thinking != "" {
		content = append(content, map[string]any{"type": "thinking", "thinking": a.thinking, "signature": thinkingSignature(a.thinking)})
	}
	if a.text != "" {
		content = append(content, map[string]any{"type": "text", "text": a.text})
	}
	for _, tc := range a.calls {
		content = append(content, map[string]any{"type": "tool_use", "id": "toolu_" + tc.id, "name": tc.name, "input": json.RawMessage(tc.args)})
	}
	if content == nil {
		content = []any{}
	}
	var stopSeq any
	if a.stopSequence != "" {
		stopSeq = a.stopSequence
	}
	return map[string]any{
		"id":            "msg_" + a.id,
		"type":          "message",
		"role":          "assistant",
		"model":         model,
		"content":       content,
		"stop_reason":   anthropicStopReason(a.finish),
		"stop_sequence": stopSeq,
		"usage":         anthropicUsage(a.usage, true),
	}
}

// anthropicStream emits the answer as Messages stream events through emit
// (SSE for Anthropic, event-stream chunks for Bedrock); a ping follows the
// first content_block_start, where the API sends one, and goes only to
// Anthropic's own stream.
func anthropicStream(c *call, model string, a answer, emit func(string, map[string]any) error, pings bool) error {
	start := anthropicResponse(model, a)
	start["content"] = []any{}
	start["stop_reason"] = nil
	start["stop_sequence"] = nil
	start["usage"] = anthropicUsage(a.usage, false)
	if err := emit("message_start", map[string]any{"type": "message_start", "message": start}); err != nil {
		return err
	}
	index := 0
	// block sends one content block; its deltas are output tokens but for
	// the signature and the empty opening of tool input, which carry none.
	block := func(startBlock map[string]any, deltas []map[string]any) error {
		if err := emit("content_block_start", map[string]any{"type": "content_block_start", "index": index, "content_block": startBlock}); err != nil {
			return err
		}
		if pings && index == 0 {
			if err := emit("ping", map[string]any{"type": "ping"}); err != nil {
				return err
			}
		}
		for _, d := range deltas {
			token := d["type"] != "signature_delta" && d["partial_json"] != ""
			if token {
				if err := c.pace(1); err != nil {
					return err
				}
			}
			if err := emit("content_block_delta", map[string]any{"type": "content_block_delta", "index": index, "delta": d}); err != nil {
				return err
			}
			if token && c.streamed() {
				c.abortStream()
			}
		}
		if err := emit("content_block_stop", map[string]any{"type": "content_block_stop", "index": index}); err != nil {
			return err
		}
		index++
		return nil
	}
	if a.thinking != "" {
		var deltas []map[string]any
		for _, p := range a.thinkingPieces {
			deltas = append(deltas, map[string]any{"type": "thinking_delta", "thinking": p})
		}
		deltas = append(deltas, map[string]any{"type": "signature_delta", "signature": thinkingSignature(a.thinking)})
		if err := block(map[string]any{"type": "thinking", "thinking": "", "signature": ""}, deltas); err != nil {
			return err
		}
	}
	if a.text != "" {
		var deltas []map[string]any
		for _, p := range a.textPieces {
			deltas = append(deltas, map[string]any{"type": "text_delta", "text": p})
		}
		if err := block(map[string]any{"type": "text", "text": ""}, deltas); err != nil {
			return err
		}
	}
	for _, tc := range a.calls {
		deltas := []map[string]any{{"type": "input_json_delta", "partial_json": ""}}
		for _, f := range tc.fragments {
			deltas = append(deltas, map[string]any{"type": "input_json_delta", "partial_json": f})
		}
		if err := block(map[string]any{"type": "tool_use", "id": "toolu_" + tc.id, "name": tc.name, "input": map[string]any{}}, deltas); err != nil {
			return err
		}
	}
	var stopSeq any
	if a.stopSequence != "" {
		stopSeq = a.stopSequence
	}
	u := anthropicUsage(a.usage, true)
	delete(u, "service_tier")
	if err := emit("message_delta", map[string]any{
		"type":  "message_delta",
		"delta": map[string]any{"stop_reason": anthropicStopReason(a.finish), "stop_sequence": stopSeq},
		"usage": u,
	}); err != nil {
		return err
	}
	stop := map[string]any{"type": "message_stop"}
	if !pings {
		// Bedrock adds its invocation metrics to the last event.
		stop["amazon-bedrock-invocationMetrics"] = map[string]any{
			"inputTokenCount":   a.usage.input,
			"outputTokenCount":  a.usage.output,
			"invocationLatency": 0,
			"firstByteLatency":  0,
		}
	}
	return emit("message_stop", stop)
}

// anthropicCountTokens serves POST v1/messages/count_tokens.
func (s *Server) anthropicCountTokens(c *call) error {
	version, err := c.anthropicAuth()
	if err != nil {
		return err
	}
	var peek struct {
		Model string `json:"model"`
	}
	_ = json.Unmarshal(c.body, &peek)
	c.rec.Model = peek.Model
	conv, _, err := anthropicConversation(c.body, anthropicOptions{version: version, countOnly: true})
	if err != nil {
		return err
	}
	if err := c.admit(); err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, map[string]any{"input_tokens": conv.inputTokens()})
	return nil
}

// anthropicModels serves GET v1/models.
func (s *Server) anthropicModels(c *call) error {
	if _, err := c.anthropicAuth(); err != nil {
		return err
	}
	if err := c.admit(); err != nil {
		return err
	}
	ids := []string{"claude-opus-4-1", "claude-sonnet-4-5", "claude-haiku-4-5"}
	var data []any
	for _, id := range ids {
		data = append(data, map[string]any{"type": "model", "id": id, "display_name": id, "created_at": "2025-01-01T00:00:00Z"})
	}
	writeJSON(c.w, http.StatusOK, map[string]any{"data": data, "has_more": false, "first_id": ids[0], "last_id": ids[len(ids)-1]})
	return nil
}

// anthropicErrorType names an error status as Anthropic does.
func anthropicErrorType(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "authentication_error"
	case http.StatusPaymentRequired:
		return "billing_error"
	case http.StatusForbidden:
		return "permission_error"
	case http.StatusNotFound:
		return "not_found_error"
	case http.StatusRequestEntityTooLarge:
		return "request_too_large"
	case http.StatusTooManyRequests:
		return "rate_limit_error"
	case http.StatusGatewayTimeout:
		return "timeout_error"
	case 529:
		return "overloaded_error"
	}
	if status >= 500 {
		return "api_error"
	}
	return "invalid_request_error"
}

// writeAnthropicError renders an error as Anthropic does.
func writeAnthropicError(w http.ResponseWriter, e *apiError) {
	typ := e.code
	if typ == "" {
		typ = anthropicErrorType(e.status)
	}
	msg := e.message
	if msg == "" {
		switch typ {
		case "overloaded_error":
			msg = "Overloaded"
		case "rate_limit_error":
			msg = "Number of request tokens has exceeded your per-minute rate limit"
		case "api_error":
			msg = "Internal server error"
		default:
			msg = http.StatusText(e.status)
		}
	}
	w.Header().Set("Request-Id", "req_fakecloud")
	writeJSON(w, e.status, map[string]any{
		"type":       "error",
		"error":      map[string]any{"type": typ, "message": msg},
		"request_id": "req_fakecloud",
	})
}
