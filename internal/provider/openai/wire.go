// Package openai speaks the OpenAI Chat Completions and Embeddings wire
// format in both directions. Ingress: the gateway's OpenAI front door
// decodes client requests into the llm model and encodes answers and event
// streams back. Egress: canonical requests are translated for OpenAI and
// OpenAI-compatible upstreams (vLLM, Ollama, llama.cpp, SGLang), whose
// answers and event streams are read back into llm values. Client is the
// HTTP core that the OpenAI and the Azure OpenAI adapters share.
//
// The wire types below are hand-written and minimal: they declare what the
// gateway translates, keep everything else raw, and model JSON unions as
// structs with one OfX field per shape.
package openai

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
)

// ChatRequest is a Chat Completions request body. Members the gateway does
// not translate (logit_bias, service_tier, prediction, …) and members it
// does not know yet are kept verbatim in Extra, keyed by name, so nothing a
// client sends is lost.
type ChatRequest struct {
	Model               string            `json:"model"`
	Messages            []Message         `json:"messages"`
	Stream              bool              `json:"stream,omitempty"`
	StreamOptions       *StreamOptions    `json:"stream_options,omitempty"`
	Tools               []Tool            `json:"tools,omitempty"`
	ToolChoice          ToolChoice        `json:"tool_choice,omitzero"`
	ParallelToolCalls   *bool             `json:"parallel_tool_calls,omitempty"`
	MaxCompletionTokens *int              `json:"max_completion_tokens,omitempty"`
	MaxTokens           *int              `json:"max_tokens,omitempty"`
	Temperature         *float64          `json:"temperature,omitempty"`
	TopP                *float64          `json:"top_p,omitempty"`
	Stop                Stop              `json:"stop,omitzero"`
	N                   *int              `json:"n,omitempty"`
	Seed                *int64            `json:"seed,omitempty"`
	User                string            `json:"user,omitempty"`
	Metadata            map[string]string `json:"metadata,omitempty"`
	ResponseFormat      *ResponseFormat   `json:"response_format,omitempty"`
	ReasoningEffort     string            `json:"reasoning_effort,omitempty"`
	// Extra holds every other top-level member as raw JSON.
	Extra map[string]json.RawMessage `json:"-"`
	// Unknown holds the members nested deeper (in a message, part, tool,
	// ...) that no wire type declares, keyed by JSON path
	// ("messages[1].reasoning_content"). Only the client's own bytes carry
	// them (the fast path); MarshalJSON does not write them.
	Unknown map[string]json.RawMessage `json:"-"`
}

// MarshalJSON writes the declared members followed by Extra's, in key
// order. An Extra key that a declared member already writes is an error.
func (r ChatRequest) MarshalJSON() ([]byte, error) {
	type plain ChatRequest
	b, err := json.Marshal(plain(r))
	if err != nil {
		return nil, err
	}
	return appendExtra(b, reflect.TypeFor[ChatRequest](), r.Extra)
}

// keepExtra stores a member ChatRequest does not declare. Members the
// gateway knows to forward are type-checked here, so that a wrong type is
// reported against its name as for declared members.
func (r *ChatRequest) keepExtra(key string, raw json.RawMessage) error {
	if want, ok := passthroughKind(key); ok {
		if got := kindOf(raw); got != kindNull && got != want {
			return &kindError{want: want.String(), got: got}
		}
	}
	if r.Extra == nil {
		r.Extra = make(map[string]json.RawMessage)
	}
	r.Extra[key] = raw
	return nil
}

// passthroughKind returns the JSON kind of an OpenAI request member that
// the gateway forwards without translating, and whether key is one.
func passthroughKind(key string) (jsonKind, bool) {
	switch key {
	case "audio", "logit_bias", "moderation", "prediction", "web_search_options":
		return kindObject, true
	case "frequency_penalty", "presence_penalty", "top_logprobs":
		return kindNumber, true
	case "logprobs", "store":
		return kindBool, true
	case "modalities":
		return kindArray, true
	case "prompt_cache_key", "prompt_cache_retention", "safety_identifier", "service_tier", "verbosity":
		return kindString, true
	}
	return 0, false
}

// StreamOptions tunes a streamed answer.
type StreamOptions struct {
	IncludeUsage       bool  `json:"include_usage,omitempty"`
	IncludeObfuscation *bool `json:"include_obfuscation,omitempty"`
}

// Message is one entry of a request's messages. Which members are allowed
// depends on Role (system, developer, user, assistant, tool).
type Message struct {
	Role       string     `json:"role"`
	Content    Content    `json:"content,omitzero"`
	Name       string     `json:"name,omitempty"`
	ToolCalls  []ToolCall `json:"tool_calls,omitempty"`
	ToolCallID string     `json:"tool_call_id,omitempty"`
	Refusal    *string    `json:"refusal,omitempty"`
	// Audio and FunctionCall are declared so that they can be refused by
	// name: the gateway translates neither. Null, as an answer's message
	// carries them, is as good as absent.
	Audio        json.RawMessage `json:"audio,omitempty"`
	FunctionCall json.RawMessage `json:"function_call,omitempty"`
	// Annotations are the URL citations of an answer's message. SDK tool
	// loops send that message back unchanged, so they are accepted; they
	// describe the text rather than add to it, and translation drops them.
	Annotations []json.RawMessage `json:"annotations,omitempty"`
}

// Content is a message's content: a string or a list of parts. At most one
// field is set; neither means null.
type Content struct {
	OfString *string
	OfParts  []ContentPart
}

// TextContent returns s as a string content.
func TextContent(s string) Content { return Content{OfString: &s} }

// IsZero reports whether the content is null.
func (c Content) IsZero() bool { return c.OfString == nil && c.OfParts == nil }

// MarshalJSON writes the string, the parts or null.
func (c Content) MarshalJSON() ([]byte, error) {
	switch {
	case c.OfString != nil:
		return json.Marshal(*c.OfString)
	case c.OfParts != nil:
		return json.Marshal(c.OfParts)
	}
	return []byte("null"), nil
}

// UnmarshalJSON reads a string, a list of parts or null.
func (c *Content) UnmarshalJSON(b []byte) error {
	*c = Content{}
	return unmarshalUnion(c, b)
}

func (c *Content) shape(k jsonKind) any {
	switch k {
	case kindString:
		return &c.OfString
	case kindArray:
		return &c.OfParts
	}
	return nil
}

func (*Content) shapes() string { return "string or array" }

// ContentPart is one part of a message's content; Type says which of the
// other fields is set.
type ContentPart struct {
	Type     string    `json:"type"`
	Text     *string   `json:"text,omitempty"`
	ImageURL *ImageURL `json:"image_url,omitempty"`
	Refusal  *string   `json:"refusal,omitempty"`
	// InputAudio and File are declared so that they can be refused by
	// name: the gateway translates neither.
	InputAudio json.RawMessage `json:"input_audio,omitempty"`
	File       json.RawMessage `json:"file,omitempty"`
}

// ImageURL points at an image by http(s) URL or base64 data URL.
type ImageURL struct {
	URL    string `json:"url"`
	Detail string `json:"detail,omitempty"`
}

// ToolCall is a call the assistant made. In stream deltas Index says which
// call a fragment belongs to, and only the first fragment of a call
// carries its ID, Type and name.
type ToolCall struct {
	Index    *int          `json:"index,omitempty"`
	ID       string        `json:"id,omitempty"`
	Type     string        `json:"type,omitempty"`
	Function *FunctionCall `json:"function,omitempty"`
	// Custom is declared so that custom tool calls can be refused by name.
	Custom json.RawMessage `json:"custom,omitempty"`
}

// FunctionCall names the called function; Arguments is a JSON object as
// text (a fragment of it in stream deltas).
type FunctionCall struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

// Tool declares a tool the model may call.
type Tool struct {
	Type     string              `json:"type"`
	Function *FunctionDefinition `json:"function,omitempty"`
	// Custom is declared so that custom tools can be refused by name.
	Custom json.RawMessage `json:"custom,omitempty"`
}

// FunctionDefinition describes a function tool; Parameters is a JSON
// Schema object.
type FunctionDefinition struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// ToolChoice is "none", "auto", "required" (OfMode) or an object naming a
// tool (OfObject). Neither set means the member is absent.
type ToolChoice struct {
	OfMode   *string
	OfObject *ToolChoiceObject
}

// IsZero reports whether no tool choice is set.
func (c ToolChoice) IsZero() bool { return c.OfMode == nil && c.OfObject == nil }

// MarshalJSON writes the mode string or the object.
func (c ToolChoice) MarshalJSON() ([]byte, error) {
	switch {
	case c.OfMode != nil:
		return json.Marshal(*c.OfMode)
	case c.OfObject != nil:
		return json.Marshal(c.OfObject)
	}
	return []byte("null"), nil
}

// UnmarshalJSON reads a mode string, an object or null.
func (c *ToolChoice) UnmarshalJSON(b []byte) error {
	*c = ToolChoice{}
	return unmarshalUnion(c, b)
}

func (c *ToolChoice) shape(k jsonKind) any {
	switch k {
	case kindString:
		return &c.OfMode
	case kindObject:
		return &c.OfObject
	}
	return nil
}

func (*ToolChoice) shapes() string { return "string or object" }

// ToolChoiceObject is the object form of a tool choice. Type "function"
// with Function forces one function; the other forms are declared so that
// they can be refused by name.
type ToolChoiceObject struct {
	Type         string              `json:"type"`
	Function     *ToolChoiceFunction `json:"function,omitempty"`
	AllowedTools json.RawMessage     `json:"allowed_tools,omitempty"`
	Custom       json.RawMessage     `json:"custom,omitempty"`
}

// ToolChoiceFunction names the function a tool choice forces.
type ToolChoiceFunction struct {
	Name string `json:"name"`
}

// Stop is a request's stop sequences: one string or a list.
type Stop struct {
	OfString *string
	OfList   []string
}

// IsZero reports whether no stop sequence is set.
func (s Stop) IsZero() bool { return s.OfString == nil && s.OfList == nil }

// MarshalJSON writes the string or the list.
func (s Stop) MarshalJSON() ([]byte, error) {
	switch {
	case s.OfString != nil:
		return json.Marshal(*s.OfString)
	case s.OfList != nil:
		return json.Marshal(s.OfList)
	}
	return []byte("null"), nil
}

// UnmarshalJSON reads a string, a list of strings or null.
func (s *Stop) UnmarshalJSON(b []byte) error {
	*s = Stop{}
	return unmarshalUnion(s, b)
}

func (s *Stop) shape(k jsonKind) any {
	switch k {
	case kindString:
		return &s.OfString
	case kindArray:
		return &s.OfList
	}
	return nil
}

func (*Stop) shapes() string { return "string or array" }

// ResponseFormat asks for plain text, any JSON object, or JSON matching a
// schema.
type ResponseFormat struct {
	Type       string      `json:"type"`
	JSONSchema *JSONSchema `json:"json_schema,omitempty"`
}

// JSONSchema names the schema a json_schema response must match.
type JSONSchema struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Schema      json.RawMessage `json:"schema,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// ChatResponse is a non-streamed Chat Completions answer. Error is set
// when an upstream answered 200 with an error body.
type ChatResponse struct {
	ID                string    `json:"id"`
	Object            string    `json:"object"`
	Created           int64     `json:"created"`
	Model             string    `json:"model"`
	Choices           []Choice  `json:"choices"`
	Usage             *Usage    `json:"usage,omitempty"`
	ServiceTier       string    `json:"service_tier,omitempty"`
	SystemFingerprint string    `json:"system_fingerprint,omitempty"`
	Error             *APIError `json:"error,omitempty"`
}

// Choice is one answer of a ChatResponse.
type Choice struct {
	Index        int             `json:"index"`
	Message      ResponseMessage `json:"message"`
	Logprobs     json.RawMessage `json:"logprobs"`
	FinishReason string          `json:"finish_reason"`
}

// ResponseMessage is the assistant message of a Choice. Content is written
// as null when there is no text; Refusal is always written (null when
// unset) and Annotations when set, as OpenAI does.
type ResponseMessage struct {
	Role        string          `json:"role"`
	Content     Content         `json:"content"`
	Refusal     *string         `json:"refusal"`
	Annotations json.RawMessage `json:"annotations,omitempty"`
	ToolCalls   []ToolCall      `json:"tool_calls,omitempty"`
	// ReasoningContent and Reasoning carry reasoning text on servers that
	// expose it (vLLM, DeepSeek, Ollama, OpenRouter); OpenAI never does.
	// They are kept raw because servers disagree on their shape.
	ReasoningContent json.RawMessage `json:"reasoning_content,omitempty"`
	Reasoning        json.RawMessage `json:"reasoning,omitempty"`
	// Audio and FunctionCall are declared so that an answer carrying them
	// can be refused rather than passed on without them.
	Audio        json.RawMessage `json:"audio,omitempty"`
	FunctionCall json.RawMessage `json:"function_call,omitempty"`
}

// Usage counts the tokens of one call.
type Usage struct {
	PromptTokens            int64                    `json:"prompt_tokens"`
	CompletionTokens        int64                    `json:"completion_tokens"`
	TotalTokens             int64                    `json:"total_tokens"`
	PromptTokensDetails     *PromptTokensDetails     `json:"prompt_tokens_details,omitempty"`
	CompletionTokensDetails *CompletionTokensDetails `json:"completion_tokens_details,omitempty"`
}

// PromptTokensDetails breaks prompt tokens down.
type PromptTokensDetails struct {
	CachedTokens     int64 `json:"cached_tokens"`
	AudioTokens      int64 `json:"audio_tokens"`
	CacheWriteTokens int64 `json:"cache_write_tokens,omitempty"`
}

// CompletionTokensDetails breaks completion tokens down.
type CompletionTokensDetails struct {
	ReasoningTokens          int64 `json:"reasoning_tokens"`
	AudioTokens              int64 `json:"audio_tokens"`
	AcceptedPredictionTokens int64 `json:"accepted_prediction_tokens"`
	RejectedPredictionTokens int64 `json:"rejected_prediction_tokens"`
}

// ChatChunk is one data payload of a streamed answer. Error is set when
// the upstream reports a failure mid-stream.
type ChatChunk struct {
	ID                string        `json:"id"`
	Object            string        `json:"object"`
	Created           int64         `json:"created"`
	Model             string        `json:"model"`
	Choices           []ChunkChoice `json:"choices"`
	Usage             *Usage        `json:"usage,omitempty"`
	ServiceTier       string        `json:"service_tier,omitempty"`
	SystemFingerprint string        `json:"system_fingerprint,omitempty"`
	Error             *APIError     `json:"error,omitempty"`
}

// ChunkChoice is the change to one answer that a chunk carries. Azure
// sends content-filter results in choices without a delta.
type ChunkChoice struct {
	Index        int             `json:"index"`
	Delta        *Delta          `json:"delta,omitempty"`
	Logprobs     json.RawMessage `json:"logprobs"`
	FinishReason *string         `json:"finish_reason"`
}

// Delta is what a chunk appends to the assistant message.
type Delta struct {
	Role      string     `json:"role,omitempty"`
	Content   *string    `json:"content,omitempty"`
	Refusal   *string    `json:"refusal,omitempty"`
	ToolCalls []ToolCall `json:"tool_calls,omitempty"`
	// ReasoningContent and Reasoning: see ResponseMessage.
	ReasoningContent json.RawMessage `json:"reasoning_content,omitempty"`
	Reasoning        json.RawMessage `json:"reasoning,omitempty"`
	// Audio and FunctionCall: see ResponseMessage.
	Audio        json.RawMessage `json:"audio,omitempty"`
	FunctionCall json.RawMessage `json:"function_call,omitempty"`
}

// APIError is the error object of an error body or of a mid-stream error
// payload: {"message","type","param","code"}. Upstreams disagree on its
// shape (a bare string; a numeric code; Azure's extra members), and
// UnmarshalJSON accepts all of them.
type APIError struct {
	Message string
	Type    string
	Param   string
	Code    string
}

// MarshalJSON writes OpenAI's shape, with null for an empty param or code.
func (e APIError) MarshalJSON() ([]byte, error) {
	type out struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	}
	o := out{Message: e.Message, Type: e.Type}
	if e.Param != "" {
		o.Param = &e.Param
	}
	if e.Code != "" {
		o.Code = &e.Code
	}
	return json.Marshal(o)
}

// UnmarshalJSON reads an error object, or a bare string as its message.
func (e *APIError) UnmarshalJSON(b []byte) error {
	*e = APIError{}
	switch kindOf(b) {
	case kindNull:
		return nil
	case kindString:
		return json.Unmarshal(b, &e.Message)
	case kindObject:
	default:
		return &kindError{want: "object or string", got: kindOf(b)}
	}
	var in struct {
		Message json.RawMessage `json:"message"`
		Type    json.RawMessage `json:"type"`
		Param   json.RawMessage `json:"param"`
		Code    json.RawMessage `json:"code"`
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	e.Message, e.Type = scalarText(in.Message), scalarText(in.Type)
	e.Param, e.Code = scalarText(in.Param), scalarText(in.Code)
	return nil
}

// scalarText is a JSON string's value or a number's text; "" otherwise.
func scalarText(raw json.RawMessage) string {
	switch kindOf(raw) {
	case kindString:
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	case kindNumber:
		return string(raw)
	}
	return ""
}

// EmbeddingRequest is an Embeddings request body. Members the gateway does
// not declare are kept verbatim in Extra.
type EmbeddingRequest struct {
	Model          string         `json:"model"`
	Input          EmbeddingInput `json:"input"`
	EncodingFormat string         `json:"encoding_format,omitempty"`
	Dimensions     *int           `json:"dimensions,omitempty"`
	User           string         `json:"user,omitempty"`
	// Extra holds every other top-level member as raw JSON.
	Extra map[string]json.RawMessage `json:"-"`
}

// MarshalJSON writes the declared members followed by Extra's.
func (r EmbeddingRequest) MarshalJSON() ([]byte, error) {
	type plain EmbeddingRequest
	b, err := json.Marshal(plain(r))
	if err != nil {
		return nil, err
	}
	return appendExtra(b, reflect.TypeFor[EmbeddingRequest](), r.Extra)
}

func (r *EmbeddingRequest) keepExtra(key string, raw json.RawMessage) error {
	if r.Extra == nil {
		r.Extra = make(map[string]json.RawMessage)
	}
	r.Extra[key] = raw
	return nil
}

// EmbeddingInput is what to embed: one string, several strings, one token
// array or several token arrays. Exactly one field is set.
type EmbeddingInput struct {
	OfString      *string
	OfStrings     []string
	OfTokens      []int
	OfTokenArrays [][]int
}

// MarshalJSON writes whichever form is set.
func (in EmbeddingInput) MarshalJSON() ([]byte, error) {
	switch {
	case in.OfString != nil:
		return json.Marshal(*in.OfString)
	case in.OfStrings != nil:
		return json.Marshal(in.OfStrings)
	case in.OfTokens != nil:
		return json.Marshal(in.OfTokens)
	case in.OfTokenArrays != nil:
		return json.Marshal(in.OfTokenArrays)
	}
	return []byte("null"), nil
}

const embeddingInputShapes = "string, array of strings, array of integers or array of integer arrays"

// UnmarshalJSON reads any of the four forms; the form of an array is told
// by its first element, and every element must have that form.
func (in *EmbeddingInput) UnmarshalJSON(b []byte) error {
	*in = EmbeddingInput{}
	switch kindOf(b) {
	case kindNull:
		return nil
	case kindString:
		return json.Unmarshal(b, &in.OfString)
	case kindArray:
	default:
		return &kindError{want: embeddingInputShapes, got: kindOf(b)}
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(b, &elems); err != nil {
		return err
	}
	var dst any
	switch {
	case len(elems) == 0:
		in.OfStrings = []string{}
		return nil
	case kindOf(elems[0]) == kindString:
		dst = &in.OfStrings
	case kindOf(elems[0]) == kindNumber:
		dst = &in.OfTokens
	case kindOf(elems[0]) == kindArray:
		dst = &in.OfTokenArrays
	default:
		return &kindError{want: embeddingInputShapes, got: kindOf(elems[0]), elem: true}
	}
	if err := json.Unmarshal(b, dst); err != nil {
		*in = EmbeddingInput{}
		return &kindError{want: embeddingInputShapes, got: kindArray, mixed: true}
	}
	return nil
}

// EmbeddingResponse is an Embeddings answer. Error is set when an upstream
// answered 200 with an error body.
type EmbeddingResponse struct {
	Object string         `json:"object"`
	Data   []Embedding    `json:"data"`
	Model  string         `json:"model"`
	Usage  EmbeddingUsage `json:"usage"`
	Error  *APIError      `json:"error,omitempty"`
}

// Embedding is the vector of one input.
type Embedding struct {
	Object    string `json:"object"`
	Index     int    `json:"index"`
	Embedding Vector `json:"embedding"`
}

// EmbeddingUsage counts the tokens of an Embeddings call.
type EmbeddingUsage struct {
	PromptTokens int64 `json:"prompt_tokens"`
	TotalTokens  int64 `json:"total_tokens"`
}

// Vector is an embedding. On the wire it is an array of numbers or, with
// encoding_format "base64", the base64 of its little-endian float32s;
// Base64 says which form MarshalJSON writes.
type Vector struct {
	Values []float32
	Base64 bool
}

// MarshalJSON writes the array or the base64 string.
func (v Vector) MarshalJSON() ([]byte, error) {
	if !v.Base64 {
		if v.Values == nil {
			return []byte("[]"), nil
		}
		return json.Marshal(v.Values)
	}
	raw := make([]byte, 4*len(v.Values))
	for i, f := range v.Values {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(f))
	}
	return json.Marshal(base64.StdEncoding.EncodeToString(raw))
}

// UnmarshalJSON reads either form and refuses values that are not finite.
func (v *Vector) UnmarshalJSON(b []byte) error {
	*v = Vector{}
	switch kindOf(b) {
	case kindArray:
		if err := json.Unmarshal(b, &v.Values); err != nil {
			return err
		}
	case kindString:
		var raw []byte
		if err := json.Unmarshal(b, &raw); err != nil {
			return fmt.Errorf("decoding base64 embedding: %w", err)
		}
		if len(raw)%4 != 0 {
			return fmt.Errorf("base64 embedding has %d bytes, not a multiple of 4", len(raw))
		}
		v.Base64 = true
		v.Values = make([]float32, len(raw)/4)
		for i := range v.Values {
			v.Values[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
	default:
		return &kindError{want: "array or string", got: kindOf(b)}
	}
	for i, f := range v.Values {
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return fmt.Errorf("embedding value %d is not finite", i)
		}
	}
	return nil
}

// appendExtra splices the members of extra, in key order, into the JSON
// object b that encoding/json wrote for a value of type t.
func appendExtra(b []byte, t reflect.Type, extra map[string]json.RawMessage) ([]byte, error) {
	if len(extra) == 0 {
		return b, nil
	}
	b = b[:len(b)-1] // the closing brace
	for _, k := range slices.Sorted(maps.Keys(extra)) {
		if fieldIndex(t, k) >= 0 {
			return nil, fmt.Errorf("extra member %q duplicates a declared member", k)
		}
		v := extra[k]
		if !json.Valid(v) {
			return nil, fmt.Errorf("extra member %q is not valid JSON", k)
		}
		if b[len(b)-1] != '{' {
			b = append(b, ',')
		}
		name, err := json.Marshal(k)
		if err != nil {
			return nil, err
		}
		b = append(append(append(b, name...), ':'), v...)
	}
	return append(b, '}'), nil
}
