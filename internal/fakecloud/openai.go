package fakecloud

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"

	"switchyard/internal/sse"
)

// openaiChatField reports whether a chat completion request may carry a
// top-level field. Knobs without an effect on the simulated model are
// accepted and have none.
func openaiChatField(k string) bool {
	switch k {
	case "model", "messages", "stream", "stream_options", "tools", "tool_choice",
		"parallel_tool_calls", "max_completion_tokens", "max_tokens", "stop", "n", "response_format",
		"reasoning_effort", "temperature", "top_p", "frequency_penalty", "presence_penalty", "logit_bias",
		"logprobs", "top_logprobs", "seed", "user", "store", "metadata", "service_tier", "modalities",
		"audio", "prediction", "web_search_options", "verbosity", "prompt_cache_key", "safety_identifier",
		"prompt_cache_retention", "functions", "function_call":
		return true
	}
	return false
}

// openaiChatRequest is the part of a chat completion request fakecloud
// reads.
type openaiChatRequest struct {
	Model         string          `json:"model"`
	Messages      []openaiMessage `json:"messages"`
	Stream        bool            `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	Tools               []openaiTool    `json:"tools"`
	ToolChoice          json.RawMessage `json:"tool_choice"`
	ParallelToolCalls   *bool           `json:"parallel_tool_calls"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	MaxTokens           *int            `json:"max_tokens"`
	Stop                json.RawMessage `json:"stop"`
	N                   *int            `json:"n"`
	ResponseFormat      *struct {
		Type       string `json:"type"`
		JSONSchema *struct {
			Name   string          `json:"name"`
			Schema json.RawMessage `json:"schema"`
		} `json:"json_schema"`
	} `json:"response_format"`
	ReasoningEffort string          `json:"reasoning_effort"`
	Logprobs        bool            `json:"logprobs"`
	Modalities      []string        `json:"modalities"`
	Audio           json.RawMessage `json:"audio"`
	Prediction      json.RawMessage `json:"prediction"`
	WebSearch       json.RawMessage `json:"web_search_options"`
	Functions       json.RawMessage `json:"functions"`
	FunctionCall    json.RawMessage `json:"function_call"`
}

type openaiMessage struct {
	Role       string           `json:"role"`
	Content    json.RawMessage  `json:"content"`
	ToolCalls  []openaiToolCall `json:"tool_calls"`
	ToolCallID string           `json:"tool_call_id"`
}

type openaiToolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type openaiTool struct {
	Type     string `json:"type"`
	Function struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
	} `json:"function"`
}

type openaiContentPart struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	ImageURL *struct {
		URL string `json:"url"`
	} `json:"image_url"`
	File *struct {
		FileData string `json:"file_data"`
		FileID   string `json:"file_id"`
		Filename string `json:"filename"`
	} `json:"file"`
	Refusal string `json:"refusal"`
}

// openaiConversation normalizes a chat completion request.
func openaiConversation(body []byte) (*conversation, *openaiChatRequest, error) {
	if err := checkFieldsFunc(body, openaiChatField, "Unrecognized request argument supplied: %s"); err != nil {
		return nil, nil, err
	}
	var req openaiChatRequest
	if err := decodeJSON(body, &req); err != nil {
		return nil, nil, err
	}
	switch {
	case req.Model == "":
		return nil, nil, &requestError{msg: "you must provide a model parameter", param: "model"}
	case len(req.Messages) == 0:
		return nil, nil, &requestError{msg: "[] is too short - 'messages'", param: "messages"}
	case req.N != nil && *req.N > 1:
		return nil, nil, &requestError{msg: "fakecloud does not simulate n > 1", param: "n"}
	case req.Logprobs:
		return nil, nil, &requestError{msg: "fakecloud does not simulate logprobs", param: "logprobs"}
	case len(req.Audio) > 0 && string(req.Audio) != "null", len(req.Modalities) > 0 && !(len(req.Modalities) == 1 && req.Modalities[0] == "text"):
		return nil, nil, &requestError{msg: "fakecloud does not simulate audio output", param: "modalities"}
	case len(req.Prediction) > 0 && string(req.Prediction) != "null":
		return nil, nil, &requestError{msg: "fakecloud does not simulate predicted outputs", param: "prediction"}
	case len(req.WebSearch) > 0 && string(req.WebSearch) != "null":
		return nil, nil, &requestError{msg: "fakecloud does not simulate web search", param: "web_search_options"}
	case len(req.Functions) > 0 || len(req.FunctionCall) > 0:
		return nil, nil, &requestError{msg: "fakecloud does not simulate the legacy functions parameters; use tools", param: "functions"}
	case req.StreamOptions != nil && !req.Stream:
		return nil, nil, &requestError{msg: "The 'stream_options' parameter is only allowed when 'stream' is enabled.", param: "stream_options"}
	}
	c := &conversation{model: req.Model}
	for i, t := range req.Tools {
		if t.Type != "function" {
			return nil, nil, &requestError{msg: "fakecloud does not simulate tools of type " + strconv.Quote(t.Type), param: "tools[" + strconv.Itoa(i) + "].type"}
		}
		schema, err := decodeSchema(t.Function.Parameters, "tools["+strconv.Itoa(i)+"].function.parameters")
		if err != nil {
			return nil, nil, err
		}
		c.addTool(toolDef{name: t.Function.Name, description: t.Function.Description, schema: schema})
	}
	if err := openaiToolChoice(c, req.ToolChoice); err != nil {
		return nil, nil, err
	}
	if req.ParallelToolCalls != nil && !*req.ParallelToolCalls {
		c.serial = true
	}
	switch {
	case req.MaxCompletionTokens != nil:
		c.maxTokens = *req.MaxCompletionTokens
	case req.MaxTokens != nil:
		c.maxTokens = *req.MaxTokens
	}
	stop, err := stringOrList(req.Stop, "stop")
	if err != nil {
		return nil, nil, err
	}
	c.stop = stop
	if rf := req.ResponseFormat; rf != nil {
		switch rf.Type {
		case "text", "":
		case "json_object":
			c.format = &outputFormat{}
		case "json_schema":
			if rf.JSONSchema == nil {
				return nil, nil, &requestError{msg: "response_format.json_schema is required", param: "response_format"}
			}
			schema, err := decodeSchema(rf.JSONSchema.Schema, "response_format.json_schema.schema")
			if err != nil {
				return nil, nil, err
			}
			c.format = &outputFormat{schema: schema}
			if schema == nil {
				c.format.schema = map[string]any{"type": "object"}
			}
		default:
			return nil, nil, &requestError{msg: "Invalid value for response_format.type: " + strconv.Quote(rf.Type), param: "response_format.type"}
		}
	}
	switch req.ReasoningEffort {
	case "", "none":
	case "minimal", "low", "medium", "high", "xhigh":
		c.reasoning = true
	default:
		return nil, nil, &requestError{msg: "Invalid value for reasoning_effort: " + strconv.Quote(req.ReasoningEffort), param: "reasoning_effort"}
	}
	for i, m := range req.Messages {
		if err := openaiMessageParts(c, m, i); err != nil {
			return nil, nil, err
		}
	}
	if err := c.validate(validateOptions{}); err != nil {
		return nil, nil, err
	}
	return c, &req, nil
}

// openaiToolChoice reads tool_choice: a mode string or an object naming a
// function or a set of allowed tools.
func openaiToolChoice(c *conversation, raw json.RawMessage) error {
	if len(raw) == 0 || string(raw) == "null" {
		if len(c.tools) == 0 {
			c.choice = choiceNone
		}
		return nil
	}
	var mode string
	if json.Unmarshal(raw, &mode) == nil {
		switch mode {
		case "auto":
		case "none":
			c.choice = choiceNone
		case "required":
			c.choice = choiceAny
		default:
			return &requestError{msg: "Invalid value for tool_choice: " + strconv.Quote(mode), param: "tool_choice"}
		}
		return nil
	}
	var obj struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
		AllowedTools struct {
			Mode  string `json:"mode"`
			Tools []struct {
				Type     string `json:"type"`
				Function struct {
					Name string `json:"name"`
				} `json:"function"`
			} `json:"tools"`
		} `json:"allowed_tools"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil {
		return &requestError{msg: "Invalid type for tool_choice", param: "tool_choice"}
	}
	switch obj.Type {
	case "function":
		c.choice, c.choiceName = choiceTool, obj.Function.Name
	case "allowed_tools":
		for _, t := range obj.AllowedTools.Tools {
			c.allowed = append(c.allowed, t.Function.Name)
		}
		if obj.AllowedTools.Mode == "required" {
			c.choice = choiceAny
		}
	default:
		return &requestError{msg: "fakecloud does not simulate tool_choice of type " + strconv.Quote(obj.Type), param: "tool_choice"}
	}
	return nil
}

// openaiMessageParts adds one chat message to the conversation.
func openaiMessageParts(c *conversation, m openaiMessage, i int) error {
	field := "messages[" + strconv.Itoa(i) + "]"
	switch m.Role {
	case "system", "developer":
		texts, err := openaiTexts(m.Content, field)
		if err != nil {
			return err
		}
		for _, t := range texts {
			c.addSystem(t)
		}
	case "user":
		parts, err := openaiUserParts(m.Content, field)
		if err != nil {
			return err
		}
		if len(parts) == 0 {
			return &requestError{msg: field + ": a user message needs content", param: field + ".content"}
		}
		for _, p := range parts {
			c.add(roleUser, p)
		}
	case "assistant":
		if len(m.Content) > 0 && string(m.Content) != "null" {
			texts, err := openaiTexts(m.Content, field)
			if err != nil {
				return err
			}
			for _, t := range texts {
				c.add(roleAssistant, part{kind: partText, text: t})
			}
		}
		for k, tc := range m.ToolCalls {
			if tc.Type != "function" {
				return &requestError{msg: field + ": fakecloud does not simulate tool calls of type " + strconv.Quote(tc.Type), param: field + ".tool_calls"}
			}
			if tc.ID == "" {
				return &requestError{msg: field + ".tool_calls[" + strconv.Itoa(k) + "]: missing id", param: field + ".tool_calls"}
			}
			args, ok := canonicalJSON([]byte(tc.Function.Arguments))
			if !ok {
				args = tc.Function.Arguments
			}
			c.add(roleAssistant, part{kind: partToolCall, callID: tc.ID, name: tc.Function.Name, args: args})
		}
	case "tool":
		if m.ToolCallID == "" {
			return &requestError{msg: field + ": a tool message needs tool_call_id", param: field + ".tool_call_id"}
		}
		texts, err := openaiTexts(m.Content, field)
		if err != nil {
			return err
		}
		c.add(roleUser, part{kind: partToolResult, callID: m.ToolCallID, result: strings.Join(texts, "")})
	case "function":
		return &requestError{msg: field + ": fakecloud does not simulate the legacy function role", param: field + ".role"}
	default:
		return &requestError{msg: field + ": invalid role " + strconv.Quote(m.Role), param: field + ".role"}
	}
	return nil
}

// openaiTexts reads content that may only hold text: a string or text
// (and, for the assistant, refusal) parts.
func openaiTexts(raw json.RawMessage, field string) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []string{s}, nil
	}
	var parts []openaiContentPart
	if err := json.Unmarshal(raw, &parts); err != nil {
		return nil, &requestError{msg: field + ".content: must be a string or an array of parts", param: field + ".content"}
	}
	var out []string
	for _, p := range parts {
		switch p.Type {
		case "text":
			out = append(out, p.Text)
		case "refusal":
			out = append(out, p.Refusal)
		default:
			return nil, &requestError{msg: field + ".content: parts of type " + strconv.Quote(p.Type) + " are not allowed here", param: field + ".content"}
		}
	}
	return out, nil
}

// openaiUserParts reads user content: text, images and files.
func openaiUserParts(raw json.RawMessage, field string) ([]part, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []part{{kind: partText, text: s}}, nil
	}
	var parts []openaiContentPart
	if err := json.Unmarshal(raw, &parts); err != nil {
		return nil, &requestError{msg: field + ".content: must be a string or an array of parts", param: field + ".content"}
	}
	var out []part
	for k, p := range parts {
		pf := field + ".content[" + strconv.Itoa(k) + "]"
		switch p.Type {
		case "text":
			out = append(out, part{kind: partText, text: p.Text})
		case "image_url":
			if p.ImageURL == nil || p.ImageURL.URL == "" {
				return nil, &requestError{msg: pf + ": image_url.url is required", param: pf}
			}
			u := p.ImageURL.URL
			if strings.HasPrefix(u, "data:") {
				mime, data, err := parseDataURL(u, pf)
				if err != nil {
					return nil, err
				}
				out = append(out, part{kind: partImage, mime: mime, data: data})
			} else {
				out = append(out, part{kind: partImage, url: u})
			}
		case "file":
			if p.File == nil {
				return nil, &requestError{msg: pf + ": file is required", param: pf}
			}
			if p.File.FileID != "" {
				return nil, &requestError{msg: pf + ": fakecloud does not simulate uploaded files", param: pf}
			}
			mime, data, err := parseDataURL(p.File.FileData, pf)
			if err != nil {
				return nil, err
			}
			kind := partDocument
			if isImageMIME(mime) {
				kind = partImage
			}
			out = append(out, part{kind: kind, mime: mime, data: data, text: p.File.Filename})
		default:
			return nil, &requestError{msg: pf + ": fakecloud does not simulate content parts of type " + strconv.Quote(p.Type), param: pf}
		}
	}
	return out, nil
}

// stringOrList reads a string or an array of strings.
func stringOrList(raw json.RawMessage, field string) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []string{s}, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, &requestError{msg: field + ": must be a string or an array of strings", param: field}
	}
	return list, nil
}

// openaiAuth checks the key: Bearer for OpenAI, api-key or Bearer for
// Azure.
func (c *call) openaiAuth() error {
	bearer, hasBearer := strings.CutPrefix(c.r.Header.Get("Authorization"), "Bearer ")
	if c.cloud == cloudAzure {
		if k := c.r.Header.Get("Api-Key"); k != "" {
			if k == c.s.key {
				return nil
			}
		} else if hasBearer && bearer == c.s.key {
			return nil
		}
		return &apiError{status: http.StatusUnauthorized, code: "401", message: "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource."}
	}
	if !hasBearer || bearer == "" {
		return &apiError{status: http.StatusUnauthorized, message: "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."}
	}
	if bearer != c.s.key {
		return &apiError{status: http.StatusUnauthorized, code: "invalid_api_key", message: "Incorrect API key provided: " + redact(bearer) + "."}
	}
	return nil
}

// redact shows only the ends of a key, as OpenAI does.
func redact(k string) string {
	if len(k) <= 8 {
		return strings.Repeat("*", len(k))
	}
	return k[:3] + strings.Repeat("*", len(k)-7) + k[len(k)-4:]
}

// azureVersion enforces api-version on deployment routes, answering 404
// like Azure when it is missing.
func (c *call) azureVersion() error {
	if c.r.URL.Query().Get("api-version") == "" {
		return &apiError{status: http.StatusNotFound, code: "404", message: "Resource not found"}
	}
	return nil
}

// azureChat serves a chat completion on a deployment route; the
// deployment is the model.
func (s *Server) azureChat(c *call) error {
	c.rec.Model = c.r.PathValue("deployment")
	if err := c.azureVersion(); err != nil {
		return err
	}
	return s.openaiChat(c)
}

// azureEmbeddings serves embeddings on a deployment route.
func (s *Server) azureEmbeddings(c *call) error {
	c.rec.Model = c.r.PathValue("deployment")
	if err := c.azureVersion(); err != nil {
		return err
	}
	return s.openaiEmbeddings(c)
}

// openaiChat serves POST chat/completions for OpenAI and Azure.
func (s *Server) openaiChat(c *call) error {
	if err := c.openaiAuth(); err != nil {
		return err
	}
	var peek struct {
		Model  string `json:"model"`
		Stream bool   `json:"stream"`
	}
	_ = json.Unmarshal(c.body, &peek)
	if c.rec.Model == "" {
		c.rec.Model = peek.Model
	}
	c.rec.Stream = peek.Stream
	body := c.body
	if c.cloud == cloudAzure && c.r.PathValue("deployment") != "" {
		// The deployment names the model; the body need not repeat it.
		var top map[string]json.RawMessage
		if json.Unmarshal(body, &top) == nil {
			if _, ok := top["model"]; !ok {
				top["model"], _ = json.Marshal(c.rec.Model)
				body, _ = json.Marshal(top)
			}
		}
	}
	conv, req, err := openaiConversation(body)
	if err != nil {
		return err
	}
	if c.cloud == cloudAzure && c.r.PathValue("deployment") != "" {
		conv.model = c.rec.Model
	}
	if err := c.admit(); err != nil {
		return err
	}
	a := c.respond(conv)
	enc := openaiEncoder{
		id:      "chatcmpl-" + a.id,
		created: c.s.now().Unix(),
		model:   conv.model,
		azure:   c.cloud == cloudAzure,
	}
	if !req.Stream {
		if err := c.pace(a.usage.output); err != nil {
			return err
		}
		writeJSON(c.w, http.StatusOK, enc.completion(a))
		return nil
	}
	includeUsage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	return enc.stream(c, a, includeUsage)
}

// openaiEncoder writes chat completions for one answer.
type openaiEncoder struct {
	id      string
	created int64
	model   string
	azure   bool
}

func openaiFinish(f finish) string {
	switch f {
	case finishLength:
		return "length"
	case finishToolUse:
		return "tool_calls"
	}
	return "stop"
}

func openaiUsage(u usage) map[string]any {
	return map[string]any{
		"prompt_tokens":     u.input,
		"completion_tokens": u.output,
		"total_tokens":      u.input + u.output,
		"prompt_tokens_details": map[string]any{
			"cached_tokens": u.cacheRead,
			"audio_tokens":  0,
		},
		"completion_tokens_details": map[string]any{
			"reasoning_tokens":           u.reasoning,
			"audio_tokens":               0,
			"accepted_prediction_tokens": 0,
			"rejected_prediction_tokens": 0,
		},
	}
}

// contentFilterResults is Azure's verdict on a piece of content.
func contentFilterResults() map[string]any {
	safe := map[string]any{"filtered": false, "severity": "safe"}
	return map[string]any{"hate": safe, "self_harm": safe, "sexual": safe, "violence": safe}
}

func promptFilterResults() []any {
	r := contentFilterResults()
	r["jailbreak"] = map[string]any{"filtered": false, "detected": false}
	return []any{map[string]any{"prompt_index": 0, "content_filter_results": r}}
}

func (e openaiEncoder) toolCalls(a answer) []any {
	var calls []any
	for _, tc := range a.calls {
		calls = append(calls, map[string]any{
			"id":       "call_" + tc.id,
			"type":     "function",
			"function": map[string]any{"name": tc.name, "arguments": tc.args},
		})
	}
	return calls
}

// completion is the non-streamed answer.
func (e openaiEncoder) completion(a answer) map[string]any {
	msg := map[string]any{"role": "assistant", "content": nil, "refusal": nil, "annotations": []any{}}
	if a.text != "" || len(a.calls) == 0 {
		msg["content"] = a.text
	}
	if len(a.calls) > 0 {
		msg["tool_calls"] = e.toolCalls(a)
	}
	choice := map[string]any{"index": 0, "message": msg, "logprobs": nil, "finish_reason": openaiFinish(a.finish)}
	out := map[string]any{
		"id":                 e.id,
		"object":             "chat.completion",
		"created":            e.created,
		"model":              e.model,
		"choices":            []any{choice},
		"usage":              openaiUsage(a.usage),
		"service_tier":       "default",
		"system_fingerprint": "fp_fakecloud",
	}
	if e.azure {
		choice["content_filter_results"] = contentFilterResults()
		out["prompt_filter_results"] = promptFilterResults()
		delete(out, "service_tier")
	}
	return out
}

// chunk builds one stream chunk around a choice (nil: no choices).
func (e openaiEncoder) chunk(choice map[string]any, includeUsage bool) map[string]any {
	out := map[string]any{
		"id":                 e.id,
		"object":             "chat.completion.chunk",
		"created":            e.created,
		"model":              e.model,
		"system_fingerprint": "fp_fakecloud",
		"choices":            []any{},
	}
	if !e.azure {
		out["service_tier"] = "default"
	}
	if choice != nil {
		choice["index"] = 0
		choice["logprobs"] = nil
		if _, ok := choice["finish_reason"]; !ok {
			choice["finish_reason"] = nil
		}
		if e.azure {
			if _, ok := choice["content_filter_results"]; !ok {
				choice["content_filter_results"] = map[string]any{}
			}
		}
		out["choices"] = []any{choice}
	}
	if includeUsage {
		out["usage"] = nil
	}
	return out
}

// stream writes the answer as chat completion chunks.
func (e openaiEncoder) stream(c *call, a answer, includeUsage bool) error {
	sw := sse.NewWriter(c.w)
	send := func(v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if err := sw.Event("", b); err != nil {
			return errClientGone
		}
		return nil
	}
	if e.azure {
		// Azure opens every stream with the prompt filter verdict.
		first := map[string]any{"id": "", "object": "", "created": 0, "model": "", "choices": []any{}, "prompt_filter_results": promptFilterResults()}
		if err := send(first); err != nil {
			return err
		}
	}
	// Hidden reasoning takes its time before the first visible token.
	if err := c.pace(len(a.thinkingPieces)); err != nil {
		return err
	}
	content := func(delta map[string]any) error {
		if err := c.pace(1); err != nil {
			return err
		}
		choice := map[string]any{"delta": delta}
		if e.azure {
			choice["content_filter_results"] = contentFilterResults()
		}
		if err := send(e.chunk(choice, includeUsage)); err != nil {
			return err
		}
		if c.streamed() {
			c.abortStream()
		}
		return nil
	}
	if len(a.calls) == 0 {
		if err := send(e.chunk(map[string]any{"delta": map[string]any{"role": "assistant", "content": "", "refusal": nil}}, includeUsage)); err != nil {
			return err
		}
		for _, p := range a.textPieces {
			if err := content(map[string]any{"content": p}); err != nil {
				return err
			}
		}
	}
	for i, tc := range a.calls {
		head := map[string]any{"tool_calls": []any{map[string]any{
			"index": i, "id": "call_" + tc.id, "type": "function",
			"function": map[string]any{"name": tc.name, "arguments": ""},
		}}}
		if i == 0 {
			head["role"] = "assistant"
			head["content"] = nil
		}
		if err := send(e.chunk(map[string]any{"delta": head}, includeUsage)); err != nil {
			return err
		}
		for _, f := range tc.fragments {
			if err := content(map[string]any{"tool_calls": []any{map[string]any{
				"index": i, "function": map[string]any{"arguments": f},
			}}}); err != nil {
				return err
			}
		}
	}
	if err := send(e.chunk(map[string]any{"delta": map[string]any{}, "finish_reason": openaiFinish(a.finish)}, includeUsage)); err != nil {
		return err
	}
	if includeUsage {
		last := e.chunk(nil, false)
		last["usage"] = openaiUsage(a.usage)
		if err := send(last); err != nil {
			return err
		}
	}
	if err := sw.Event("", []byte("[DONE]")); err != nil {
		return errClientGone
	}
	return nil
}

// openaiEmbeddingRequest is an embeddings request.
type openaiEmbeddingRequest struct {
	Model          string          `json:"model"`
	Input          json.RawMessage `json:"input"`
	EncodingFormat string          `json:"encoding_format"`
	Dimensions     *int            `json:"dimensions"`
}

// openaiEmbeddingField reports whether an embeddings request may carry a
// top-level field.
func openaiEmbeddingField(k string) bool {
	switch k {
	case "model", "input", "encoding_format", "dimensions", "user":
		return true
	}
	return false
}

// maxDimensions bounds the embedding size.
const maxDimensions = 4096

// openaiEmbeddings serves POST embeddings for OpenAI and Azure.
func (s *Server) openaiEmbeddings(c *call) error {
	if err := c.openaiAuth(); err != nil {
		return err
	}
	if err := checkFieldsFunc(c.body, openaiEmbeddingField, "Unrecognized request argument supplied: %s"); err != nil {
		return err
	}
	var req openaiEmbeddingRequest
	if err := decodeJSON(c.body, &req); err != nil {
		return err
	}
	if c.rec.Model == "" {
		c.rec.Model = req.Model
	}
	model := c.rec.Model
	if model == "" {
		return &requestError{msg: "you must provide a model parameter", param: "model"}
	}
	inputs, tokens, err := embeddingInputs(req.Input)
	if err != nil {
		return err
	}
	dims := 8
	if req.Dimensions != nil {
		dims = *req.Dimensions
		if dims < 1 || dims > maxDimensions {
			return &requestError{msg: "dimensions must be between 1 and " + strconv.Itoa(maxDimensions), param: "dimensions"}
		}
	}
	format := req.EncodingFormat
	switch format {
	case "", "float", "base64":
	default:
		return &requestError{msg: "Invalid value for encoding_format: " + strconv.Quote(format), param: "encoding_format"}
	}
	if err := c.admit(); err != nil {
		return err
	}
	data := make([]any, len(inputs))
	for i, in := range inputs {
		vec := embedding(in, dims)
		// Floats are written with float64 precision so that both encodings
		// carry exactly the same float32 values.
		floats := make([]float64, len(vec))
		for k, f := range vec {
			floats[k] = float64(f)
		}
		var v any = floats
		if format == "base64" {
			buf := make([]byte, 4*len(vec))
			for k, f := range vec {
				binary.LittleEndian.PutUint32(buf[4*k:], math.Float32bits(f))
			}
			v = base64.StdEncoding.EncodeToString(buf)
		}
		data[i] = map[string]any{"object": "embedding", "index": i, "embedding": v}
	}
	writeJSON(c.w, http.StatusOK, map[string]any{
		"object": "list",
		"data":   data,
		"model":  model,
		"usage":  map[string]any{"prompt_tokens": tokens, "total_tokens": tokens},
	})
	return nil
}

// embeddingInputs reads input: a string, strings, a token array or token
// arrays. It returns one canonical text per input and the token count.
func embeddingInputs(raw json.RawMessage) ([]string, int, error) {
	bad := &requestError{msg: "input must be a non-empty string, array of strings, array of tokens or array of token arrays", param: "input"}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		if one == "" {
			return nil, 0, bad
		}
		return []string{one}, countTokens(one), nil
	}
	var texts []string
	if json.Unmarshal(raw, &texts) == nil && len(texts) > 0 {
		n := 0
		for _, t := range texts {
			if t == "" {
				return nil, 0, bad
			}
			n += countTokens(t)
		}
		return texts, n, nil
	}
	var toks []int64
	if json.Unmarshal(raw, &toks) == nil && len(toks) > 0 {
		return []string{tokenText(toks)}, len(toks), nil
	}
	var lists [][]int64
	if json.Unmarshal(raw, &lists) == nil && len(lists) > 0 {
		out, n := make([]string, len(lists)), 0
		for i, l := range lists {
			if len(l) == 0 {
				return nil, 0, bad
			}
			out[i] = tokenText(l)
			n += len(l)
		}
		return out, n, nil
	}
	return nil, 0, bad
}

// tokenText is the canonical text of a token array input.
func tokenText(toks []int64) string {
	var b strings.Builder
	b.WriteString("tokens:")
	for i, t := range toks {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(t, 10))
	}
	return b.String()
}

// embedding derives a unit vector of dims float32 values from the input.
func embedding(input string, dims int) []float32 {
	vec := make([]float32, dims)
	var block [32]byte
	sumSq := 0.0
	for i := range dims {
		if i%8 == 0 {
			block = sha256.Sum256([]byte("fakecloud embedding\x00" + strconv.Itoa(i/8) + "\x00" + input))
		}
		u := binary.BigEndian.Uint32(block[(i%8)*4:])
		f := float64(u)/float64(math.MaxUint32)*2 - 1
		vec[i] = float32(f)
		sumSq += float64(vec[i]) * float64(vec[i])
	}
	norm := math.Sqrt(sumSq)
	if norm == 0 {
		vec[0] = 1
		return vec
	}
	for i := range vec {
		vec[i] = float32(float64(vec[i]) / norm)
	}
	return vec
}

// openaiModelIDs are the models the list endpoints name; any other model
// name is served too.
func openaiModelIDs() []string {
	return []string{"gpt-4o", "gpt-4o-mini", "gpt-5", "o4-mini", "text-embedding-3-small", "text-embedding-3-large"}
}

func openaiModelObject(id string) map[string]any {
	return map[string]any{"id": id, "object": "model", "created": 1700000000, "owned_by": "fakecloud"}
}

// openaiModels serves GET models.
func (s *Server) openaiModels(c *call) error {
	if err := c.openaiAuth(); err != nil {
		return err
	}
	if err := c.admit(); err != nil {
		return err
	}
	var data []any
	for _, id := range openaiModelIDs() {
		data = append(data, openaiModelObject(id))
	}
	writeJSON(c.w, http.StatusOK, map[string]any{"object": "list", "data": data})
	return nil
}

// openaiModel serves GET models/{model}; every model exists.
func (s *Server) openaiModel(c *call) error {
	if err := c.openaiAuth(); err != nil {
		return err
	}
	c.rec.Model = c.r.PathValue("model")
	if err := c.admit(); err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, openaiModelObject(c.rec.Model))
	return nil
}

// writeOpenAIError renders an error as OpenAI or Azure does.
func writeOpenAIError(w http.ResponseWriter, cloud string, e *apiError) {
	typ, code, msg := "invalid_request_error", e.code, e.message
	switch {
	case e.status == http.StatusTooManyRequests:
		typ = "requests"
		if code == "" {
			code = "rate_limit_exceeded"
		}
		if msg == "" {
			msg = "Rate limit reached for requests. Please try again in 1s."
		}
	case e.status >= 500:
		typ = "server_error"
		if msg == "" {
			msg = "The server had an error while processing your request. Sorry about that!"
		}
	case e.status == http.StatusNotFound && code == "":
		code = "unknown_url"
	}
	if cloud == cloudAzure {
		switch e.status {
		case http.StatusTooManyRequests:
			code, msg = "429", "Requests to the Azure OpenAI API have exceeded the call rate limit of your current pricing tier. Please retry after 1 second."
		case http.StatusInternalServerError:
			code = "InternalServerError"
		case http.StatusServiceUnavailable:
			code = "ServiceUnavailable"
		}
	}
	body := map[string]any{"message": msg, "type": typ, "param": nil, "code": nil}
	if e.param != "" {
		body["param"] = e.param
	}
	if code != "" {
		body["code"] = code
	}
	if msg == "" {
		body["message"] = http.StatusText(e.status)
	}
	writeJSON(w, e.status, map[string]any{"error": body})
}
