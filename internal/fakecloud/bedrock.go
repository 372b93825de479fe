package fakecloud

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"switchyard/internal/provider/bedrock"
)

// Namespaces of AWS error codes in X-Amzn-ErrorType: Bedrock's modeled
// errors and the generic service-framework (auth) errors.
const (
	bedrockErrorNamespace = ":http://internal.amazon.com/coral/com.amazon.bedrock/"
	coralErrorNamespace   = ":http://internal.amazon.com/coral/com.amazon.coral.service/"
)

// bedrockConverseField reports whether a Converse request may carry a
// top-level field.
func bedrockConverseField(k string) bool {
	switch k {
	case "messages", "system", "inferenceConfig", "toolConfig", "guardrailConfig",
		"additionalModelRequestFields", "promptVariables", "additionalModelResponseFieldPaths",
		"requestMetadata", "performanceConfig", "serviceTier", "outputConfig":
		return true
	}
	return false
}

// bedrockConverseRequest is the part of a Converse request fakecloud
// reads. Content blocks stay raw: they are unions checked one by one.
type bedrockConverseRequest struct {
	Messages []struct {
		Role    string            `json:"role"`
		Content []json.RawMessage `json:"content"`
	} `json:"messages"`
	System          []json.RawMessage `json:"system"`
	InferenceConfig *struct {
		MaxTokens     *int     `json:"maxTokens"`
		StopSequences []string `json:"stopSequences"`
	} `json:"inferenceConfig"`
	ToolConfig *struct {
		Tools      []json.RawMessage `json:"tools"`
		ToolChoice json.RawMessage   `json:"toolChoice"`
	} `json:"toolConfig"`
	AdditionalModelRequestFields json.RawMessage `json:"additionalModelRequestFields"`
	GuardrailConfig              json.RawMessage `json:"guardrailConfig"`
	PromptVariables              json.RawMessage `json:"promptVariables"`
	OutputConfig                 *struct {
		TextFormat *struct {
			Type      string `json:"type"`
			Structure struct {
				JSONSchema *struct {
					Schema string `json:"schema"`
				} `json:"jsonSchema"`
			} `json:"structure"`
		} `json:"textFormat"`
	} `json:"outputConfig"`
}

// union decodes a one-member union object and returns the member's name
// and value.
func union(raw json.RawMessage, field string) (string, json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return "", nil, badRequest("%s: must be an object", field)
	}
	if len(m) != 1 {
		return "", nil, badRequest("%s: exactly one member of the union must be set, got %d", field, len(m))
	}
	var name string
	var value json.RawMessage
	for k, v := range m {
		name, value = k, v
	}
	return name, value, nil
}

// bedrockConversation normalizes a Converse request body.
func bedrockConversation(body []byte, modelID string) (*conversation, error) {
	if err := checkFieldsFunc(body, bedrockConverseField, "Unknown field %q in the request."); err != nil {
		return nil, err
	}
	var req bedrockConverseRequest
	if err := decodeJSON(body, &req); err != nil {
		return nil, err
	}
	switch {
	case len(req.Messages) == 0:
		return nil, badRequest("A conversation must start with a user message. Try again with a conversation that starts with a user message.")
	case len(req.GuardrailConfig) > 0 && string(req.GuardrailConfig) != "null":
		return nil, badRequest("fakecloud does not simulate guardrails (guardrailConfig)")
	case len(req.PromptVariables) > 0 && string(req.PromptVariables) != "null":
		return nil, badRequest("fakecloud does not simulate prompt management (promptVariables)")
	}
	c := &conversation{model: modelID}
	if ic := req.InferenceConfig; ic != nil {
		if ic.MaxTokens != nil {
			if *ic.MaxTokens < 1 {
				return nil, badRequest("1 validation error detected: Value at 'inferenceConfig.maxTokens' failed to satisfy constraint: Member must have value greater than or equal to 1")
			}
			c.maxTokens = *ic.MaxTokens
		}
		c.stop = ic.StopSequences
	}
	if tc := req.ToolConfig; tc != nil {
		if len(tc.Tools) == 0 {
			return nil, badRequest("toolConfig.tools must not be empty")
		}
		for i, raw := range tc.Tools {
			if err := bedrockTool(c, raw, i); err != nil {
				return nil, err
			}
		}
		if err := bedrockToolChoice(c, tc.ToolChoice); err != nil {
			return nil, err
		}
	} else {
		c.choice = choiceNone
	}
	for i, raw := range req.System {
		field := "system." + strconv.Itoa(i)
		name, v, err := union(raw, field)
		if err != nil {
			return nil, err
		}
		switch name {
		case "text":
			var s string
			if err := json.Unmarshal(v, &s); err != nil || s == "" {
				return nil, badRequest("%s.text: must be a non-empty string", field)
			}
			c.addSystem(s)
		case "cachePoint":
			if err := bedrockCachePoint(c, v, field); err != nil {
				return nil, err
			}
		default:
			return nil, badRequest("%s: fakecloud does not simulate system blocks of type %s", field, name)
		}
	}
	for i, m := range req.Messages {
		field := "messages." + strconv.Itoa(i)
		role := m.Role
		if role != roleUser && role != roleAssistant {
			return nil, badRequest("%s.role: must be user or assistant", field)
		}
		if i == 0 && role != roleUser {
			return nil, badRequest("A conversation must start with a user message. Try again with a conversation that starts with a user message.")
		}
		if i > 0 && req.Messages[i-1].Role == role {
			return nil, badRequest("A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.")
		}
		if len(m.Content) == 0 {
			return nil, badRequest("%s.content: must not be empty", field)
		}
		for k, raw := range m.Content {
			if err := bedrockBlock(c, role, raw, field+".content."+strconv.Itoa(k)); err != nil {
				return nil, err
			}
		}
	}
	if err := bedrockAdditionalFields(c, req.AdditionalModelRequestFields); err != nil {
		return nil, err
	}
	if oc := req.OutputConfig; oc != nil && oc.TextFormat != nil {
		tf := oc.TextFormat
		if tf.Type != "json_schema" || tf.Structure.JSONSchema == nil {
			return nil, badRequest("outputConfig.textFormat: fakecloud simulates only type json_schema with a jsonSchema structure")
		}
		schema, err := decodeSchema(json.RawMessage(tf.Structure.JSONSchema.Schema), "outputConfig.textFormat.structure.jsonSchema.schema")
		if err != nil {
			return nil, err
		}
		if schema == nil {
			return nil, badRequest("outputConfig.textFormat.structure.jsonSchema.schema is required")
		}
		c.format = &outputFormat{schema: schema}
	}
	if err := c.validate(validateOptions{toolsForHistory: true}); err != nil {
		return nil, err
	}
	return c, nil
}

// bedrockTool reads one toolConfig.tools entry: a toolSpec or a cachePoint.
func bedrockTool(c *conversation, raw json.RawMessage, i int) error {
	field := "toolConfig.tools." + strconv.Itoa(i)
	name, v, err := union(raw, field)
	if err != nil {
		return err
	}
	switch name {
	case "toolSpec":
		var spec struct {
			Name        string `json:"name"`
			Description string `json:"description"`
			InputSchema struct {
				JSON json.RawMessage `json:"json"`
			} `json:"inputSchema"`
		}
		if err := json.Unmarshal(v, &spec); err != nil {
			return badRequest("%s.toolSpec: %v", field, err)
		}
		if len(spec.InputSchema.JSON) == 0 {
			return badRequest("%s.toolSpec.inputSchema.json is required", field)
		}
		schema, err := decodeSchema(spec.InputSchema.JSON, field+".toolSpec.inputSchema.json")
		if err != nil {
			return err
		}
		c.addTool(toolDef{name: spec.Name, description: spec.Description, schema: schema})
	case "cachePoint":
		return bedrockCachePoint(c, v, field)
	default:
		return badRequest("%s: fakecloud does not simulate tools of type %s", field, name)
	}
	return nil
}

// bedrockToolChoice reads {"auto":{}} | {"any":{}} | {"tool":{"name":…}}.
func bedrockToolChoice(c *conversation, raw json.RawMessage) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	name, v, err := union(raw, "toolConfig.toolChoice")
	if err != nil {
		return err
	}
	switch name {
	case "auto":
	case "any":
		c.choice = choiceAny
	case "tool":
		var t struct {
			Name string `json:"name"`
		}
		if err := json.Unmarshal(v, &t); err != nil || t.Name == "" {
			return badRequest("toolConfig.toolChoice.tool.name is required")
		}
		c.choice, c.choiceName = choiceTool, t.Name
	default:
		return badRequest("toolConfig.toolChoice: unknown member %s", name)
	}
	return nil
}

// bedrockCachePoint places a cache breakpoint for {"type":"default"}.
func bedrockCachePoint(c *conversation, raw json.RawMessage, field string) error {
	var cp struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(raw, &cp); err != nil || cp.Type != "default" {
		return badRequest("%s.cachePoint.type: must be default", field)
	}
	c.markCache()
	return nil
}

// bedrockBlock adds one message content block.
func bedrockBlock(c *conversation, role string, raw json.RawMessage, field string) error {
	name, v, err := union(raw, field)
	if err != nil {
		return err
	}
	switch name {
	case "text":
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return badRequest("%s.text: must be a string", field)
		}
		if s == "" {
			return badRequest("The text field in the ContentBlock object at %s is blank. Add text to the text field, and try again.", field)
		}
		c.add(role, part{kind: partText, text: s})
	case "image", "document":
		if role != roleUser {
			return badRequest("%s: %s blocks are only allowed in user messages", field, name)
		}
		p, err := bedrockAttachment(name, v, field)
		if err != nil {
			return err
		}
		c.add(role, p)
	case "toolUse":
		if role != roleAssistant {
			return badRequest("%s: toolUse blocks are only allowed in assistant messages", field)
		}
		var tu struct {
			ToolUseID string          `json:"toolUseId"`
			Name      string          `json:"name"`
			Input     json.RawMessage `json:"input"`
		}
		if err := json.Unmarshal(v, &tu); err != nil || tu.ToolUseID == "" || tu.Name == "" {
			return badRequest("%s.toolUse: toolUseId, name and input are required", field)
		}
		args, err := canonicalArgs(tu.Input, field+".toolUse.input")
		if err != nil {
			return err
		}
		// Bedrock refuses a repeated toolUseId within a message itself; a
		// repeat across messages is refused by the model behind it (Claude),
		// whose error Bedrock passes on.
		switch t := c.callTurn(tu.ToolUseID); {
		case t >= 0 && t == len(c.turns)-1:
			msg, _, _ := strings.Cut(field, ".content.")
			return badRequest("The toolUse blocks at %s.content contain duplicate Ids: %s", msg, tu.ToolUseID)
		case t >= 0:
			return badRequest("The model returned the following errors: %s: `tool_use` ids must be unique", field)
		}
		c.add(role, part{kind: partToolCall, callID: tu.ToolUseID, name: tu.Name, args: args})
	case "toolResult":
		if role != roleUser {
			return badRequest("%s: toolResult blocks are only allowed in user messages", field)
		}
		p, err := bedrockToolResult(v, field)
		if err != nil {
			return err
		}
		c.add(role, p)
	case "cachePoint":
		return bedrockCachePoint(c, v, field)
	case "reasoningContent":
		if role != roleAssistant {
			return badRequest("%s: reasoningContent blocks are only allowed in assistant messages", field)
		}
		var rc struct {
			ReasoningText *struct {
				Text      string `json:"text"`
				Signature string `json:"signature"`
			} `json:"reasoningText"`
			RedactedContent string `json:"redactedContent"`
		}
		if err := json.Unmarshal(v, &rc); err != nil {
			return badRequest("%s.reasoningContent: %v", field, err)
		}
		if rt := rc.ReasoningText; rt != nil && rt.Signature != thinkingSignature(rt.Text) {
			return badRequest("%s.reasoningContent: the reasoning signature is invalid", field)
		}
	default:
		return badRequest("%s: fakecloud does not simulate content blocks of type %s", field, name)
	}
	return nil
}

// bedrockMIME maps Bedrock image and document formats to media types.
func bedrockMIME(kind, format string) (string, bool) {
	if kind == "image" {
		switch format {
		case "png", "jpeg", "gif", "webp":
			return "image/" + format, true
		}
		return "", false
	}
	switch format {
	case "pdf":
		return "application/pdf", true
	case "csv":
		return "text/csv", true
	case "doc":
		return "application/msword", true
	case "docx":
		return "application/vnd.openxmlformats-officedocument.wordprocessingml.document", true
	case "xls":
		return "application/vnd.ms-excel", true
	case "xlsx":
		return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", true
	case "html":
		return "text/html", true
	case "txt":
		return "text/plain", true
	case "md":
		return "text/markdown", true
	}
	return "", false
}

// bedrockAttachment reads an image or document block with inline bytes
// (documents may also hold text).
func bedrockAttachment(kind string, raw json.RawMessage, field string) (part, error) {
	var b struct {
		Format string `json:"format"`
		Name   string `json:"name"`
		Source struct {
			Bytes      *string         `json:"bytes"`
			Text       *string         `json:"text"`
			S3Location json.RawMessage `json:"s3Location"`
		} `json:"source"`
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		return part{}, badRequest("%s.%s: %v", field, kind, err)
	}
	mime, ok := bedrockMIME(kind, b.Format)
	if !ok {
		return part{}, badRequest("%s.%s.format: unsupported format %q", field, kind, b.Format)
	}
	p := part{kind: partImage, mime: mime}
	if kind == "document" {
		if b.Name == "" {
			return part{}, badRequest("%s.document.name is required", field)
		}
		p.kind, p.text = partDocument, b.Name
	}
	switch {
	case b.Source.Bytes != nil:
		data, err := decodeBase64(*b.Source.Bytes, field+"."+kind+".source.bytes")
		if err != nil {
			return part{}, err
		}
		p.data = data
	case b.Source.Text != nil && kind == "document":
		p.text += "\n" + *b.Source.Text
	case len(b.Source.S3Location) > 0:
		return part{}, badRequest("%s.%s.source: fakecloud does not simulate S3 locations", field, kind)
	default:
		return part{}, badRequest("%s.%s.source: exactly one member of the union must be set", field, kind)
	}
	return p, nil
}

// bedrockToolResult reads a toolResult block; its content blocks become
// text (JSON as compact JSON, images as "[image]").
func bedrockToolResult(raw json.RawMessage, field string) (part, error) {
	var tr struct {
		ToolUseID string            `json:"toolUseId"`
		Content   []json.RawMessage `json:"content"`
		Status    string            `json:"status"`
	}
	if err := json.Unmarshal(raw, &tr); err != nil || tr.ToolUseID == "" {
		return part{}, badRequest("%s.toolResult: toolUseId and content are required", field)
	}
	var texts []string
	for k, cb := range tr.Content {
		cf := field + ".toolResult.content." + strconv.Itoa(k)
		name, v, err := union(cb, cf)
		if err != nil {
			return part{}, err
		}
		switch name {
		case "text":
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return part{}, badRequest("%s.text: must be a string", cf)
			}
			texts = append(texts, s)
		case "json":
			s, ok := canonicalJSON(v)
			if !ok {
				return part{}, badRequest("%s.json: invalid JSON", cf)
			}
			texts = append(texts, s)
		case "image":
			texts = append(texts, "[image]")
		case "document":
			texts = append(texts, "[document]")
		default:
			return part{}, badRequest("%s: fakecloud does not simulate tool result blocks of type %s", cf, name)
		}
	}
	switch tr.Status {
	case "", "success", "error":
	default:
		return part{}, badRequest("%s.toolResult.status: must be success or error", field)
	}
	return part{kind: partToolResult, callID: tr.ToolUseID, result: strings.Join(texts, "\n"), isError: tr.Status == "error"}, nil
}

// bedrockAdditionalFields turns on reasoning when the model-specific fields
// ask for it (Claude's "thinking" or "reasoning_config", Nova's
// "reasoningConfig"); other fields are the model's own knobs.
func bedrockAdditionalFields(c *conversation, raw json.RawMessage) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return badRequest("additionalModelRequestFields: must be an object")
	}
	for _, key := range []string{"thinking", "reasoning_config", "reasoningConfig"} {
		v, ok := fields[key]
		if !ok {
			continue
		}
		var cfg struct {
			Type         string `json:"type"`
			BudgetTokens int    `json:"budget_tokens"`
		}
		if err := json.Unmarshal(v, &cfg); err != nil {
			return badRequest("additionalModelRequestFields.%s: %v", key, err)
		}
		switch cfg.Type {
		case "enabled", "adaptive":
			if cfg.Type == "enabled" && key != "reasoningConfig" && cfg.BudgetTokens < minThinkingBudget {
				return badRequest("additionalModelRequestFields.%s.budget_tokens: must be at least %d", key, minThinkingBudget)
			}
			c.reasoning = true
		case "disabled":
		default:
			return badRequest("additionalModelRequestFields.%s.type: must be enabled, adaptive or disabled", key)
		}
	}
	return nil
}

// bedrockAuth accepts a bearer API key or a SigV4 signature.
func (c *call) bedrockAuth() error {
	if bearer, ok := strings.CutPrefix(c.r.Header.Get("Authorization"), "Bearer "); ok {
		if bearer == c.s.key {
			return nil
		}
		return &apiError{status: http.StatusForbidden, code: bedrock.CodeUnrecognizedClient, message: "The security token included in the request is invalid."}
	}
	lookup := func(id string) (string, bool) {
		return c.s.awsSecret, id == c.s.awsKeyID
	}
	_, _, err := bedrock.VerifySigV4(c.r, c.body, lookup, c.s.now())
	if err == nil {
		return nil
	}
	var se *bedrock.SigV4Error
	if errors.As(err, &se) {
		return &apiError{status: http.StatusForbidden, code: se.Code, message: se.Message}
	}
	return &apiError{status: http.StatusForbidden, code: bedrock.CodeInvalidSignature, message: err.Error()}
}

// bedrockModel reads and checks the model id path label.
func (c *call) bedrockModel() (string, error) {
	id := c.r.PathValue("modelId")
	c.rec.Model = id
	if id == "" || len(id) > 2048 {
		return "", badRequest("The provided model identifier is invalid.")
	}
	return id, nil
}

// bedrockConverse serves Converse and ConverseStream.
func (s *Server) bedrockConverse(stream bool) func(*call) error {
	return func(c *call) error {
		c.rec.Stream = stream
		if err := c.bedrockAuth(); err != nil {
			return err
		}
		model, err := c.bedrockModel()
		if err != nil {
			return err
		}
		conv, err := bedrockConversation(c.body, model)
		if err != nil {
			return err
		}
		if err := c.admit(); err != nil {
			return err
		}
		a := c.respond(conv)
		c.w.Header().Set("X-Amzn-Requestid", requestUUID(a.id))
		cached := len(conv.marks) > 0
		if !stream {
			if err := c.pace(a.usage.output); err != nil {
				return err
			}
			writeJSON(c.w, http.StatusOK, bedrockConverseResponse(a, cached))
			return nil
		}
		return bedrockConverseStream(c, a, cached)
	}
}

// requestUUID formats a hex seed as a UUID-like request id.
func requestUUID(seed string) string {
	s := (seed + strings.Repeat("0", 32))[:32]
	return s[:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:]
}

func bedrockStopReason(f finish) string {
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

// bedrockUsage reports input excluding the cached parts; the cache fields
// appear when the request placed cache points.
func bedrockUsage(u usage, cached bool) map[string]any {
	input := u.input - u.cacheRead - u.cacheWrite
	out := map[string]any{
		"inputTokens":  input,
		"outputTokens": u.output,
		"totalTokens":  u.input + u.output,
	}
	if cached {
		out["cacheReadInputTokens"] = u.cacheRead
		out["cacheWriteInputTokens"] = u.cacheWrite
	}
	return out
}

// bedrockConverseResponse is the Converse answer.
func bedrockConverseResponse(a answer, cached bool) map[string]any {
	var content []any
	if a.thinking != "" {
		content = append(content, map[string]any{"reasoningContent": map[string]any{
			"reasoningText": map[string]any{"text": a.thinking, "signature": thinkingSignature(a.thinking)},
		}})
	}
	if a.text != "" {
		content = append(content, map[string]any{"text": a.text})
	}
	for _, tc := range a.calls {
		content = append(content, map[string]any{"toolUse": map[string]any{
			"toolUseId": "tooluse_" + tc.id, "name": tc.name, "input": json.RawMessage(tc.args),
		}})
	}
	if content == nil {
		content = []any{}
	}
	out := map[string]any{
		"output":     map[string]any{"message": map[string]any{"role": "assistant", "content": content}},
		"stopReason": bedrockStopReason(a.finish),
		"usage":      bedrockUsage(a.usage, cached),
		"metrics":    map[string]any{"latencyMs": 0},
	}
	if a.stopSequence != "" {
		out["additionalModelResponseFields"] = map[string]any{"stop_sequence": a.stopSequence}
	}
	return out
}

// flushWriter flushes after every write, so each event-stream frame
// leaves at once.
type flushWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

func (f flushWriter) Write(b []byte) (int, error) {
	n, err := f.w.Write(b)
	if err != nil {
		return n, err
	}
	if err := f.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return n, err
	}
	return n, nil
}

// newEventStream starts an event-stream answer and arranges for a cut
// stream to end with an exception frame.
func newEventStream(c *call) *bedrock.EventEncoder {
	c.w.Header().Set("Content-Type", "application/vnd.amazon.eventstream")
	c.w.WriteHeader(http.StatusOK)
	enc := bedrock.NewEventEncoder(flushWriter{w: c.w, rc: http.NewResponseController(c.w)})
	c.onCut = func() {
		name, msg := bedrockStreamException(c.faults.FailStatus)
		payload, _ := json.Marshal(map[string]string{"message": msg})
		_ = enc.Exception(name, payload) // the connection is cut next anyway
	}
	return enc
}

// bedrockStreamException names the in-stream exception for a status.
func bedrockStreamException(status int) (name, message string) {
	switch status {
	case http.StatusTooManyRequests:
		return "throttlingException", "Too many requests, please wait before trying again."
	case http.StatusServiceUnavailable:
		return "serviceUnavailableException", "The service is unavailable. Try again later."
	case http.StatusRequestTimeout:
		return "modelTimeoutException", "Model has timed out in processing the request."
	case http.StatusFailedDependency:
		return "modelStreamErrorException", "The model stream failed."
	}
	return "internalServerException", "The server encountered an internal error while processing the request."
}

// bedrockConverseStream writes the ConverseStream events.
func bedrockConverseStream(c *call, a answer, cached bool) error {
	enc := newEventStream(c)
	emit := func(typ string, payload map[string]any) error {
		b, err := json.Marshal(payload)
		if err != nil {
			return err
		}
		if err := enc.Event(typ, b); err != nil {
			return errClientGone
		}
		return nil
	}
	if err := emit("messageStart", map[string]any{"role": "assistant"}); err != nil {
		return err
	}
	index := 0
	// deltas sends one content block's deltas and its stop; the first
	// counted deltas are output tokens, the rest (a signature) carry none.
	deltas := func(ds []map[string]any, counted int) error {
		for k, d := range ds {
			token := k < counted
			if token {
				if err := c.pace(1); err != nil {
					return err
				}
			}
			if err := emit("contentBlockDelta", map[string]any{"contentBlockIndex": index, "delta": d}); err != nil {
				return err
			}
			if token && c.streamed() {
				c.abortStream()
			}
		}
		if err := emit("contentBlockStop", map[string]any{"contentBlockIndex": index}); err != nil {
			return err
		}
		index++
		return nil
	}
	if a.thinking != "" {
		var ds []map[string]any
		for _, p := range a.thinkingPieces {
			ds = append(ds, map[string]any{"reasoningContent": map[string]any{"text": p}})
		}
		n := len(ds)
		ds = append(ds, map[string]any{"reasoningContent": map[string]any{"signature": thinkingSignature(a.thinking)}})
		if err := deltas(ds, n); err != nil {
			return err
		}
	}
	if a.text != "" {
		var ds []map[string]any
		for _, p := range a.textPieces {
			ds = append(ds, map[string]any{"text": p})
		}
		if err := deltas(ds, len(ds)); err != nil {
			return err
		}
	}
	for _, tc := range a.calls {
		if err := emit("contentBlockStart", map[string]any{"contentBlockIndex": index, "start": map[string]any{
			"toolUse": map[string]any{"toolUseId": "tooluse_" + tc.id, "name": tc.name},
		}}); err != nil {
			return err
		}
		var ds []map[string]any
		for _, f := range tc.fragments {
			ds = append(ds, map[string]any{"toolUse": map[string]any{"input": f}})
		}
		if err := deltas(ds, len(ds)); err != nil {
			return err
		}
	}
	stop := map[string]any{"stopReason": bedrockStopReason(a.finish)}
	if a.stopSequence != "" {
		stop["additionalModelResponseFields"] = map[string]any{"stop_sequence": a.stopSequence}
	}
	if err := emit("messageStop", stop); err != nil {
		return err
	}
	return emit("metadata", map[string]any{"usage": bedrockUsage(a.usage, cached), "metrics": map[string]any{"latencyMs": 0}})
}

// bedrockInvoke serves InvokeModel and InvokeModelWithResponseStream for
// Anthropic models, whose bodies are Messages requests.
func (s *Server) bedrockInvoke(stream bool) func(*call) error {
	return func(c *call) error {
		c.rec.Stream = stream
		if err := c.bedrockAuth(); err != nil {
			return err
		}
		model, err := c.bedrockModel()
		if err != nil {
			return err
		}
		if !strings.Contains(model, "anthropic.") {
			return badRequest("fakecloud simulates InvokeModel only for Anthropic models; use Converse for %s", model)
		}
		conv, _, err := anthropicConversation(c.body, anthropicOptions{bedrock: true})
		if err != nil {
			return err
		}
		conv.model = model
		if err := c.admit(); err != nil {
			return err
		}
		a := c.respond(conv)
		h := c.w.Header()
		h.Set("X-Amzn-Requestid", requestUUID(a.id))
		if !stream {
			if err := c.pace(a.usage.output); err != nil {
				return err
			}
			h.Set("X-Amzn-Bedrock-Input-Token-Count", strconv.Itoa(a.usage.input))
			h.Set("X-Amzn-Bedrock-Output-Token-Count", strconv.Itoa(a.usage.output))
			h.Set("X-Amzn-Bedrock-Invocation-Latency", "0")
			writeJSON(c.w, http.StatusOK, anthropicResponse(model, a))
			return nil
		}
		enc := newEventStream(c)
		emit := func(_ string, payload map[string]any) error {
			b, err := json.Marshal(payload)
			if err != nil {
				return err
			}
			chunk, err := json.Marshal(map[string]string{"bytes": base64.StdEncoding.EncodeToString(b)})
			if err != nil {
				return err
			}
			if err := enc.Event("chunk", chunk); err != nil {
				return errClientGone
			}
			return nil
		}
		return anthropicStream(c, model, a, emit, false)
	}
}

// bedrockErrorCode names an error status as Bedrock does.
func bedrockErrorCode(status int) string {
	switch status {
	case http.StatusForbidden:
		return "AccessDeniedException"
	case http.StatusNotFound:
		return "ResourceNotFoundException"
	case http.StatusRequestTimeout:
		return "ModelTimeoutException"
	case http.StatusFailedDependency:
		return "ModelErrorException"
	case http.StatusTooManyRequests:
		return "ThrottlingException"
	case http.StatusServiceUnavailable, 529:
		return "ServiceUnavailableException"
	}
	if status >= 500 {
		return "InternalServerException"
	}
	return "ValidationException"
}

// writeBedrockError renders an error as AWS restJson1 services do: the
// code in X-Amzn-ErrorType and the message in the body.
func writeBedrockError(w http.ResponseWriter, e *apiError) {
	code := e.code
	if code == "" {
		code = bedrockErrorCode(e.status)
	}
	ns := bedrockErrorNamespace
	switch code {
	case bedrock.CodeInvalidSignature, bedrock.CodeUnrecognizedClient, bedrock.CodeMissingAuthenticationToken, bedrock.CodeIncompleteSignature:
		ns = coralErrorNamespace
	}
	msg := e.message
	if msg == "" {
		switch code {
		case "ThrottlingException":
			msg = "Too many requests, please wait before trying again."
		case "ServiceUnavailableException":
			msg = "Bedrock is unable to process your request."
		case "InternalServerException":
			msg = "The server encountered an internal error while processing the request."
		default:
			msg = http.StatusText(e.status)
		}
	}
	w.Header().Set("X-Amzn-Errortype", code+ns)
	writeJSON(w, e.status, map[string]any{"message": msg})
}

// bedrockCountConversation normalizes a CountTokens body: {"input":
// {"converse": {messages, system, toolConfig,
// additionalModelRequestFields}}} or {"input": {"invokeModel": {"body":
// base64 of an InvokeModel body}}}; the latter for Anthropic models only.
func bedrockCountConversation(body []byte, modelID string) (*conversation, error) {
	if err := checkFieldsFunc(body, func(k string) bool { return k == "input" }, "Unknown field %q in the request."); err != nil {
		return nil, err
	}
	var req struct {
		Input json.RawMessage `json:"input"`
	}
	if err := decodeJSON(body, &req); err != nil {
		return nil, err
	}
	if len(req.Input) == 0 {
		return nil, badRequest("1 validation error detected: Value at 'input' failed to satisfy constraint: Member must not be null")
	}
	kind, value, err := union(req.Input, "input")
	if err != nil {
		return nil, err
	}
	switch kind {
	case "converse":
		known := func(k string) bool {
			return k == "messages" || k == "system" || k == "toolConfig" || k == "additionalModelRequestFields"
		}
		if err := checkFieldsFunc(value, known, "Unknown field %q in input.converse."); err != nil {
			return nil, err
		}
		return bedrockConversation(value, modelID)
	case "invokeModel":
		var im struct {
			Body []byte `json:"body"`
		}
		if err := json.Unmarshal(value, &im); err != nil {
			return nil, badRequest("input.invokeModel.body: must be base64 of a JSON body")
		}
		if !strings.Contains(modelID, "anthropic.") {
			return nil, badRequest("fakecloud counts InvokeModel bodies only for Anthropic models; use converse for %s", modelID)
		}
		conv, _, err := anthropicConversation(im.Body, anthropicOptions{bedrock: true, countOnly: true})
		if err != nil {
			return nil, err
		}
		conv.model = modelID
		return conv, nil
	}
	return nil, badRequest("input: unknown member %q (want converse or invokeModel)", kind)
}

// bedrockCountTokens serves CountTokens.
func (s *Server) bedrockCountTokens(c *call) error {
	if err := c.bedrockAuth(); err != nil {
		return err
	}
	model, err := c.bedrockModel()
	if err != nil {
		return err
	}
	conv, err := bedrockCountConversation(c.body, model)
	if err != nil {
		return err
	}
	if err := c.admit(); err != nil {
		return err
	}
	c.w.Header().Set("X-Amzn-Requestid", requestUUID(strconv.FormatInt(int64(conv.inputTokens()), 16)))
	writeJSON(c.w, http.StatusOK, map[string]any{"inputTokens": conv.inputTokens()})
	return nil
}
