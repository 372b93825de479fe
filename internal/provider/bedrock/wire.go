package bedrock

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
)

// Dialect names the Converse wire format in llm.Raw. When a request's Raw
// has this dialect, the Adapter sends its body unchanged: the model id
// travels in the URL, so nothing in the body needs replacing.
const Dialect = "bedrock.converse"

// The wire types below are the subset of the Converse API this package
// reads and writes, with the member names of aws-sdk-go-v2's
// service/bedrockruntime/schemas. Members the canonical model cannot carry
// are kept as raw JSON so that translators can name them when they refuse
// a request, and so that Passthrough["bedrock"] can carry them unchanged.

// ConverseRequest is the body of a Converse or ConverseStream call. The
// model id is not part of it: it travels in the URL path.
type ConverseRequest struct {
	Messages        []Message        `json:"messages,omitempty"`
	System          []SystemBlock    `json:"system,omitempty"`
	InferenceConfig *InferenceConfig `json:"inferenceConfig,omitempty"`
	ToolConfig      *ToolConfig      `json:"toolConfig,omitempty"`
	// OutputConfig holds textFormat (structured output) and effort.
	OutputConfig json.RawMessage `json:"outputConfig,omitempty"`
	// AdditionalModelRequestFields is a JSON object passed to the model
	// as is (top_k, thinking...).
	AdditionalModelRequestFields      json.RawMessage `json:"additionalModelRequestFields,omitempty"`
	AdditionalModelResponseFieldPaths json.RawMessage `json:"additionalModelResponseFieldPaths,omitempty"`
	GuardrailConfig                   json.RawMessage `json:"guardrailConfig,omitempty"`
	PromptVariables                   json.RawMessage `json:"promptVariables,omitempty"`
	RequestMetadata                   json.RawMessage `json:"requestMetadata,omitempty"`
	PerformanceConfig                 json.RawMessage `json:"performanceConfig,omitempty"`
	ServiceTier                       json.RawMessage `json:"serviceTier,omitempty"`
	// Extra holds top-level members this package does not know, as sent.
	// MarshalJSON writes them after the known members.
	Extra map[string]json.RawMessage `json:"-"`
}

// converseRequestFields is ConverseRequest without its methods, so that
// MarshalJSON can use the default encoding.
type converseRequestFields ConverseRequest

// MarshalJSON encodes the known members, then Extra in key order.
func (r *ConverseRequest) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal((*converseRequestFields)(r))
	if err != nil || len(r.Extra) == 0 {
		return b, err
	}
	keys := make([]string, 0, len(r.Extra))
	for k := range r.Extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var buf bytes.Buffer
	buf.Write(b[:len(b)-1]) // drop the closing brace
	sep := len(b) > 2       // "{}" has no members yet
	for _, k := range keys {
		v := r.Extra[k]
		if !json.Valid(v) {
			return nil, fmt.Errorf("encoding converse request member %q: invalid JSON", k)
		}
		if sep {
			buf.WriteByte(',')
		}
		sep = true
		kb, _ := json.Marshal(k)
		buf.Write(kb)
		buf.WriteByte(':')
		buf.Write(v)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// Message is one conversation turn. Role is "user" or "assistant".
type Message struct {
	Role    string         `json:"role"`
	Content []ContentBlock `json:"content"`
}

// ContentBlock is a union: exactly one member is set.
type ContentBlock struct {
	Text             *string                `json:"text,omitempty"`
	Image            *ImageBlock            `json:"image,omitempty"`
	ToolUse          *ToolUseBlock          `json:"toolUse,omitempty"`
	ToolResult       *ToolResultBlock       `json:"toolResult,omitempty"`
	ReasoningContent *ReasoningContentBlock `json:"reasoningContent,omitempty"`
	// CachePoint marks the end of a cacheable prefix: everything before
	// this block.
	CachePoint *CachePointBlock `json:"cachePoint,omitempty"`

	// Members the canonical model cannot express.
	Document         json.RawMessage `json:"document,omitempty"`
	Video            json.RawMessage `json:"video,omitempty"`
	Audio            json.RawMessage `json:"audio,omitempty"`
	GuardContent     json.RawMessage `json:"guardContent,omitempty"`
	CitationsContent json.RawMessage `json:"citationsContent,omitempty"`
	SearchResult     json.RawMessage `json:"searchResult,omitempty"`
	ToolAddition     json.RawMessage `json:"toolAddition,omitempty"`
	ToolRemoval      json.RawMessage `json:"toolRemoval,omitempty"`
}

// members lists the names of the members set on b, in a fixed order.
func (b *ContentBlock) members() []string {
	var m []string
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"text", b.Text != nil}, {"image", b.Image != nil}, {"toolUse", b.ToolUse != nil},
		{"toolResult", b.ToolResult != nil}, {"reasoningContent", b.ReasoningContent != nil},
		{"cachePoint", b.CachePoint != nil}, {"document", b.Document != nil}, {"video", b.Video != nil},
		{"audio", b.Audio != nil}, {"guardContent", b.GuardContent != nil},
		{"citationsContent", b.CitationsContent != nil}, {"searchResult", b.SearchResult != nil},
		{"toolAddition", b.ToolAddition != nil}, {"toolRemoval", b.ToolRemoval != nil},
	} {
		if f.set {
			m = append(m, f.name)
		}
	}
	return m
}

// ImageBlock is an inline image. Format is "png", "jpeg", "gif" or "webp".
type ImageBlock struct {
	Format string      `json:"format"`
	Source ImageSource `json:"source"`
}

// ImageSource is a union of inline bytes (base64 on the wire) and an S3
// location.
type ImageSource struct {
	Bytes      []byte          `json:"bytes,omitempty"`
	S3Location json.RawMessage `json:"s3Location,omitempty"`
}

// ToolUseBlock is the model's call of a tool. Input is a JSON value,
// normally an object. Type is "server_tool_use" for tools Bedrock runs
// itself.
type ToolUseBlock struct {
	ToolUseID string          `json:"toolUseId"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
	Type      string          `json:"type,omitempty"`
}

// ToolResultBlock answers a ToolUseBlock. Status is "success", "error" or
// empty (not every model accepts the member).
type ToolResultBlock struct {
	ToolUseID string              `json:"toolUseId"`
	Content   []ToolResultContent `json:"content"`
	Status    string              `json:"status,omitempty"`
	Type      string              `json:"type,omitempty"`
}

// ToolResultContent is a union: exactly one member is set.
type ToolResultContent struct {
	JSON         json.RawMessage `json:"json,omitempty"`
	Text         *string         `json:"text,omitempty"`
	Image        *ImageBlock     `json:"image,omitempty"`
	Document     json.RawMessage `json:"document,omitempty"`
	Video        json.RawMessage `json:"video,omitempty"`
	SearchResult json.RawMessage `json:"searchResult,omitempty"`
}

// ReasoningContentBlock is a union of visible reasoning (with the signature
// that lets the model trust it when sent back) and encrypted reasoning.
// RedactedContent is a blob: base64 text on the wire, kept as sent.
type ReasoningContentBlock struct {
	ReasoningText   *ReasoningText `json:"reasoningText,omitempty"`
	RedactedContent *string        `json:"redactedContent,omitempty"`
}

// ReasoningText is visible reasoning.
type ReasoningText struct {
	Text      string `json:"text"`
	Signature string `json:"signature,omitempty"`
}

// CachePointBlock marks a prompt-cache boundary. Type is "default"; TTL is
// empty, "5m" or "1h".
type CachePointBlock struct {
	Type string `json:"type"`
	TTL  string `json:"ttl,omitempty"`
}

// SystemBlock is a union: exactly one member is set.
type SystemBlock struct {
	Text         *string          `json:"text,omitempty"`
	CachePoint   *CachePointBlock `json:"cachePoint,omitempty"`
	GuardContent json.RawMessage  `json:"guardContent,omitempty"`
}

// InferenceConfig holds the sampling parameters every model accepts.
type InferenceConfig struct {
	MaxTokens     *int     `json:"maxTokens,omitempty"`
	Temperature   *float64 `json:"temperature,omitempty"`
	TopP          *float64 `json:"topP,omitempty"`
	StopSequences []string `json:"stopSequences,omitempty"`
}

// ToolConfig declares the tools and how the model may use them.
type ToolConfig struct {
	Tools      []Tool      `json:"tools"`
	ToolChoice *ToolChoice `json:"toolChoice,omitempty"`
}

// Tool is a union: exactly one member is set.
type Tool struct {
	ToolSpec   *ToolSpec        `json:"toolSpec,omitempty"`
	CachePoint *CachePointBlock `json:"cachePoint,omitempty"`
	SystemTool json.RawMessage  `json:"systemTool,omitempty"`
}

// ToolSpec is a function the model may call.
type ToolSpec struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	InputSchema ToolInputSchema `json:"inputSchema"`
	Strict      *bool           `json:"strict,omitempty"`
}

// ToolInputSchema wraps the tool's JSON Schema.
type ToolInputSchema struct {
	JSON json.RawMessage `json:"json"`
}

// ToolChoice is a union: exactly one member is set.
type ToolChoice struct {
	Auto *struct{}           `json:"auto,omitempty"`
	Any  *struct{}           `json:"any,omitempty"`
	Tool *SpecificToolChoice `json:"tool,omitempty"`
}

// SpecificToolChoice forces one named tool.
type SpecificToolChoice struct {
	Name string `json:"name"`
}

// ConverseResponse is the body of a successful Converse call.
type ConverseResponse struct {
	Output     ConverseOutput `json:"output"`
	StopReason string         `json:"stopReason"`
	Usage      *TokenUsage    `json:"usage,omitempty"`
	Metrics    *Metrics       `json:"metrics,omitempty"`
	// AdditionalModelResponseFields holds the fields asked for with
	// additionalModelResponseFieldPaths (for example /stop_sequence).
	AdditionalModelResponseFields json.RawMessage `json:"additionalModelResponseFields,omitempty"`
	Trace                         json.RawMessage `json:"trace,omitempty"`
	PerformanceConfig             json.RawMessage `json:"performanceConfig,omitempty"`
	ServiceTier                   json.RawMessage `json:"serviceTier,omitempty"`
}

// ConverseOutput is a union with one member today: the message.
type ConverseOutput struct {
	Message *Message `json:"message,omitempty"`
}

// TokenUsage counts tokens. InputTokens excludes the tokens read from or
// written to the prompt cache; TotalTokens includes them.
type TokenUsage struct {
	InputTokens           int64  `json:"inputTokens"`
	OutputTokens          int64  `json:"outputTokens"`
	TotalTokens           int64  `json:"totalTokens"`
	CacheReadInputTokens  *int64 `json:"cacheReadInputTokens,omitempty"`
	CacheWriteInputTokens *int64 `json:"cacheWriteInputTokens,omitempty"`
}

// Metrics reports the call's latency.
type Metrics struct {
	LatencyMs int64 `json:"latencyMs"`
}

// Stream event payloads. The event-stream frame's :event-type header names
// the member; the payload is its body.
const (
	eventMessageStart      = "messageStart"
	eventContentBlockStart = "contentBlockStart"
	eventContentBlockDelta = "contentBlockDelta"
	eventContentBlockStop  = "contentBlockStop"
	eventMessageStop       = "messageStop"
	eventMetadata          = "metadata"
)

// MessageStartEvent opens the assistant message.
type MessageStartEvent struct {
	Role string `json:"role"`
}

// ContentBlockStartEvent opens a tool-use block (text and reasoning blocks
// start with their first delta).
type ContentBlockStartEvent struct {
	ContentBlockIndex int               `json:"contentBlockIndex"`
	Start             ContentBlockStart `json:"start"`
}

// ContentBlockStart is a union: exactly one member is set.
type ContentBlockStart struct {
	ToolUse    *ToolUseBlockStart `json:"toolUse,omitempty"`
	ToolResult json.RawMessage    `json:"toolResult,omitempty"`
	Image      json.RawMessage    `json:"image,omitempty"`
}

// ToolUseBlockStart names the tool being called.
type ToolUseBlockStart struct {
	ToolUseID string `json:"toolUseId"`
	Name      string `json:"name"`
	Type      string `json:"type,omitempty"`
}

// ContentBlockDeltaEvent appends to a block.
type ContentBlockDeltaEvent struct {
	ContentBlockIndex int               `json:"contentBlockIndex"`
	Delta             ContentBlockDelta `json:"delta"`
}

// ContentBlockDelta is a union: exactly one member is set.
type ContentBlockDelta struct {
	Text             *string                     `json:"text,omitempty"`
	ToolUse          *ToolUseBlockDelta          `json:"toolUse,omitempty"`
	ReasoningContent *ReasoningContentBlockDelta `json:"reasoningContent,omitempty"`
	Citation         json.RawMessage             `json:"citation,omitempty"`
	Image            json.RawMessage             `json:"image,omitempty"`
	ToolResult       json.RawMessage             `json:"toolResult,omitempty"`
}

// ToolUseBlockDelta carries a fragment of the tool input's JSON text.
type ToolUseBlockDelta struct {
	Input string `json:"input"`
}

// ReasoningContentBlockDelta is a union: exactly one member is set.
type ReasoningContentBlockDelta struct {
	Text            *string `json:"text,omitempty"`
	Signature       *string `json:"signature,omitempty"`
	RedactedContent *string `json:"redactedContent,omitempty"`
}

// ContentBlockStopEvent closes a block.
type ContentBlockStopEvent struct {
	ContentBlockIndex int `json:"contentBlockIndex"`
}

// MessageStopEvent ends the message; the metadata event follows.
type MessageStopEvent struct {
	StopReason                    string          `json:"stopReason"`
	AdditionalModelResponseFields json.RawMessage `json:"additionalModelResponseFields,omitempty"`
}

// MetadataEvent is the stream's last event: usage and latency.
type MetadataEvent struct {
	Usage             *TokenUsage     `json:"usage,omitempty"`
	Metrics           *Metrics        `json:"metrics,omitempty"`
	Trace             json.RawMessage `json:"trace,omitempty"`
	PerformanceConfig json.RawMessage `json:"performanceConfig,omitempty"`
	ServiceTier       json.RawMessage `json:"serviceTier,omitempty"`
}

// exceptionBody is the payload of an exception frame and the body of an
// HTTP error.
type exceptionBody struct {
	Message string `json:"message"`
	Type    string `json:"__type"`
	Code    string `json:"code"`
}
