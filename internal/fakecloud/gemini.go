package fakecloud

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"switchyard/internal/sse"
)

// geminiField reports whether a generateContent request may carry a
// top-level field (in camelCase; snake_case is accepted too, as by the
// real API).
func geminiField(k string) bool {
	switch k {
	case "contents", "systemInstruction", "tools", "toolConfig", "generationConfig", "safetySettings",
		"cachedContent", "labels", "model":
		return true
	}
	return false
}

// geminiRequest is the part of a generateContent request fakecloud reads.
type geminiRequest struct {
	Contents          []geminiContent `json:"contents"`
	SystemInstruction *geminiContent  `json:"systemInstruction"`
	Tools             []struct {
		FunctionDeclarations []struct {
			Name                 string          `json:"name"`
			Description          string          `json:"description"`
			Parameters           json.RawMessage `json:"parameters"`
			ParametersJSONSchema json.RawMessage `json:"parametersJsonSchema"`
		} `json:"functionDeclarations"`
	} `json:"tools"`
	ToolConfig *struct {
		FunctionCallingConfig *struct {
			Mode                 string   `json:"mode"`
			AllowedFunctionNames []string `json:"allowedFunctionNames"`
		} `json:"functionCallingConfig"`
	} `json:"toolConfig"`
	GenerationConfig *struct {
		MaxOutputTokens    *int            `json:"maxOutputTokens"`
		StopSequences      []string        `json:"stopSequences"`
		CandidateCount     *int            `json:"candidateCount"`
		ResponseMIMEType   string          `json:"responseMimeType"`
		ResponseSchema     json.RawMessage `json:"responseSchema"`
		ResponseJSONSchema json.RawMessage `json:"responseJsonSchema"`
		ResponseModalities []string        `json:"responseModalities"`
		ThinkingConfig     *struct {
			IncludeThoughts bool   `json:"includeThoughts"`
			ThinkingBudget  *int   `json:"thinkingBudget"`
			ThinkingLevel   string `json:"thinkingLevel"`
		} `json:"thinkingConfig"`
	} `json:"generationConfig"`
	CachedContent string `json:"cachedContent"`
}

type geminiContent struct {
	Role  string       `json:"role"`
	Parts []geminiPart `json:"parts"`
}

type geminiPart struct {
	Text       *string `json:"text"`
	Thought    bool    `json:"thought"`
	InlineData *struct {
		MIMEType string `json:"mimeType"`
		Data     string `json:"data"`
	} `json:"inlineData"`
	FileData *struct {
		MIMEType string `json:"mimeType"`
		FileURI  string `json:"fileUri"`
	} `json:"fileData"`
	FunctionCall *struct {
		ID   string          `json:"id"`
		Name string          `json:"name"`
		Args json.RawMessage `json:"args"`
	} `json:"functionCall"`
	FunctionResponse *struct {
		ID       string          `json:"id"`
		Name     string          `json:"name"`
		Response json.RawMessage `json:"response"`
	} `json:"functionResponse"`
	ExecutableCode      json.RawMessage `json:"executableCode"`
	CodeExecutionResult json.RawMessage `json:"codeExecutionResult"`
}

// geminiOpaque lists the fields whose values are user data and keep their
// keys as sent when snake_case keys are converted.
func geminiOpaque(k string) bool {
	switch k {
	case "args", "response", "parametersJsonSchema", "responseJsonSchema", "labels", "default", "example", "enum":
		return true
	}
	return false
}

// camelize converts snake_case object keys to camelCase, as the API's
// JSON mapping accepts both, leaving user data (function arguments and
// responses, raw JSON Schemas, property names) untouched.
func camelize(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, val := range t {
			ck := camelKey(k)
			switch {
			case geminiOpaque(ck):
				out[ck] = val
			case ck == "properties":
				props, ok := val.(map[string]any)
				if !ok {
					out[ck] = val
					break
				}
				conv := make(map[string]any, len(props))
				for pk, pv := range props {
					conv[pk] = camelize(pv)
				}
				out[ck] = conv
			default:
				out[ck] = camelize(val)
			}
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = camelize(e)
		}
		return out
	}
	return v
}

func camelKey(k string) string {
	if !strings.Contains(k, "_") {
		return k
	}
	var b strings.Builder
	up := false
	for _, r := range k {
		if r == '_' {
			up = true
			continue
		}
		if up {
			r = unicode.ToUpper(r)
			up = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

// geminiConversation normalizes a generateContent request body.
func geminiConversation(body []byte, model string) (*conversation, *geminiRequest, error) {
	var raw map[string]any
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, nil, badRequest("Invalid JSON payload received. %v", err)
	}
	camel, _ := camelize(raw).(map[string]any)
	for _, k := range sortedKeys(camel) {
		if !geminiField(k) {
			return nil, nil, badRequest("Invalid JSON payload received. Unknown name %q: Cannot find field.", k)
		}
	}
	body, _ = json.Marshal(camel)
	var req geminiRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, nil, badRequest("Invalid JSON payload received. %v", err)
	}
	// Tools other than function declarations are refused by name.
	var tools []map[string]json.RawMessage
	_ = json.Unmarshal(fieldJSON(camel, "tools"), &tools)
	switch {
	case len(req.Contents) == 0:
		return nil, nil, badRequest("* GenerateContentRequest.contents: contents is not specified")
	case req.CachedContent != "":
		return nil, nil, badRequest("fakecloud does not simulate cached content (cachedContent)")
	}
	c := &conversation{model: model}
	for i, t := range tools {
		for _, k := range slices.Sorted(maps.Keys(t)) {
			if k != "functionDeclarations" {
				return nil, nil, badRequest("tools[%d]: fakecloud does not simulate the %s tool", i, k)
			}
		}
	}
	for i, t := range req.Tools {
		for k, fd := range t.FunctionDeclarations {
			field := "tools[" + strconv.Itoa(i) + "].functionDeclarations[" + strconv.Itoa(k) + "]"
			rawSchema := fd.ParametersJSONSchema
			if len(rawSchema) == 0 {
				rawSchema = fd.Parameters
			} else if len(fd.Parameters) > 0 {
				return nil, nil, badRequest("%s: parameters and parametersJsonSchema are mutually exclusive", field)
			}
			schema, err := decodeSchema(rawSchema, field+".parameters")
			if err != nil {
				return nil, nil, err
			}
			c.addTool(toolDef{name: fd.Name, description: fd.Description, schema: schema})
		}
	}
	if tc := req.ToolConfig; tc != nil && tc.FunctionCallingConfig != nil {
		fc := tc.FunctionCallingConfig
		switch strings.ToUpper(fc.Mode) {
		case "", "AUTO", "MODE_UNSPECIFIED", "VALIDATED":
			if len(fc.AllowedFunctionNames) > 0 {
				return nil, nil, badRequest("toolConfig.functionCallingConfig.allowedFunctionNames is only allowed with mode ANY")
			}
		case "ANY":
			c.choice = choiceAny
			c.allowed = fc.AllowedFunctionNames
		case "NONE":
			c.choice = choiceNone
		default:
			return nil, nil, badRequest("Invalid value at 'tool_config.function_calling_config.mode' (%s)", fc.Mode)
		}
	}
	if si := req.SystemInstruction; si != nil {
		for _, p := range si.Parts {
			if p.Text == nil {
				return nil, nil, badRequest("systemInstruction: only text parts are supported")
			}
			c.addSystem(*p.Text)
		}
	}
	for i, content := range req.Contents {
		if err := geminiContentParts(c, content, i); err != nil {
			return nil, nil, err
		}
	}
	if gc := req.GenerationConfig; gc != nil {
		if gc.MaxOutputTokens != nil {
			c.maxTokens = *gc.MaxOutputTokens
		}
		c.stop = gc.StopSequences
		if gc.CandidateCount != nil && *gc.CandidateCount > 1 {
			return nil, nil, badRequest("fakecloud does not simulate candidateCount > 1")
		}
		for _, m := range gc.ResponseModalities {
			if !strings.EqualFold(m, "TEXT") {
				return nil, nil, badRequest("fakecloud does not simulate response modality %s", m)
			}
		}
		hasSchema := len(gc.ResponseSchema) > 0 || len(gc.ResponseJSONSchema) > 0
		switch gc.ResponseMIMEType {
		case "", "text/plain":
			if hasSchema {
				return nil, nil, badRequest("generation_config.response_schema requires response_mime_type application/json")
			}
		case "application/json":
			rawSchema := gc.ResponseJSONSchema
			if len(rawSchema) == 0 {
				rawSchema = gc.ResponseSchema
			}
			schema, err := decodeSchema(rawSchema, "generationConfig.responseSchema")
			if err != nil {
				return nil, nil, err
			}
			c.format = &outputFormat{schema: schema}
		default:
			return nil, nil, badRequest("fakecloud does not simulate response_mime_type %s", gc.ResponseMIMEType)
		}
		if tc := gc.ThinkingConfig; tc != nil {
			c.reasoning = tc.IncludeThoughts || tc.ThinkingLevel != "" || (tc.ThinkingBudget != nil && *tc.ThinkingBudget != 0)
		}
	}
	if err := c.validate(validateOptions{}); err != nil {
		return nil, nil, err
	}
	return c, &req, nil
}

// fieldJSON re-encodes one field of a decoded object.
func fieldJSON(m map[string]any, k string) []byte {
	b, _ := json.Marshal(m[k])
	return b
}

// geminiContentParts adds one content entry.
func geminiContentParts(c *conversation, content geminiContent, i int) error {
	field := "contents[" + strconv.Itoa(i) + "]"
	var role string
	switch content.Role {
	case "user", "", "function":
		role = roleUser
	case "model":
		role = roleAssistant
	default:
		return badRequest("Please use a valid role: user, model.")
	}
	if len(content.Parts) == 0 {
		return badRequest("* GenerateContentRequest.%s.parts: contents.parts must not be empty.", field)
	}
	for k, p := range content.Parts {
		pf := field + ".parts[" + strconv.Itoa(k) + "]"
		switch {
		case p.Text != nil:
			if p.Thought {
				continue // thoughts do not enter the conversation
			}
			c.add(role, part{kind: partText, text: *p.Text})
		case p.InlineData != nil:
			data, err := decodeBase64(p.InlineData.Data, pf+".inlineData.data")
			if err != nil {
				return err
			}
			kind := partDocument
			if isImageMIME(p.InlineData.MIMEType) {
				kind = partImage
			}
			c.add(role, part{kind: kind, mime: p.InlineData.MIMEType, data: data})
		case p.FileData != nil:
			kind := partDocument
			if isImageMIME(p.FileData.MIMEType) {
				kind = partImage
			}
			c.add(role, part{kind: kind, mime: p.FileData.MIMEType, url: p.FileData.FileURI})
		case p.FunctionCall != nil:
			if role != roleAssistant {
				return badRequest("%s: functionCall parts must come from the model", pf)
			}
			args, err := canonicalArgs(p.FunctionCall.Args, pf+".functionCall.args")
			if err != nil {
				return err
			}
			c.add(role, part{kind: partToolCall, callID: p.FunctionCall.ID, name: p.FunctionCall.Name, args: args})
		case p.FunctionResponse != nil:
			if role != roleUser {
				return badRequest("%s: functionResponse parts must come from the user", pf)
			}
			fr := p.FunctionResponse
			c.add(role, part{kind: partToolResult, callID: fr.ID, name: fr.Name, result: geminiResultText(fr.Response)})
		case len(p.ExecutableCode) > 0 || len(p.CodeExecutionResult) > 0:
			return badRequest("%s: fakecloud does not simulate code execution", pf)
		default:
			return badRequest("%s: the part has no data", pf)
		}
	}
	return nil
}

// geminiResultText reads a function response object as text. An object
// holding only a "result", "output" or "content" string is read as that
// string, the usual way a plain-text result is wrapped.
func geminiResultText(raw json.RawMessage) string {
	v, err := decodeValue(raw)
	if err != nil {
		return string(raw)
	}
	if m, ok := v.(map[string]any); ok && len(m) == 1 {
		for _, k := range []string{"result", "output", "content"} {
			if s, ok := m[k].(string); ok {
				return s
			}
		}
	}
	return textOf(v)
}

// geminiAuth accepts x-goog-api-key or ?key=.
func (c *call) geminiAuth() error {
	key := c.r.Header.Get("X-Goog-Api-Key")
	if key == "" {
		key = c.r.URL.Query().Get("key")
	}
	switch {
	case key == "":
		return &apiError{status: http.StatusUnauthorized, message: "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API."}
	case key != c.s.key:
		return &apiError{status: http.StatusUnauthorized, message: "API key not valid. Please pass a valid API key."}
	}
	return nil
}

// gemini serves POST {version}/models/{model}:{method}.
func (s *Server) gemini(c *call) error {
	version := c.r.PathValue("version")
	model, method, ok := strings.Cut(c.r.PathValue("action"), ":")
	c.rec.Model = model
	if !ok || (version != "v1beta" && version != "v1") {
		return notFound(c)
	}
	switch method {
	case "generateContent", "streamGenerateContent", "countTokens":
	default:
		return notFound(c)
	}
	c.rec.Stream = method == "streamGenerateContent"
	if err := c.geminiAuth(); err != nil {
		return err
	}
	if model == "" {
		return badRequest("model is required")
	}
	if method == "countTokens" {
		return s.geminiCountTokens(c, model)
	}
	return s.geminiGenerate(c, model, method)
}

// geminiGenerate answers a generateContent or streamGenerateContent call,
// once the caller is authenticated; Vertex AI serves the same bodies.
func (s *Server) geminiGenerate(c *call, model, method string) error {
	conv, _, err := geminiConversation(c.body, model)
	if err != nil {
		return err
	}
	if err := c.admit(); err != nil {
		return err
	}
	a := c.respond(conv)
	enc := geminiEncoder{model: model, id: a.id, a: a, thoughts: geminiIncludeThoughts(c.body)}
	if method == "generateContent" {
		if err := c.pace(a.usage.output); err != nil {
			return err
		}
		writeJSON(c.w, http.StatusOK, enc.response(enc.allParts(), true, a.usage.output, a.usage.reasoning))
		return nil
	}
	return enc.stream(c, c.r.URL.Query().Get("alt") == "sse")
}

// geminiIncludeThoughts reports whether thoughts are to be shown.
func geminiIncludeThoughts(body []byte) bool {
	var raw map[string]any
	_ = json.Unmarshal(body, &raw)
	camel, _ := camelize(raw).(map[string]any)
	gc, _ := camel["generationConfig"].(map[string]any)
	tc, _ := gc["thinkingConfig"].(map[string]any)
	b, _ := tc["includeThoughts"].(bool)
	return b
}

// geminiEncoder writes generateContent answers.
type geminiEncoder struct {
	model, id string
	a         answer
	thoughts  bool
}

func geminiFinish(f finish) string {
	if f == finishLength {
		return "MAX_TOKENS"
	}
	return "STOP"
}

// allParts is the whole answer as parts.
func (e geminiEncoder) allParts() []any {
	var parts []any
	if e.thoughts && e.a.thinking != "" {
		parts = append(parts, map[string]any{"text": e.a.thinking, "thought": true})
	}
	if e.a.text != "" {
		parts = append(parts, map[string]any{"text": e.a.text})
	}
	for _, tc := range e.a.calls {
		parts = append(parts, map[string]any{"functionCall": map[string]any{"name": tc.name, "args": json.RawMessage(tc.args)}})
	}
	return parts
}

// response is one GenerateContentResponse: the parts given, the finish
// reason when final, and the usage of output and reasoning tokens so far.
func (e geminiEncoder) response(parts []any, final bool, output, reasoning int) map[string]any {
	if parts == nil {
		parts = []any{map[string]any{"text": ""}}
	}
	cand := map[string]any{"content": map[string]any{"role": "model", "parts": parts}, "index": 0}
	if final {
		cand["finishReason"] = geminiFinish(e.a.finish)
	}
	u := e.a.usage
	usage := map[string]any{
		"promptTokenCount":     u.input,
		"candidatesTokenCount": output - reasoning,
		"totalTokenCount":      u.input + output,
		"promptTokensDetails":  []any{map[string]any{"modality": "TEXT", "tokenCount": u.input}},
	}
	if reasoning > 0 {
		usage["thoughtsTokenCount"] = reasoning
	}
	return map[string]any{
		"candidates":    []any{cand},
		"usageMetadata": usage,
		"modelVersion":  e.model,
		"responseId":    e.id,
	}
}

// stream writes the answer as a series of responses: SSE data lines with
// alt=sse, a JSON array otherwise.
func (e geminiEncoder) stream(c *call, sseMode bool) error {
	type chunk struct {
		part      any
		output    int
		reasoning bool
	}
	var chunks []chunk
	for _, p := range e.a.thinkingPieces {
		var pt any
		if e.thoughts {
			pt = map[string]any{"text": p, "thought": true}
		}
		chunks = append(chunks, chunk{part: pt, output: 1, reasoning: true})
	}
	for _, p := range e.a.textPieces {
		chunks = append(chunks, chunk{part: map[string]any{"text": p}, output: 1})
	}
	for _, tc := range e.a.calls {
		chunks = append(chunks, chunk{part: map[string]any{"functionCall": map[string]any{"name": tc.name, "args": json.RawMessage(tc.args)}}, output: len(tc.fragments)})
	}
	var write func(v any) error
	if sseMode {
		sw := sse.NewWriter(c.w)
		write = func(v any) error {
			b, err := json.Marshal(v)
			if err != nil {
				return err
			}
			if err := sw.Event("", b); err != nil {
				return errClientGone
			}
			return nil
		}
	} else {
		c.w.Header().Set("Content-Type", "application/json")
		rc := http.NewResponseController(c.w)
		sep := "["
		write = func(v any) error {
			b, err := json.Marshal(v)
			if err != nil {
				return err
			}
			if _, err := c.w.Write(append([]byte(sep), b...)); err != nil {
				return errClientGone
			}
			sep = ",\r\n"
			_ = rc.Flush()
			return nil
		}
	}
	output, reasoning, sent := 0, 0, false
	var pending []any
	for i, ch := range chunks {
		if err := c.pace(ch.output); err != nil {
			return err
		}
		output += ch.output
		if ch.reasoning {
			reasoning += ch.output
		}
		if ch.part == nil && i < len(chunks)-1 {
			continue // hidden thinking still costs its time
		}
		if ch.part != nil {
			pending = append(pending, ch.part)
		}
		if err := write(e.response(pending, i == len(chunks)-1, output, reasoning)); err != nil {
			return err
		}
		sent = true
		pending = nil
		if ch.part != nil && c.streamed() {
			c.abortStream()
		}
	}
	if !sent {
		if err := write(e.response(nil, true, output, reasoning)); err != nil {
			return err
		}
	}
	if !sseMode {
		if _, err := c.w.Write([]byte("]")); err != nil {
			return errClientGone
		}
	}
	return nil
}

// geminiCountTokens serves countTokens: contents, or a whole
// generateContentRequest.
func (s *Server) geminiCountTokens(c *call, model string) error {
	var req struct {
		Contents               json.RawMessage `json:"contents"`
		GenerateContentRequest json.RawMessage `json:"generateContentRequest"`
	}
	if err := decodeJSON(c.body, &req); err != nil {
		return err
	}
	body := req.GenerateContentRequest
	if len(body) == 0 {
		body, _ = json.Marshal(map[string]json.RawMessage{"contents": req.Contents})
	}
	conv, _, err := geminiConversation(body, model)
	if err != nil {
		return err
	}
	if err := c.admit(); err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, map[string]any{"totalTokens": conv.inputTokens()})
	return nil
}

// geminiStatus names an error status as Google APIs do.
func geminiStatus(code int) string {
	switch code {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		return "INVALID_ARGUMENT"
	case http.StatusUnauthorized:
		return "UNAUTHENTICATED"
	case http.StatusForbidden:
		return "PERMISSION_DENIED"
	case http.StatusNotFound:
		return "NOT_FOUND"
	case http.StatusConflict:
		return "ABORTED"
	case http.StatusTooManyRequests:
		return "RESOURCE_EXHAUSTED"
	case http.StatusNotImplemented:
		return "UNIMPLEMENTED"
	case http.StatusServiceUnavailable:
		return "UNAVAILABLE"
	case http.StatusGatewayTimeout:
		return "DEADLINE_EXCEEDED"
	}
	if code >= 500 {
		return "INTERNAL"
	}
	return "FAILED_PRECONDITION"
}

// writeGeminiError renders an error as Google APIs do.
func writeGeminiError(w http.ResponseWriter, e *apiError) {
	status := e.code
	if status == "" {
		status = geminiStatus(e.status)
	}
	msg := e.message
	if msg == "" {
		switch status {
		case "RESOURCE_EXHAUSTED":
			msg = "Resource has been exhausted (e.g. check quota)."
		case "UNAVAILABLE":
			msg = "The model is overloaded. Please try again later."
		case "INTERNAL":
			msg = "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting"
		default:
			msg = http.StatusText(e.status)
		}
	}
	writeJSON(w, e.status, map[string]any{"error": map[string]any{"code": e.status, "message": msg, "status": status}})
}
