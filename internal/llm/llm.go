// Package llm defines the gateway's provider-neutral model of a chat request,
// its response, its stream events and its token usage. Every front door and
// every channel translates to and from it, so N dialects and M channels need
// N+M translators. Nothing here knows about HTTP or any vendor's JSON.
package llm

import (
	"encoding/json"
	"errors"
	"strings"
)

// ErrUnsupported marks a request feature that a dialect or channel cannot
// express. Translators wrap it with the feature's name; the edge renders it
// as a 400 so that nothing is dropped silently.
var ErrUnsupported = errors.New("unsupported")

// ErrInvalid marks a request that is malformed in a way the client can fix.
var ErrInvalid = errors.New("invalid request")

// Role is who authored a message. System text lives in Request.System, and
// tool results travel as PartToolResult parts inside a user message.
type Role string

const (
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
)

// Request is one chat call, already resolved to an upstream model by routing.
type Request struct {
	// Model is the upstream model ID (deployment, Bedrock model id, ...).
	Model    string
	System   []Part
	Messages []Message
	Tools    []Tool
	// ToolChoice zero value means "auto" (or "none" without tools).
	ToolChoice ToolChoice
	// ParallelToolCalls is nil when the client did not say.
	ParallelToolCalls *bool
	// MaxTokens bounds the output; 0 leaves it to the adapter's default.
	MaxTokens   int
	Temperature *float64
	TopP        *float64
	TopK        *int
	Stop        []string
	// N is the number of choices; 0 and 1 both mean one.
	N      int
	Seed   *int64
	Stream bool
	Format *ResponseFormat
	// Reasoning asks for thinking by effort or by token budget.
	Reasoning *Reasoning
	// User identifies the end user to the upstream, for abuse tracking.
	User string
	// Metadata is free-form key/value data some upstreams accept.
	Metadata map[string]string
	// Passthrough holds vendor-only fields keyed by dialect ("openai",
	// "anthropic", "bedrock", "gemini"). Only the adapter of that dialect
	// reads them; every other channel refuses the request rather than drop
	// them. A raw dialect's key ("openai.chat") holds members nested in
	// the client's body, keyed by JSON path, that only that body carries
	// (the fast path): every translating channel refuses them by name.
	Passthrough map[string]map[string]json.RawMessage
	// Raw is the client's original body when the client's dialect may be
	// forwarded as is (the same-dialect fast path). Adapters of that
	// dialect send it with only the model replaced.
	Raw *Raw
}

// Raw is a body in its own dialect: a client's request, or a channel's
// answer to one.
type Raw struct {
	// Dialect names the wire format, for example "openai.chat".
	Dialect string
	Body    []byte
}

// Message is one turn of the conversation.
type Message struct {
	Role  Role
	Parts []Part
}

// PartKind says which variant of Part is set.
type PartKind uint8

const (
	PartText PartKind = iota + 1
	PartImage
	PartToolCall
	PartToolResult
	PartReasoning
)

func (k PartKind) String() string {
	switch k {
	case PartText:
		return "text"
	case PartImage:
		return "image"
	case PartToolCall:
		return "tool_call"
	case PartToolResult:
		return "tool_result"
	case PartReasoning:
		return "reasoning"
	}
	return "unknown"
}

// Part is one piece of a message's content. Kind says which fields are set.
type Part struct {
	Kind PartKind
	// Text is set for PartText and PartReasoning.
	Text       string
	Image      *Image
	ToolCall   *ToolCall
	ToolResult *ToolResult
	// Signature authenticates a reasoning part for the upstream that made
	// it (Anthropic, Bedrock); Redacted holds encrypted reasoning.
	Signature string
	Redacted  string
	// CacheHint marks the end of a cacheable prefix (Anthropic
	// cache_control, Bedrock cachePoint).
	CacheHint bool
}

// Text returns a text part.
func Text(s string) Part { return Part{Kind: PartText, Text: s} }

// Image is an image given by URL or inline bytes.
type Image struct {
	// URL is an http(s) URL; empty when Data is set.
	URL string
	// MIMEType and Data hold an inline image (decoded from base64).
	MIMEType string
	Data     []byte
	// Detail is OpenAI's "low"/"high"/"auto" hint.
	Detail string
}

// ToolCall is the model's request to call a function.
type ToolCall struct {
	ID   string
	Name string
	// Arguments is a JSON object, as text.
	Arguments string
}

// ObjectArguments returns a complete tool call's arguments as the JSON
// object every dialect needs (Anthropic's tool_use.input and Bedrock's
// toolUse.input are objects): {} for none, the object itself without its
// surrounding white space, or false for anything else, which no dialect
// can render faithfully.
func ObjectArguments(args string) (json.RawMessage, bool) {
	s := strings.Trim(args, " \t\r\n")
	switch {
	case s == "":
		return json.RawMessage(`{}`), true
	case s[0] == '{' && json.Valid([]byte(s)):
		return json.RawMessage(s), true
	}
	return nil, false
}

// ToolResult answers a ToolCall.
type ToolResult struct {
	CallID string
	// Name is the called tool's name, when known (Gemini needs it).
	Name    string
	Content []Part
	IsError bool
}

// Tool is a function the model may call.
type Tool struct {
	Name        string
	Description string
	// Parameters is a JSON Schema object; nil means no parameters.
	Parameters json.RawMessage
	Strict     bool
}

// ToolChoiceMode says whether and which tool the model must call.
type ToolChoiceMode uint8

const (
	ToolChoiceAuto ToolChoiceMode = iota
	ToolChoiceNone
	ToolChoiceRequired
	ToolChoiceTool
)

// ToolChoice constrains tool use. Name is set for ToolChoiceTool.
type ToolChoice struct {
	Mode ToolChoiceMode
	Name string
}

// FormatKind is the kind of output the client asked for.
type FormatKind uint8

const (
	FormatText FormatKind = iota
	FormatJSONObject
	FormatJSONSchema
)

// ResponseFormat asks for JSON output, optionally matching a schema.
type ResponseFormat struct {
	Kind   FormatKind
	Name   string
	Schema json.RawMessage
	Strict bool
}

// Reasoning asks the model to think first: by effort ("minimal", "low",
// "medium", "high") or by a token budget. Adapters map one to the other.
type Reasoning struct {
	Effort       string
	BudgetTokens int
}

// FinishReason says why the model stopped.
type FinishReason string

const (
	FinishStop          FinishReason = "stop"
	FinishLength        FinishReason = "length"
	FinishToolCalls     FinishReason = "tool_calls"
	FinishContentFilter FinishReason = "content_filter"
	// FinishStopSequence is FinishStop caused by one of Request.Stop.
	FinishStopSequence FinishReason = "stop_sequence"
	// FinishRefusal is a safety refusal reported by the model itself.
	FinishRefusal FinishReason = "refusal"
)

// Response is a whole (non-streamed) answer.
type Response struct {
	ID           string
	Model        string
	Message      Message
	FinishReason FinishReason
	// StopSequence is the stop string that ended the output, if known.
	StopSequence string
	Usage        Usage
	// Raw, when set, is the channel's answer body as it arrived, in
	// Raw.Dialect. Adapters set it only for a request sent on the
	// same-dialect fast path (Request.Raw), so that a front door of that
	// dialect can forward the answer with only the model replaced; the
	// fields above are still decoded from it. It is transport, not
	// content: never encoded with the response.
	Raw *Raw `json:"-"`
}

// Usage counts tokens. InputTokens counts every input token, including
// those read from or written to a prompt cache; CachedInputTokens and
// CacheWriteTokens are parts of it. OutputTokens includes ReasoningTokens.
type Usage struct {
	InputTokens       int64
	OutputTokens      int64
	CachedInputTokens int64
	CacheWriteTokens  int64
	ReasoningTokens   int64
}

// Total is input plus output tokens.
func (u Usage) Total() int64 { return u.InputTokens + u.OutputTokens }

// EmbedRequest asks for vectors for one or more inputs.
type EmbedRequest struct {
	Model string
	// Inputs holds text inputs; Tokens holds pre-tokenized inputs. Exactly
	// one of them is non-empty.
	Inputs     []string
	Tokens     [][]int
	Dimensions int
	User       string
	Raw        *Raw
}

// EmbedResponse holds one vector per input, in input order.
type EmbedResponse struct {
	Model   string
	Vectors [][]float32
	Usage   Usage
}
