package gemini

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"switchyard/internal/llm"
)

// This file is the front door's direction: what a Gemini API client sends
// the gateway (generateContent, countTokens, embedContent and
// batchEmbedContents bodies) decoded and translated into the llm model.

// Dialect names the generateContent wire format in llm.Raw: a request
// whose Raw has this dialect is sent to a Gemini channel as it came (the
// model is in the path, not the body), and Passthrough[Dialect] holds the
// members nested in it that only those bytes carry.
const Dialect = "gemini.generateContent"

// ClientRequest is a generateContent body as a client sends it, with the
// members the gateway reads. SafetySettings are accepted and travel only
// in the client's bytes (a Gemini channel gets them; other channels have
// no equivalent and do not). Extra holds the other top-level members;
// Unknown holds the unmodelled members nested deeper, keyed by JSON path
// ("contents[0].parts[1].videoMetadata").
type ClientRequest struct {
	Contents          []Content               `json:"contents"`
	SystemInstruction *Content                `json:"systemInstruction,omitempty"`
	Tools             []ClientTool            `json:"tools,omitempty"`
	ToolConfig        *ToolConfig             `json:"toolConfig,omitempty"`
	GenerationConfig  *ClientGenerationConfig `json:"generationConfig,omitempty"`
	SafetySettings    json.RawMessage         `json:"safetySettings,omitempty"`

	Extra   map[string]json.RawMessage `json:"-"`
	Unknown map[string]json.RawMessage `json:"-"`
}

// ClientTool is a tools entry: function declarations, with parameters as
// an OpenAPI schema (parameters) or a JSON Schema (parametersJsonSchema).
// Gemini's built-in tools (googleSearch, codeExecution...) are unmodelled.
type ClientTool struct {
	FunctionDeclarations []ClientFunctionDeclaration `json:"functionDeclarations,omitempty"`
}

// ClientFunctionDeclaration declares a function.
type ClientFunctionDeclaration struct {
	Name                 string          `json:"name"`
	Description          string          `json:"description,omitempty"`
	Parameters           json.RawMessage `json:"parameters,omitempty"`
	ParametersJSONSchema json.RawMessage `json:"parametersJsonSchema,omitempty"`
}

// ClientGenerationConfig is generationConfig as a client sends it.
type ClientGenerationConfig struct {
	MaxOutputTokens    int                   `json:"maxOutputTokens,omitempty"`
	Temperature        *float64              `json:"temperature,omitempty"`
	TopP               *float64              `json:"topP,omitempty"`
	TopK               *float64              `json:"topK,omitempty"`
	StopSequences      []string              `json:"stopSequences,omitempty"`
	Seed               *int64                `json:"seed,omitempty"`
	CandidateCount     int                   `json:"candidateCount,omitempty"`
	ResponseMIMEType   string                `json:"responseMimeType,omitempty"`
	ResponseSchema     json.RawMessage       `json:"responseSchema,omitempty"`
	ResponseJSONSchema json.RawMessage       `json:"responseJsonSchema,omitempty"`
	ThinkingConfig     *ClientThinkingConfig `json:"thinkingConfig,omitempty"`
}

// ClientThinkingConfig asks for thinking by budget or by level.
type ClientThinkingConfig struct {
	IncludeThoughts bool   `json:"includeThoughts,omitempty"`
	ThinkingBudget  *int   `json:"thinkingBudget,omitempty"`
	ThinkingLevel   string `json:"thinkingLevel,omitempty"`
}

// shape lists the members of a JSON object the decoder models; a member
// whose shape is nil is a leaf (or user data such as a schema or function
// arguments) that is not looked into. Arrays take their elements' shape.
type shape map[string]shape

var (
	blobShape     = shape{"mimeType": nil, "data": nil}
	fileDataShape = shape{"mimeType": nil, "fileUri": nil}
	contentShape  = shape{"role": nil, "parts": shape{
		"text": nil, "thought": nil, "thoughtSignature": nil,
		"inlineData": blobShape, "fileData": fileDataShape,
		"functionCall":     shape{"id": nil, "name": nil, "args": nil},
		"functionResponse": shape{"id": nil, "name": nil, "response": nil, "parts": shape{"inlineData": blobShape, "fileData": fileDataShape}},
	}}
	requestShape = shape{
		"contents":          contentShape,
		"systemInstruction": contentShape,
		"tools": shape{"functionDeclarations": shape{
			"name": nil, "description": nil, "parameters": nil, "parametersJsonSchema": nil}},
		"toolConfig": shape{"functionCallingConfig": shape{"mode": nil, "allowedFunctionNames": nil}},
		"generationConfig": shape{
			"maxOutputTokens": nil, "temperature": nil, "topP": nil, "topK": nil, "stopSequences": nil, "seed": nil,
			"candidateCount": nil, "responseMimeType": nil, "responseSchema": nil, "responseJsonSchema": nil,
			"thinkingConfig": shape{"includeThoughts": nil, "thinkingBudget": nil, "thinkingLevel": nil},
		},
		"safetySettings": nil,
	}
)

// unknownMembers walks v along s and records, by path, every member s does
// not list.
func unknownMembers(path string, v any, s shape, out map[string]json.RawMessage) {
	switch v := v.(type) {
	case []any:
		for i, e := range v {
			unknownMembers(fmt.Sprintf("%s[%d]", path, i), e, s, out)
		}
	case map[string]any:
		for k, e := range v {
			p := k
			if path != "" {
				p = path + "." + k
			}
			sub, ok := s[k]
			if !ok {
				out[p], _ = json.Marshal(e)
				continue
			}
			if sub != nil {
				unknownMembers(p, e, sub, out)
			}
		}
	}
}

// DecodeGenerateContentRequest decodes a client's generateContent body. A
// member of the wrong type fails with an error wrapping llm.ErrInvalid
// that names it; members the gateway does not model are kept, top-level
// ones in Extra and nested ones in Unknown, so that a Gemini channel gets
// them in the client's bytes and any other channel refuses them by name.
func DecodeGenerateContentRequest(body []byte) (*ClientRequest, error) {
	var tree any
	if err := json.Unmarshal(body, &tree); err != nil {
		return nil, invalidPayload(err)
	}
	top, ok := tree.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: invalid JSON payload: the body must be a JSON object", llm.ErrInvalid)
	}
	r := &ClientRequest{}
	if err := json.Unmarshal(body, r); err != nil {
		return nil, invalidPayload(err)
	}
	unknown := map[string]json.RawMessage{}
	unknownMembers("", top, requestShape, unknown)
	for k, v := range unknown {
		if strings.ContainsAny(k, ".[") {
			continue
		}
		if r.Extra == nil {
			r.Extra = map[string]json.RawMessage{}
		}
		r.Extra[k] = v
		delete(unknown, k)
	}
	if len(unknown) > 0 {
		r.Unknown = unknown
	}
	return r, nil
}

// invalidPayload names the member a JSON decoding error is about.
func invalidPayload(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return fmt.Errorf("%w: invalid JSON payload: %s: expected %s, got a JSON %s", llm.ErrInvalid, te.Field, jsonKind(te.Type.String()), te.Value)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("%w: invalid JSON payload at byte %d: %v", llm.ErrInvalid, se.Offset, se)
	}
	return fmt.Errorf("%w: invalid JSON payload: %v", llm.ErrInvalid, err)
}

func jsonKind(goType string) string {
	switch {
	case goType == "string":
		return "a string"
	case goType == "bool":
		return "a boolean"
	case strings.Contains(goType, "int"), strings.Contains(goType, "float"):
		return "a number"
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	}
	return "an object"
}

// RequestToLLM translates a decoded client request for model.
//
//   - Consecutive contents of one role are one turn (a chat history keeps
//     each streamed chunk as a content of its own); role "function" is the
//     user's, as in the API's older function calling.
//   - Thought parts become reasoning, consecutive ones merged, the last
//     thoughtSignature kept; a signature on any other part becomes an empty
//     signed reasoning part before it, as ResponseToLLM does.
//   - Function calls without an id are named "call_<turn>_<n>"; a function
//     response without an id answers the earliest unanswered call of the
//     same name. A response {"result": text} (or "output") is that text,
//     {"error": text} an error result; any other object is its JSON text.
//   - Images are inlineData or fileData with an image MIME type. Other
//     media and code execution parts go to Passthrough[Dialect] by path,
//     like every member only Gemini can take.
//   - responseSchema (Gemini's OpenAPI subset) is converted to JSON Schema;
//     responseJsonSchema and parametersJsonSchema are used as they are.
//   - toolConfig ANY with allowed names restricts the declared tools to
//     them; VALIDATED is AUTO with strict tools.
//   - thinkingBudget maps to a reasoning budget (0: effort "none"),
//     thinkingLevel to an effort; -1 (dynamic) is the model's default.
//   - Top-level members the gateway does not model go to
//     Passthrough["gemini"], nested ones to Passthrough[Dialect] by path;
//     safetySettings are carried in the client's bytes only.
func RequestToLLM(r *ClientRequest, model string) (*llm.Request, error) {
	if len(r.Contents) == 0 {
		return nil, invalidf("contents: at least one content is required")
	}
	out := &llm.Request{Model: model}
	if si := r.SystemInstruction; si != nil {
		for i, p := range si.Parts {
			if p.Text == "" && (p.InlineData != nil || p.FileData != nil || p.FunctionCall != nil || p.FunctionResponse != nil) {
				return nil, unsupportedf("systemInstruction.parts[%d]: only text is carried in a system instruction", i)
			}
			if p.Text != "" {
				out.System = append(out.System, llm.Text(p.Text))
			}
		}
	}
	ids := callIDs{}
	for i, c := range r.Contents {
		at := fmt.Sprintf("contents[%d]", i)
		role := llm.RoleUser
		switch c.Role {
		case "", RoleUser, "function":
		case RoleModel:
			role = llm.RoleAssistant
		default:
			return nil, invalidf("%s.role: want \"user\" or \"model\", got %q", at, c.Role)
		}
		if n := len(out.Messages); n == 0 || out.Messages[n-1].Role != role {
			out.Messages = append(out.Messages, llm.Message{Role: role})
			if role == llm.RoleAssistant {
				ids.turn()
			}
		}
		m := &out.Messages[len(out.Messages)-1]
		for j, p := range c.Parts {
			if member, raw := geminiOnly(p); member != "" {
				// Only a Gemini channel, which gets the client's bytes,
				// can carry it; any other refuses it by name.
				if r.Unknown == nil {
					r.Unknown = map[string]json.RawMessage{}
				}
				r.Unknown[fmt.Sprintf("%s.parts[%d].%s", at, j, member)] = raw
				continue
			}
			if err := partToLLM(fmt.Sprintf("%s.parts[%d]", at, j), p, m, len(out.Messages)-1, &ids); err != nil {
				return nil, err
			}
		}
	}
	for i := range out.Messages {
		out.Messages[i].Parts = mergeThoughts(out.Messages[i].Parts)
	}
	var err error
	if out.Tools, err = toolsToLLM(r.Tools); err != nil {
		return nil, err
	}
	if err := toolConfigToLLM(r.ToolConfig, out); err != nil {
		return nil, err
	}
	if err := generationConfigToLLM(r.GenerationConfig, out, r); err != nil {
		return nil, err
	}
	if len(r.Extra) > 0 {
		out.Passthrough = map[string]map[string]json.RawMessage{"gemini": maps.Clone(r.Extra)}
	}
	if len(r.Unknown) > 0 {
		if out.Passthrough == nil {
			out.Passthrough = map[string]map[string]json.RawMessage{}
		}
		out.Passthrough[Dialect] = maps.Clone(r.Unknown)
	}
	return out, nil
}

// callIDs pairs function calls and responses that came without ids.
type callIDs struct {
	turns int
	// open lists, by function name, the calls of the latest model turn not
	// yet answered.
	open map[string][]string
}

func (c *callIDs) turn() {
	c.turns++
	c.open = map[string][]string{}
}

func (c *callIDs) call(id, name string, n int) string {
	if id == "" {
		id = "call_" + strconv.Itoa(c.turns) + "_" + strconv.Itoa(n)
	}
	if c.open == nil {
		c.open = map[string][]string{}
	}
	c.open[name] = append(c.open[name], id)
	return id
}

func (c *callIDs) answer(id, name string) string {
	q := c.open[name]
	if id != "" {
		if i := slices.Index(q, id); i >= 0 {
			c.open[name] = slices.Delete(q, i, i+1)
		}
		return id
	}
	if len(q) == 0 {
		return ""
	}
	c.open[name] = q[1:]
	return q[0]
}

// geminiOnly names the member of a part that only Gemini can take (media
// other than images, code execution), with its value; media is named by
// its MIME type and URI, its data staying in the client's bytes.
func geminiOnly(p Part) (string, json.RawMessage) {
	switch {
	case p.InlineData != nil && !strings.HasPrefix(p.InlineData.MIMEType, "image/"):
		b, _ := json.Marshal(Blob{MIMEType: p.InlineData.MIMEType})
		return "inlineData", b
	case p.FileData != nil && p.FileData.MIMEType != "" && !strings.HasPrefix(p.FileData.MIMEType, "image/"):
		b, _ := json.Marshal(p.FileData)
		return "fileData", b
	case p.ExecutableCode != nil:
		return "executableCode", p.ExecutableCode
	case p.CodeExecutionResult != nil:
		return "codeExecutionResult", p.CodeExecutionResult
	}
	return "", nil
}

func partToLLM(at string, p Part, m *llm.Message, turn int, ids *callIDs) error {
	if p.Thought {
		if m.Role != llm.RoleAssistant {
			return invalidf("%s: thought parts belong to the model's turns", at)
		}
		m.Parts = append(m.Parts, llm.Part{Kind: llm.PartReasoning, Text: p.Text, Signature: p.ThoughtSignature})
		return nil
	}
	if p.ThoughtSignature != "" && m.Role == llm.RoleAssistant {
		m.Parts = append(m.Parts, llm.Part{Kind: llm.PartReasoning, Signature: p.ThoughtSignature})
	}
	switch {
	case p.FunctionCall != nil:
		fc := p.FunctionCall
		if m.Role != llm.RoleAssistant {
			return invalidf("%s.functionCall: function calls belong to the model's turns", at)
		}
		if fc.Name == "" {
			return invalidf("%s.functionCall.name: required", at)
		}
		args := "{}"
		if raw := bytes.TrimSpace(fc.Args); len(raw) > 0 && !isNull(raw) {
			if raw[0] != '{' {
				return invalidf("%s.functionCall.args: want a JSON object", at)
			}
			var buf bytes.Buffer
			if err := json.Compact(&buf, raw); err != nil {
				return invalidf("%s.functionCall.args: %v", at, err)
			}
			args = buf.String()
		}
		n := 0
		for _, q := range m.Parts {
			if q.Kind == llm.PartToolCall {
				n++
			}
		}
		id := ids.call(fc.ID, fc.Name, n)
		m.Parts = append(m.Parts, llm.Part{Kind: llm.PartToolCall, ToolCall: &llm.ToolCall{ID: id, Name: fc.Name, Arguments: args}})
	case p.FunctionResponse != nil:
		fr := p.FunctionResponse
		if m.Role != llm.RoleUser {
			return invalidf("%s.functionResponse: function responses belong to the user's turns", at)
		}
		if fr.Name == "" {
			return invalidf("%s.functionResponse.name: required", at)
		}
		id := ids.answer(fr.ID, fr.Name)
		if id == "" {
			return invalidf("%s.functionResponse: answers no earlier call of %q", at, fr.Name)
		}
		tr := &llm.ToolResult{CallID: id, Name: fr.Name}
		text, isErr, err := resultText(fr.Response)
		if err != nil {
			return invalidf("%s.functionResponse.response: %v", at, err)
		}
		tr.IsError = isErr
		if text != "" || len(fr.Parts) == 0 {
			tr.Content = append(tr.Content, llm.Text(text))
		}
		for i, rp := range fr.Parts {
			img, err := mediaToLLM(fmt.Sprintf("%s.functionResponse.parts[%d]", at, i), rp.InlineData, rp.FileData)
			if err != nil {
				return err
			}
			tr.Content = append(tr.Content, llm.Part{Kind: llm.PartImage, Image: img})
		}
		m.Parts = append(m.Parts, llm.Part{Kind: llm.PartToolResult, ToolResult: tr})
	case p.InlineData != nil || p.FileData != nil:
		img, err := mediaToLLM(at, p.InlineData, p.FileData)
		if err != nil {
			return err
		}
		m.Parts = append(m.Parts, llm.Part{Kind: llm.PartImage, Image: img})
	case p.Text != "":
		m.Parts = append(m.Parts, llm.Text(p.Text))
	}
	return nil
}

// resultText reads a function response object: {"result": s} or
// {"output": s} is s, {"error": s} is s as an error, anything else is its
// compact JSON.
func resultText(raw json.RawMessage) (string, bool, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || isNull(raw) {
		return "", false, nil
	}
	if raw[0] != '{' {
		return "", false, errors.New("want a JSON object")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return "", false, err
	}
	if len(m) == 1 {
		for k, v := range m {
			var s string
			if (k == "result" || k == "output" || k == "error") && json.Unmarshal(v, &s) == nil {
				return s, k == "error", nil
			}
		}
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return "", false, err
	}
	return buf.String(), false, nil
}

func mediaToLLM(at string, inline *Blob, file *FileData) (*llm.Image, error) {
	if inline != nil {
		if !strings.HasPrefix(inline.MIMEType, "image/") {
			return nil, unsupportedf("%s.inlineData: %q media (only images are carried)", at, inline.MIMEType)
		}
		data, err := base64.StdEncoding.DecodeString(inline.Data)
		if err != nil {
			if data, err = base64.URLEncoding.DecodeString(inline.Data); err != nil {
				return nil, invalidf("%s.inlineData.data: not base64", at)
			}
		}
		if len(data) == 0 {
			return nil, invalidf("%s.inlineData.data: empty", at)
		}
		return &llm.Image{MIMEType: inline.MIMEType, Data: data}, nil
	}
	if file.MIMEType != "" && !strings.HasPrefix(file.MIMEType, "image/") {
		return nil, unsupportedf("%s.fileData: %q media (only images are carried)", at, file.MIMEType)
	}
	if !strings.HasPrefix(file.FileURI, "https://") && !strings.HasPrefix(file.FileURI, "gs://") {
		return nil, unsupportedf("%s.fileData.fileUri: want an https:// or gs:// URL", at)
	}
	return &llm.Image{URL: file.FileURI, MIMEType: file.MIMEType}, nil
}

// mergeThoughts joins consecutive reasoning parts into one, up to the
// first that carries a signature: Gemini streams a thought in fragments,
// which a client keeps as separate parts, and the signature closes it.
func mergeThoughts(parts []llm.Part) []llm.Part {
	out := parts[:0]
	for _, p := range parts {
		if n := len(out); n > 0 && p.Kind == llm.PartReasoning && out[n-1].Kind == llm.PartReasoning &&
			out[n-1].Signature == "" && out[n-1].Text != "" {
			out[n-1].Text += p.Text
			out[n-1].Signature = p.Signature
			continue
		}
		out = append(out, p)
	}
	return out
}

func toolsToLLM(tools []ClientTool) ([]llm.Tool, error) {
	var out []llm.Tool
	for i, t := range tools {
		for j, d := range t.FunctionDeclarations {
			at := fmt.Sprintf("tools[%d].functionDeclarations[%d]", i, j)
			if d.Name == "" {
				return nil, invalidf("%s.name: required", at)
			}
			lt := llm.Tool{Name: d.Name, Description: d.Description}
			switch {
			case len(d.ParametersJSONSchema) > 0 && !isNull(d.ParametersJSONSchema):
				lt.Parameters = d.ParametersJSONSchema
			case len(d.Parameters) > 0 && !isNull(d.Parameters):
				s, err := SchemaToJSONSchema(d.Parameters)
				if err != nil {
					return nil, invalidf("%s.parameters: %v", at, err)
				}
				lt.Parameters = s
			}
			out = append(out, lt)
		}
	}
	return out, nil
}

func toolConfigToLLM(tc *ToolConfig, out *llm.Request) error {
	if tc == nil || tc.FunctionCallingConfig == nil {
		return nil
	}
	fc := tc.FunctionCallingConfig
	switch strings.ToUpper(fc.Mode) {
	case "", "MODE_UNSPECIFIED", ModeAuto:
	case ModeNone:
		out.ToolChoice = llm.ToolChoice{Mode: llm.ToolChoiceNone}
	case ModeValidated:
		for i := range out.Tools {
			out.Tools[i].Strict = true
		}
	case ModeAny:
		out.ToolChoice = llm.ToolChoice{Mode: llm.ToolChoiceRequired}
		switch len(fc.AllowedFunctionNames) {
		case 0:
		case 1:
			out.ToolChoice = llm.ToolChoice{Mode: llm.ToolChoiceTool, Name: fc.AllowedFunctionNames[0]}
		default:
			kept := out.Tools[:0:0]
			for _, t := range out.Tools {
				if slices.Contains(fc.AllowedFunctionNames, t.Name) {
					kept = append(kept, t)
				}
			}
			out.Tools = kept
		}
		if len(out.Tools) == 0 {
			return invalidf("toolConfig.functionCallingConfig: mode ANY needs a declared function")
		}
		if out.ToolChoice.Mode == llm.ToolChoiceTool && !slices.ContainsFunc(out.Tools, func(t llm.Tool) bool { return t.Name == out.ToolChoice.Name }) {
			return invalidf("toolConfig.functionCallingConfig.allowedFunctionNames: %q is not a declared function", out.ToolChoice.Name)
		}
	default:
		return invalidf("toolConfig.functionCallingConfig.mode: unknown mode %q", fc.Mode)
	}
	if len(fc.AllowedFunctionNames) > 0 && strings.ToUpper(fc.Mode) != ModeAny {
		return invalidf("toolConfig.functionCallingConfig.allowedFunctionNames: only allowed with mode ANY")
	}
	return nil
}

func generationConfigToLLM(g *ClientGenerationConfig, out *llm.Request, r *ClientRequest) error {
	if g == nil {
		return nil
	}
	out.MaxTokens, out.Temperature, out.TopP, out.Stop = g.MaxOutputTokens, g.Temperature, g.TopP, g.StopSequences
	if g.MaxOutputTokens < 0 {
		return invalidf("generationConfig.maxOutputTokens: must not be negative")
	}
	if g.TopK != nil {
		k := int(*g.TopK)
		out.TopK = &k
	}
	out.Seed = g.Seed
	out.N = g.CandidateCount
	mime := strings.ToLower(strings.TrimSpace(g.ResponseMIMEType))
	hasSchema := len(g.ResponseJSONSchema) > 0 && !isNull(g.ResponseJSONSchema) || len(g.ResponseSchema) > 0 && !isNull(g.ResponseSchema)
	switch mime {
	case "", "text/plain":
		if hasSchema {
			return invalidf("generationConfig: a response schema needs responseMimeType \"application/json\"")
		}
	case "application/json":
		out.Format = &llm.ResponseFormat{Kind: llm.FormatJSONObject}
		switch {
		case len(g.ResponseJSONSchema) > 0 && !isNull(g.ResponseJSONSchema):
			out.Format = &llm.ResponseFormat{Kind: llm.FormatJSONSchema, Name: "response", Schema: g.ResponseJSONSchema}
		case len(g.ResponseSchema) > 0 && !isNull(g.ResponseSchema):
			s, err := SchemaToJSONSchema(g.ResponseSchema)
			if err != nil {
				return invalidf("generationConfig.responseSchema: %v", err)
			}
			out.Format = &llm.ResponseFormat{Kind: llm.FormatJSONSchema, Name: "response", Schema: s}
		}
	default:
		// text/x.enum and others: only a Gemini channel can honour them.
		if r.Unknown == nil {
			r.Unknown = map[string]json.RawMessage{}
		}
		r.Unknown["generationConfig.responseMimeType"], _ = json.Marshal(g.ResponseMIMEType)
	}
	if tc := g.ThinkingConfig; tc != nil {
		switch {
		case tc.ThinkingLevel != "":
			out.Reasoning = &llm.Reasoning{Effort: strings.ToLower(tc.ThinkingLevel)}
		case tc.ThinkingBudget == nil || *tc.ThinkingBudget < 0:
			// Dynamic thinking is the model's default.
		case *tc.ThinkingBudget == 0:
			out.Reasoning = &llm.Reasoning{Effort: "none"}
		default:
			out.Reasoning = &llm.Reasoning{BudgetTokens: *tc.ThinkingBudget}
		}
	}
	return nil
}

// maxSchemaDepth bounds the nesting of a schema the converter follows.
const maxSchemaDepth = 64

// SchemaToJSONSchema converts a Gemini Schema (an OpenAPI 3.0 subset:
// upper-case type names, nullable, propertyOrdering) to JSON Schema.
func SchemaToJSONSchema(raw json.RawMessage) (json.RawMessage, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	out, err := convertSchema(v, 0)
	if err != nil {
		return nil, err
	}
	return json.Marshal(out)
}

func convertSchema(v any, depth int) (any, error) {
	if depth > maxSchemaDepth {
		return nil, fmt.Errorf("nested deeper than %d levels", maxSchemaDepth)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("a schema must be a JSON object")
	}
	out := make(map[string]any, len(m))
	nullable := false
	for k, e := range m {
		var err error
		switch k {
		case "type":
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("type: want a string")
			}
			s = strings.ToLower(s)
			if s == "type_unspecified" {
				continue
			}
			out[k] = s
		case "nullable":
			nullable, _ = e.(bool)
		case "propertyOrdering":
			// Gemini's output order hint has no JSON Schema counterpart.
		case "properties":
			props, ok := e.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("properties: want an object")
			}
			conv := make(map[string]any, len(props))
			for name, p := range props {
				if conv[name], err = convertSchema(p, depth+1); err != nil {
					return nil, fmt.Errorf("properties.%s: %w", name, err)
				}
			}
			out[k] = conv
		case "items":
			if out[k], err = convertSchema(e, depth+1); err != nil {
				return nil, fmt.Errorf("items: %w", err)
			}
		case "anyOf":
			list, ok := e.([]any)
			if !ok {
				return nil, fmt.Errorf("anyOf: want an array")
			}
			conv := make([]any, len(list))
			for i, s := range list {
				if conv[i], err = convertSchema(s, depth+1); err != nil {
					return nil, fmt.Errorf("anyOf[%d]: %w", i, err)
				}
			}
			out[k] = conv
		case "minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties":
			// OpenAPI's int64 fields arrive as strings from some clients.
			if s, ok := e.(string); ok {
				n, perr := strconv.ParseInt(s, 10, 64)
				if perr != nil {
					return nil, fmt.Errorf("%s: want an integer", k)
				}
				e = n
			}
			out[k] = e
		default:
			out[k] = e
		}
	}
	if t, ok := out["type"].(string); ok && nullable {
		out["type"] = []any{t, "null"}
	}
	return out, nil
}

// CountTokensRequest is the body of :countTokens: contents, or a whole
// generateContentRequest.
type CountTokensRequest struct {
	Contents               []Content       `json:"contents,omitempty"`
	GenerateContentRequest json.RawMessage `json:"generateContentRequest,omitempty"`
}

// CountTokensResponse is the answer of :countTokens.
type CountTokensResponse struct {
	TotalTokens int `json:"totalTokens"`
}

// EmbedContentResponse is the answer of :embedContent.
type EmbedContentResponse struct {
	Embedding ContentEmbedding `json:"embedding"`
}

// ClientEmbedRequest is one embedContent request as a client sends it.
// TaskType and Title are Gemini's retrieval hints, which no other channel
// takes and the gateway's embedding path does not carry.
type ClientEmbedRequest struct {
	Model                string  `json:"model,omitempty"`
	Content              Content `json:"content"`
	OutputDimensionality int     `json:"outputDimensionality,omitempty"`
	TaskType             string  `json:"taskType,omitempty"`
	Title                string  `json:"title,omitempty"`
}

// ClientBatchEmbedRequest is the body of :batchEmbedContents.
type ClientBatchEmbedRequest struct {
	Requests []ClientEmbedRequest `json:"requests"`
}

// EmbedText reads an embedContent request's text: its text parts joined
// by a newline.
func (e *ClientEmbedRequest) EmbedText(at string) (string, error) {
	var texts []string
	for i, p := range e.Content.Parts {
		if p.Text == "" {
			if p.InlineData != nil || p.FileData != nil || p.FunctionCall != nil || p.FunctionResponse != nil {
				return "", unsupportedf("%s.content.parts[%d]: only text is embedded", at, i)
			}
			continue
		}
		texts = append(texts, p.Text)
	}
	if len(texts) == 0 {
		return "", invalidf("%s.content: no text to embed", at)
	}
	if e.TaskType != "" || e.Title != "" {
		return "", unsupportedf("%s: taskType and title are not carried by the gateway's embeddings", at)
	}
	return strings.Join(texts, "\n"), nil
}

// DecodeCountTokensRequest decodes a countTokens body.
func DecodeCountTokensRequest(body []byte) (*CountTokensRequest, error) {
	var r CountTokensRequest
	if err := decodeKnown(body, &r, countTokensShape); err != nil {
		return nil, err
	}
	return &r, nil
}

// DecodeEmbedRequests decodes an embedContent body (one request) or a
// batchEmbedContents body.
func DecodeEmbedRequests(body []byte, batch bool) ([]ClientEmbedRequest, error) {
	if batch {
		var b ClientBatchEmbedRequest
		if err := decodeKnown(body, &b, batchEmbedShape); err != nil {
			return nil, err
		}
		return b.Requests, nil
	}
	var e ClientEmbedRequest
	if err := decodeKnown(body, &e, embedShape); err != nil {
		return nil, err
	}
	return []ClientEmbedRequest{e}, nil
}

var (
	countTokensShape = shape{"contents": contentShape, "generateContentRequest": nil}
	embedShape       = shape{"model": nil, "content": contentShape, "outputDimensionality": nil, "taskType": nil, "title": nil}
	batchEmbedShape  = shape{"requests": embedShape}
)

// decodeKnown decodes a JSON object into v, refusing every member s does
// not list, by path: these small bodies are translated whole and carry
// nothing else.
func decodeKnown(body []byte, v any, s shape) error {
	var tree any
	if err := json.Unmarshal(body, &tree); err != nil {
		return invalidPayload(err)
	}
	if _, ok := tree.(map[string]any); !ok {
		return fmt.Errorf("%w: invalid JSON payload: the body must be a JSON object", llm.ErrInvalid)
	}
	unknown := map[string]json.RawMessage{}
	unknownMembers("", tree, s, unknown)
	if len(unknown) > 0 {
		return unsupportedf("members the gateway cannot carry: %s", strings.Join(slices.Sorted(maps.Keys(unknown)), ", "))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return invalidPayload(err)
	}
	return nil
}
