package api

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
	"switchyard/internal/store"
)

// This file holds the OpenAI Responses and Conversations wire formats: the
// strict decoding of requests into the runtime's provider-neutral items
// and the canonical request, and the rendering of stored responses, items
// and conversations. Shapes follow the openai-go SDK (responses/response.go,
// conversations/); PROTOCOLS.md §2.2 lists them.

// jsonObject reads the members of one JSON object, remembering the first
// problem with its path, so a decoder reads straight through and checks
// once. Absent members and nulls read as zero values.
type jsonObject struct {
	path string
	m    map[string]json.RawMessage
	err  error
}

// readObject decodes raw as an object whose members must all be in
// allowed; an unknown member is unsupported, a non-object invalid.
func readObject(raw json.RawMessage, path string, allowed ...string) (*jsonObject, error) {
	o := &jsonObject{path: path}
	if kind := jsonKindOf(raw); kind != "an object" {
		return nil, invalidParam(path, "%s: expected an object, got %s", orTop(path), kind)
	}
	if err := json.Unmarshal(raw, &o.m); err != nil {
		return nil, invalidParam(path, "%s: invalid JSON: %v", orTop(path), err)
	}
	for _, k := range slices.Sorted(maps.Keys(o.m)) {
		if !slices.Contains(allowed, k) {
			return nil, unsupportedParam(join(path, k), "%s: unknown or unsupported parameter", join(path, k))
		}
	}
	return o, nil
}

func orTop(path string) string {
	if path == "" {
		return "body"
	}
	return path
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// get returns a member, or nil when it is absent or null.
func (o *jsonObject) get(key string) json.RawMessage {
	v := o.m[key]
	if jsonKindOf(v) == "null" {
		return nil
	}
	return v
}

// decode unmarshals a present member into dst, which must be a pointer.
func (o *jsonObject) decode(key string, dst any, want string) bool {
	v := o.get(key)
	if v == nil || o.err != nil {
		return false
	}
	if err := json.Unmarshal(v, dst); err != nil {
		o.err = invalidParam(join(o.path, key), "%s: expected %s, got %s", join(o.path, key), want, jsonKindOf(v))
		return false
	}
	return true
}

func (o *jsonObject) str(key string) string {
	var s string
	o.decode(key, &s, "a string")
	return s
}

func (o *jsonObject) boolean(key string) *bool {
	var b bool
	if o.decode(key, &b, "a boolean") {
		return &b
	}
	return nil
}

func (o *jsonObject) integer(key string) *int {
	var n int
	if o.decode(key, &n, "an integer") {
		return &n
	}
	return nil
}

func (o *jsonObject) number(key string) *float64 {
	var f float64
	if o.decode(key, &f, "a number") {
		return &f
	}
	return nil
}

func (o *jsonObject) fail(err error) {
	if o.err == nil {
		o.err = err
	}
}

func jsonKindOf(raw json.RawMessage) string {
	b := bytes.TrimLeft(raw, " \t\r\n")
	if len(b) == 0 {
		return "nothing"
	}
	switch c := b[0]; {
	case c == 'n':
		return "null"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == '"':
		return "a string"
	case c == '[':
		return "an array"
	case c == '{':
		return "an object"
	}
	return "a number"
}

func invalidParam(param, format string, args ...any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Type: typeInvalid, Param: param, Message: fmt.Sprintf(format, args...), Err: llm.ErrInvalid}
}

func unsupportedParam(param, format string, args ...any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Type: typeInvalid, Param: param, Code: "unsupported_parameter",
		Message: fmt.Sprintf(format, args...), Err: llm.ErrUnsupported}
}

// responsesRequest is a decoded POST /v1/responses body.
type responsesRequest struct {
	Model              string
	Input              []store.Item
	Instructions       string
	PreviousResponseID string
	ConversationID     string
	Store              bool
	Stream             bool
	Metadata           map[string]string
	// EncryptedReasoning asks for reasoning items' encrypted_content.
	EncryptedReasoning bool
	// Base is the canonical request without system text and messages.
	Base llm.Request
	// Settings is what the response object echoes.
	Settings responseSettings
}

// responseSettings are the request settings a response object echoes,
// stored with the response as its settings JSON.
type responseSettings struct {
	Instructions      *string         `json:"instructions"`
	MaxOutputTokens   *int            `json:"max_output_tokens"`
	MaxToolCalls      *int            `json:"max_tool_calls"`
	ParallelToolCalls bool            `json:"parallel_tool_calls"`
	Reasoning         reasoningEcho   `json:"reasoning"`
	ServiceTier       string          `json:"service_tier"`
	Store             bool            `json:"store"`
	Temperature       float64         `json:"temperature"`
	Text              textEcho        `json:"text"`
	ToolChoice        json.RawMessage `json:"tool_choice"`
	Tools             []functionTool  `json:"tools"`
	TopP              float64         `json:"top_p"`
	Truncation        string          `json:"truncation"`
	User              *string         `json:"user"`
	SafetyIdentifier  *string         `json:"safety_identifier"`
	// Include lists the include[] values the response was created with,
	// which also apply when it is read back.
	Include []string `json:"include,omitempty"`
}

type reasoningEcho struct {
	Effort  *string `json:"effort"`
	Summary *string `json:"summary"`
}

type textEcho struct {
	Format json.RawMessage `json:"format"`
}

// functionTool is a function tool, flat as the Responses API has it.
type functionTool struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	Description *string         `json:"description"`
	Parameters  json.RawMessage `json:"parameters"`
	Strict      bool            `json:"strict"`
}

// Top-level members of a Responses request the gateway reads.
var responsesMembers = []string{
	"model", "input", "instructions", "previous_response_id", "conversation", "store", "stream", "stream_options",
	"tools", "tool_choice", "parallel_tool_calls", "max_output_tokens", "max_tool_calls", "temperature", "top_p",
	"text", "reasoning", "metadata", "include", "user", "safety_identifier", "truncation", "background",
	"service_tier", "top_logprobs",
}

const includeEncryptedReasoning = "reasoning.encrypted_content"

// decodeResponsesRequest decodes and checks a Responses request. Every
// member the gateway cannot honour on every channel is refused with an
// error naming it, never dropped.
func decodeResponsesRequest(body []byte) (*responsesRequest, error) {
	o, err := readObject(body, "", responsesMembers...)
	if err != nil {
		return nil, err
	}
	r := &responsesRequest{Store: true}
	r.Model = o.str("model")
	if r.Model == "" && o.err == nil {
		return nil, invalidParam("model", "you must provide a model parameter")
	}
	if s := o.boolean("store"); s != nil {
		r.Store = *s
	}
	if s := o.boolean("stream"); s != nil {
		r.Stream = *s
	}
	if v := o.get("stream_options"); v != nil {
		so, err := readObject(v, "stream_options", "include_obfuscation")
		if err != nil {
			return nil, err
		}
		// The gateway never pads its events, so either value is honoured.
		so.boolean("include_obfuscation")
		o.fail(so.err)
	}
	r.PreviousResponseID = o.str("previous_response_id")
	r.ConversationID = decodeConversationRef(o)
	if v := o.get("instructions"); v != nil {
		var s string
		if json.Unmarshal(v, &s) != nil {
			return nil, unsupportedParam("instructions", "instructions: only a string is supported")
		}
		r.Instructions = s
		r.Settings.Instructions = &s
	}
	r.Input = decodeInput(o)
	r.Metadata = decodeMetadata(o, "metadata")
	decodeSampling(o, r)
	decodeTools(o, r)
	decodeText(o, r)
	decodeReasoning(o, r)
	decodeInclude(o, r)
	decodeRefusedOptions(o, r)
	if o.err != nil {
		return nil, o.err
	}
	r.Settings.Store = r.Store
	return r, nil
}

func decodeConversationRef(o *jsonObject) string {
	v := o.get("conversation")
	if v == nil {
		return ""
	}
	if jsonKindOf(v) == "a string" {
		return o.str("conversation")
	}
	c, err := readObject(v, "conversation", "id")
	if err != nil {
		o.fail(err)
		return ""
	}
	id := c.str("id")
	o.fail(c.err)
	if id == "" {
		o.fail(invalidParam("conversation.id", "conversation.id: required"))
	}
	return id
}

// Metadata limits of the OpenAI API.
const (
	maxMetadataKeys  = 16
	maxMetadataKey   = 64
	maxMetadataValue = 512
)

func decodeMetadata(o *jsonObject, key string) map[string]string {
	var m map[string]string
	if !o.decode(key, &m, "an object of strings") {
		return nil
	}
	if len(m) > maxMetadataKeys {
		o.fail(invalidParam(key, "%s: at most %d keys are allowed, got %d", key, maxMetadataKeys, len(m)))
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if len(k) > maxMetadataKey || len(m[k]) > maxMetadataValue {
			o.fail(invalidParam(key, "%s: keys are at most %d characters and values at most %d (%q)", key, maxMetadataKey, maxMetadataValue, k))
		}
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

func decodeSampling(o *jsonObject, r *responsesRequest) {
	b, s := &r.Base, &r.Settings
	s.Temperature, s.TopP, s.ParallelToolCalls = 1, 1, true
	if t := o.number("temperature"); t != nil {
		if *t < 0 || *t > 2 {
			o.fail(invalidParam("temperature", "temperature: must be between 0 and 2"))
		}
		b.Temperature, s.Temperature = t, *t
	}
	if p := o.number("top_p"); p != nil {
		if *p < 0 || *p > 1 {
			o.fail(invalidParam("top_p", "top_p: must be between 0 and 1"))
		}
		b.TopP, s.TopP = p, *p
	}
	if n := o.integer("max_output_tokens"); n != nil {
		if *n < 1 {
			o.fail(invalidParam("max_output_tokens", "max_output_tokens: must be at least 1"))
		}
		b.MaxTokens, s.MaxOutputTokens = *n, n
	}
	// max_tool_calls bounds built-in tool calls; a request with only
	// function tools has none, so any bound holds.
	if n := o.integer("max_tool_calls"); n != nil {
		if *n < 0 {
			o.fail(invalidParam("max_tool_calls", "max_tool_calls: must not be negative"))
		}
		s.MaxToolCalls = n
	}
	if p := o.boolean("parallel_tool_calls"); p != nil {
		b.ParallelToolCalls, s.ParallelToolCalls = p, *p
	}
	user := o.str("user")
	if user != "" {
		b.User, s.User = user, &user
	}
	if id := o.str("safety_identifier"); id != "" {
		b.User, s.SafetyIdentifier = id, &id
	}
}

func decodeTools(o *jsonObject, r *responsesRequest) {
	var raws []json.RawMessage
	o.decode("tools", &raws, "an array")
	r.Settings.Tools = []functionTool{}
	for i, raw := range raws {
		p := index("tools", i)
		var head struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(raw, &head) == nil && head.Type != "function" && head.Type != "" {
			o.fail(unsupportedParam(p+".type", "%s.type: %q tools are not supported; only function tools are", p, head.Type))
			return
		}
		t, err := readObject(raw, p, "type", "name", "description", "parameters", "strict")
		if err != nil {
			o.fail(err)
			return
		}
		if t.str("type") == "" && t.err == nil {
			t.fail(invalidParam(p+".type", "%s.type: required", p))
		}
		ft := functionTool{Type: "function", Name: t.str("name"), Strict: true}
		if ft.Name == "" && t.err == nil {
			t.fail(invalidParam(p+".name", "%s.name: required", p))
		}
		if d := t.str("description"); d != "" {
			ft.Description = &d
		}
		if v := t.get("parameters"); v != nil {
			if jsonKindOf(v) != "an object" {
				t.fail(invalidParam(p+".parameters", "%s.parameters: must be a JSON Schema object", p))
			}
			ft.Parameters = v
		}
		// Strict is the Responses API's default for function tools.
		if s := t.boolean("strict"); s != nil {
			ft.Strict = *s
		}
		o.fail(t.err)
		tool := llm.Tool{Name: ft.Name, Parameters: ft.Parameters, Strict: ft.Strict}
		if ft.Description != nil {
			tool.Description = *ft.Description
		}
		r.Base.Tools = append(r.Base.Tools, tool)
		r.Settings.Tools = append(r.Settings.Tools, ft)
	}
	r.Settings.ToolChoice = json.RawMessage(`"auto"`)
	v := o.get("tool_choice")
	if v == nil {
		return
	}
	r.Settings.ToolChoice = v
	if jsonKindOf(v) == "a string" {
		switch mode := o.str("tool_choice"); mode {
		case "auto":
		case "none":
			r.Base.ToolChoice = llm.ToolChoice{Mode: llm.ToolChoiceNone}
		case "required":
			r.Base.ToolChoice = llm.ToolChoice{Mode: llm.ToolChoiceRequired}
		default:
			o.fail(invalidParam("tool_choice", "tool_choice: %q is not one of auto, none, required", mode))
		}
		return
	}
	tc, err := readObject(v, "tool_choice", "type", "name")
	if err != nil {
		o.fail(err)
		return
	}
	typ, name := tc.str("type"), tc.str("name")
	o.fail(tc.err)
	if typ != "function" {
		o.fail(unsupportedParam("tool_choice.type", "tool_choice.type: %q is not supported; use auto, none, required or a function", typ))
		return
	}
	if !slices.ContainsFunc(r.Base.Tools, func(t llm.Tool) bool { return t.Name == name }) {
		o.fail(invalidParam("tool_choice.name", "tool_choice.name: no function tool is named %q", name))
	}
	r.Base.ToolChoice = llm.ToolChoice{Mode: llm.ToolChoiceTool, Name: name}
}

func decodeText(o *jsonObject, r *responsesRequest) {
	r.Settings.Text.Format = json.RawMessage(`{"type":"text"}`)
	v := o.get("text")
	if v == nil {
		return
	}
	t, err := readObject(v, "text", "format", "verbosity")
	if err != nil {
		o.fail(err)
		return
	}
	if vb := t.str("verbosity"); vb != "" && vb != "medium" {
		o.fail(unsupportedParam("text.verbosity", "text.verbosity: %q is not supported on every channel; leave it unset", vb))
	}
	o.fail(t.err)
	fv := t.get("format")
	if fv == nil {
		return
	}
	f, err := readObject(fv, "text.format", "type", "name", "schema", "description", "strict")
	if err != nil {
		o.fail(err)
		return
	}
	switch typ := f.str("type"); typ {
	case "text":
		r.Base.Format = &llm.ResponseFormat{Kind: llm.FormatText}
	case "json_object":
		r.Base.Format = &llm.ResponseFormat{Kind: llm.FormatJSONObject}
	case "json_schema":
		rf := &llm.ResponseFormat{Kind: llm.FormatJSONSchema, Name: f.str("name"), Schema: f.get("schema")}
		if s := f.boolean("strict"); s != nil {
			rf.Strict = *s
		}
		switch {
		case rf.Name == "":
			f.fail(invalidParam("text.format.name", "text.format.name: required for json_schema"))
		case rf.Schema == nil || jsonKindOf(rf.Schema) != "an object":
			f.fail(invalidParam("text.format.schema", "text.format.schema: must be a JSON Schema object"))
		case f.str("description") != "":
			f.fail(unsupportedParam("text.format.description", "text.format.description: schema descriptions are not supported"))
		}
		r.Base.Format = rf
	case "":
		f.fail(invalidParam("text.format.type", "text.format.type: required"))
	default:
		f.fail(unsupportedParam("text.format.type", "text.format.type: %q is not supported", typ))
	}
	o.fail(f.err)
	r.Settings.Text.Format = fv
}

func decodeReasoning(o *jsonObject, r *responsesRequest) {
	v := o.get("reasoning")
	if v == nil {
		return
	}
	rs, err := readObject(v, "reasoning", "effort", "summary", "generate_summary")
	if err != nil {
		o.fail(err)
		return
	}
	if s := rs.str("summary"); s != "" {
		rs.fail(unsupportedParam("reasoning.summary", "reasoning.summary: reasoning summaries are not supported"))
	}
	if s := rs.str("generate_summary"); s != "" {
		rs.fail(unsupportedParam("reasoning.generate_summary", "reasoning.generate_summary: reasoning summaries are not supported"))
	}
	if e := rs.str("effort"); e != "" {
		r.Base.Reasoning = &llm.Reasoning{Effort: e}
		r.Settings.Reasoning.Effort = &e
	}
	o.fail(rs.err)
}

func decodeInclude(o *jsonObject, r *responsesRequest) {
	var include []string
	o.decode("include", &include, "an array of strings")
	for i, inc := range include {
		switch inc {
		case includeEncryptedReasoning:
			r.EncryptedReasoning = true
		case "message.input_image.image_url":
			// Input image URLs are always returned.
		default:
			o.fail(unsupportedParam(index("include", i), "include[%d]: %q is not supported", i, inc))
		}
	}
	r.Settings.Include = include
}

// decodeRefusedOptions checks the members that have one value the gateway
// can honour (their default) and are refused otherwise.
func decodeRefusedOptions(o *jsonObject, r *responsesRequest) {
	r.Settings.Truncation = "disabled"
	switch t := o.str("truncation"); t {
	case "", "disabled":
	default:
		o.fail(unsupportedParam("truncation", "truncation: %q is not supported; the whole history is sent", t))
	}
	if b := o.boolean("background"); b != nil && *b {
		o.fail(unsupportedParam("background", "background: background responses are not supported"))
	}
	r.Settings.ServiceTier = "default"
	switch t := o.str("service_tier"); t {
	case "", "auto", "default":
	default:
		o.fail(unsupportedParam("service_tier", "service_tier: %q is not supported", t))
	}
	if n := o.integer("top_logprobs"); n != nil && *n > 0 {
		o.fail(unsupportedParam("top_logprobs", "top_logprobs: log probabilities are not supported"))
	}
}

// decodeInput reads input: a string (one user message) or a list of
// items.
func decodeInput(o *jsonObject) []store.Item {
	v := o.get("input")
	if v == nil {
		return nil
	}
	if jsonKindOf(v) == "a string" {
		return []store.Item{textMessage("user", o.str("input"))}
	}
	var raws []json.RawMessage
	if !o.decode("input", &raws, "a string or an array of items") {
		return nil
	}
	items, err := decodeItems(raws, "input")
	o.fail(err)
	return items
}

// decodeItems reads input items (of a response or for a conversation).
func decodeItems(raws []json.RawMessage, path string) ([]store.Item, error) {
	items := make([]store.Item, 0, len(raws))
	for i, raw := range raws {
		it, err := decodeItem(raw, index(path, i))
		if err != nil {
			return nil, err
		}
		items = append(items, it)
	}
	return items, nil
}

func textMessage(role, text string) store.Item {
	typ := store.ContentInputText
	if role == "assistant" {
		typ = store.ContentOutputText
	}
	return store.Item{Type: store.ItemMessage, Status: store.ResponseCompleted, Role: role, Content: []store.Content{{Type: typ, Text: text}}}
}

func decodeItem(raw json.RawMessage, p string) (store.Item, error) {
	var head struct {
		Type string `json:"type"`
		Role string `json:"role"`
	}
	if jsonKindOf(raw) != "an object" || json.Unmarshal(raw, &head) != nil {
		return store.Item{}, invalidParam(p, "%s: expected an item object", p)
	}
	if head.Type == "" && head.Role != "" {
		head.Type = store.ItemMessage
	}
	var (
		o   *jsonObject
		err error
		it  = store.Item{Type: head.Type}
	)
	switch head.Type {
	case store.ItemMessage:
		if o, err = readObject(raw, p, "type", "id", "status", "role", "content"); err != nil {
			return it, err
		}
		it.Role = o.str("role")
		switch it.Role {
		case "user", "assistant", "system", "developer":
		case "":
			return it, invalidParam(p+".role", "%s.role: required", p)
		default:
			return it, invalidParam(p+".role", "%s.role: %q is not one of user, assistant, system, developer", p, it.Role)
		}
		it.Content, err = decodeMessageContent(o.get("content"), p+".content", it.Role)
		if err != nil {
			return it, err
		}
	case store.ItemFunctionCall:
		if o, err = readObject(raw, p, "type", "id", "status", "call_id", "name", "arguments"); err != nil {
			return it, err
		}
		it.CallID, it.Name, it.Arguments = o.str("call_id"), o.str("name"), o.str("arguments")
		if o.err == nil && (it.CallID == "" || it.Name == "") {
			return it, invalidParam(p, "%s: call_id and name are required", p)
		}
	case store.ItemFunctionCallOutput:
		if o, err = readObject(raw, p, "type", "id", "status", "call_id", "output"); err != nil {
			return it, err
		}
		if it.CallID = o.str("call_id"); it.CallID == "" && o.err == nil {
			return it, invalidParam(p+".call_id", "%s.call_id: required", p)
		}
		out := o.get("output")
		switch jsonKindOf(out) {
		case "a string":
			it.Output = o.str("output")
		case "an array":
			var parts []json.RawMessage
			o.decode("output", &parts, "a string or an array of content parts")
			for j, pr := range parts {
				c, err := decodeContent(pr, index(p+".output", j), "user")
				if err != nil {
					return it, err
				}
				it.OutputParts = append(it.OutputParts, c)
			}
		default:
			return it, invalidParam(p+".output", "%s.output: expected a string or an array of content parts", p)
		}
	case store.ItemReasoning:
		if o, err = readObject(raw, p, "type", "id", "status", "summary", "content", "encrypted_content"); err != nil {
			return it, err
		}
		if err := decodeReasoningItem(o, p, &it); err != nil {
			return it, err
		}
	case "item_reference":
		return it, unsupportedParam(p+".type", "%s: item references are not supported; send the item itself", p)
	case "":
		return it, invalidParam(p+".type", "%s.type: required", p)
	default:
		return it, unsupportedParam(p+".type", "%s.type: %q items are not supported", p, head.Type)
	}
	it.ID = o.str("id")
	it.Status = o.str("status")
	switch it.Status {
	case "":
		it.Status = store.ResponseCompleted
	case store.ResponseCompleted, store.ResponseIncomplete, "in_progress":
	default:
		o.fail(invalidParam(p+".status", "%s.status: %q is not one of in_progress, completed, incomplete", p, it.Status))
	}
	return it, o.err
}

func decodeMessageContent(v json.RawMessage, p, role string) ([]store.Content, error) {
	switch jsonKindOf(v) {
	case "a string":
		var s string
		_ = json.Unmarshal(v, &s)
		return textMessage(role, s).Content, nil
	case "an array":
	default:
		return nil, invalidParam(p, "%s: expected a string or an array of content parts", p)
	}
	var parts []json.RawMessage
	if err := json.Unmarshal(v, &parts); err != nil {
		return nil, invalidParam(p, "%s: invalid JSON: %v", p, err)
	}
	out := make([]store.Content, 0, len(parts))
	for j, raw := range parts {
		c, err := decodeContent(raw, index(p, j), role)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// decodeContent reads one content part. Assistant text may come as
// input_text or output_text and is kept as output_text; a refusal is the
// assistant's own words.
func decodeContent(raw json.RawMessage, p, role string) (store.Content, error) {
	var head struct {
		Type string `json:"type"`
	}
	if jsonKindOf(raw) != "an object" || json.Unmarshal(raw, &head) != nil {
		return store.Content{}, invalidParam(p, "%s: expected a content part object", p)
	}
	var (
		o   *jsonObject
		err error
		c   = store.Content{Type: head.Type}
	)
	switch head.Type {
	case store.ContentInputText, store.ContentOutputText:
		if o, err = readObject(raw, p, "type", "text", "annotations", "logprobs"); err != nil {
			return c, err
		}
		c.Text = o.str("text")
		var extra []json.RawMessage
		if o.decode("annotations", &extra, "an array") && len(extra) > 0 {
			return c, unsupportedParam(p+".annotations", "%s.annotations: annotations are not supported", p)
		}
		if o.decode("logprobs", &extra, "an array") && len(extra) > 0 {
			return c, unsupportedParam(p+".logprobs", "%s.logprobs: log probabilities are not supported", p)
		}
		switch {
		case role == "assistant":
			c.Type = store.ContentOutputText
		case head.Type == store.ContentOutputText:
			return c, invalidParam(p+".type", "%s.type: output_text is only allowed in assistant messages", p)
		}
	case store.ContentRefusal:
		if o, err = readObject(raw, p, "type", "refusal"); err != nil {
			return c, err
		}
		if role != "assistant" {
			return c, invalidParam(p+".type", "%s.type: refusal is only allowed in assistant messages", p)
		}
		c.Text = o.str("refusal")
	case store.ContentInputImage:
		if o, err = readObject(raw, p, "type", "image_url", "detail", "file_id"); err != nil {
			return c, err
		}
		if o.str("file_id") != "" {
			return c, unsupportedParam(p+".file_id", "%s.file_id: file inputs are not supported; send an image_url", p)
		}
		c.ImageURL, c.Detail = o.str("image_url"), o.str("detail")
		switch c.Detail {
		case "", "auto", "low", "high":
		default:
			o.fail(invalidParam(p+".detail", "%s.detail: %q is not one of auto, low, high", p, c.Detail))
		}
		if o.err == nil && c.ImageURL == "" {
			return c, invalidParam(p+".image_url", "%s.image_url: required", p)
		}
	case "input_file", "input_audio":
		return c, unsupportedParam(p+".type", "%s.type: %s parts are not supported", p, head.Type)
	case "":
		return c, invalidParam(p+".type", "%s.type: required", p)
	default:
		return c, unsupportedParam(p+".type", "%s.type: %q parts are not supported", p, head.Type)
	}
	return c, o.err
}

func decodeReasoningItem(o *jsonObject, p string, it *store.Item) error {
	var summary, content []json.RawMessage
	o.decode("summary", &summary, "an array")
	o.decode("content", &content, "an array")
	for j, raw := range summary {
		s, err := readObject(raw, index(p+".summary", j), "type", "text")
		if err != nil {
			return err
		}
		if t := s.str("type"); t != "summary_text" {
			return invalidParam(index(p+".summary", j)+".type", "%s.type: expected summary_text", index(p+".summary", j))
		}
		it.Summary = append(it.Summary, s.str("text"))
		o.fail(s.err)
	}
	for j, raw := range content {
		c, err := readObject(raw, index(p+".content", j), "type", "text")
		if err != nil {
			return err
		}
		if t := c.str("type"); t != store.ContentReasoningText {
			return invalidParam(index(p+".content", j)+".type", "%s.type: expected reasoning_text", index(p+".content", j))
		}
		it.Content = append(it.Content, store.Content{Type: store.ContentReasoningText, Text: c.str("text")})
		o.fail(c.err)
	}
	if enc := o.str("encrypted_content"); enc != "" {
		sig, red, ok := openReasoning(enc)
		if !ok {
			return invalidParam(p+".encrypted_content", "%s.encrypted_content: not produced by this gateway", p)
		}
		it.Signature, it.Redacted = sig, red
	}
	return nil
}

// Reasoning a channel signed or encrypted travels to the client as
// encrypted_content: a versioned, base64 JSON envelope of the signature and
// the redacted data, so that a client can send it back and the channel
// accepts its own reasoning again. The gateway does not encrypt it
// further: the channel's signature already protects it.
const reasoningEnvelopePrefix = "sy1."

type reasoningEnvelope struct {
	Signature string `json:"s,omitempty"`
	Redacted  string `json:"r,omitempty"`
}

func sealReasoning(it *store.Item) string {
	if it.Signature == "" && it.Redacted == "" {
		return ""
	}
	b, _ := json.Marshal(reasoningEnvelope{Signature: it.Signature, Redacted: it.Redacted})
	return reasoningEnvelopePrefix + base64.RawURLEncoding.EncodeToString(b)
}

func openReasoning(s string) (signature, redacted string, ok bool) {
	rest, found := strings.CutPrefix(s, reasoningEnvelopePrefix)
	if !found {
		return "", "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil {
		return "", "", false
	}
	var env reasoningEnvelope
	if json.Unmarshal(b, &env) != nil {
		return "", "", false
	}
	return env.Signature, env.Redacted, true
}

// Rendering.

// wireItem renders a stored item in the Responses API's shape.
type wireItem struct {
	it *store.Item
	// encrypted adds reasoning items' encrypted_content.
	encrypted bool
}

type wireText struct {
	Type        string     `json:"type"`
	Text        string     `json:"text"`
	Annotations []struct{} `json:"annotations"`
	Logprobs    []struct{} `json:"logprobs"`
}

type wireInputText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type wireRefusal struct {
	Type    string `json:"type"`
	Refusal string `json:"refusal"`
}

type wireImage struct {
	Type     string  `json:"type"`
	ImageURL string  `json:"image_url"`
	Detail   string  `json:"detail"`
	FileID   *string `json:"file_id"`
}

// wirePart renders one content part.
type wirePart struct{ c *store.Content }

func (w wirePart) MarshalJSON() ([]byte, error) {
	c := w.c
	switch c.Type {
	case store.ContentOutputText:
		return json.Marshal(wireText{Type: c.Type, Text: c.Text, Annotations: []struct{}{}, Logprobs: []struct{}{}})
	case store.ContentRefusal:
		return json.Marshal(wireRefusal{Type: c.Type, Refusal: c.Text})
	case store.ContentInputImage:
		detail := c.Detail
		if detail == "" {
			detail = "auto"
		}
		return json.Marshal(wireImage{Type: c.Type, ImageURL: c.ImageURL, Detail: detail})
	}
	return json.Marshal(wireInputText{Type: c.Type, Text: c.Text})
}

func wireParts(cs []store.Content) []wirePart {
	out := make([]wirePart, len(cs))
	for i := range cs {
		out[i] = wirePart{&cs[i]}
	}
	return out
}

func (w wireItem) MarshalJSON() ([]byte, error) {
	it := w.it
	switch it.Type {
	case store.ItemMessage:
		return json.Marshal(struct {
			Type    string     `json:"type"`
			ID      string     `json:"id"`
			Status  string     `json:"status"`
			Role    string     `json:"role"`
			Content []wirePart `json:"content"`
		}{it.Type, it.ID, it.Status, it.Role, wireParts(it.Content)})
	case store.ItemFunctionCall:
		return json.Marshal(struct {
			Type      string `json:"type"`
			ID        string `json:"id"`
			CallID    string `json:"call_id"`
			Name      string `json:"name"`
			Arguments string `json:"arguments"`
			Status    string `json:"status"`
		}{it.Type, it.ID, it.CallID, it.Name, it.Arguments, it.Status})
	case store.ItemFunctionCallOutput:
		var out any = it.Output
		if len(it.OutputParts) > 0 {
			out = wireParts(it.OutputParts)
		}
		return json.Marshal(struct {
			Type   string `json:"type"`
			ID     string `json:"id"`
			CallID string `json:"call_id"`
			Output any    `json:"output"`
			Status string `json:"status"`
		}{it.Type, it.ID, it.CallID, out, it.Status})
	case store.ItemReasoning:
		type text struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}
		summary := make([]text, len(it.Summary))
		for i, s := range it.Summary {
			summary[i] = text{"summary_text", s}
		}
		content := make([]text, len(it.Content))
		for i, c := range it.Content {
			content[i] = text{store.ContentReasoningText, c.Text}
		}
		var enc *string
		if w.encrypted {
			if s := sealReasoning(it); s != "" {
				enc = &s
			}
		}
		return json.Marshal(struct {
			Type             string  `json:"type"`
			ID               string  `json:"id"`
			Summary          []text  `json:"summary"`
			Content          []text  `json:"content"`
			EncryptedContent *string `json:"encrypted_content"`
			Status           string  `json:"status"`
		}{it.Type, it.ID, summary, content, enc, it.Status})
	}
	return nil, fmt.Errorf("rendering item %q: unknown type %q", it.ID, it.Type)
}

func wireItems(items []store.Item, encrypted bool) []wireItem {
	out := make([]wireItem, len(items))
	for i := range items {
		out[i] = wireItem{it: &items[i], encrypted: encrypted}
	}
	return out
}

// responseObject is a response as the Responses API renders it.
type responseObject struct {
	ID                 string             `json:"id"`
	Object             string             `json:"object"`
	CreatedAt          int64              `json:"created_at"`
	CompletedAt        *int64             `json:"completed_at"`
	Status             string             `json:"status"`
	Background         bool               `json:"background"`
	Error              *responseError     `json:"error"`
	IncompleteDetails  *incompleteDetails `json:"incomplete_details"`
	Model              string             `json:"model"`
	Output             []wireItem         `json:"output"`
	PreviousResponseID *string            `json:"previous_response_id"`
	Conversation       *conversationRef   `json:"conversation"`
	Usage              *responseUsage     `json:"usage"`
	Metadata           map[string]string  `json:"metadata"`
	responseSettings
}

type responseError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type incompleteDetails struct {
	Reason string `json:"reason"`
}

type conversationRef struct {
	ID string `json:"id"`
}

type responseUsage struct {
	InputTokens        int64 `json:"input_tokens"`
	InputTokensDetails struct {
		CachedTokens int64 `json:"cached_tokens"`
	} `json:"input_tokens_details"`
	OutputTokens        int64 `json:"output_tokens"`
	OutputTokensDetails struct {
		ReasoningTokens int64 `json:"reasoning_tokens"`
	} `json:"output_tokens_details"`
	TotalTokens int64 `json:"total_tokens"`
}

func usageOf(u store.ResponseUsage) *responseUsage {
	out := &responseUsage{InputTokens: u.InputTokens, OutputTokens: u.OutputTokens, TotalTokens: u.InputTokens + u.OutputTokens}
	out.InputTokensDetails.CachedTokens = u.CachedInputTokens
	out.OutputTokensDetails.ReasoningTokens = u.ReasoningTokens
	return out
}

// renderResponse renders a response (stored, or being built) with the
// settings it was created with.
func renderResponse(r *store.Response, settings *responseSettings) *responseObject {
	o := &responseObject{
		ID: r.ID, Object: "response", CreatedAt: r.CreatedAt.Unix(), Status: r.Status, Model: r.Model,
		Metadata: r.Metadata, responseSettings: *settings,
	}
	if o.Metadata == nil {
		o.Metadata = map[string]string{}
	}
	encrypted := slices.Contains(settings.Include, includeEncryptedReasoning)
	o.Output = wireItems(r.Output, encrypted)
	if r.CompletedAt != nil {
		t := r.CompletedAt.Unix()
		o.CompletedAt = &t
	}
	if r.PreviousResponseID != "" {
		o.PreviousResponseID = &r.PreviousResponseID
	}
	if r.ConversationID != "" {
		o.Conversation = &conversationRef{ID: r.ConversationID}
	}
	switch r.Status {
	case store.ResponseFailed:
		o.Error = &responseError{Code: r.ErrorCode, Message: r.ErrorMessage}
	case store.ResponseIncomplete:
		if r.IncompleteReason != "" {
			o.IncompleteDetails = &incompleteDetails{Reason: r.IncompleteReason}
		}
	}
	if r.Status != "in_progress" {
		o.Usage = usageOf(r.Usage)
	}
	return o
}

// storedSettings reads the settings stored with a response. Settings are
// written by this package, so a failure is a damaged row.
func storedSettings(r *store.Response) (*responseSettings, error) {
	s := &responseSettings{}
	if len(r.Settings) > 0 {
		if err := json.Unmarshal(r.Settings, s); err != nil {
			return nil, fmt.Errorf("decoding settings of response %q: %w", r.ID, err)
		}
	}
	if s.Tools == nil {
		s.Tools = []functionTool{}
	}
	return s, nil
}

// itemList is a page of items, as list endpoints render it.
type itemList struct {
	Object  string     `json:"object"`
	Data    []wireItem `json:"data"`
	FirstID *string    `json:"first_id"`
	LastID  *string    `json:"last_id"`
	HasMore bool       `json:"has_more"`
}

func renderItemList(items []store.Item, more, encrypted bool) itemList {
	l := itemList{Object: "list", Data: wireItems(items, encrypted), HasMore: more}
	if len(items) > 0 {
		l.FirstID, l.LastID = &items[0].ID, &items[len(items)-1].ID
	}
	return l
}

// conversationObject is a conversation as the Conversations API renders it.
type conversationObject struct {
	ID        string            `json:"id"`
	Object    string            `json:"object"`
	CreatedAt int64             `json:"created_at"`
	Metadata  map[string]string `json:"metadata"`
}

func renderConversation(c *store.Conversation) conversationObject {
	md := c.Metadata
	if md == nil {
		md = map[string]string{}
	}
	return conversationObject{ID: c.ID, Object: "conversation", CreatedAt: c.CreatedAt.Unix(), Metadata: md}
}

// listPage reads the paging query of a list endpoint: limit (1 to 100,
// default 20), order (asc or desc, default desc) and after.
func listPage(r *http.Request) (store.ItemPage, error) {
	q := r.URL.Query()
	page := store.ItemPage{Limit: 20, Descending: true, After: q.Get("after")}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return page, invalidParam("limit", "limit: must be an integer from 1 to 100")
		}
		page.Limit = n
	}
	switch o := q.Get("order"); o {
	case "", "desc":
	case "asc":
		page.Descending = false
	default:
		return page, invalidParam("order", "order: %q is not one of asc, desc", o)
	}
	return page, nil
}
